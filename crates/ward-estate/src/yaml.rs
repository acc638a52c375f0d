//! A YAML reader that keeps source spans and refuses hostile input.
//!
//! The estate is untrusted text from a Git repository, so depth, node count (which bounds
//! alias expansion, the "billion laughs") and file size all have hard limits.

use crate::source::{Diagnostic, FileId, SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use std::collections::HashMap;

/// Nesting deeper than this is not an estate, it is an attack or an accident.
pub const MAX_DEPTH: usize = 64;
/// Upper bound on nodes per file, counting every alias expansion.
pub const MAX_NODES: usize = 200_000;

/// A YAML node with the span it was read from.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum Value {
    /// A scalar's text and whether it was written plain (so `null`, `true`, `3` mean what
    /// YAML says) or quoted (always a string).
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// `true` for `~`, `null` and an empty plain scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The text of a scalar node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Scalar { .. } => 0,
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(entries) => entries.iter().map(|(k, v)| k.count() + v.count()).sum(),
        }
    }

    /// A short word for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Reads every document of one file. Errors stop this file only; the caller goes on with
/// the rest of the estate so that one run reports everything.
pub fn parse_documents(file: FileId, src: &SourceFile) -> Result<Vec<Node>, Box<Diagnostic>> {
    let mut builder = TreeBuilder {
        src,
        stack: Vec::new(),
        anchors: HashMap::new(),
        docs: Vec::new(),
        nodes: 0,
    };
    let mut parser = Parser::new_from_str(&src.text);
    while let Some(next) = parser.next_event() {
        match next {
            Ok((event, span)) => {
                let span = src.span(
                    file,
                    (span.start.line(), span.start.col()),
                    (span.end.line(), span.end.col()),
                );
                if builder.on_event(event, span)? {
                    break;
                }
            }
            Err(e) => {
                let m = e.marker();
                let span = src.span(file, (m.line(), m.col()), (m.line(), m.col()));
                return fail(
                    Diagnostic::new(span, format!("invalid YAML: {}", e.info()))
                        .hint("check the indentation and quoting on this line"),
                );
            }
        }
    }
    Ok(builder.docs)
}

/// The core schema's tags, which say no more than the plain YAML would.
const CORE_TAGS: &[&str] = &["str", "int", "float", "bool", "null", "map", "seq"];

/// Accepts no tag, the non-specific `!`, and the core schema's `!!` tags (returning the
/// suffix); refuses every other tag. Other tags ask a YAML library to build objects
/// (`!!python/object`) or to decode bytes (`!!binary`); Ward would silently keep the text
/// instead, so the estate would not mean what its author thought.
fn check_tag(tag: Option<&Tag>, span: Span) -> Result<Option<&'static str>, Box<Diagnostic>> {
    let Some(tag) = tag else { return Ok(None) };
    if tag.handle.is_empty() && tag.suffix == "!" {
        return Ok(None);
    }
    // `!!str` resolves to the core schema's prefix; so does its verbatim form
    // `!<tag:yaml.org,2002:str>`, which comes with an empty handle.
    let core_suffix = if tag.is_yaml_core_schema() {
        Some(tag.suffix.as_str())
    } else if tag.handle.is_empty() {
        tag.suffix.strip_prefix("tag:yaml.org,2002:")
    } else {
        None
    };
    if let Some(suffix) = core_suffix
        && let Some(core) = CORE_TAGS.iter().find(|t| **t == suffix)
    {
        return Ok(Some(core));
    }
    let shown = if tag.is_yaml_core_schema() {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    };
    fail(
        Diagnostic::new(
            span,
            format!(
                "YAML tag `{}` is not allowed in the estate",
                crate::decode::escape(&shown)
            ),
        )
        .hint(format!(
            "remove the tag and write the value itself; only the core schema's tags ({}) and `!` are accepted",
            CORE_TAGS.iter().map(|t| format!("!!{t}")).collect::<Vec<_>>().join(", ")
        )),
    )
}

/// Boxed, because a diagnostic is large and the happy path should not carry its size.
fn fail<T>(d: Diagnostic) -> Result<T, Box<Diagnostic>> {
    Err(Box::new(d))
}

enum Open {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

struct TreeBuilder<'a> {
    src: &'a SourceFile,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    nodes: usize,
}

impl TreeBuilder<'_> {
    /// Returns `Ok(true)` at the end of the stream.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<bool, Box<Diagnostic>> {
        match event {
            Event::StreamEnd => return Ok(true),
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) | Event::DocumentEnd => {}
            Event::Scalar(text, style, anchor, tag) => {
                let tag = check_tag(tag.as_deref(), span)?;
                // `!!str 17.0` is a string however it is written, as a quoted scalar is.
                let plain = matches!(style, ScalarStyle::Plain) && tag != Some("str");
                self.push(
                    Node {
                        value: Value::Scalar {
                            text: text.into_owned(),
                            plain,
                        },
                        span,
                    },
                    anchor,
                    1,
                )?;
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return fail(Diagnostic::new(span, "alias to an unknown anchor"));
                };
                let cost = node.count();
                let mut node = node.clone();
                node.span = span;
                self.push(node, 0, cost)?;
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                self.open(span)?;
                self.stack.push(Open::Seq(Vec::new(), span, anchor));
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), span)?;
                self.open(span)?;
                self.stack.push(Open::Map(Vec::new(), None, span, anchor));
            }
            Event::SequenceEnd => {
                if let Some(Open::Seq(items, start, anchor)) = self.stack.pop() {
                    let span = self.cover(start, span);
                    self.push(
                        Node {
                            value: Value::Seq(items),
                            span,
                        },
                        anchor,
                        0,
                    )?;
                }
            }
            Event::MappingEnd => {
                if let Some(Open::Map(entries, _, start, anchor)) = self.stack.pop() {
                    let span = self.cover(start, span);
                    self.push(
                        Node {
                            value: Value::Map(entries),
                            span,
                        },
                        anchor,
                        0,
                    )?;
                }
            }
        }
        Ok(false)
    }

    fn open(&mut self, span: Span) -> Result<(), Box<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            return fail(
                Diagnostic::new(span, format!("YAML nested deeper than {MAX_DEPTH} levels"))
                    .hint("an estate document is a few levels deep; flatten this structure"),
            );
        }
        Ok(())
    }

    fn cover(&self, start: Span, end: Span) -> Span {
        Span {
            len: (end.start + end.len).saturating_sub(start.start),
            ..start
        }
    }

    fn push(&mut self, node: Node, anchor: usize, cost: usize) -> Result<(), Box<Diagnostic>> {
        self.nodes += cost;
        if self.nodes > MAX_NODES {
            return fail(
                Diagnostic::new(
                    node.span,
                    format!("YAML expands to more than {MAX_NODES} nodes"),
                )
                .hint("this looks like an alias bomb; write the values out or split the file"),
            );
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let Some(name) = key.as_str()
                        && let Some((first, _)) =
                            entries.iter().find(|(k, _)| k.as_str() == Some(name))
                    {
                        let line = first.span.line;
                        return fail(
                            Diagnostic::new(
                                key.span,
                                format!("duplicate key `{name}` in this mapping"),
                            )
                            .related(first.span, "first written here")
                            .hint(format!(
                                "remove one of the two; the first is on line {line} of {}",
                                self.src.name
                            )),
                        );
                    }
                    entries.push((key, node));
                }
            },
        }
        Ok(())
    }
}
