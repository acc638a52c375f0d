//! Colour on a terminal, and only there: `--color auto|always|never`, `NO_COLOR`, and the
//! few things Ward paints (deny red, warn yellow, plan's `+` `~` `-`).
//!
//! Decided once for the process in `main`, since stdout and stderr are the process's.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU8, Ordering};

/// When to colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always, even into a pipe (for `less -R`).
    Always,
    /// Never.
    Never,
}

/// 0: not decided (no colour), 1: never, 2: always, 3: auto.
static CHOICE: AtomicU8 = AtomicU8::new(0);

pub fn init(choice: ColorChoice) {
    let v = match choice {
        ColorChoice::Never => 1,
        ColorChoice::Always => 2,
        ColorChoice::Auto => 3,
    };
    CHOICE.store(v, Ordering::Relaxed);
}

/// Which stream a text goes to: `auto` asks whether that one is a terminal.
#[derive(Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether text written to `stream` is coloured. `NO_COLOR` (any non-empty value, as
/// no-color.org says) turns `auto` off; an explicit `--color always` wins over it.
pub fn enabled(stream: Stream) -> bool {
    match CHOICE.load(Ordering::Relaxed) {
        2 => true,
        3 => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && match stream {
                    Stream::Stdout => std::io::stdout().is_terminal(),
                    Stream::Stderr => std::io::stderr().is_terminal(),
                }
        }
        _ => false,
    }
}

/// The colours Ward uses.
#[derive(Clone, Copy)]
pub enum Paint {
    Red,
    Yellow,
    Green,
}

/// `text` in `paint` when stdout is coloured, else as it is.
pub fn paint(text: &str, paint: Paint) -> String {
    if !enabled(Stream::Stdout) {
        return text.to_string();
    }
    let code = match paint {
        Paint::Red => "31",
        Paint::Yellow => "33",
        Paint::Green => "32",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Colours the verdict words of `ward check`'s text report: each finding line whose first
/// word is `deny` or `warn` gets that word in red or yellow.
pub fn paint_verdicts(report: &str) -> String {
    if !enabled(Stream::Stdout) {
        return report.to_string();
    }
    let mut out = String::with_capacity(report.len() + 64);
    for line in report.split_inclusive('\n') {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let word = body.split(' ').next().unwrap_or("");
        // Findings are indented by two spaces; nothing else in the report is.
        let colour = match word {
            _ if indent != "  " => None,
            "deny" => Some(Paint::Red),
            "warn" => Some(Paint::Yellow),
            _ => None,
        };
        match colour {
            Some(c) => {
                out.push_str(indent);
                out.push_str(&paint(word, c));
                out.push_str(&body[word.len()..]);
            }
            None => out.push_str(line),
        }
    }
    out
}
