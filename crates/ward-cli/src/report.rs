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
        Failure::BadInput { message, hint } | Failure::Operational { message, hint } => {
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

/// Query parameters whose values are credentials, compared without regard to case.
const CREDENTIAL_PARAMETERS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "sslpassword",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "auth_token",
    "private_token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "secret_key",
    "secret",
    "client_secret",
    "credential",
    "credentials",
    "signature",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// Masks the credentials of every URL in `text`: the user-info (`scheme://user:password@host`
/// becomes `scheme://***@host`) and the values of credential query parameters
/// (`?password=***`). The rest of each URL stays, so that a message still says which one it
/// was; only the placeholders of example URLs (`user`, `user:password`) are left as they
/// are. Every message and hint Ward prints passes through here; sources that build messages
/// from URLs call it too.
pub fn scrub_credentials(text: &str) -> String {
    mask_credential_parameters(&mask_user_info(text))
}

/// User-info that hints write in example URLs (`postgres://user@host:port/db`): kept, since
/// it names a placeholder, not a credential.
const PLACEHOLDER_USER_INFO: &[&str] = &["user", "user:password", "USER", "USER:PASSWORD"];

/// Ends a URL's authority, a parameter's value, or a URL.
fn ends_url_part(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')
}

fn mask_user_info(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || ends_url_part(c))
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(user_info_end)
                if !PLACEHOLDER_USER_INFO.contains(&&authority[..user_info_end]) =>
            {
                out.push_str("***");
                out.push_str(&authority[user_info_end..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn mask_credential_parameters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(['?', '&', ';']) {
        let (before, after) = rest.split_at(at + 1);
        out.push_str(before);
        let name = CREDENTIAL_PARAMETERS.iter().find(|name| {
            after.as_bytes().get(..name.len() + 1).is_some_and(|b| {
                b[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && b[name.len()] == b'='
            })
        });
        rest = after;
        if let Some(name) = name {
            let (key, value) = after.split_at(name.len() + 1);
            out.push_str(key);
            let end = value
                .find(|c: char| matches!(c, '&' | '#' | ';') || ends_url_part(c))
                .unwrap_or(value.len());
            if end > 0 {
                out.push_str("***");
            }
            rest = &value[end..];
        }
    }
    out.push_str(rest);
    out
}

/// [`scrub_credentials`] over every string in a JSON document.
pub fn scrub_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = scrub_credentials(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(scrub_json),
        _ => {}
    }
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
    fn credentials_in_urls_are_masked_and_the_rest_kept() {
        let cases = [
            (
                "cannot push to http://user:s3cret@127.0.0.1:9091/metrics: refused",
                "cannot push to http://***@127.0.0.1:9091/metrics: refused",
            ),
            ("https://token@host/x", "https://***@host/x"),
            (
                "postgres://u:p@ss@db:5432/postgres",
                "postgres://***@db:5432/postgres",
            ),
            ("at s3://a:b@bucket?x=1", "at s3://***@bucket?x=1"),
            ("http://[::1]:9091/", "http://[::1]:9091/"),
            (
                "(http://u:pw@h) and \"ftp://x:y@z\"",
                "(http://***@h) and \"ftp://***@z\"",
            ),
            (
                "http://pgw:9091/metrics/job/d/environment@base64/YmlsbGluZw",
                "http://pgw:9091/metrics/job/d/environment@base64/YmlsbGluZw",
            ),
            (
                "postgres://db/x?sslmode=require&password=s3cret&user=a",
                "postgres://db/x?sslmode=require&password=***&user=a",
            ),
            (
                "postgres://db/x?sslpassword=k3y",
                "postgres://db/x?sslpassword=***",
            ),
            (
                "https://h/api?TOKEN=abc#frag",
                "https://h/api?TOKEN=***#frag",
            ),
            (
                "https://h/?access_token=a&api_key=b",
                "https://h/?access_token=***&api_key=***",
            ),
            (
                "https://gitlab/x?private_token=glpat-1 next",
                "https://gitlab/x?private_token=*** next",
            ),
            (
                "https://h/?passwordless=1&pass=",
                "https://h/?passwordless=1&pass=",
            ),
            ("no url here: a@b, x=1", "no url here: a@b, x=1"),
            (
                "use postgres://user@host:port/db or postgres://user:password@h/db",
                "use postgres://user@host:port/db or postgres://user:password@h/db",
            ),
            ("http://user:s3cret@h/", "http://***@h/"),
            ("", ""),
            ("http://ünï:cödé@hôst/ä", "http://***@hôst/ä"),
        ];
        for (text, want) in cases {
            assert_eq!(scrub_credentials(text), want, "{text}");
            assert_eq!(scrub_credentials(want), want, "idempotent: {want}");
        }
    }

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
