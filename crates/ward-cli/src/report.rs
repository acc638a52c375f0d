//! Exit codes and error output: miette-style reports for people, JSON for machines.
//!
//! Estate diagnostics become reports with the file, line, column, the offending line
//! with a caret, and a hint; text shows the first [`PRINTED_DIAGNOSTICS`] errors and
//! warnings and counts the rest, JSON lists them all.

use crate::context::{Context, Output};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Severity,
};
use ward_estate::{Diagnostic, SourceMap};

/// Ward's exit codes, the same for every command ([`Exit::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Ok,
    /// 1: findings, or a check that failed (also any error of `plan --detailed-exitcode`,
    /// as `terraform plan` has it).
    Findings,
    /// 2: bad input or usage.
    BadInput,
    /// 3: the database, the network or storage failed.
    Operational,
    /// 2, only with `ward plan --detailed-exitcode`: the plan has changes.
    Changes,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::BadInput | Exit::Changes => 2,
            Exit::Operational => 3,
        }
    }
}

/// The reader of our output went away (`ward … | head`): stop quietly, as `cat` does,
/// with 128 + SIGPIPE. Both `println!` (through the panic hook in `main`) and
/// [`crate::context::print_json`] end here.
pub fn output_closed() -> ! {
    std::process::exit(141)
}

/// A failure a command reports instead of a result: the operations layer's one error kind.
pub use ward_ops::Error as Failure;
pub use ward_ops::scrub::{scrub_credentials, scrub_json};

/// Prints a failure and gives the exit code it means.
pub fn fail(cx: &Context, failure: Failure) -> Exit {
    let exit = match failure.kind() {
        ward_ops::ErrorKind::Input => Exit::BadInput,
        ward_ops::ErrorKind::Findings | ward_ops::ErrorKind::Denied => Exit::Findings,
        ward_ops::ErrorKind::Operational => Exit::Operational,
    };
    if cx.output == Output::Json {
        let mut json = failure_json(&failure);
        scrub_json(&mut json);
        // If stdout itself fails there is nowhere left to report to.
        let _ = crate::context::print_json(&json);
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
        Failure::BadInput { message, hint }
        | Failure::Findings { message, hint }
        | Failure::Denied { message, hint }
        | Failure::Operational { message, hint } => {
            let mut out = String::new();
            let report = miette::Report::new(MietteDiagnostic::new(message).with_help(hint));
            let _ = handler().render_report(&mut out, report.as_ref());
            eprintln!("{}", scrub_credentials(&out));
        }
    }
    exit
}

/// Prints a warning on stderr, credentials masked like every failure's.
pub fn warn(message: &str) {
    eprintln!("warning: {}", scrub_credentials(message));
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
        eprintln!("{}", scrub_credentials(&out));
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
    let theme = if crate::style::enabled(crate::style::Stream::Stderr) {
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
        Failure::Findings { message, hint } => {
            serde_json::json!({"error": "findings", "message": message, "hint": hint})
        }
        Failure::Denied { message, hint } => {
            serde_json::json!({"error": "denied", "message": message, "hint": hint})
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_failures_are_scrubbed_in_every_string() {
        let failure = Failure::operational(
            "cannot reach http://user:s3cret@pgw:9091/",
            "check https://h/?token=abc",
        );
        let mut json = failure_json(&failure);
        scrub_json(&mut json);
        assert_eq!(
            json,
            serde_json::json!({
                "error": "operational",
                "message": "cannot reach http://***@pgw:9091/",
                "hint": "check https://h/?token=***",
            })
        );
    }
}
