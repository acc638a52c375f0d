//! Refuses literal credentials in the estate.
//!
//! The estate lives in Git, where a pasted password stays forever, so loading scans every
//! value, including fields Ward does not know, and names the field without echoing it.

use crate::source::Diagnostic;
use crate::yaml::{Node, Value};

/// Field names that hold a secret value when written as a scalar.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "clientsecret",
    "credentials",
    "credential",
    "connectionstring",
];

/// Looks through one document and reports each literal credential it finds.
pub fn scan(node: &Node, path: &str, out: &mut Vec<Diagnostic>) {
    match &node.value {
        Value::Scalar { text, .. } => {
            if let Some(what) = credential_shape(text) {
                out.push(
                    Diagnostic::new(
                        node.span,
                        format!("`{path}` holds what looks like a literal credential ({what})"),
                    )
                    .hint("remove it from the estate (and from Git history), rotate it, and reference it instead with `{ store: <secret store>, key: <path> }`"),
                );
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                scan(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let key = k.as_str().unwrap_or("?");
                let child = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                if is_secret_key(key) && matches!(v.value, Value::Scalar { .. }) && !v.is_null() {
                    out.push(
                        Diagnostic::new(
                            v.span,
                            format!("`{child}` is a literal credential; the estate may only hold references to secrets"),
                        )
                        .hint(format!(
                            "replace it with `{key}Ref: {{ store: <secret store>, key: <path> }}` and rotate the value, which is now in Git history"
                        )),
                    );
                    continue;
                }
                scan(v, &child, out);
            }
        }
    }
}

fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    if k.ends_with("ref") || k.ends_with("owner") || k.ends_with("recipient") {
        return false;
    }
    SECRET_KEYS.contains(&k.as_str())
        || k.ends_with("password")
        || k.ends_with("passwd")
        || k.ends_with("secret")
        || k.ends_with("token")
        || k.ends_with("apikey")
}

/// Names the kind of credential a value looks like, if any.
pub fn credential_shape(text: &str) -> Option<&'static str> {
    let t = text.trim();
    if t.starts_with("AGE-SECRET-KEY-") {
        return Some("an age secret key");
    }
    if t.contains("-----BEGIN") && t.contains("PRIVATE KEY") {
        return Some("a PEM private key");
    }
    for prefix in ["AKIA", "ASIA"] {
        if let Some(rest) = t.strip_prefix(prefix)
            && rest.len() == 16
            && rest
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Some("an AWS access key id");
        }
    }
    for (prefix, what) in [
        ("ghp_", "a GitHub token"),
        ("github_pat_", "a GitHub token"),
        ("glpat-", "a GitLab token"),
        ("xoxb-", "a Slack token"),
        ("xoxp-", "a Slack token"),
        ("sk_live_", "a Stripe key"),
    ] {
        if t.starts_with(prefix) && t.len() > prefix.len() + 8 {
            return Some(what);
        }
    }
    if t.starts_with("eyJ") && t.matches('.').count() == 2 && t.len() > 40 {
        return Some("a JSON Web Token");
    }
    if let Some((_, rest)) = t.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.split_once(':').is_some_and(|(_, p)| !p.is_empty())
        {
            return Some("a URL with a password in it");
        }
    }
    None
}

/// What may be shown of a value that might be secret: its length, never its text.
pub fn redact(text: &str) -> String {
    format!("<{} characters, not shown>", text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_credentials() {
        assert!(credential_shape("AGE-SECRET-KEY-1QQQ").is_some());
        assert!(credential_shape("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(credential_shape("postgres://odoo:hunter2@db/odoo").is_some());
        assert!(credential_shape("https://claims.example.net/api").is_none());
        assert!(credential_shape("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO").is_none());
        assert!(
            credential_shape("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
                .is_none()
        );
    }

    #[test]
    fn recognises_secret_keys() {
        assert!(is_secret_key("password"));
        assert!(is_secret_key("admin_passwd"));
        assert!(is_secret_key("dbPassword"));
        assert!(is_secret_key("apiKey"));
        assert!(!is_secret_key("passwordRef"));
        assert!(!is_secret_key("credentialOwner"));
        assert!(!is_secret_key("breakGlassRecipient"));
    }
}
