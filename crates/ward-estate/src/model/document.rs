//! The envelope every estate document shares: its `apiVersion`, its kind, its
//! `metadata`, and where it was written.

use super::readers::{mapping, opt, req};
use crate::decode::{Cx, choice};
use crate::source::{FileId, Span, Spanned};
use crate::yaml::Node;
use serde::Serialize;
use std::collections::BTreeMap;

pub const API_VERSION: &str = "ward.dev/v1";

choice!(
    /// The document kinds an estate may hold.
    Kind { Platform = "Platform", Team = "Team", Workload = "Workload", Waiver = "Waiver" }
);

/// `metadata` of any document.
#[derive(Clone, Debug, Serialize)]
pub struct Meta {
    pub name: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One document of the estate and where it was written.
#[derive(Clone, Debug, Serialize)]
pub struct Document<T> {
    pub metadata: Meta,
    pub spec: T,
    #[serde(skip)]
    pub file: FileId,
    /// The span of `metadata.name`, the usual place to point at the whole document.
    #[serde(skip)]
    pub span: Span,
}

impl<T> Document<T> {
    pub fn name(&self) -> &str {
        &self.metadata.name.value
    }
}

pub(crate) fn decode_meta(cx: &mut Cx, node: &Node, kind: Kind) -> Option<Meta> {
    mapping(cx, node, "metadata", |cx, f| {
        let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
        let tenant = if kind == Kind::Workload {
            req(cx, f, "tenant", |cx, n, p| cx.name(n, p))
        } else {
            opt(cx, f, "tenant", |cx, n, p| cx.name(n, p))
        };
        let labels = opt(cx, f, "labels", |cx, n, p| {
            mapping(cx, n, p, |cx, lf| {
                let mut out = BTreeMap::new();
                for (k, v) in lf.node_entries() {
                    let key = k.as_str().unwrap_or_default().to_string();
                    let path = lf.at(&key);
                    if let Some(v) = cx.string(v, &path) {
                        out.insert(key, v.value);
                    }
                }
                Some(out)
            })
        })
        .unwrap_or_default();
        Some(Meta {
            name: name?,
            tenant,
            labels,
        })
    })
}
