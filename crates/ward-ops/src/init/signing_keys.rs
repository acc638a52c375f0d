//! The backup signing keys `ward init` generates for every environment of a new estate
//! (in the state folder, where a backup finds them) and pins under each environment.

use std::path::{Path, PathBuf};

use ward_vault::BackupSigningKey;

use crate::Error as Failure;

/// Why a file of a freshly written estate could not be read or updated.
pub(crate) fn update_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::operational(
        format!("cannot update {}: {e}", path.display()),
        "check the folder's permissions",
    )
}

/// The `.yaml` files directly in `folder` of a freshly written estate, sorted.
pub(crate) fn yaml_files(folder: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| update_failure(folder, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Generates a signing key for every environment of the freshly written example estate in
/// `dir` (into `<state>/keys/backup/`, mode 0600; an existing one is reused) and pins its
/// public half under the environment, before the first commit.
pub(crate) fn generate_example_signing_keys(dir: &Path, state: &Path) -> Result<(), Failure> {
    let io = update_failure;
    let files = yaml_files(&dir.join("workloads"))?;
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
                Failure::operational(
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
