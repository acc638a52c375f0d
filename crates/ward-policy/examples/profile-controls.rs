//! Times each built-in control on one estate folder, slowest first:
//! `cargo run --release -p ward-policy --example profile-controls -- DIR [OBJECTS.json]`.

use std::time::Instant;
use ward_policy::{Catalogue, RenderedObject, build_input, evaluate::builtin_engine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: profile-controls DIR [OBJECTS.json]")?;
    let objects: Option<Vec<RenderedObject>> = match args.next() {
        Some(path) => {
            let list: Vec<serde_json::Value> =
                serde_json::from_str(&std::fs::read_to_string(path)?)?;
            Some(list.into_iter().map(RenderedObject::new).collect())
        }
        None => None,
    };
    let estate = ward_estate::load(std::path::Path::new(&dir)).map_err(|e| format!("{e}"))?;
    let catalogue = Catalogue::builtin()?;
    let mut input = build_input(&estate, objects.as_deref(), jiff::civil::date(2026, 11, 26));
    input["controls"] = serde_json::json!([]);
    let mut engine = builtin_engine()?;
    let t = Instant::now();
    engine.set_input(regorus::Value::from(input));
    println!("set_input {:.2?}", t.elapsed());
    let mut times = Vec::new();
    for c in &catalogue.controls {
        let t = Instant::now();
        engine.eval_rule(format!("{}.findings", c.package))?;
        times.push((t.elapsed(), c.id.clone()));
    }
    times.sort();
    times.reverse();
    for (d, id) in times.iter().take(15) {
        println!("{id} {d:.2?}");
    }
    Ok(())
}
