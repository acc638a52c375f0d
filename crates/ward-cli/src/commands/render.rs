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
    after_help = "Ward records the files it writes in DIR/ward-tree.json and removes only files that record lists; every other file is left alone and named. It refuses an output folder inside the estate, and a folder that holds files but no record (dot-entries and top-level files other than YAML or JSON, such as a README, do not count, so a fresh clone of a deploy repository is fine): pass --adopt to write into it anyway (files at paths Ward renders become Ward's; every other file is left alone).\n\nExamples:\n  ward --estate care render --out deploy\n  ward --estate care render --out deploy --dry-run\n  ward --estate care render --out compose --target compose"
)]
pub struct Args {
    /// The folder to write the tree into; files Ward wrote there before and no longer
    /// renders are removed, nothing else is.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Target::Kubernetes)]
    pub target: Target,
    /// Show what would be written and removed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over a tree written without a record (by an older Ward): files at paths Ward
    /// renders now become Ward's; every other file is left alone and named.
    #[arg(long)]
    pub adopt: bool,
}

pub use ward_ops::check::render_error as render_failure;

/// The lines that name what a write changed (or, dry, would change): every removed,
/// kept, hand-edited and adopted file, and in a dry run every file it would write.
pub fn describe_write(report: &ward_render::tree::WriteReport, dry_run: bool) -> String {
    let (write, remove) = if dry_run {
        ("would write", "would remove")
    } else {
        ("wrote", "removed")
    };
    let mut out = String::new();
    let mut list = |what: &str, paths: &[String]| {
        for p in paths {
            out.push_str(&format!("  {what} {p}\n"));
        }
    };
    if dry_run {
        list(write, &report.written);
    }
    list(remove, &report.removed);
    list(
        if dry_run {
            "would overwrite a hand edit:"
        } else {
            "overwrote a hand edit:"
        },
        &report.hand_edited,
    );
    list(
        if dry_run { "would adopt" } else { "adopted" },
        &report.adopted,
    );
    list("kept (not Ward's)", &report.kept);
    out
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let tree = ward_render::render(&estate, args.target.into()).map_err(render_failure)?;
    let provenance = ward_render::tree::Provenance::of(&estate);
    let options = ward_render::tree::WriteOptions {
        dry_run: args.dry_run,
        adopt: args.adopt,
    };
    let report = tree
        .sync(&args.out, &provenance, options)
        .map_err(render_failure)?;
    let mut per_folder: BTreeMap<String, usize> = BTreeMap::new();
    for (path, _) in tree.objects() {
        let folder = path.rsplit_once('/').map_or("", |(f, _)| f);
        *per_folder.entry(folder.to_string()).or_default() += 1;
    }
    let objects: usize = per_folder.values().sum();
    let (written, removed) = (report.written.len(), report.removed.len());
    match cx.output {
        Output::Json => print_json(&serde_json::json!({
            "out": args.out, "target": ward_render::Target::from(args.target),
            "files": tree.files.len(), "objects": objects, "dryRun": args.dry_run,
            "written": written, "removed": removed, "folders": per_folder,
            "tree": report, "record": ward_render::tree::RECORD_FILE,
            "commit": estate.git.commit,
        }))?,
        Output::Text => {
            let verb = if args.dry_run {
                "would render"
            } else {
                "rendered"
            };
            println!(
                "{verb} {objects} objects ({} files) from {} environment(s) into {}: {written} {}, {removed} {}, {} unchanged",
                tree.files.len(),
                estate.environments.len(),
                args.out.display(),
                if args.dry_run { "to write" } else { "written" },
                if args.dry_run { "to remove" } else { "removed" },
                report.unchanged,
            );
            print!("{}", describe_write(&report, args.dry_run));
            if !args.dry_run {
                for (folder, n) in &per_folder {
                    println!("  {folder:<50} {n:>4}");
                }
            }
        }
    }
    // The process exits next: freeing tens of thousands of rendered files one by one
    // would only cost time (a large share of a big estate's run).
    std::mem::forget(tree);
    std::mem::forget(estate);
    Ok(Exit::Ok)
}
