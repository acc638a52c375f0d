//! Progress bars for long vault work: indicatif bars on stderr when it is a terminal and
//! the output is for people; nothing at all when piped, with `-q`, or with `--output json`.
//!
//! The vault calls [`ward_vault::Progress`] from several threads; each phase gets a bar.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ward_vault::{NoProgress, Phase, Progress};

use crate::context::{Context, Output};

/// Bars for a terminal, or silence.
pub fn for_command(cx: &Context) -> Arc<dyn Progress> {
    if cx.output == Output::Text
        && !cx.quiet
        && std::io::stderr().is_terminal()
        && std::env::var_os("WARD_NO_PROGRESS").is_none()
    {
        Arc::new(Bars::new())
    } else {
        Arc::new(NoProgress)
    }
}

struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<Phase, ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, phase: Phase) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(&phase).cloned()
    }
}

fn style(template: &str, unit: &'static str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        // Counts per second as a whole number with their unit: indicatif's own
        // `{per_sec}` prints raw floats such as `25,284.0452/s`.
        .with_key(
            "count_per_sec",
            move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0} {unit}/s", state.per_sec());
            },
        )
}

impl Progress for Bars {
    fn start(&self, phase: Phase, total: Option<u64>) {
        // Dump and database restore count plaintext bytes (shown in MiB/s); the
        // filestore phases count files, verify and prune objects.
        let bytes = matches!(phase, Phase::Dump | Phase::RestoreDatabase);
        let unit = match phase {
            Phase::Filestore | Phase::RestoreFilestore => "files",
            _ => "objects",
        };
        let bar = match (total, bytes) {
            (Some(t), true) => ProgressBar::new(t).with_style(style(
                "{prefix:>18} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                unit,
            )),
            (None, true) => ProgressBar::new_spinner().with_style(style(
                "{prefix:>18} {spinner} {bytes} {binary_bytes_per_sec} {elapsed}",
                unit,
            )),
            (Some(t), false) => ProgressBar::new(t).with_style(style(
                "{prefix:>18} [{bar:30}] {pos}/{len} {count_per_sec} eta {eta}",
                unit,
            )),
            (None, false) => ProgressBar::new_spinner()
                .with_style(style("{prefix:>18} {spinner} {elapsed}", unit)),
        };
        bar.set_prefix(phase.to_string());
        let bar = self.multi.add(bar);
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(phase, bar);
        }
    }

    fn advance(&self, phase: Phase, amount: u64) {
        if let Some(bar) = self.bar(phase) {
            bar.inc(amount);
        }
    }

    fn finish(&self, phase: Phase) {
        if let Some(bar) = self.bar(phase) {
            bar.finish();
        }
    }

    fn note(&self, message: &str) {
        let _ = self.multi.println(message);
    }
}
