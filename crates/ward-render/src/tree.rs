//! The deploy tree: one file per object at `<cluster>/<folder>/<kind>-<name>.yaml`, and a
//! `kustomization.yaml` in every folder, so Argo CD or Flux can sync it and a Git diff is
//! the review. Same estate, same bytes.

use crate::{Object, RenderError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use ward_estate::model::Stage;

/// What the plan needs to know about the object in a file.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectInfo {
    pub kind: String,
    pub name: String,
    pub owners: crate::Owners,
    pub tier: u8,
    pub stage: Stage,
}

/// One file of the tree.
#[derive(Clone, Debug)]
pub struct TreeFile {
    pub text: String,
    /// `None` for `kustomization.yaml` and other files that hold no object.
    pub object: Option<ObjectInfo>,
    /// The object as a value, when the tree was made to keep values; see [`TreeFile::parsed`].
    pub value: Option<serde_json::Value>,
}

impl TreeFile {
    /// An object's path in the tree and its file: the YAML text, what the plan needs to
    /// know, and (with `keep_value`) the value itself.
    pub fn lay_out(o: Object, keep_value: bool) -> (String, TreeFile) {
        let path = o.path();
        let text = crate::yaml::to_yaml(&o.body);
        let info = ObjectInfo {
            kind: o.kind,
            name: o.name,
            owners: o.owners,
            tier: o.tier,
            stage: o.stage,
        };
        let file = TreeFile {
            text,
            object: Some(info),
            value: keep_value.then_some(o.body),
        };
        (path, file)
    }

    /// The object's value: the kept one, or the YAML text parsed back.
    pub fn parsed(&self) -> Option<std::borrow::Cow<'_, serde_json::Value>> {
        if let Some(v) = &self.value {
            return Some(std::borrow::Cow::Borrowed(v));
        }
        crate::yaml::from_yaml("", &self.text)
            .ok()?
            .into_iter()
            .next()
            .map(std::borrow::Cow::Owned)
    }
}

/// The whole deploy tree, keyed by path relative to its root (`/` separators).
#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub files: BTreeMap<String, TreeFile>,
}

impl Tree {
    /// Lays objects out, adding a `kustomization.yaml` per folder and per cluster;
    /// `keep_values` keeps each object's value beside its text.
    pub fn from_objects(objects: Vec<Object>, keep_values: bool) -> Result<Tree, RenderError> {
        // YAML emission is the bulk of the work and objects are independent: spread it
        // over the cores (output does not depend on the number of threads).
        Tree::from_laid_out(parallel_map(objects, |o| TreeFile::lay_out(o, keep_values)))
    }

    /// Builds the tree from files already laid out by [`TreeFile::lay_out`], in order,
    /// adding a `kustomization.yaml` per folder and per cluster.
    pub fn from_laid_out(laid_out: Vec<(String, TreeFile)>) -> Result<Tree, RenderError> {
        let mut tree = Tree::default();
        let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (path, file) in laid_out {
            let (folder, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            folders
                .entry(folder.to_string())
                .or_default()
                .insert(name.to_string());
            if tree.files.insert(path.clone(), file).is_some() {
                return Err(RenderError::DuplicatePath(path));
            }
        }
        let mut clusters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (folder, files) in &folders {
            if let Some((cluster, sub)) = folder.split_once('/') {
                clusters
                    .entry(cluster.to_string())
                    .or_default()
                    .insert(sub.to_string());
            }
            tree.add_kustomization(folder, files.iter().cloned().collect());
        }
        for (cluster, subs) in clusters {
            tree.add_kustomization(&cluster, subs.into_iter().collect());
        }
        Ok(tree)
    }

    pub(crate) fn add_kustomization(&mut self, folder: &str, resources: Vec<String>) {
        let value = serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        });
        self.files.insert(
            format!("{folder}/kustomization.yaml"),
            TreeFile {
                text: crate::yaml::to_yaml(&value),
                object: None,
                value: None,
            },
        );
    }

    /// Objects only (no kustomizations), by path.
    pub fn objects(&self) -> impl Iterator<Item = (&String, &TreeFile)> {
        self.files.iter().filter(|(_, f)| f.object.is_some())
    }

    /// Writes the tree under `root`: files whose bytes differ are rewritten, files no
    /// longer rendered are removed (only [`MANAGED_EXTENSIONS`]; `.git`, secrets and other
    /// files are kept).
    /// Returns how many files were written and removed.
    ///
    /// Files are written in place, each with one `open`, `write` and `close` and no
    /// `fsync` (the tree is a Git work tree: a commit, not this write, makes it durable;
    /// a run cut short leaves files that the next run finds different and rewrites).
    /// Folders are made once, before any file. Files are dealt round-robin in path order
    /// to one thread per core. Writing folder by folder (each by one thread, largest
    /// first, two threads per core) was tried and measured: faster on a journaled ext4,
    /// two to three times slower on the project machine's journal-less ext4, whose inode
    /// allocator is what a fresh render waits on (docs/BENCHMARKS.md).
    pub fn write(&self, root: &Path) -> Result<(usize, usize), RenderError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RenderError::Io { path, source }
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let existing = read_paths(root)?;
        let mut dirs = BTreeSet::new();
        for rel in self.files.keys() {
            if let Some(parent) = root.join(rel).parent()
                && dirs.insert(parent.to_path_buf())
            {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
        }
        // Files are independent: compare and write them on every core.
        let files: Vec<(&String, &TreeFile)> = self.files.iter().collect();
        let results = parallel_map(files, |(rel, file)| {
            let path = root.join(rel);
            if existing.contains(rel)
                && std::fs::read(&path).is_ok_and(|old| old == file.text.as_bytes())
            {
                return Ok(0);
            }
            std::fs::write(&path, &file.text).map_err(io(&path))?;
            Ok(1)
        });
        let mut written = 0;
        for r in results {
            written += r?;
        }
        let mut removed = 0;
        for rel in existing.difference(&self.files.keys().cloned().collect()) {
            let path = root.join(rel);
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed += 1;
            // Drop folders left empty, up to the root.
            let mut dir = path.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == root || std::fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        Ok((written, removed))
    }
}

/// File types Ward writes into a deploy tree; only these are read back or removed.
pub const MANAGED_EXTENSIONS: &[&str] = &[".yaml", ".conf", ".sql"];

/// Every managed file under `root` (relative paths) below the top folder, skipping
/// dot-folders such as `.git`.
pub fn read_paths(root: &Path) -> Result<BTreeSet<String>, RenderError> {
    let mut out = BTreeSet::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| RenderError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if MANAGED_EXTENSIONS.iter().any(|e| name.ends_with(e))
                && dir != root
                && let Ok(rel) = path.strip_prefix(root)
            {
                // Ward's files always sit in a cluster folder; files at the top of the
                // deploy repository (CI configuration, READMEs) are never Ward's.
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

/// Maps `items` on up to as many threads as there are cores, keeping their order. Items
/// are dealt round-robin, so a run of large items (a big shared stack) is spread out.
pub fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 16);
    if threads == 1 || items.len() < 256 {
        return items.into_iter().map(f).collect();
    }
    let total = items.len();
    let mut hands: Vec<Vec<(usize, T)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        hands[i % threads].push((i, item));
    }
    let f = &f;
    let done: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = hands
            .into_iter()
            .map(|hand| {
                scope.spawn(move || hand.into_iter().map(|(i, t)| (i, f(t))).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut slots: Vec<Option<R>> = (0..total).map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        slots[i] = Some(r);
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..10_000).collect();
        let out = parallel_map(items, |i| i * 2);
        assert_eq!(out, (0..10_000).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(parallel_map(Vec::<u32>::new(), |i| i), Vec::<u32>::new());
    }

    #[test]
    fn write_creates_rewrites_only_changed_and_removes_stale_files() {
        let tmp = std::env::temp_dir().join(format!("ward-tree-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut tree = Tree::default();
        for i in 0..300 {
            let folder = if i % 3 == 0 { "c/big" } else { "c/small" };
            tree.files.insert(
                format!("{folder}/f{i}.yaml"),
                TreeFile {
                    text: format!("n: {i}\n"),
                    object: None,
                    value: None,
                },
            );
        }
        let written = tree.write(&tmp).map_err(|e| e.to_string());
        assert_eq!(written, Ok((300, 0)));
        std::fs::write(tmp.join("README.md"), "kept").unwrap_or_default();
        std::fs::write(tmp.join("c/stale.yaml"), "gone").unwrap_or_default();
        if let Some(f) = tree.files.get_mut("c/big/f0.yaml") {
            f.text = "n: changed\n".into();
        }
        let again = tree.write(&tmp).map_err(|e| e.to_string());
        assert_eq!(again, Ok((1, 1)), "one changed file, one stale file");
        assert!(
            tmp.join("README.md").is_file(),
            "files at the top are not Ward's"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.join("c/big/f0.yaml")).unwrap_or_default(),
            "n: changed\n"
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
