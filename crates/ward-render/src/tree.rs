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
        let mut tree = Tree::default();
        let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        // YAML emission is the bulk of the work and objects are independent: spread it
        // over the cores, then insert in the original order (output does not depend on
        // the number of threads).
        let laid_out = parallel_map(objects, |o| {
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
                value: keep_values.then_some(o.body),
            };
            (path, file)
        });
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
    /// `fsync` (the tree is a Git work tree: Git, not this write, makes it durable; a run
    /// cut short leaves files that the next run finds different and rewrites). Folders
    /// are written in parallel, each by one thread, so that no two threads create files
    /// in one folder at once (the file system serializes creation within a folder).
    pub fn write(&self, root: &Path) -> Result<(usize, usize), RenderError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RenderError::Io { path, source }
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let existing = read_paths(root)?;
        let mut folders: BTreeMap<&str, Vec<(&String, &TreeFile)>> = BTreeMap::new();
        for (rel, file) in &self.files {
            let folder = rel.rsplit_once('/').map_or("", |(f, _)| f);
            folders.entry(folder).or_default().push((rel, file));
        }
        // Largest folders first, so that the big shared namespaces start at once and the
        // many small folders fill in behind them (longest-processing-time first).
        let mut tasks: Vec<(&str, Vec<(&String, &TreeFile)>)> = folders.into_iter().collect();
        tasks.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        let write_folder = |(folder, files): &(&str, Vec<(&String, &TreeFile)>)| {
            let dir = root.join(folder);
            // A folder that already holds one of our files exists; only new ones are made.
            if !files.iter().any(|(rel, _)| existing.contains(*rel)) {
                std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            }
            let mut written = 0;
            for (rel, file) in files {
                let path = root.join(rel);
                if existing.contains(*rel)
                    && std::fs::read(&path).is_ok_and(|old| old == file.text.as_bytes())
                {
                    continue;
                }
                std::fs::write(&path, &file.text).map_err(io(&path))?;
                written += 1;
            }
            Ok(written)
        };
        let mut written = 0;
        for r in run_tasks(&tasks, write_threads(), write_folder) {
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

/// Threads for writing files: creating a file mostly waits on the file system (its
/// locks, its allocator, the disk) rather than computing, so two per core keep it busy;
/// more only queue on the same locks (measured in docs/BENCHMARKS.md).
fn write_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores * 2).clamp(2, 8)
}

/// Runs `f` on every task with up to `threads` threads, each taking the next task when
/// it is done with one (tasks of very different sizes balance). Results keep the order
/// of `tasks`; after a failure the remaining tasks are skipped.
fn run_tasks<T: Sync, R: Send>(
    tasks: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R, RenderError> + Sync,
) -> Vec<Result<R, RenderError>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let threads = threads.min(tasks.len());
    if threads <= 1 {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            let r = f(t);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        return out;
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (next, failed, f) = (&next, &failed, &f);
    let mut done: Vec<(usize, Result<R, RenderError>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut out = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = tasks.get(i) else { break };
                        let r = f(t);
                        if r.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        out.push((i, r));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
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
    fn run_tasks_keeps_order_and_stops_after_a_failure() {
        let tasks: Vec<u32> = (0..500).collect();
        for threads in [1, 2, 8] {
            let out: Vec<u32> = run_tasks(&tasks, threads, |t| Ok(t * 2))
                .into_iter()
                .map(|r| r.unwrap_or(u32::MAX))
                .collect();
            assert_eq!(out, (0..500).map(|i| i * 2).collect::<Vec<_>>());
            let out = run_tasks(&tasks, threads, |t| {
                if *t == 3 {
                    Err(RenderError::NoPlatform)
                } else {
                    // Slow enough that the failure is seen long before the end.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    Ok(*t)
                }
            });
            assert!(out.iter().any(Result::is_err), "the failure is returned");
            assert!(
                out.len() < 500,
                "later tasks are skipped ({threads} threads)"
            );
        }
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
