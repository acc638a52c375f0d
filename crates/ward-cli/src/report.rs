//! Exit codes and error output: miette-style reports for people, JSON for machines.
//!
//! Estate diagnostics become reports with the file, line, column, the offending line
//! with a caret, and a hint; text shows the first [`PRINTED_DIAGNOSTICS`] errors and
//! warnings and counts the rest, JSON lists them all.

use crate::context::{Context, Output};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Severity,
};
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
    /// The estate has problems; every one is listed, with the load's warnings.
    Estate {
        sources: SourceMap,
        diagnostics: Vec<Diagnostic>,
        warnings: Vec<Diagnostic>,
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
                warnings,
            } => Failure::Estate {
                sources,
                diagnostics,
                warnings,
            },
            e @ ward_estate::LoadError::NotAnEstate { .. } => Failure::bad_input(
                e.to_string(),
                "run Ward inside the estate folder, or pass --estate DIR (or set WARD_ESTATE); `ward init DIR --example healthcare` creates one",
            ),
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
    match failure {
        Failure::Estate {
            sources,
            diagnostics,
            warnings,
        } => {
            print_warnings(&sources, &warnings);
            print_capped(&sources, &diagnostics, Severity::Error);
            eprintln!(
                "error: the estate has {} problem(s); nothing was changed",
                diagnostics.len()
            );
        }
        Failure::BadInput { message, hint } | Failure::Operational { message, hint } => {
            let mut out = String::new();
            let report = miette::Report::new(MietteDiagnostic::new(message).with_help(hint));
            let _ = handler().render_report(&mut out, report.as_ref());
            eprintln!("{out}");
        }
    }
    exit
}

/// How many errors, and separately how many warnings, are printed as text; the rest are
/// counted in one line. Twenty fill a screen or two, which is as many as a person reads
/// before fixing the first; `-o json` lists them all.
pub const PRINTED_DIAGNOSTICS: usize = 20;

/// The estate's warnings (documents skipped, …) on stderr, for every command that loads it.
pub fn print_warnings(sources: &SourceMap, warnings: &[Diagnostic]) {
    print_capped(sources, warnings, Severity::Warning);
}

fn print_capped(sources: &SourceMap, diagnostics: &[Diagnostic], severity: Severity) {
    let handler = handler();
    for d in diagnostics.iter().take(PRINTED_DIAGNOSTICS) {
        let mut out = String::new();
        let _ = handler.render_report(&mut out, &*diagnostic_report(sources, d, severity));
        eprintln!("{out}");
    }
    let rest = diagnostics.len().saturating_sub(PRINTED_DIAGNOSTICS);
    if rest > 0 {
        let noun = match (severity, rest) {
            (Severity::Warning, 1) => "warning",
            (Severity::Warning, _) => "warnings",
            (_, 1) => "error",
            _ => "errors",
        };
        eprintln!("… and {rest} more {noun} (run `ward validate -o json` for all)");
    }
}

fn handler() -> GraphicalReportHandler {
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_context_lines(1)
}

fn diagnostic_report(sources: &SourceMap, d: &Diagnostic, severity: Severity) -> miette::Report {
    let file = sources.get(d.span.file);
    let message = match file {
        Some(_) => format!("{}: {}", sources.location(d.span), d.message),
        None => d.message.clone(),
    };
    let mut m = MietteDiagnostic::new(message).with_severity(severity);
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
            warnings,
        } => serde_json::json!({
            "error": "invalid-estate",
            "diagnostics": diagnostics_json(sources, diagnostics),
            "warnings": diagnostics_json(sources, warnings),
        }),
        Failure::BadInput { message, hint } => {
            serde_json::json!({"error": "bad-input", "message": message, "hint": hint})
        }
        Failure::Operational { message, hint } => {
            serde_json::json!({"error": "operational", "message": message, "hint": hint})
        }
    }
}

pub fn diagnostics_json(sources: &SourceMap, diagnostics: &[Diagnostic]) -> Vec<serde_json::Value> {
    diagnostics
        .iter()
        .map(|d| diagnostic_json(sources, d))
        .collect()
}

pub fn diagnostic_json(sources: &SourceMap, d: &Diagnostic) -> serde_json::Value {
    let loc = sources.location(d.span);
    serde_json::json!({
        "file": loc.file, "line": loc.line, "column": loc.col,
        "message": d.message, "hint": d.hint,
    })
}
