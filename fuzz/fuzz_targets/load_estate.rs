//! Fuzzes the estate loader: arbitrary bytes as one estate file beside the example's
//! platform and teams, so that decoding and cross-reference validation are reached too.
//! Run: `cargo fuzz run load_estate fuzz/corpus/load_estate` (see docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

const PLATFORM: &[u8] = include_bytes!("../../crates/ward-cli/src/example/healthcare/platform.yaml");
const TEAMS: &[u8] = include_bytes!("../../crates/ward-cli/src/example/healthcare/teams/platform.yaml");

fuzz_target!(|data: &[u8]| {
    // Any result is fine; a panic, a hang or unbounded memory is the bug.
    let _ = ward_estate::load::load_files(&[("platform.yaml", PLATFORM), ("teams.yaml", TEAMS), ("fuzz.yaml", data)]);
});
