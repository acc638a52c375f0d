//! Turns YAML nodes into typed values while collecting every problem, not just the first.
//!
//! Each reader returns `None` after recording a [`Diagnostic`], so decoding carries on and
//! one run of `ward validate` shows the whole list.

use crate::source::{Diagnostic, Span, Spanned};
use crate::units::{Bytes, Duration, Millicores, Percent};
use crate::yaml::{Node, Value};

/// The diagnostics sink shared by every reader of one estate.
#[derive(Default)]
pub struct Cx {
    pub diags: Vec<Diagnostic>,
    /// What was read but not used; a load with only warnings succeeds.
    pub warnings: Vec<Diagnostic>,
    /// Literal credentials found, kept apart until the end of the load: any other problem
    /// reported inside one of their spans would echo the secret, so it is dropped.
    pub(crate) credentials: Vec<Diagnostic>,
}

/// A closed set of names, such as `phi | confidential | internal | public`.
pub trait Choice: Sized + Copy {
    const NAMES: &'static [&'static str];
    fn from_index(i: usize) -> Self;
    fn name(self) -> &'static str;
}

/// Declares a [`Choice`] enum whose YAML and JSON names are the given strings.
macro_rules! choice {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }
        impl $crate::decode::Choice for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];
            fn from_index(i: usize) -> Self {
                const ALL: &[$name] = &[$($name::$variant),+];
                ALL[i.min(ALL.len() - 1)]
            }
            fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::decode::Choice::name(*self))
            }
        }
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::decode::Choice::name(*self))
            }
        }
    };
}
pub(crate) use choice;

/// The keys of one mapping, with a record of which ones the decoder asked for, so that the
/// rest can be reported as unknown with a suggestion.
pub struct Fields<'n> {
    pub node: &'n Node,
    pub path: String,
    entries: &'n [(Node, Node)],
    asked: Vec<&'static str>,
    free_form: bool,
}

impl<'n> Fields<'n> {
    /// The dotted path of a child field, for messages: `spec.environments[0].size`.
    pub fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An optional field; `null` counts as absent.
    pub fn opt(&mut self, key: &'static str) -> Option<&'n Node> {
        self.asked.push(key);
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// A required field; its absence is reported at the mapping.
    pub fn req(&mut self, cx: &mut Cx, key: &'static str) -> Option<&'n Node> {
        let found = self.opt(key);
        if found.is_none() {
            cx.diags.push(
                Diagnostic::new(self.node.span, format!("missing field `{}`", self.at(key)))
                    .hint(format!("add `{key}:` to this mapping")),
            );
        }
        found
    }

    /// Every entry of a free-form mapping such as `labels`; no key is unknown there.
    pub fn node_entries(&mut self) -> &'n [(Node, Node)] {
        self.free_form = true;
        self.entries
    }

    /// Reports every key that no reader asked for.
    pub fn finish(self, cx: &mut Cx) {
        if self.free_form {
            return;
        }
        for (k, _) in self.entries {
            let Some(name) = k.as_str() else {
                cx.diags.push(Diagnostic::new(
                    k.span,
                    "a mapping key must be a plain string",
                ));
                continue;
            };
            if self.asked.contains(&name) {
                continue;
            }
            let mut d = Diagnostic::new(k.span, format!("unknown field `{}`", self.at(name)));
            d = match closest(name, &self.asked) {
                Some(best) => d.hint(format!("did you mean `{best}`?")),
                None => d.hint(format!("known fields here: {}", self.asked.join(", "))),
            };
            cx.diags.push(d);
        }
    }
}

impl Cx {
    pub fn error(&mut self, span: Span, message: impl Into<String>, hint: impl Into<String>) {
        self.diags.push(Diagnostic::new(span, message).hint(hint));
    }

    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                node,
                path: path.to_string(),
                entries,
                asked: Vec::new(),
                free_form: false,
            }),
            _ => {
                self.error(
                    node.span,
                    format!("`{path}` must be a mapping, found {}", node.kind_name()),
                    "write it as `key: value` lines indented under it",
                );
                None
            }
        }
    }

    /// The items of a list with their paths; a lone scalar is refused, not wrapped.
    pub fn list<'n>(&mut self, node: &'n Node, path: &str) -> Vec<(String, &'n Node)> {
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("{path}[{i}]"), n))
                .collect(),
            _ => {
                self.error(
                    node.span,
                    format!("`{path}` must be a list, found {}", node.kind_name()),
                    "write each item on its own line starting with `- `, or as `[a, b]`",
                );
                Vec::new()
            }
        }
    }

    pub fn string(&mut self, node: &Node, path: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => {
                Some(Spanned::new(text.clone(), node.span))
            }
            _ => {
                self.error(
                    node.span,
                    format!("`{path}` must be a string, found {}", node.kind_name()),
                    "write a single value on this line",
                );
                None
            }
        }
    }

    /// A string that becomes a Kubernetes or database name.
    pub fn name(&mut self, node: &Node, path: &str) -> Option<Spanned<String>> {
        let s = self.string(node, path)?;
        match check_dns_label(&s.value) {
            Ok(()) => Some(s),
            Err(why) => {
                self.error(
                    s.span,
                    format!("`{path}` value `{}` is not a DNS-1123 label: {why}", escape(&s.value)),
                    "names become Kubernetes and database names: use 1-63 lowercase letters, digits and `-`, starting and ending with a letter or digit",
                );
                None
            }
        }
    }

    pub fn parsed<T>(
        &mut self,
        node: &Node,
        path: &str,
        what: &str,
        example: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Spanned<T>> {
        let s = self.string(node, path)?;
        match parse(&s.value) {
            Ok(v) => Some(Spanned::new(v, s.span)),
            Err(why) => {
                self.error(
                    s.span,
                    format!("`{path}` is not a {what}: {why}"),
                    format!("write it like `{example}`"),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Spanned<Duration>> {
        self.parsed(node, path, "duration", "15m, 4h or 30d", Duration::parse)
    }

    pub fn percent(&mut self, node: &Node, path: &str) -> Option<Spanned<Percent>> {
        self.parsed(node, path, "percentage", "99.95%", Percent::parse)
    }

    pub fn bytes(&mut self, node: &Node, path: &str) -> Option<Spanned<Bytes>> {
        self.parsed(node, path, "quantity", "8Gi", Bytes::parse)
    }

    pub fn cpu(&mut self, node: &Node, path: &str) -> Option<Spanned<Millicores>> {
        self.parsed(node, path, "CPU quantity", "2 or 500m", Millicores::parse)
    }

    pub fn date(&mut self, node: &Node, path: &str) -> Option<Spanned<jiff::civil::Date>> {
        self.parsed(node, path, "date", "2026-12-31", |s| {
            s.parse::<jiff::civil::Date>().map_err(|e| e.to_string())
        })
    }

    pub fn uint(&mut self, node: &Node, path: &str, max: u32) -> Option<Spanned<u32>> {
        self.parsed(node, path, "whole number", "3", |s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("expected 0 to {max}"))
        })
    }

    pub fn bool(&mut self, node: &Node, path: &str) -> Option<Spanned<bool>> {
        self.parsed(node, path, "boolean", "true", |s| match s {
            "true" | "True" | "TRUE" => Ok(true),
            "false" | "False" | "FALSE" => Ok(false),
            _ => Err(format!("`{}` is neither true nor false", escape(s))),
        })
    }

    pub fn choice<T: Choice>(&mut self, node: &Node, path: &str) -> Option<Spanned<T>> {
        let s = self.string(node, path)?;
        if let Some(i) = T::NAMES.iter().position(|n| *n == s.value) {
            return Some(Spanned::new(T::from_index(i), s.span));
        }
        let hint = match closest(&s.value, T::NAMES) {
            Some(best) => format!("did you mean `{best}`? (one of {})", T::NAMES.join(", ")),
            None => format!("use one of {}", T::NAMES.join(", ")),
        };
        self.error(
            s.span,
            format!("`{path}` has unknown value `{}`", escape(&s.value)),
            hint,
        );
        None
    }

    pub fn strings(&mut self, node: &Node, path: &str) -> Vec<Spanned<String>> {
        self.list(node, path)
            .into_iter()
            .filter_map(|(p, n)| self.string(n, &p))
            .collect()
    }
}

/// Kubernetes' DNS-1123 label rule, which also makes a safe database and path name.
pub fn check_dns_label(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("it is empty");
    }
    if s.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("only lowercase letters, digits and `-` are allowed");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}

/// Shows a value in a message without letting control characters or huge strings through.
pub fn escape(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The candidate nearest to `word` by edit distance, if it is plausibly a typo of it.
pub fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names() {
        assert_eq!(closest("replica", &["replicas", "hosts"]), Some("replicas"));
        assert_eq!(closest("zzzzzz", &["replicas", "hosts"]), None);
    }

    #[test]
    fn dns_labels() {
        assert!(check_dns_label("billing-prod").is_ok());
        assert!(check_dns_label("../../etc").is_err());
        assert!(check_dns_label("Billing").is_err());
        assert!(check_dns_label("-x").is_err());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
    }
}
