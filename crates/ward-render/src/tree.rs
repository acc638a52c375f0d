//! The deploy tree: one file per object at `<cluster>/<folder>/<kind>-<name>.yaml`, and a
//! `kustomization.yaml` in every folder, so Argo CD or Flux can sync it and a Git diff is
//! the review. Same estate, same bytes.

use crate::{Object, RenderError, Target};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
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
    /// What the tree is for: recorded, so that a compose tree is never written over a
    /// Kubernetes one or the other way round.
    pub target: Target,
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
        // A folder an Argo CD Application syncs is that Application's alone: listed at the
        // cluster level as well, it would be applied twice, by the Application and by
        // whatever syncs the cluster folder, two owners pruning each other's objects.
        let synced = tree.application_paths();
        let mut clusters: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (folder, files) in &folders {
            if let Some((cluster, sub)) = folder.split_once('/')
                && !synced.contains(folder)
            {
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

    /// The folders the tree's Argo CD Applications sync (`spec.source.path`).
    pub fn application_paths(&self) -> BTreeSet<String> {
        self.objects()
            .filter(|(_, f)| f.object.as_ref().is_some_and(|o| o.kind == "Application"))
            .filter_map(|(_, f)| {
                let value = f.parsed()?;
                let path = value.pointer("/spec/source/path")?.as_str()?;
                Some(path.trim_matches('/').to_string())
            })
            .collect()
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

    /// Brings the folder `root` up to this tree and records what Ward wrote in
    /// [`RECORD_FILE`]; see [`Tree::sync`].
    pub fn write(&self, root: &Path, provenance: &Provenance) -> Result<WriteReport, RenderError> {
        self.sync(root, provenance, WriteOptions::default())
    }

    /// What [`Tree::write`] would do, without writing anything (`--dry-run`).
    pub fn changes(
        &self,
        root: &Path,
        provenance: &Provenance,
    ) -> Result<WriteReport, RenderError> {
        self.sync(
            root,
            provenance,
            WriteOptions {
                dry_run: true,
                ..WriteOptions::default()
            },
        )
    }

    /// Brings the folder `root` up to this tree. Ward deletes only what it wrote: the
    /// previous run's [`TreeRecord`] lists the files Ward wrote, and only those are ever
    /// removed; every other file is left alone and named in [`WriteReport::kept`].
    ///
    /// Refused ([`RenderError`]): an output folder inside the estate; a record that does
    /// not parse or is for the other target; without a record, a folder that already
    /// holds files (dot-entries such as `.git` and top-level files such as a README do not
    /// count), unless `adopt`; a file Ward would write over that it did not write, unless
    /// `adopt`. A recorded file edited by hand is Ward's: it is rewritten (or removed) and
    /// named in [`WriteReport::hand_edited`].
    ///
    /// Crash safety: before any file is written, the record lists every file this run may
    /// leave (the new files and the old ones still to be removed), so a run cut short
    /// leaves a record that still covers everything Ward wrote; the final record, written
    /// last, lists the new tree only. The record is replaced by a rename.
    ///
    /// Files are written in place, each with one `open`, `write` and `close` and no
    /// `fsync` (the tree is a Git work tree: a commit, not this write, makes it durable;
    /// a run cut short leaves files that the next run finds different and rewrites).
    /// Folders are made once, before any file. Files are dealt round-robin in path order
    /// to one thread per core. Writing folder by folder (each by one thread, largest
    /// first, two threads per core) was tried and measured: faster on a journaled ext4,
    /// two to three times slower on the project machine's journal-less ext4, whose inode
    /// allocator is what a fresh render waits on (docs/BENCHMARKS.md).
    pub fn sync(
        &self,
        root: &Path,
        provenance: &Provenance,
        options: WriteOptions,
    ) -> Result<WriteReport, RenderError> {
        refuse_inside_estate(root, provenance)?;
        let old = TreeRecord::read(root)?;
        let present = Present::walk(root)?;
        self.refuse_foreign(root, old.as_ref(), &present, options.adopt)?;
        let survey = self.survey(root, provenance, old, &present)?;
        let unchanged_record = survey.old.as_ref() == Some(&survey.record);
        let nothing_to_do =
            unchanged_record && survey.to_write.is_empty() && survey.report.removed.is_empty();
        if options.dry_run || nothing_to_do {
            return Ok(survey.report);
        }
        self.apply(root, &present, survey)
    }

    /// The refusals that keep Ward from writing over, or through, what it did not write.
    fn refuse_foreign(
        &self,
        root: &Path,
        old: Option<&TreeRecord>,
        present: &Present,
        adopt: bool,
    ) -> Result<(), RenderError> {
        if let Some(old) = old
            && old.target != self.target
        {
            return Err(RenderError::OtherTarget {
                record: root.join(RECORD_FILE),
                recorded: old.target,
                rendering: self.target,
            });
        }
        let content = present.content();
        if old.is_none() && !adopt && !content.is_empty() {
            return Err(RenderError::NotATree {
                root: root.to_path_buf(),
                paths: content,
            });
        }
        let recorded = |rel: &str| old.is_some_and(|r| r.files.contains_key(rel));
        // Files Ward would write over without having written them: only taken with `adopt`.
        let foreign: Vec<String> = self
            .files
            .keys()
            .filter(|rel| present.files.contains(*rel) && !recorded(rel))
            .cloned()
            .collect();
        if !foreign.is_empty() && !adopt {
            return Err(RenderError::NotWards {
                root: root.to_path_buf(),
                paths: foreign,
            });
        }
        // A link where Ward makes a folder would have Ward write through it, outside the
        // tree: refused even when adopting.
        let linked_folders: Vec<String> = present
            .links
            .iter()
            .filter(|link| {
                let folder = format!("{link}/");
                self.files.keys().any(|p| p.starts_with(&folder))
            })
            .cloned()
            .collect();
        if !linked_folders.is_empty() {
            return Err(RenderError::NotWards {
                root: root.to_path_buf(),
                paths: linked_folders,
            });
        }
        Ok(())
    }

    /// Compares the tree with the folder (on every core) and says what a write does; reads
    /// only, so that a dry run and a write report the same.
    fn survey(
        &self,
        root: &Path,
        provenance: &Provenance,
        old: Option<TreeRecord>,
        present: &Present,
    ) -> Result<Survey<'_>, RenderError> {
        let recorded = |rel: &str| old.as_ref().is_some_and(|r| r.files.contains_key(rel));
        let files: Vec<(&String, &TreeFile)> = self.files.iter().collect();
        let compared = parallel_map(files, |(rel, file)| {
            let hash = sha256_hex(file.text.as_bytes());
            if !present.files.contains(rel) {
                return Ok((hash, Compared::Missing));
            }
            let path = root.join(rel);
            let bytes = std::fs::read(&path).map_err(io_at(&path))?;
            if bytes == file.text.as_bytes() {
                return Ok((hash, Compared::Same));
            }
            let edited = old
                .as_ref()
                .and_then(|r| r.files.get(rel.as_str()))
                .is_some_and(|h| *h != sha256_hex(&bytes));
            Ok((hash, Compared::Differs { edited }))
        });
        let mut report = WriteReport::default();
        let mut record = TreeRecord {
            format: RECORD_FORMAT,
            target: self.target,
            estate_commit: provenance.estate_commit.clone(),
            estate_dirty: provenance.estate_dirty,
            files: BTreeMap::new(),
        };
        let mut to_write = Vec::new();
        for ((rel, file), result) in self.files.iter().zip(compared) {
            let (hash, compared) = result?;
            record.files.insert(rel.clone(), hash);
            if present.files.contains(rel) && !recorded(rel) {
                report.adopted.push(rel.clone());
            }
            match compared {
                Compared::Same => report.unchanged += 1,
                Compared::Missing | Compared::Differs { edited: false } => {
                    to_write.push((rel, file));
                }
                Compared::Differs { edited: true } => {
                    report.hand_edited.push(rel.clone());
                    to_write.push((rel, file));
                }
            }
        }
        report.written = to_write.iter().map(|(rel, _)| (*rel).clone()).collect();
        // Files of the old record no longer rendered (and still there) go.
        for (rel, hash) in old.iter().flat_map(|o| &o.files) {
            if self.files.contains_key(rel) || !present.files.contains(rel) {
                continue;
            }
            let path = root.join(rel);
            let bytes = std::fs::read(&path).map_err(io_at(&path))?;
            if sha256_hex(&bytes) != *hash {
                report.hand_edited.push(rel.clone());
            }
            report.removed.push(rel.clone());
        }
        report.hand_edited.sort();
        report.kept = present
            .files
            .iter()
            .filter(|rel| rel.contains('/') && !self.files.contains_key(*rel) && !recorded(rel))
            .cloned()
            .collect();
        Ok(Survey {
            old,
            record,
            to_write,
            report,
        })
    }

    /// Does what the survey found: the intent record, the files, the removals, the final
    /// record.
    fn apply(
        &self,
        root: &Path,
        present: &Present,
        survey: Survey<'_>,
    ) -> Result<WriteReport, RenderError> {
        let Survey {
            old,
            record,
            to_write,
            report,
        } = survey;
        std::fs::create_dir_all(root).map_err(io_at(root))?;
        // Set when the record on disk is already the final one.
        let mut recorded_final = false;
        if !report.removed.is_empty() || !to_write.is_empty() {
            // The intent: everything this run may leave behind, before anything is written.
            // Every file of the old record stays listed (with its old hash, unless it is
            // rendered now) until the final record, so an interrupted run never forgets a
            // file of Ward's.
            let mut intent = record.clone();
            for (rel, hash) in old.iter().flat_map(|o| &o.files) {
                intent
                    .files
                    .entry(rel.clone())
                    .or_insert_with(|| hash.clone());
            }
            intent.write(root)?;
            recorded_final = intent == record;
        }
        let mut dirs = BTreeSet::new();
        for (rel, _) in &to_write {
            if let Some(parent) = root.join(rel).parent()
                && dirs.insert(parent.to_path_buf())
            {
                std::fs::create_dir_all(parent).map_err(io_at(parent))?;
            }
        }
        let results = parallel_map(to_write, |(rel, file)| {
            let path = root.join(rel);
            // A link where Ward's file goes would be written through, outside the tree:
            // replace the link itself.
            if present.links.contains(rel) {
                std::fs::remove_file(&path).map_err(io_at(&path))?;
            }
            std::fs::write(&path, &file.text).map_err(io_at(&path))
        });
        for r in results {
            r?;
        }
        for rel in &report.removed {
            let path = root.join(rel);
            std::fs::remove_file(&path).map_err(io_at(&path))?;
            // Drop folders left empty, up to the root.
            let mut dir = path.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == root || std::fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        if !recorded_final {
            record.write(root)?;
        }
        Ok(report)
    }
}

/// What [`Tree::sync`] found before writing anything.
struct Survey<'t> {
    old: Option<TreeRecord>,
    /// The record of the tree once written.
    record: TreeRecord,
    to_write: Vec<(&'t String, &'t TreeFile)>,
    report: WriteReport,
}

/// Maps an I/O error to one that names `path`.
fn io_at(path: &Path) -> impl Fn(std::io::Error) -> RenderError + use<> {
    let path = path.to_path_buf();
    move |source| RenderError::Io {
        path: path.clone(),
        source,
    }
}

/// The record of a deploy tree, at its root: the files Ward wrote there, each with the
/// SHA-256 of the bytes it wrote, and the estate they were rendered from. Ward removes
/// only files a record lists, and plans read only those. The name is the estate loader's
/// (which skips any folder holding it), so the two cannot drift apart.
pub const RECORD_FILE: &str = ward_estate::load::DEPLOY_TREE_MARKER;
/// The record's format; a record of another format is refused.
pub const RECORD_FORMAT: u32 = 1;

/// The contents of [`RECORD_FILE`] (pretty JSON, camelCase, paths sorted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeRecord {
    pub format: u32,
    pub target: Target,
    /// The estate's HEAD commit the tree was rendered from (`None` outside Git).
    pub estate_commit: Option<String>,
    /// Whether the estate had uncommitted changes.
    pub estate_dirty: bool,
    /// Path relative to the root (`/` separators) → SHA-256 (hex) of the bytes written.
    pub files: BTreeMap<String, String>,
}

impl TreeRecord {
    /// The record of the tree at `root`; `None` when there is none (or no folder).
    pub fn read(root: &Path) -> Result<Option<TreeRecord>, RenderError> {
        let path = root.join(RECORD_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => TreeRecord::parse(&path.display().to_string(), &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RenderError::Io { path, source }),
        }
    }

    /// The record as committed at `rev` in the deploy repository `repo` (`None` when that
    /// commit has none), read without touching the work tree or the index.
    pub fn read_git(repo: &Path, rev: &str) -> Result<Option<TreeRecord>, RenderError> {
        let entries = git_ls_tree(repo, rev, Some(RECORD_FILE))?;
        let Some((_, object)) = entries.into_iter().find(|(p, _)| p == RECORD_FILE) else {
            return Ok(None);
        };
        let mut blobs = git_blobs(repo, std::slice::from_ref(&object))?;
        let bytes = blobs.pop().unwrap_or_default();
        TreeRecord::parse(
            &format!("{RECORD_FILE} at {rev} in {}", repo.display()),
            &bytes,
        )
        .map(Some)
    }

    /// Parses and checks a record: its format, and that every path is a plain relative
    /// path inside the tree (a record is a file anyone can edit, and Ward deletes what
    /// it lists).
    pub fn parse(origin: &str, bytes: &[u8]) -> Result<TreeRecord, RenderError> {
        let bad = |message: String| RenderError::BadRecord {
            record: origin.to_string(),
            message,
        };
        let record: TreeRecord = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("line {}, column {}: {e}", e.line(), e.column())))?;
        if record.format != RECORD_FORMAT {
            return Err(bad(format!(
                "format {} is not {RECORD_FORMAT}, the one this Ward reads",
                record.format
            )));
        }
        for (path, hash) in &record.files {
            if !is_tree_path(path) {
                return Err(bad(format!(
                    "`{path}` is not a path inside the tree (relative, `/`-separated, no `.`, `..` or dot-names)"
                )));
            }
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("the hash of `{path}` is not a SHA-256 in hex")));
            }
        }
        Ok(record)
    }

    /// Writes the record at `root`, through a temporary dot-file and a rename, so a
    /// reader never sees half a record.
    fn write(&self, root: &Path) -> Result<(), RenderError> {
        let mut text = serde_json::to_string_pretty(self).map_err(RenderError::Serialize)?;
        text.push('\n');
        let tmp = root.join(format!(".{RECORD_FILE}.tmp"));
        let path = root.join(RECORD_FILE);
        std::fs::write(&tmp, text).map_err(io_at(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_at(&path))
    }
}

/// Where a tree comes from, for its record: the estate folder (an output folder inside
/// it is refused) and its Git state.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The estate folder; `None` for an estate that is not a folder (tests).
    pub estate_root: Option<PathBuf>,
    pub estate_commit: Option<String>,
    pub estate_dirty: bool,
}

impl Provenance {
    pub fn of(estate: &ward_estate::Estate) -> Provenance {
        Provenance {
            estate_root: (!estate.root.as_os_str().is_empty()).then(|| estate.root.clone()),
            estate_commit: estate.git.commit.clone(),
            estate_dirty: estate.git.dirty,
        }
    }
}

/// How [`Tree::sync`] writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// Compute the report, write nothing.
    pub dry_run: bool,
    /// Take over a tree Ward wrote without a record (an older Ward): files at paths Ward
    /// renders now become Ward's; every other file is left alone and named as kept.
    pub adopt: bool,
}

/// What a write did (or, dry, would do). Paths are relative to the root, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteReport {
    /// Files written: new, or with other bytes than Ward renders now.
    pub written: Vec<String>,
    /// Files of the previous record that are no longer rendered, removed.
    pub removed: Vec<String>,
    /// Rendered files whose bytes were already right.
    pub unchanged: usize,
    /// Files in the tree's folders that Ward did not write, left alone.
    pub kept: Vec<String>,
    /// Ward's files edited by hand since Ward wrote them (their bytes no longer match the
    /// record): rewritten, or removed when no longer rendered.
    pub hand_edited: Vec<String>,
    /// Files Ward had not recorded and took over at a path it renders (`adopt`).
    pub adopted: Vec<String>,
}

enum Compared {
    Missing,
    Same,
    Differs { edited: bool },
}

/// The files in a folder: regular files and links (relative paths), skipping dot-entries
/// at every depth (`.git`, `.github`, Ward's own temporary record).
#[derive(Default)]
struct Present {
    files: BTreeSet<String>,
    links: BTreeSet<String>,
    /// Top-level entries a tree would hold: anything but a regular file (a link), and
    /// regular files that look like manifests or records ([`looks_like_manifest`]).
    top_level_content: Vec<String>,
}

/// Whether a top-level file of an output folder is content a tree holds (a manifest, a
/// `kustomization.yaml`, another tool's record: YAML or JSON), rather than what a fresh
/// clone of a deploy repository has beside it (a README, a LICENSE, a Makefile).
fn looks_like_manifest(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// The first few of `paths`, for an error message: `a, b, c (and 4 more)`.
pub(crate) fn name_some(paths: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

impl Present {
    fn walk(root: &Path) -> Result<Present, RenderError> {
        let mut out = Present::default();
        let top = match std::fs::read_dir(root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => return Err(io_at(root)(source)),
        };
        let mut stack: Vec<(PathBuf, std::fs::ReadDir)> = vec![(root.to_path_buf(), top)];
        while let Some((dir, entries)) = stack.pop() {
            for entry in entries {
                let entry = entry.map_err(io_at(&dir))?;
                let name = entry.file_name();
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                let path = entry.path();
                let kind = entry.file_type().map_err(io_at(&path))?;
                let rel = || {
                    path.strip_prefix(root)
                        .map(|r| r.to_string_lossy().replace('\\', "/"))
                        .unwrap_or_default()
                };
                if kind.is_dir() {
                    let entries = std::fs::read_dir(&path).map_err(io_at(&path))?;
                    stack.push((path, entries));
                    continue;
                }
                if dir == root && (!kind.is_file() || looks_like_manifest(&name.to_string_lossy()))
                {
                    out.top_level_content.push(rel());
                }
                if kind.is_symlink() {
                    out.links.insert(rel());
                }
                out.files.insert(rel());
            }
        }
        Ok(out)
    }

    /// What in the folder a tree would hold, sorted: files below the top, links, and
    /// YAML or JSON files at the top. Dot-entries (`.git`, `.github`) and other top-level
    /// files (a README, a LICENSE, a Makefile) do not count: a fresh clone of a deploy
    /// repository holds nothing else.
    fn content(&self) -> Vec<String> {
        let mut found: BTreeSet<String> = self
            .files
            .iter()
            .filter(|f| f.contains('/'))
            .cloned()
            .collect();
        found.extend(self.top_level_content.iter().cloned());
        found.into_iter().collect()
    }
}

/// A path a record may list: relative, `/`-separated, every part a plain name.
fn is_tree_path(path: &str) -> bool {
    path != RECORD_FILE
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'))
}

/// Refuses an output folder that is the estate folder or inside it: rendering there
/// would mix the deploy tree with the estate's own files (`--out .` in the estate).
fn refuse_inside_estate(root: &Path, provenance: &Provenance) -> Result<(), RenderError> {
    let Some(estate) = &provenance.estate_root else {
        return Ok(());
    };
    let Ok(estate) = estate.canonicalize() else {
        return Ok(());
    };
    let out = canonical_or_nearest(root);
    if out.starts_with(&estate) {
        return Err(RenderError::InsideEstate {
            root: root.to_path_buf(),
            estate,
        });
    }
    Ok(())
}

/// The canonical path of `path`, or of its nearest existing ancestor with the rest
/// appended (the output folder need not exist yet).
fn canonical_or_nearest(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut rest = Vec::new();
    let mut current = absolute.as_path();
    loop {
        if let Ok(c) = current.canonicalize() {
            return rest
                .iter()
                .rev()
                .fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                current = parent;
            }
            _ => return absolute,
        }
    }
}

/// SHA-256 of `bytes`, lower-case hex: the record's hash of a file.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `git ls-tree -r` of `rev` in `repo` (only `pathspec` if given): (path, blob id) of
/// every blob. Nothing in the work tree or the index is read.
pub(crate) fn git_ls_tree(
    repo: &Path,
    rev: &str,
    pathspec: Option<&str>,
) -> Result<Vec<(String, String)>, RenderError> {
    let mut command = git(repo);
    command.args(["ls-tree", "-r", "-z", rev, "--"]);
    command.args(pathspec);
    let list = command.output().map_err(io_at(repo))?;
    if !list.status.success() {
        return Err(git_failed(repo, "ls-tree", &list.stderr));
    }
    // `<mode> blob <object>\t<path>`.
    Ok(list
        .stdout
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (meta, path) = entry.split_once('\t')?;
            let mut fields = meta.split(' ');
            let (_, kind, object) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == "blob").then(|| (path.to_string(), object.to_string()))
        })
        .collect())
}

/// The bytes of the blobs `objects`, in order, through one `git cat-file --batch`: asked
/// for by object id, which git finds directly (asking for `REV:path` walks the trees again
/// for every file).
pub(crate) fn git_blobs(repo: &Path, objects: &[String]) -> Result<Vec<Vec<u8>>, RenderError> {
    use std::io::{BufRead, Read, Write};
    use std::process::Stdio;
    let io = io_at(repo);
    let mut child = git(repo)
        .args(["cat-file", "--batch", "--buffer"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(&io)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| io(std::io::Error::other("no stdin")))?;
    let requests: String = objects.iter().map(|object| format!("{object}\n")).collect();
    // Written from another thread: git answers while we are still asking.
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()));
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io(std::io::Error::other("no stdout")))?;
    let mut reader = std::io::BufReader::new(stdout);
    let mut out = Vec::with_capacity(objects.len());
    for _ in objects {
        let mut header = String::new();
        reader.read_line(&mut header).map_err(&io)?;
        let size: usize = header
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                io(std::io::Error::other(format!(
                    "git cat-file: unexpected `{}`",
                    header.trim()
                )))
            })?;
        let mut body = vec![0; size + 1];
        reader.read_exact(&mut body).map_err(&io)?;
        body.truncate(size);
        out.push(body);
    }
    writer
        .join()
        .map_err(|_| io(std::io::Error::other("writer thread panicked")))?
        .map_err(&io)?;
    let status = child.wait().map_err(&io)?;
    if !status.success() {
        return Err(io(std::io::Error::other("git cat-file failed")));
    }
    Ok(out)
}

fn git(repo: &Path) -> std::process::Command {
    let mut command = std::process::Command::new("git");
    // A repository's own config must not make Ward run programs (fsmonitor hooks).
    command.args(["-c", "core.fsmonitor=false", "-C"]).arg(repo);
    command
}

fn git_failed(repo: &Path, what: &str, stderr: &[u8]) -> RenderError {
    io_at(repo)(std::io::Error::other(format!(
        "git {what} failed: {}",
        String::from_utf8_lossy(stderr).trim()
    )))
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

    fn file(text: &str) -> TreeFile {
        TreeFile {
            text: text.to_string(),
            object: None,
            value: None,
        }
    }

    #[test]
    fn write_creates_rewrites_only_changed_and_removes_only_recorded_files()
    -> Result<(), RenderError> {
        let tmp = std::env::temp_dir().join(format!("ward-tree-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut tree = Tree::default();
        for i in 0..300 {
            let folder = if i % 3 == 0 { "c/big" } else { "c/small" };
            tree.files
                .insert(format!("{folder}/f{i}.yaml"), file(&format!("n: {i}\n")));
        }
        let provenance = Provenance::default();
        let first = tree.write(&tmp, &provenance)?;
        assert_eq!((first.written.len(), first.removed.len()), (300, 0));
        std::fs::write(tmp.join("README.md"), "kept").map_err(io_at(&tmp))?;
        std::fs::write(tmp.join("c/notes.yaml"), "hand-written").map_err(io_at(&tmp))?;
        if let Some(f) = tree.files.get_mut("c/big/f0.yaml") {
            f.text = "n: changed\n".into();
        }
        tree.files.remove("c/small/f1.yaml");
        let again = tree.write(&tmp, &provenance)?;
        assert_eq!(again.written, ["c/big/f0.yaml"]);
        assert_eq!(again.removed, ["c/small/f1.yaml"]);
        assert_eq!(
            again.kept,
            ["c/notes.yaml"],
            "top-level files are not listed"
        );
        assert_eq!(again.unchanged, 298);
        assert!(tmp.join("README.md").is_file() && tmp.join("c/notes.yaml").is_file());
        assert!(!tmp.join("c/small/f1.yaml").exists());
        let record = TreeRecord::read(&tmp)?;
        assert_eq!(
            record.map(|r| r.files.keys().cloned().collect::<Vec<_>>()),
            Some(tree.files.keys().cloned().collect())
        );
        let _ = std::fs::remove_dir_all(&tmp);
        Ok(())
    }

    #[test]
    fn a_record_lists_only_plain_paths_inside_the_tree() {
        let hash = sha256_hex(b"x");
        for bad in [
            "../outside.yaml",
            "/etc/passwd",
            "c/../../outside.yaml",
            "c/./x.yaml",
            "c//x.yaml",
            ".git/config",
            "c\\x.yaml",
            RECORD_FILE,
        ] {
            let text = serde_json::json!({
                "format": 1, "target": "kubernetes", "estateCommit": null,
                "estateDirty": false, "files": {bad: hash},
            })
            .to_string();
            let parsed = TreeRecord::parse("r", text.as_bytes());
            assert!(
                matches!(parsed, Err(RenderError::BadRecord { .. })),
                "{bad}: {parsed:?}"
            );
        }
        let not_a_hash = r#"{"format":1,"target":"compose","estateCommit":null,"estateDirty":false,"files":{"c/x.yaml":"abc"}}"#;
        assert!(TreeRecord::parse("r", not_a_hash.as_bytes()).is_err());
        let newer =
            r#"{"format":2,"target":"compose","estateCommit":null,"estateDirty":false,"files":{}}"#;
        assert!(TreeRecord::parse("r", newer.as_bytes()).is_err());
    }
}
