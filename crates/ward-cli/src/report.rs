//! Exit codes and error output: miette-style reports for people, JSON for machines.
//!
//! Estate diagnostics become reports with the file, line, column, the offending line
//! with a caret, and a hint.

use crate::context::{Context, Output};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use std::io::IsTerminal;
use ward_estate::{Diagnostic, SourceMap};

/// Ward's exit codes, the same for every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Findings, or a check that failed.
    Findings = 1,
    /// Bad input or usage.
    BadInput = 2,
    /// The database, the network or storage failed.
    Operational = 3,
}

/// The reader of our output went away (`ward … | head`): stop quietly, as `cat` does,
/// with 128 + SIGPIPE. Both `println!` (through the panic hook in `main`) and
/// [`crate::context::print_json`] end here.
pub fn output_closed() -> ! {
    std::process::exit(141)
}

/// A failure a command reports instead of a result.
#[derive(Debug)]
pub enum Failure {
    /// The estate has problems; every one is listed.
    Estate {
        sources: SourceMap,
        diagnostics: Vec<Diagnostic>,
    },
    /// Input or usage is wrong: a message and what to do.
    BadInput { message: String, hint: String },
    /// Something outside Ward failed.
    Operational { message: String, hint: String },
}

impl Failure {
    pub fn bad_input(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure::BadInput {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn operational(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure::Operational {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl From<ward_estate::LoadError> for Failure {
    fn from(e: ward_estate::LoadError) -> Failure {
        match e {
            ward_estate::LoadError::Invalid {
                sources,
                diagnostics,
            } => Failure::Estate {
                sources,
                diagnostics,
            },
            ward_estate::LoadError::NotAFolder(p) => Failure::bad_input(
                format!(
                    "estate folder {} does not exist or is not a folder",
                    p.display()
                ),
                "pass --estate DIR or set WARD_ESTATE; `ward init DIR --example healthcare` creates one",
            ),
            e @ ward_estate::LoadError::Io { .. } => {
                Failure::operational(e.to_string(), "check that the folder is readable")
            }
        }
    }
}

/// Prints a failure and gives the exit code it means.
pub fn fail(cx: &Context, failure: Failure) -> Exit {
    let exit = match &failure {
        Failure::Estate { .. } | Failure::BadInput { .. } => Exit::BadInput,
        Failure::Operational { .. } => Exit::Operational,
    };
    if cx.output == Output::Json {
        // If stdout itself fails there is nowhere left to report to.
        let _ = crate::context::print_json(&failure_json(&failure));
        return exit;
    }
    let handler = handler();
    match failure {
        Failure::Estate {
            sources,
            diagnostics,
        } => {
            for d in &diagnostics {
                let mut out = String::new();
                let _ = handler.render_report(&mut out, &*diagnostic_report(&sources, d));
                eprintln!("{out}");
            }
            eprintln!(
                "error: the estate has {} problem(s); nothing was changed",
                diagnostics.len()
            );
        }
        Failure::BadInput { message, hint } | Failure::Operational { message, hint } => {
            let mut out = String::new();
            let report = miette::Report::new(MietteDiagnostic::new(message).with_help(hint));
            let _ = handler.render_report(&mut out, report.as_ref());
            eprintln!("{out}");
        }
    }
    exit
}

fn handler() -> GraphicalReportHandler {
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_context_lines(1)
}

fn diagnostic_report(sources: &SourceMap, d: &Diagnostic) -> miette::Report {
    let file = sources.get(d.span.file);
    let message = match file {
        Some(_) => format!("{}: {}", sources.location(d.span), d.message),
        None => d.message.clone(),
    };
    let mut m = MietteDiagnostic::new(message);
    if let Some(h) = &d.hint {
        m = m.with_help(h.clone());
    }
    // A minified or hostile file can hold one enormous line: show the place, not the line.
    let Some(file) = file.filter(|f| f.line_text(d.span.line).len() <= 400) else {
        return miette::Report::new(m);
    };
    let label = |start: usize, len: usize, text: String| LabeledSpan::at(start..start + len, text);
    m = m.and_label(label(d.span.start, d.span.len, "here".into()));
    if let Some((span, text)) = &d.related
        && span.file == d.span.file
    {
        m = m.and_label(label(span.start, span.len, text.clone()));
    }
    miette::Report::new(m).with_source_code(NamedSource::new(file.name.clone(), file.text.clone()))
}

fn failure_json(f: &Failure) -> serde_json::Value {
    match f {
        Failure::Estate {
            sources,
            diagnostics,
        } => serde_json::json!({
            "error": "invalid-estate",
            "diagnostics": diagnostics.iter().map(|d| diagnostic_json(sources, d)).collect::<Vec<_>>(),
        }),
        Failure::BadInput { message, hint } => {
            serde_json::json!({"error": "bad-input", "message": message, "hint": hint})
        }
        Failure::Operational { message, hint } => {
            serde_json::json!({"error": "operational", "message": message, "hint": hint})
        }
    }
}

pub fn diagnostic_json(sources: &SourceMap, d: &Diagnostic) -> serde_json::Value {
    let loc = sources.location(d.span);
    serde_json::json!({
        "file": loc.file, "line": loc.line, "column": loc.col,
        "message": d.message, "hint": d.hint,
    })
}
