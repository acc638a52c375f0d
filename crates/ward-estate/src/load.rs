//! Reads an estate folder: recognises it by its `Platform` document, finds the estate's
//! YAML files, decodes Ward's documents by kind (skipping others with a warning), and
//! gathers every problem of every file, within limits that keep hostile input harmless.

use crate::decode::{Choice, Cx, closest};
use crate::git::GitState;
use crate::ignore::IgnoreList;
use crate::model::{
    self, API_VERSION, Document, Kind, PlatformSpec, TeamSpec, WaiverSpec, WorkloadSpec,
};
use crate::source::{Diagnostic, FileId, SourceFile, SourceMap, Span};
use crate::yaml::{self, Node};
use std::path::{Path, PathBuf};

/// A single estate file larger than this is refused before it is read.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// More YAML files than this is not an estate Ward was built for.
pub const MAX_FILES: usize = 100_000;
/// Top-level folders that hold other things than estate documents.
pub const SKIPPED_DIRS: &[&str] = &[crate::git::APPROVALS_DIR, "policies"];
/// The state folder's name inside the estate (ledger, keys, secrets): never estate files.
pub const STATE_DIR: &str = ".ward";
/// The file the renderer writes at the top of every deploy tree. A folder holding it is
/// rendered output, not estate, wherever it sits (`ward render --out deploy`).
pub const DEPLOY_TREE_MARKER: &str = "ward-tree.json";

/// The documents of an estate, decoded but not yet cross-checked.
#[derive(Debug, Default)]
pub struct Estate {
    pub root: PathBuf,
    pub sources: SourceMap,
    pub git: GitState,
    pub platform: Option<Document<PlatformSpec>>,
    pub teams: Vec<Document<TeamSpec>>,
    pub workloads: Vec<Document<WorkloadSpec>>,
    pub waivers: Vec<Document<WaiverSpec>>,
    /// Second and later `Platform` documents, kept only to report them.
    pub extra_platforms: Vec<Document<PlatformSpec>>,
    /// Every workload environment, classified and placed, sorted by workload then name.
    pub environments: Vec<crate::resolve::ResolvedEnvironment>,
    /// What was read but not used (documents that are not Ward's), in path order.
    pub warnings: Vec<Diagnostic>,
}

/// Why an estate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("estate folder {0} does not exist or is not a folder")]
    NotAFolder(PathBuf),
    /// The folder exists but holds no estate: nothing in it was reported on.
    #[error("{} is not an estate: {reason}", .root.display())]
    NotAnEstate { root: PathBuf, reason: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the estate has {} problem(s)", .diagnostics.len())]
    Invalid {
        sources: SourceMap,
        diagnostics: Vec<Diagnostic>,
        /// As [`Estate::warnings`].
        warnings: Vec<Diagnostic>,
    },
}

/// Loads and validates the estate under `root`. Every problem found is returned at once.
pub fn load(root: &Path) -> Result<Estate, LoadError> {
    if !root.is_dir() {
        return Err(LoadError::NotAFolder(root.to_path_buf()));
    }
    // `.` says little in a message; the folder's real path says where Ward looked.
    let not_an_estate = |reason: String| LoadError::NotAnEstate {
        root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        reason,
    };
    if root.join(DEPLOY_TREE_MARKER).is_file() {
        return Err(not_an_estate(format!(
            "it is a deploy tree Ward rendered (it holds `{DEPLOY_TREE_MARKER}`)"
        )));
    }
    let mut estate = Estate {
        root: root.to_path_buf(),
        ..Estate::default()
    };
    let mut cx = Cx::default();
    let ignore = IgnoreList::read(root, &mut estate.sources, &mut cx.diags);
    // Recognised before the walk, so a folder that is not an estate (the one above it, a
    // home folder) is neither walked nor reported on.
    if !recognised(root, &ignore)? {
        return Err(not_an_estate(no_platform()));
    }
    estate.git = GitState::read(root);
    let mut files = Vec::new();
    collect_files(
        root,
        root,
        &ignore,
        &mut files,
        &mut estate.sources,
        &mut cx,
    )?;
    for (name, path) in files {
        read_file(&mut estate, &mut cx, name, path);
    }
    finish(estate, cx)
}

fn no_platform() -> String {
    format!(
        "no YAML file at its top holds an `apiVersion: {API_VERSION}`, `kind: Platform` document"
    )
}

/// Whether the top of `root` holds a `Platform` document, which makes it an estate.
fn recognised(root: &Path, ignore: &IgnoreList) -> Result<bool, LoadError> {
    for entry in sorted_entries(root)? {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // The same files the walk reads: not hidden, not ignored.
        if name.starts_with('.') || !is_estate_file_name(&name) || ignore.ignores(&name, false) {
            continue;
        }
        // A linked file is refused by the walk; that, not "no estate", is the news.
        match entry.file_type() {
            Ok(t) if t.is_symlink() => return Ok(true),
            Ok(t) if t.is_file() => {}
            _ => continue,
        }
        let small = entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES);
        if small
            && let Ok(bytes) = std::fs::read(entry.path())
            && marks_estate(&bytes)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A top-level file marks its folder as an estate if it holds a Ward `Platform` document,
/// or if it names Ward's API but cannot be parsed: then the load says what is wrong with
/// it rather than that the folder is no estate.
fn marks_estate(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let src = SourceFile::new(String::new(), PathBuf::new(), text);
    match yaml::parse_documents(FileId(0), &src) {
        Ok(docs) => docs
            .iter()
            .any(|d| matches!(shape(d), Shape::Ward { platform: true })),
        Err(_) => src.text.contains(api_group()),
    }
}

/// `ward.dev/`, the API group of [`API_VERSION`].
fn api_group() -> &'static str {
    API_VERSION
        .rfind('/')
        .map_or(API_VERSION, |i| &API_VERSION[..=i])
}

/// What a document is, told from its `apiVersion` and `kind` before any decoding.
enum Shape {
    /// Ward's: decoded, and reported on if wrong (a `ward.dev/v2`, a Ward kind without an
    /// `apiVersion`).
    Ward { platform: bool },
    /// Someone else's (a Kubernetes manifest, Helm values): skipped, with the reason.
    Foreign(String),
}

fn shape(doc: &Node) -> Shape {
    let yaml::Value::Map(entries) = &doc.value else {
        return Shape::Foreign(format!("it is {}, not a mapping", doc.kind_name()));
    };
    let field = |name: &str| {
        entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .and_then(|(_, v)| v.as_str())
    };
    let kind = field("kind");
    let platform = kind == Some(Kind::Platform.name());
    match field("apiVersion") {
        Some(api) if api.starts_with(api_group()) => Shape::Ward { platform },
        Some(api) => Shape::Foreign(format!("apiVersion `{}`", crate::decode::escape(api))),
        None if kind.is_some_and(|k| Kind::NAMES.contains(&k)) => Shape::Ward { platform },
        None => Shape::Foreign("no `apiVersion`".into()),
    }
}

/// Where a skipped document is pointed at: its `apiVersion` value, else its first
/// character (not the whole document, which a report would print in full).
fn foreign_span(doc: &Node) -> Span {
    let api = match &doc.value {
        yaml::Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some("apiVersion"))
            .map(|(_, v)| v.span),
        _ => None,
    };
    api.unwrap_or(Span { len: 0, ..doc.span })
}

/// The entries of one folder in name order, so that files are read in path order.
fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn is_estate_file_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn finish(mut estate: Estate, mut cx: Cx) -> Result<Estate, LoadError> {
    estate.teams.sort_by(|a, b| a.name().cmp(b.name()));
    estate.workloads.sort_by(|a, b| a.name().cmp(b.name()));
    estate.waivers.sort_by(|a, b| a.name().cmp(b.name()));
    crate::validate::validate(&estate, &mut cx);
    // A message about a value that is a secret ("… is not a DNS-1123 label", "unknown
    // store `…`") would print it: the credential's own diagnostic says what matters.
    let secrets: Vec<Span> = cx.credentials.iter().map(|d| d.span).collect();
    cx.diags
        .retain(|d| !secrets.iter().any(|s| within(d.span, *s)));
    cx.diags.append(&mut cx.credentials);
    if cx.diags.is_empty() {
        estate.environments = crate::resolve::resolve(&estate, &mut cx);
    }
    let by_place = |d: &Diagnostic| (d.span.file, d.span.start);
    cx.warnings.sort_by_key(by_place);
    estate.warnings = cx.warnings;
    if cx.diags.is_empty() {
        Ok(estate)
    } else {
        cx.diags.sort_by_key(by_place);
        cx.diags.dedup();
        Err(LoadError::Invalid {
            sources: estate.sources,
            diagnostics: cx.diags,
            warnings: estate.warnings,
        })
    }
}

fn within(inner: Span, outer: Span) -> bool {
    inner.file == outer.file
        && inner.start >= outer.start
        && inner.start + inner.len <= outer.start + outer.len
}

/// A file-level problem, reported at the file's first line.
fn file_problem(
    sources: &mut SourceMap,
    cx: &mut Cx,
    name: String,
    path: PathBuf,
    message: String,
    hint: &str,
) {
    let file = sources.add(SourceFile::new(name, path, String::new()));
    cx.error(
        Span {
            file,
            line: 1,
            col: 1,
            ..Span::default()
        },
        message,
        hint,
    );
}

fn collect_files(
    root: &Path,
    dir: &Path,
    ignore: &IgnoreList,
    out: &mut Vec<(String, PathBuf)>,
    sources: &mut SourceMap,
    cx: &mut Cx,
) -> Result<(), LoadError> {
    for entry in sorted_entries(dir)? {
        let path = entry.path();
        let file_name = entry.file_name();
        let Some(fname) = file_name.to_str() else {
            continue;
        };
        // Hidden entries include the state folder (`.ward/`) and `.git/`.
        if fname.starts_with('.') || (dir == root && SKIPPED_DIRS.contains(&fname)) {
            continue;
        }
        let name = display_name(root, &path);
        let file_type = entry.file_type().map_err(|source| LoadError::Io {
            path: path.clone(),
            source,
        })?;
        let is_yaml = is_estate_file_name(fname);
        // A link counts as what it points to, so `.wardignore` can name it.
        let is_folder = file_type.is_dir()
            || (file_type.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_dir()));
        if ignore.ignores(&name, is_folder) {
            continue;
        }
        if file_type.is_symlink() {
            // A link to a folder would be skipped silently otherwise, with every document
            // in it; a dangling link or one to another kind of file is no estate file.
            let to_folder = is_folder;
            if to_folder || is_yaml {
                let what = if to_folder { "folder" } else { "file" };
                file_problem(
                    sources,
                    cx,
                    name,
                    path,
                    format!("this estate {what} is a symbolic link"),
                    &format!(
                        "Ward does not follow links, so the estate cannot reach outside its folder; copy the {what} in instead, or list it in `.wardignore`"
                    ),
                );
            }
        } else if file_type.is_dir() {
            if !path.join(DEPLOY_TREE_MARKER).is_file() {
                collect_files(root, &path, ignore, out, sources, cx)?;
            }
        } else if is_yaml {
            if out.len() >= MAX_FILES {
                file_problem(
                    sources,
                    cx,
                    name,
                    path,
                    format!("the estate has more than {MAX_FILES} YAML files"),
                    "point --estate at the estate folder, not at a larger tree",
                );
                return Ok(());
            }
            out.push((name, path));
        }
    }
    Ok(())
}

fn display_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_file(estate: &mut Estate, cx: &mut Cx, name: String, path: PathBuf) {
    // The size is checked before reading, so a huge file is never pulled into memory.
    let read = std::fs::metadata(&path).and_then(|m| {
        if m.len() > MAX_FILE_BYTES {
            Ok(Err(m.len()))
        } else {
            std::fs::read(&path).map(Ok)
        }
    });
    match read {
        Ok(Ok(bytes)) => ingest(estate, cx, name, path, bytes),
        Ok(Err(size)) => file_problem(
            &mut estate.sources,
            cx,
            name,
            path,
            format!("this file is {size} bytes; an estate file may be at most {MAX_FILE_BYTES}"),
            "split it into several files (one per workload is the convention)",
        ),
        Err(e) => file_problem(
            &mut estate.sources,
            cx,
            name,
            path,
            format!("cannot read this file: {e}"),
            "check its permissions",
        ),
    }
}

/// Loads an estate held in memory, one `(name, bytes)` pair per file, exactly as [`load`]
/// would from disk (without Git). For fuzzing and tests.
pub fn load_files(files: &[(&str, &[u8])]) -> Result<Estate, LoadError> {
    let mut estate = Estate::default();
    let mut cx = Cx::default();
    for (name, bytes) in files {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            file_problem(
                &mut estate.sources,
                &mut cx,
                name.to_string(),
                PathBuf::from(name),
                format!(
                    "this file is {} bytes; an estate file may be at most {MAX_FILE_BYTES}",
                    bytes.len()
                ),
                "split it",
            );
            continue;
        }
        ingest(
            &mut estate,
            &mut cx,
            name.to_string(),
            PathBuf::from(name),
            bytes.to_vec(),
        );
    }
    let top_level = |name: &&str| !name.contains('/');
    if !files.iter().any(|(n, b)| top_level(n) && marks_estate(b)) {
        return Err(LoadError::NotAnEstate {
            root: PathBuf::from("(the files given)"),
            reason: no_platform(),
        });
    }
    finish(estate, cx)
}

fn ingest(estate: &mut Estate, cx: &mut Cx, name: String, path: PathBuf, bytes: Vec<u8>) {
    let sources = &mut estate.sources;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let file = sources.add(SourceFile::new(name, path, String::new()));
            let span = SourceFile::span_at_byte(file, &bytes, offset);
            cx.error(
                span,
                format!("this file is not UTF-8 (bad byte at offset {offset})"),
                "save it as UTF-8; YAML files must be text",
            );
            return;
        }
    };
    let file = sources.add(SourceFile::new(name, path, text));
    let Some(src) = sources.get(file) else { return };
    let docs = match yaml::parse_documents(file, src) {
        Ok(d) => d,
        Err(d) => {
            cx.diags.push(*d);
            return;
        }
    };
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        if let Shape::Foreign(why) = shape(&doc) {
            let group = api_group();
            cx.warnings.push(
                Diagnostic::new(foreign_span(&doc), format!("skipped a document that is not Ward's ({why})"))
                    .hint(format!("Ward reads only `apiVersion: {API_VERSION}` documents ({group}…); move this file out of the estate, or list it or its folder in `.wardignore`")),
            );
            continue;
        }
        let mut found = Vec::new();
        crate::secrets::scan(&doc, "", &mut found);
        for d in &found {
            estate.sources.mask(d.span);
        }
        cx.credentials.extend(found);
        decode_document(estate, cx, file, &doc);
    }
}

fn decode_document(estate: &mut Estate, cx: &mut Cx, file: FileId, doc: &Node) {
    let Some(mut f) = cx.map(doc, "document") else {
        return;
    };
    let api = f
        .req(cx, "apiVersion")
        .and_then(|n| cx.string(n, "apiVersion"));
    if let Some(api) = &api
        && api.value != API_VERSION
    {
        cx.error(
            api.span,
            format!(
                "unsupported apiVersion `{}`",
                crate::decode::escape(&api.value)
            ),
            format!("use `apiVersion: {API_VERSION}`"),
        );
    }
    let kind = f.req(cx, "kind").and_then(|n| {
        let s = cx.string(n, "kind")?;
        match Kind::NAMES.iter().position(|k| *k == s.value) {
            Some(i) => Some(Kind::from_index(i)),
            None => {
                let hint = match closest(&s.value, Kind::NAMES) {
                    Some(k) => format!("did you mean `{k}`?"),
                    None => format!("the kinds are {}", Kind::NAMES.join(", ")),
                };
                cx.error(
                    s.span,
                    format!("unknown kind `{}`", crate::decode::escape(&s.value)),
                    hint,
                );
                None
            }
        }
    });
    let meta_node = f.req(cx, "metadata");
    let spec_node = f.req(cx, "spec");
    f.finish(cx);
    let (Some(kind), Some(meta_node), Some(spec_node)) = (kind, meta_node, spec_node) else {
        return;
    };
    let meta = model::decode_meta(cx, meta_node, kind);
    macro_rules! doc {
        ($decode:path) => {{
            let spec = $decode(cx, spec_node);
            match (meta, spec) {
                (Some(metadata), Some(spec)) => {
                    let span = metadata.name.span;
                    Some(Document {
                        metadata,
                        spec,
                        file,
                        span,
                    })
                }
                _ => None,
            }
        }};
    }
    match kind {
        Kind::Platform => {
            if let Some(d) = doc!(model::decode_platform) {
                if estate.platform.is_none() {
                    estate.platform = Some(d);
                } else {
                    estate.extra_platforms.push(d);
                }
            }
        }
        Kind::Team => estate.teams.extend(doc!(model::decode_team)),
        Kind::Workload => estate.workloads.extend(doc!(model::decode_workload)),
        Kind::Waiver => estate.waivers.extend(doc!(model::decode_waiver)),
    }
}

impl Estate {
    /// The environment at `workload/environment`.
    pub fn environment(&self, address: &str) -> Option<&crate::resolve::ResolvedEnvironment> {
        let (w, e) = address.split_once('/')?;
        self.environments
            .iter()
            .find(|r| r.workload == w && r.environment == e)
    }

    pub fn workload(&self, name: &str) -> Option<&Document<WorkloadSpec>> {
        self.workloads.iter().find(|w| w.name() == name)
    }

    /// The roles an identity provider's `groups` grant through the Teams' `groups`
    /// (role → group), each group first prefixed with `prefix`, as kube-apiserver's
    /// `--oidc-groups-prefix` does, so that one Team mapping serves both. Sorted, once each.
    pub fn roles_of_groups(&self, groups: &[String], prefix: &str) -> Vec<model::Role> {
        let held: std::collections::BTreeSet<String> =
            groups.iter().map(|g| format!("{prefix}{g}")).collect();
        let mut roles: Vec<model::Role> = self
            .teams
            .iter()
            .flat_map(|t| t.spec.groups.iter())
            .filter(|(_, group)| held.contains(&group.value))
            .filter_map(|(role, _)| {
                model::Role::NAMES
                    .iter()
                    .position(|n| n == role)
                    .map(model::Role::from_index)
            })
            .collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// The Team person whose `email` is `email` (compared without case).
    pub fn person_by_email(&self, email: &str) -> Option<&model::Person> {
        self.teams
            .iter()
            .flat_map(|t| t.spec.people.iter())
            .find(|p| {
                p.email
                    .as_ref()
                    .is_some_and(|e| e.value.eq_ignore_ascii_case(email))
            })
    }
}
