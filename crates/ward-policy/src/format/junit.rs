//! JUnit XML for CI systems: one test suite per workload environment (and one for the
//! estate as a whole), a failing test case per `deny`, a skipped one per waived finding,
//! and a passing one per warning and per clean suite.

use crate::catalogue::Severity;
use crate::finding::{Finding, Report};
use std::collections::BTreeMap;
use std::fmt::Write;

pub fn render(report: &Report, environments: &[String]) -> String {
    let mut suites: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for e in environments {
        suites.entry(e.clone()).or_default();
    }
    for f in &report.findings {
        suites.entry(f.subject()).or_default().push(f);
    }
    let mut body = String::new();
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for (name, findings) in &suites {
        let fails = findings.iter().filter(|f| f.blocks()).count();
        let skips = findings.iter().filter(|f| f.waived.is_some()).count();
        let cases = findings.len() + 1;
        tests += cases;
        failures += fails;
        skipped += skips;
        let _ = writeln!(
            body,
            "  <testsuite name=\"{}\" tests=\"{cases}\" failures=\"{fails}\" errors=\"0\" skipped=\"{skips}\">",
            escape(name)
        );
        let _ = writeln!(
            body,
            "    <testcase classname=\"{}\" name=\"no unwaived deny findings\">{}</testcase>",
            escape(name),
            if fails > 0 {
                format!("<failure type=\"deny\" message=\"{fails} deny finding(s)\"></failure>")
            } else {
                String::new()
            }
        );
        for f in findings {
            let where_ = f
                .location
                .as_ref()
                .map(|l| l.to_string())
                .unwrap_or_default();
            let _ = write!(
                body,
                "    <testcase classname=\"{}\" name=\"{} {}\" file=\"{}\">",
                escape(name),
                escape(&f.control),
                escape(&f.title),
                escape(f.location.as_ref().map(|l| l.file.as_str()).unwrap_or("")),
            );
            let detail = format!("{}\nat {where_}\nfix: {}", f.message, f.remediation);
            match (&f.waived, f.severity) {
                (Some(w), _) => {
                    let _ = write!(
                        body,
                        "<skipped message=\"waived by {} (approved by {} until {})\"></skipped>",
                        escape(&w.waiver),
                        escape(&w.approver),
                        escape(&w.expires)
                    );
                }
                (None, Severity::Deny) => {
                    let _ = write!(
                        body,
                        "<failure type=\"deny\" message=\"{}\">{}</failure>",
                        escape(&f.message),
                        escape(&detail)
                    );
                }
                (None, Severity::Warn) => {
                    let _ = write!(body, "<system-out>warn: {}</system-out>", escape(&detail));
                }
            }
            body.push_str("</testcase>\n");
        }
        body.push_str("  </testsuite>\n");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ward check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n{body}</testsuites>\n"
    )
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 forbids.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}
