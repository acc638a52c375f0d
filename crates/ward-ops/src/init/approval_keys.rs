//! The approval keys `ward init` generates: an SSH key pair per person of the new estate's
//! Teams, in the state folder (`keys/ssh/<person>`, mode 0600), with each public key
//! written into the person's `keys.ssh`, so that changes can be approved from the start.

use std::path::{Path, PathBuf};

use crate::Error;

/// One person's approval key, as `ward init` reports it.
#[derive(Debug, serde::Serialize)]
pub struct PersonKey {
    pub person: String,
    /// The private key, for `ssh-keygen -Y sign -f <key> -n ward-approval`.
    pub key: PathBuf,
}

/// Where `ward init` puts a person's approval key.
pub fn key_path(state: &Path, person: &str) -> PathBuf {
    state.join("keys/ssh").join(person)
}

/// The folder of the approval keys `ward init` generated, when the state folder has it.
pub fn folder(state: &Path) -> Option<PathBuf> {
    Some(state.join("keys/ssh")).filter(|f| f.is_dir())
}

/// Generates (or reuses, when the state folder has one) a key pair for every person of
/// the Team files under `dir/teams/` and writes each public key into the person's
/// `keys:` block (made after its `roles:` line when it has none), before the first
/// commit. Only the layout the bundled examples use is understood: `  people:` with
/// `    - name: <person>` entries.
pub(crate) fn generate(dir: &Path, state: &Path) -> Result<Vec<PersonKey>, Error> {
    let io = super::update_failure;
    let files = super::yaml_files(&dir.join("teams"))?;
    let mut made = Vec::new();
    for file in files {
        let body = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
        let mut keys = Vec::new();
        let updated = add_keys(&body, |person| {
            let path = key_path(state, person);
            let public = ward_render::approval_key::ensure_key_pair(&path, person).map_err(
                |e| {
                    Error::operational(
                        format!("cannot create the approval key of {person}: {e}"),
                        "check that the state folder is writable; a file there that is no key must be moved away",
                    )
                },
            )?;
            keys.push(PersonKey {
                person: person.to_string(),
                key: path,
            });
            Ok(public)
        })?;
        std::fs::write(&file, updated).map_err(|e| io(&file, e))?;
        made.extend(keys);
    }
    made.sort_by(|a, b| a.person.cmp(&b.person));
    Ok(made)
}

/// `body` with an `ssh:` key for each person, its value from `key_of(person)`.
fn add_keys(
    body: &str,
    mut key_of: impl FnMut(&str) -> Result<String, Error>,
) -> Result<String, Error> {
    let lines: Vec<&str> = body.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut in_people = false;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        if line == "  people:" {
            in_people = true;
        } else if in_people && !line.trim().is_empty() && indent <= 2 {
            in_people = false;
        }
        let Some(person) = line
            .strip_prefix("    - name: ")
            .filter(|_| in_people)
            .map(str::trim)
        else {
            out.push_str(line);
            out.push('\n');
            i += 1;
            continue;
        };
        // The person's lines: up to the next entry, or the end of the list.
        let end = (i + 1..lines.len())
            .find(|&j| {
                let l = lines[j];
                !l.trim().is_empty() && l.len() - l.trim_start().len() <= 4
            })
            .unwrap_or(lines.len());
        let block = &lines[i..end];
        let public = key_of(person)?;
        let comment = format!(
            "      # Written by `ward init`: {person} signs approvals with the private key in the state\n      # folder, keys/ssh/{person} (`ssh-keygen -Y sign -n ward-approval -f …`).\n"
        );
        let entry = format!("        ssh: \"{public}\"\n");
        let keys_at = block.iter().position(|l| *l == "      keys:");
        // Without a `keys:` block, a new one goes after the roles (or the name).
        let after = block
            .iter()
            .position(|l| l.starts_with("      roles:"))
            .unwrap_or(0);
        for (k, l) in block.iter().enumerate() {
            out.push_str(l);
            out.push('\n');
            if Some(k) == keys_at {
                // Inside the block, the comment one level in.
                out.push_str(&comment.replace("      #", "        #"));
                out.push_str(&entry);
            } else if keys_at.is_none() && k == after {
                out.push_str(&comment);
                out.push_str("      keys:\n");
                out.push_str(&entry);
            }
        }
        i = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_beside_an_existing_block_or_into_a_new_one() {
        let team = "kind: Team\nspec:\n  people:\n    - name: alice\n      email: a@x\n      roles: [platform-ops]\n    - name: bob\n      roles: [dba]\n      keys:\n        age: age1xyz\n  groups: {}\n";
        let out = add_keys(team, |p| Ok(format!("ssh-ed25519 AAAA {p}"))).expect("adds");
        assert!(
            out.contains("      roles: [platform-ops]\n      # Written by")
                && out.contains(
                    "      keys:\n        ssh: \"ssh-ed25519 AAAA alice\"\n    - name: bob"
                ),
            "{out}"
        );
        assert!(
            out.contains(
                "\n        ssh: \"ssh-ed25519 AAAA bob\"\n        age: age1xyz\n  groups: {}\n"
            ) && out.contains("      keys:\n        # Written by"),
            "{out}"
        );
    }
}
