//! The `Waiver` document: an approved, dated exception to one control, scoped to a
//! workload, an environment, or both.

use super::readers::{mapping, opt, req};
use crate::decode::Cx;
use crate::source::Spanned;
use crate::yaml::Node;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct WaiverSpec {
    pub control: Spanned<String>,
    pub scope: WaiverScope,
    pub reason: Spanned<String>,
    pub approver: Spanned<String>,
    pub created: Spanned<jiff::civil::Date>,
    pub expires: Spanned<jiff::civil::Date>,
}

/// What a waiver covers; an absent field means "every".
#[derive(Clone, Debug, Serialize)]
pub struct WaiverScope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Spanned<String>>,
}

impl WaiverScope {
    /// Whether the waiver reaches something of `workload` and `environment` (`None`: not
    /// tied to one, as a platform-wide finding). An absent scope field covers every value.
    pub fn covers(&self, workload: Option<&str>, environment: Option<&str>) -> bool {
        let field = |scope: &Option<Spanned<String>>, value: Option<&str>| {
            scope
                .as_ref()
                .is_none_or(|s| value == Some(s.value.as_str()))
        };
        field(&self.workload, workload) && field(&self.environment, environment)
    }
}

pub(crate) fn decode_waiver(cx: &mut Cx, node: &Node) -> Option<WaiverSpec> {
    mapping(cx, node, "spec", |cx, f| {
        let control = req(cx, f, "control", |cx, n, p| cx.string(n, p));
        let scope = req(cx, f, "scope", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                Some(WaiverScope {
                    workload: opt(cx, f, "workload", |cx, n, p| cx.name(n, p)),
                    environment: opt(cx, f, "environment", |cx, n, p| cx.name(n, p)),
                })
            })
        });
        let reason = req(cx, f, "reason", |cx, n, p| cx.string(n, p));
        let approver = req(cx, f, "approver", |cx, n, p| cx.name(n, p));
        let created = req(cx, f, "created", |cx, n, p| cx.date(n, p));
        let expires = req(cx, f, "expires", |cx, n, p| cx.date(n, p));
        Some(WaiverSpec {
            control: control?,
            scope: scope?,
            reason: reason?,
            approver: approver?,
            created: created?,
            expires: expires?,
        })
    })
}
