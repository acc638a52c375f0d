//! Times the phases of rendering an estate (load, objects, YAML, plan against itself),
//! to see where a large estate's time goes: `cargo run --release -p ward-render
//! --example render_phases -- ESTATE_DIR`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: render_phases ESTATE_DIR")?;
    let t = Instant::now();
    let estate = ward_estate::load(std::path::Path::new(&dir)).map_err(|e| e.to_string())?;
    println!(
        "load            {:>7.3} s  ({} environments)",
        t.elapsed().as_secs_f64(),
        estate.environments.len()
    );
    let t = Instant::now();
    let objects = ward_render::kubernetes_objects(&estate)?;
    println!(
        "objects         {:>7.3} s  ({} objects)",
        t.elapsed().as_secs_f64(),
        objects.len()
    );
    let t = Instant::now();
    let tree = ward_render::tree::Tree::from_objects(objects, false)?;
    println!(
        "yaml + layout   {:>7.3} s  ({} files)",
        t.elapsed().as_secs_f64(),
        tree.files.len()
    );
    let existing: ward_render::plan::Existing = tree
        .files
        .iter()
        .map(|(p, f)| (p.clone(), f.text.clone()))
        .collect();
    let t = Instant::now();
    let review = ward_render::review::Review::detached("bench", estate.teams.clone());
    let plan = ward_render::plan::plan(&tree, &existing, &review, ward_render::Target::Kubernetes)?;
    println!(
        "plan (no I/O)   {:>7.3} s  ({} unchanged)",
        t.elapsed().as_secs_f64(),
        plan.unchanged
    );
    std::mem::forget((tree, existing, estate));
    Ok(())
}
