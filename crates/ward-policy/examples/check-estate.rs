//! Times each stage of a check of one estate folder: load, input document, built-in
//! controls, users' policies and waivers. `cargo run --release -p ward-policy --example
//! check-estate -- DIR [OBJECTS.json]` (OBJECTS: a JSON array of rendered manifests).

use std::time::Instant;
use ward_policy::{CheckOptions, Checker, RenderedObject, build_input};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: check-estate DIR [OBJECTS.json]")?;
    let objects: Option<Vec<RenderedObject>> = match args.next() {
        Some(path) => {
            let list: Vec<serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(path)?)?;
            Some(list.into_iter().map(RenderedObject::new).collect())
        }
        None => None,
    };
    let today = jiff::civil::date(2026, 11, 26);
    let t = Instant::now();
    let estate = ward_estate::load(std::path::Path::new(&dir)).map_err(|e| format!("{e}"))?;
    let load = t.elapsed();
    let t = Instant::now();
    let checker = Checker::new()?;
    let compile = t.elapsed();
    let t = Instant::now();
    let input = build_input(&estate, objects.as_deref(), today);
    let build = t.elapsed();
    let t = Instant::now();
    let findings = checker.evaluate(input)?;
    let evaluate = t.elapsed();
    let t = Instant::now();
    let count = objects.as_ref().map_or(0, Vec::len);
    let report = checker.check(&estate, objects, &CheckOptions::new(today))?;
    let whole = t.elapsed();
    println!(
        "environments {} objects {} | load {:.2?} | catalogue {:.2?} | input {:.2?} | controls {:.2?} ({} findings) | whole check {:.2?} ({} deny, {} warn)",
        estate.environments.len(),
        count,
        load,
        compile,
        build,
        evaluate,
        findings.len(),
        whole,
        report.summary.deny,
        report.summary.warn
    );
    Ok(())
}
