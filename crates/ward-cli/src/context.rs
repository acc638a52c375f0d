//! What every command shares: the global flags (`--estate`, `--state`, `--actor`,
//! `--output`, `-q`/`-v`, `--color`), estate loading, and appending to the ledger.

use crate::report::Failure;
use clap::ValueEnum;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use ward_estate::Estate;

/// Flags every command accepts, so that scripts can rely on them; `--help` lists them
/// apart from the command's own, as kubectl does.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The estate folder.
    #[arg(
        long,
        global = true,
        env = "WARD_ESTATE",
        default_value = ".",
        value_name = "DIR"
    )]
    pub estate: PathBuf,
    /// The state folder (ledger, keys) [default: <estate>/.ward].
    #[arg(long, global = true, env = "WARD_STATE", value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Where secret references resolve at run time, as `<store>/<key>[/<property>]` files
    /// (a mounted Kubernetes Secret) [default: <state>/secrets].
    #[arg(long, global = true, env = "WARD_SECRETS_DIR", value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// Use this platform object store for the environments' backups instead of the one
    /// the estate gives each (Ward's in-cluster jobs set it: they never write to a
    /// `local` store, see `rendering.jobObjectStore`).
    #[arg(long, global = true, env = "WARD_OBJECT_STORE", value_name = "NAME")]
    pub object_store: Option<String>,
    /// Who is acting, for the ledger [default: $WARD_ACTOR, then the OS user].
    #[arg(long, global = true, env = "WARD_ACTOR", value_name = "NAME")]
    pub actor: Option<String>,
    /// Output format; a command refuses one it does not have (exit 2).
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// No progress bars and no informational lines on stderr (warnings and errors stay).
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: what was loaded from where, and how long it took.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Colour: `auto` colours a terminal only, and never when NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = crate::style::ColorChoice::Auto, value_name = "WHEN")]
    pub color: crate::style::ColorChoice,
}

/// What commands print: for people or for scripts. `--output sarif|junit|wide` reaches
/// the commands that know those formats through [`Context::format`]; `yaml` is the JSON
/// document written as YAML by [`print_json`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// For people.
    Text,
    /// For scripts: stable field names (JSON or YAML).
    Json,
}

/// Every format `--output` accepts; [`Format::supported_by`] says which a command has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: tables that fit 100 columns.
    Text,
    /// For people: tables with every column and full ids (`classify`, `audit log`,
    /// `backup list`).
    Wide,
    /// For scripts: stable field names.
    Json,
    /// The JSON document, as YAML.
    Yaml,
    /// SARIF 2.1.0, for code-scanning tools (`ward check`).
    Sarif,
    /// JUnit XML, for CI systems (`ward check`).
    Junit,
}

impl Format {
    /// What most commands print: text, and the same document as JSON or YAML.
    pub const DOCUMENTS: &[Format] = &[Format::Text, Format::Json, Format::Yaml];
    /// Commands with a table that has more to say in `-o wide`.
    pub const TABLES: &[Format] = &[Format::Text, Format::Wide, Format::Json, Format::Yaml];
    /// `ward check`: also the CI formats.
    pub const REPORTS: &[Format] = &[
        Format::Text,
        Format::Json,
        Format::Yaml,
        Format::Sarif,
        Format::Junit,
    ];
    /// Only text (`ward completion` prints a shell script).
    pub const TEXT: &[Format] = &[Format::Text];

    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Wide => "wide",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
        }
    }

    /// Refuses an output `command` does not have, naming those it has: never silently text.
    pub fn supported_by(self, command: &str, supported: &[Format]) -> Result<(), Failure> {
        if supported.contains(&self) {
            return Ok(());
        }
        let names: Vec<&str> = supported.iter().map(|f| f.name()).collect();
        Err(Failure::bad_input(
            format!("`ward {command}` has no `{}` output", self.name()),
            format!("use -o {}", names.join(", -o ")),
        ))
    }
}

/// Whether [`print_json`] writes YAML: set once from `--output`, because the document
/// writer is a free function every command (and the vault's) calls without a context.
static YAML_DOCUMENTS: AtomicBool = AtomicBool::new(false);

pub struct Context {
    /// `--state` as given: `ward init` places a new estate's state folder with it.
    state: Option<PathBuf>,
    /// Where the operations run: the estate, state and secrets folders, the actor, and
    /// what the process environment said.
    pub ws: ward_ops::Workspace,
    pub output: Output,
    /// The format exactly as asked for, including wide, SARIF and JUnit.
    pub format: Format,
    /// `-q`: no progress, no informational lines.
    pub quiet: bool,
    /// `-v`: what was loaded, and how long it took.
    pub verbose: bool,
}

impl Context {
    pub fn new(args: GlobalArgs) -> Context {
        let actor = args
            .actor
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(os_user);
        let mut ws = ward_ops::Workspace::new(
            args.estate,
            args.state.clone(),
            args.secrets_dir,
            actor,
            process_env(),
        );
        ws.object_store = args.object_store.filter(|s| !s.trim().is_empty());
        Context {
            state: args.state,
            ws,
            output: match args.output {
                Format::Json | Format::Yaml => Output::Json,
                Format::Text | Format::Wide | Format::Sarif | Format::Junit => Output::Text,
            },
            format: args.output,
            quiet: args.quiet,
            verbose: args.verbose,
        }
    }

    /// Makes the process's outputs follow this context: YAML documents for `-o yaml`,
    /// colour as `--color` says. `main` calls it once.
    pub fn apply_to_process(&self, color: crate::style::ColorChoice) {
        YAML_DOCUMENTS.store(self.format == Format::Yaml, Ordering::Relaxed);
        crate::style::init(color);
    }

    /// `-o wide`: every column, full ids.
    pub fn wide(&self) -> bool {
        self.format == Format::Wide
    }

    /// An informational line on stderr, which `-q` silences.
    pub fn info(&self, line: &str) {
        if !self.quiet {
            eprintln!("{}", crate::report::scrub_credentials(line));
        }
    }

    /// A line on stderr only with `-v`.
    pub fn detail(&self, line: &str) {
        if self.verbose {
            eprintln!("{}", crate::report::scrub_credentials(line));
        }
    }

    /// The state folder: `--state`, then `WARD_STATE`, then `.ward/` in the estate.
    pub fn state_dir(&self) -> PathBuf {
        self.ws.state_dir.clone()
    }

    pub fn state_dir_for(&self, estate: &Path) -> PathBuf {
        self.state
            .clone()
            .unwrap_or_else(|| ward_ops::default_state_dir(estate))
    }

    /// Loads the estate and prints its warnings on stderr (also with `-o json`, whose
    /// stdout stays the command's own).
    pub fn load_estate(&self) -> Result<Estate, Failure> {
        let estate = self.load_estate_quietly()?;
        crate::report::print_warnings(&estate.sources, &estate.warnings);
        Ok(estate)
    }

    /// Loads the estate, leaving its warnings to the caller (`ward validate` puts them in
    /// its JSON).
    pub fn load_estate_quietly(&self) -> Result<Estate, Failure> {
        let started = std::time::Instant::now();
        let estate = ward_estate::load(&self.ws.estate_dir)?;
        self.detail(&format!(
            "estate {}: {} files, {} workloads, {} environments, commit {} ({} ms)",
            self.ws.estate_dir.display(),
            estate.sources.files.len(),
            estate.workloads.len(),
            estate.environments.len(),
            estate.git.short(),
            started.elapsed().as_millis()
        ));
        Ok(estate)
    }

    /// Appends one entry to the ledger in `state`; a command that changed something calls
    /// this before it reports success (see [`ward_ops::record_in`]).
    pub fn record(
        &self,
        state: &Path,
        event: &ward_ops::Event,
        subject: &str,
        outcome: ward_ledger::Outcome,
        git: &ward_estate::GitState,
    ) -> Result<(), Failure> {
        ward_ops::record_in(state, &self.ws.actor, event, subject, outcome, git)
    }
}

/// A ledger error for people: operational (exit 3), with a hint saying what happened.
pub use ward_ops::ledger_error as ledger_failure;

/// What the operations read from the process environment, read once here: library crates
/// read no environment variable.
fn process_env() -> ward_ops::ProcessEnv {
    let text = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let secret = |name: &str| text(name).map(ward_vault::SecretString::new);
    ward_ops::ProcessEnv {
        pgpassword: secret("PGPASSWORD"),
        identity: text("WARD_IDENTITY").map(PathBuf::from),
        aws_access_key_id: secret("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key: secret("AWS_SECRET_ACCESS_KEY"),
        home: text("HOME").map(PathBuf::from),
        path: std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default(),
        temp_dir: std::env::temp_dir(),
    }
}

fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".into();
    };
    // No libc call (unsafe is forbidden): the passwd file names the user.
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(2) == Some(&uid.to_string().as_str())).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid-{uid}"))
}

/// Writes a command's document to stdout: pretty JSON, streamed so that large reports
/// never sit in memory as one string; with `-o yaml` the same value as YAML, through the
/// renderer's deterministic emitter (the deploy tree's own YAML writer).
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if YAML_DOCUMENTS.load(Ordering::Relaxed) {
        serde_json::to_value(value)
            .map_err(std::io::Error::from)
            .and_then(|v| out.write_all(ward_render::yaml::to_yaml(&v).as_bytes()))
    } else {
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    };
    written.and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            crate::report::output_closed();
        }
        Failure::operational(
            format!("cannot write output: {e}"),
            "check where stdout goes",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(state: &Path) -> Context {
        Context::new(GlobalArgs {
            estate: state.to_path_buf(),
            state: Some(state.to_path_buf()),
            secrets_dir: None,
            object_store: None,
            actor: Some("alice".into()),
            output: Format::Text,
            quiet: false,
            verbose: false,
            color: crate::style::ColorChoice::Never,
        })
    }

    #[test]
    fn credentials_in_urls_never_reach_the_ledger() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cx = context(dir.path());
        let event = ward_ops::event::Drill {
            environment: "http://u:s3cret@h/".into(),
            failures: Some(vec![
                "cannot reach postgres://drill:s3cret@db:5432/postgres?sslpassword=k3y".into(),
                "https://tok3n@h/x".into(),
            ]),
            ..Default::default()
        };
        cx.record(
            dir.path(),
            &event.into(),
            "https://u:s3cret@h/billing",
            ward_ledger::Outcome::Failed,
            &ward_estate::GitState::default(),
        )
        .expect("record");
        let text = std::fs::read_to_string(dir.path().join("ledger.jsonl")).expect("read");
        for secret in ["s3cret", "k3y", "tok3n"] {
            assert!(!text.contains(secret), "{secret} in the ledger: {text}");
        }
        assert!(
            text.contains("postgres://***@db:5432/postgres?sslpassword=***"),
            "{text}"
        );
    }
}
