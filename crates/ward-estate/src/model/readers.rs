//! The small readers every document's decoder is built from: an optional, required or
//! listed field, and a mapping whose unknown keys are reported once it is read.

use crate::decode::{Cx, Fields};
use crate::source::Spanned;
use crate::yaml::Node;

pub(super) fn opt<T>(
    cx: &mut Cx,
    f: &mut Fields<'_>,
    key: &'static str,
    read: impl FnOnce(&mut Cx, &Node, &str) -> Option<T>,
) -> Option<T> {
    let path = f.at(key);
    f.opt(key).and_then(|n| read(cx, n, &path))
}

pub(super) fn req<T>(
    cx: &mut Cx,
    f: &mut Fields<'_>,
    key: &'static str,
    read: impl FnOnce(&mut Cx, &Node, &str) -> Option<T>,
) -> Option<T> {
    let path = f.at(key);
    f.req(cx, key).and_then(|n| read(cx, n, &path))
}

pub(super) fn list<T>(
    cx: &mut Cx,
    f: &mut Fields<'_>,
    key: &'static str,
    mut read: impl FnMut(&mut Cx, &Node, &str) -> Option<T>,
) -> Vec<T> {
    let path = f.at(key);
    let Some(node) = f.opt(key) else {
        return Vec::new();
    };
    cx.list(node, &path)
        .into_iter()
        .filter_map(|(p, n)| read(cx, n, &p))
        .collect()
}

pub(super) fn strings(cx: &mut Cx, f: &mut Fields<'_>, key: &'static str) -> Vec<Spanned<String>> {
    list(cx, f, key, |cx, n, p| cx.string(n, p))
}

pub(super) fn flag(cx: &mut Cx, f: &mut Fields<'_>, key: &'static str) -> bool {
    flag_or(cx, f, key, false)
}

/// A boolean field, `default` when absent (or unreadable, which is reported).
pub(super) fn flag_or(cx: &mut Cx, f: &mut Fields<'_>, key: &'static str, default: bool) -> bool {
    opt(cx, f, key, |cx, n, p| cx.bool(n, p)).map_or(default, |b| b.value)
}

/// Reads a mapping with `read`, then reports its unknown keys.
pub(super) fn mapping<T>(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    read: impl FnOnce(&mut Cx, &mut Fields<'_>) -> Option<T>,
) -> Option<T> {
    let mut f = cx.map(node, path)?;
    let out = read(cx, &mut f);
    f.finish(cx);
    out
}
