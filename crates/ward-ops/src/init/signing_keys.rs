//! The backup signing keys `ward init` generates for every environment of a new estate
//! (in the state folder, where a backup finds them) and pins under each environment.

use std::path::Path;

use ward_vault::BackupSigningKey;

use crate::Error;

/// Generates a signing key for every environment of the freshly written example estate in
/// `dir` (into `<state>/keys/backup/`, mode 0600; an existing one is reused) and pins its
/// public half under the environment, before the first commit.
pub(crate) fn generate_example_signing_keys(dir: &Path, state: &Path) -> Result<(), Error> {
    let io = super::update_failure;
    let files = super::yaml_files(&dir.join("workloads"))?;
    for file in files {
        let body = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
        let Some(workload) = body
            .lines()
            .find_map(|l| l.strip_prefix("  name: "))
            .map(str::trim)
        else {
            continue;
        };
        let mut out = String::new();
        let mut in_environments = false;
        for line in body.lines() {
            out.push_str(line);
            out.push('\n');
            if line == "  environments:" {
                in_environments = true;
                continue;
            }
            // Another key of the spec (or a new document) ends the list.
            let indent = line.len() - line.trim_start().len();
            if in_environments && !line.trim().is_empty() && indent <= 2 {
                in_environments = false;
            }
            let Some(environment) = line
                .strip_prefix("    - name: ")
                .filter(|_| in_environments)
                .map(str::trim)
            else {
                continue;
            };
            let path = crate::vault::backup_key_path(state, workload, environment);
            let key = if path.exists() {
                BackupSigningKey::load(&path)
            } else {
                BackupSigningKey::generate_file(&path)
            }
            .map_err(|e| {
                Error::operational(
                    format!("cannot create the signing key {}: {e}", path.display()),
                    "check that the state folder is writable",
                )
            })?;
            out.push_str(&format!(
                "      # Written by `ward init`: its snapshots must be signed with this key, whose\n      # private half is in the state folder (keys/backup/{workload}/{environment}.ed25519).\n      backup:\n        signingKeys: [\"{}\"]\n",
                key.public()
            ));
        }
        std::fs::write(&file, out).map_err(|e| io(&file, e))?;
    }
    Ok(())
}
