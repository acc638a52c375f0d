//! The `ward` command: parses arguments, loads the estate, calls the library crates and
//! prints their results for people (default) or machines (`--output json`).
//!
//! No business logic lives here; see docs/ARCHITECTURE.md for where it does.

mod commands;
mod context;
mod example;
mod interrupt;
mod metrics;
mod progress;
mod report;
mod style;

use clap::{CommandFactory, Parser, Subcommand};
use context::{Context, Format, GlobalArgs};
use std::process::ExitCode;

/// Ward: the governed control plane for hosting Odoo in healthcare.
///
/// Ward reads the estate (a Git folder of YAML), classifies every workload environment by
/// risk, and records every action in a tamper-evident ledger.
#[derive(Parser)]
#[command(name = "ward", version, propagate_version = true, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  ward init care --example healthcare\n  ward --estate care classify\n  ward --estate care explain billing/prod"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Init(commands::init::Args),
    Validate(commands::validate::Args),
    Classify(commands::classify::Args),
    Explain(commands::explain::Args),
    Check(commands::check::Args),
    Controls(commands::controls::Args),
    Render(commands::render::Args),
    Plan(commands::plan::Args),
    Apply(commands::apply::Args),
    #[command(
        subcommand,
        after_help = "Examples:\n  ward --estate care audit log -n 20\n  ward --estate care audit verify"
    )]
    Audit(commands::audit::Command),
    #[command(
        subcommand,
        after_help = "Examples:\n  ward --estate care backup run billing/prod\n  ward --estate care backup list -o wide"
    )]
    Backup(commands::backup::Command),
    Restore(commands::restore::Args),
    Drill(commands::drill::Args),
    #[command(
        subcommand,
        after_help = "Examples:\n  ward --estate care vault rewrap st-marys --dry-run"
    )]
    Vault(commands::vault::Command),
    Serve(Box<commands::serve::Args>),
    #[command(hide = true)]
    EvaluateCommit(commands::evaluate_commit::Args),
    #[command(
        subcommand,
        after_help = "Examples:\n  ward --estate care token create --subject backup-robot --role dba --expires 30d\n  ward token list"
    )]
    Token(commands::token::Command),
    Version(commands::version::Args),
    Completion(commands::completion::Args),
}

impl Command {
    /// The command as typed after `ward`, and the outputs it has: the one table of which
    /// command supports which `--output`, checked before any command runs.
    fn outputs(&self) -> (&'static str, &'static [Format]) {
        use commands::audit::Command as Audit;
        use commands::backup::Command as Backup;
        match self {
            Command::Init(_) => ("init", Format::DOCUMENTS),
            Command::Validate(_) => ("validate", Format::DOCUMENTS),
            Command::Classify(_) => ("classify", Format::TABLES),
            Command::Explain(_) => ("explain", Format::DOCUMENTS),
            Command::Check(_) => ("check", Format::REPORTS),
            Command::Controls(_) => ("controls", Format::DOCUMENTS),
            Command::Render(_) => ("render", Format::DOCUMENTS),
            Command::Plan(_) => ("plan", Format::DOCUMENTS),
            Command::Apply(_) => ("apply", Format::DOCUMENTS),
            Command::Audit(Audit::Log(_)) => ("audit log", Format::TABLES),
            Command::Audit(Audit::Verify(_)) => ("audit verify", Format::DOCUMENTS),
            Command::Audit(Audit::Head) => ("audit head", Format::DOCUMENTS),
            Command::Audit(Audit::Import(_)) => ("audit import", Format::DOCUMENTS),
            Command::Serve(_) => ("serve", Format::TEXT),
            Command::EvaluateCommit(_) => ("evaluate-commit", Format::DOCUMENTS),
            Command::Token(commands::token::Command::List(_)) => ("token list", Format::TABLES),
            Command::Token(_) => ("token", Format::DOCUMENTS),
            Command::Backup(Backup::Run(_)) => ("backup run", Format::DOCUMENTS),
            Command::Backup(Backup::List(_)) => ("backup list", Format::TABLES),
            Command::Backup(Backup::Verify(_)) => ("backup verify", Format::DOCUMENTS),
            Command::Backup(Backup::Prune(_)) => ("backup prune", Format::DOCUMENTS),
            Command::Backup(Backup::Keygen(_)) => ("backup keygen", Format::DOCUMENTS),
            Command::Backup(Backup::SignExisting(_)) => ("backup sign-existing", Format::DOCUMENTS),
            Command::Restore(_) => ("restore", Format::DOCUMENTS),
            Command::Drill(_) => ("drill", Format::DOCUMENTS),
            Command::Vault(commands::vault::Command::Rewrap(_)) => {
                ("vault rewrap", Format::DOCUMENTS)
            }
            Command::Version(_) => ("version", Format::DOCUMENTS),
            Command::Completion(_) => ("completion", Format::TEXT),
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
/// each keeps what the thread freed: a backup's or restore's many threads, passing chunks
/// and packs of up to 8 MiB between them, held 193–249 MB (backup) and ~200 MB (restore)
/// where two arenas hold 100–124 MB, and the restore ran faster with two (9.5 s against
/// 11.6–12.9 s; docs/BENCHMARKS.md).
const MALLOC_ARENAS: (&str, &str) = ("MALLOC_ARENA_MAX", "2");

/// `ward serve` runs for months: glibc's default, a trim and mmap threshold that grow
/// with the largest block freed, leaves the heap at its high-water mark after each new
/// commit is brought in (332 MiB against 266 MiB with these on 6,000 environments;
/// docs/BENCHMARKS.md). Fixed thresholds hand freed memory back.
const MALLOC_SERVER: [(&str, &str); 2] = [
    ("MALLOC_TRIM_THRESHOLD_", "1048576"),
    ("MALLOC_MMAP_THRESHOLD_", "1048576"),
];

/// glibc reads its tunables only when the process starts, so the binary starts itself
/// again (the same process: `exec`) with those of `settings` that are not set already;
/// a variable the user set is left as it is. If the exec fails it goes on as it is.
fn restart_with_malloc_settings(settings: &[(&str, &str)]) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let missing: Vec<_> = settings
            .iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut again = std::process::Command::new(exe);
        if let Some(name) = args.next() {
            again.arg0(name);
        }
        again.args(args);
        for (name, value) in missing {
            again.env(name, value);
        }
        // Returns only when the exec failed.
        let _ = again.exec();
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = settings;
}

/// `ward … | head` closes stdout early and `println!` then panics; the hook turns that one
/// panic into [`report::output_closed`] and leaves every other panic to the default hook.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            report::output_closed();
        }
        default(info);
    }));
}

/// Logs and traces of the operations (spans of every vault stage) on stderr, when
/// `WARD_LOG` names what to show (`info`, `ward_vault=debug`, … as `RUST_LOG` does); off
/// by default for a command, so that stderr stays the command's own, and `info` for
/// `ward serve`, whose log is its only voice. No span records a secret.
fn init_tracing(default: Option<&str>) {
    let Some(filter) = std::env::var("WARD_LOG")
        .ok()
        .filter(|f| !f.is_empty())
        .or(default.map(str::to_string))
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

fn main() -> ExitCode {
    restart_with_malloc_settings(&[MALLOC_ARENAS]);
    exit_quietly_on_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(report::Exit::BadInput.code()),
            };
        }
    };
    let serving = matches!(cli.command, Command::Serve(_));
    if serving {
        restart_with_malloc_settings(&MALLOC_SERVER);
    }
    init_tracing(serving.then_some("info"));
    let color = cli.global.color;
    let cx = Context::new(cli.global);
    cx.apply_to_process(color);
    let (name, outputs) = cli.command.outputs();
    if let Err(failure) = cx.format.supported_by(name, outputs) {
        return ExitCode::from(report::fail(&cx, failure).code());
    }
    let result = match cli.command {
        Command::Init(a) => commands::init::run(&cx, a),
        Command::Validate(a) => commands::validate::run(&cx, a),
        Command::Classify(a) => commands::classify::run(&cx, a),
        Command::Explain(a) => commands::explain::run(&cx, a),
        Command::Check(a) => commands::check::run(&cx, a),
        Command::Controls(a) => commands::controls::run(&cx, a),
        Command::Render(a) => commands::render::run(&cx, a),
        Command::Plan(a) => commands::plan::run(&cx, a),
        Command::Apply(a) => commands::apply::run(&cx, a),
        Command::Audit(c) => commands::audit::run(&cx, c),
        Command::Backup(c) => commands::backup::run(&cx, c),
        Command::Restore(a) => commands::restore::run(&cx, a),
        Command::Drill(a) => commands::drill::run(&cx, a),
        Command::Vault(c) => commands::vault::run(&cx, c),
        Command::Serve(a) => commands::serve::run(&cx, *a),
        Command::EvaluateCommit(a) => commands::evaluate_commit::run(&cx, a),
        Command::Token(c) => commands::token::run(&cx, c),
        Command::Version(a) => commands::version::run(&cx, a),
        Command::Completion(a) => commands::completion::run(&mut Cli::command(), a),
    };
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => ExitCode::from(report::fail(&cx, err).code()),
    }
}
