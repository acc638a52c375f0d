//! The report for people: findings grouped by workload and environment, each with its
//! control ID, message, the estate file and line, and the remediation.

use crate::catalogue::Severity;
use crate::finding::{Finding, Report};
use std::fmt::Write;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let mut current: Option<String> = None;
    for f in &report.findings {
        let subject = f.subject();
        if current.as_deref() != Some(subject.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            let _ = writeln!(out, "{subject}");
            current = Some(subject);
        }
        finding(&mut out, f);
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    let s = report.summary;
    let objects = match report.objects {
        Some(n) => format!("{n} rendered object(s)"),
        None => "the estate model only (nothing rendered)".into(),
    };
    let policies = match report.policies.len() {
        0 => String::new(),
        n => format!(" and {n} policy file(s) from policies/"),
    };
    let _ = writeln!(
        out,
        "{} deny, {} warn, {} waived: {} controls{policies} on {} environment(s) and {objects}",
        s.deny, s.warn, s.waived, report.controls, report.environments
    );
    let _ = writeln!(
        out,
        "{}",
        if report.failed() {
            "FAILED: fix the deny findings, or ask a security reviewer for a waiver"
        } else {
            "PASSED"
        }
    );
    out
}

fn finding(out: &mut String, f: &Finding) {
    let mark = match (&f.waived, f.severity) {
        (Some(_), _) => "waived",
        (None, Severity::Deny) => "deny",
        (None, Severity::Warn) => "warn",
    };
    let _ = writeln!(out, "  {mark:<6} {}  {}", f.control, f.message);
    if let Some(loc) = &f.location {
        let _ = write!(out, "         at {loc}");
        if let Some(o) = &f.object {
            let _ = write!(out, " (rendered {o})");
        }
        out.push('\n');
    } else if let Some(o) = &f.object {
        let _ = writeln!(out, "         in rendered {o}");
    }
    if let Some(w) = &f.waived {
        let _ = writeln!(
            out,
            "         waived by {} ({}), approved by {} until {}: {}",
            w.waiver, w.location, w.approver, w.expires, w.reason
        );
    } else {
        let _ = writeln!(out, "         fix: {}", f.remediation);
    }
}
