//! `ward render`: writes the deploy tree (Kubernetes manifests or compose files) for the
//! whole estate into a folder, deterministically.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the deploy tree is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// One file per object, `<cluster>/<namespace>/<kind>-<name>.yaml`, for Argo CD or Flux.
    Kubernetes,
    /// A `compose.yaml` per host, for small single-host estates.
    Compose,
}

impl From<Target> for ward_render::Target {
    fn from(t: Target) -> Self {
        match t {
            Target::Kubernetes => ward_render::Target::Kubernetes,
            Target::Compose => ward_render::Target::Compose,
        }
    }
}

/// Render the estate into a deploy tree (no approvals; see `ward plan` and `ward apply`).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward --estate care render --out deploy\n  ward --estate care render --out compose --target compose"
)]
pub struct Args {
    /// The folder to write the tree into; files no longer rendered are removed.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Target::Kubernetes)]
    pub target: Target,
}

pub fn render_failure(e: ward_render::RenderError) -> Failure {
    match e {
        ward_render::RenderError::Io { .. } => {
            Failure::operational(e.to_string(), "check that the output folder is writable")
        }
        other => Failure::bad_input(
            other.to_string(),
            "see docs/rendering.md for what rendering needs from the platform",
        ),
    }
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let tree = ward_render::render(&estate, args.target.into()).map_err(render_failure)?;
    let (written, removed) = tree.write(&args.out).map_err(render_failure)?;
    let mut per_folder: BTreeMap<String, usize> = BTreeMap::new();
    for (path, _) in tree.objects() {
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f);
        *per_folder.entry(folder.to_string()).or_default() += 1;
    }
    let objects: usize = per_folder.values().sum();
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "out": args.out, "target": ward_render::Target::from(args.target),
            "files": tree.files.len(), "objects": objects,
            "written": written, "removed": removed, "folders": per_folder,
            "commit": estate.git.commit,
        }))?,
        Output::Text => {
            println!(
                "rendered {objects} objects ({} files) from {} environment(s) into {}: {written} written, {removed} removed",
                tree.files.len(),
                estate.environments.len(),
                args.out.display()
            );
            for (folder, n) in &per_folder {
                println!("  {folder:<50} {n:>4}");
            }
        }
    }
    // The process exits next: freeing tens of thousands of rendered files one by one
    // would only cost time (a large share of a big estate's run).
    std::mem::forget(tree);
    std::mem::forget(estate);
    Ok(Exit::Ok)
}
