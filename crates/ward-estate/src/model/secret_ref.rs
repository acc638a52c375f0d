//! References to secrets held outside the estate, in an External Secrets store: the
//! estate names where a credential is, never the credential itself.

use super::readers::{mapping, opt, req};
use crate::decode::Cx;
use crate::source::Spanned;
use crate::yaml::Node;
use serde::Serialize;

/// A reference to a secret held outside the estate, in an External Secrets store.
#[derive(Clone, Debug, Serialize)]
pub struct SecretRef {
    /// A `secretStores[].name` of the platform.
    pub store: Spanned<String>,
    /// The key (path) in the remote secret manager.
    pub key: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<Spanned<String>>,
}

impl SecretRef {
    /// The file it is read from at run time, relative to a secrets folder:
    /// `<store>/<key>[/<property>]`, the layout of a mounted Kubernetes Secret with
    /// `items`. The rendered jobs mount it there and `ward` reads it there.
    pub fn file(&self) -> String {
        let mut out = format!("{}/{}", self.store.value, self.key.value);
        if let Some(p) = &self.property {
            out.push('/');
            out.push_str(&p.value);
        }
        out
    }
}

pub(super) fn secret_ref(cx: &mut Cx, node: &Node, path: &str) -> Option<SecretRef> {
    if let Some(text) = node.as_str() {
        cx.error(
            node.span,
            format!(
                "`{path}` must be a reference to a secret, not a value (`{}`)",
                crate::secrets::redact(text)
            ),
            "write `{ store: <secretStores name>, key: <path in the secret manager> }`; the secret itself lives in the secret manager",
        );
        return None;
    }
    mapping(cx, node, path, |cx, f| {
        let store = req(cx, f, "store", |cx, n, p| cx.name(n, p));
        let key = req(cx, f, "key", secret_path);
        let property = opt(cx, f, "property", secret_path);
        Some(SecretRef {
            store: store?,
            key: key?,
            property,
        })
    })
}

/// A secret's key or property: also a file path under the secrets folder a job mounts
/// (`<store>/<key>/<property>`), so it must not climb out of it or name nothing.
fn secret_path(cx: &mut Cx, node: &Node, path: &str) -> Option<Spanned<String>> {
    let s = cx.string(node, path)?;
    if let Some(seg) = unusable_secret_segment(&s.value) {
        cx.error(
            s.span,
            format!(
                "`{path}` {:?} has a `/`-separated part {seg:?} that cannot name a file",
                s.value
            ),
            "use `/`-separated names without empty, `.` or `..` parts, e.g. odoo/billing/prod",
        );
        return None;
    }
    Some(s)
}

/// The first `/`-separated part of a secret's key or property that cannot name a file
/// under the secrets folder (empty, `.`, `..`, or with a control character), if any.
pub(crate) fn unusable_secret_segment(value: &str) -> Option<&str> {
    value.split('/').find(|seg| {
        seg.is_empty() || *seg == "." || *seg == ".." || seg.chars().any(char::is_control)
    })
}
