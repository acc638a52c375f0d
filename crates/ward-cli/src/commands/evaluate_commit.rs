//! `ward evaluate-commit` (hidden): what `ward serve` runs in a child process for each new
//! estate commit, so that rendering and checking a large estate returns its memory to the
//! system when it ends. Prints the commit's evaluation as the server keeps it.

use crate::context::Context;
use crate::report::{Exit, Failure};

/// Evaluate the estate folder as `ward serve` does for a commit, as JSON.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The commit the folder holds, recorded in the evaluation.
    #[arg(long)]
    pub commit: String,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate_quietly()?;
    let evaluation = ward_server::evaluation::CommitEvaluation::compute(&estate, &args.commit)?;
    // Compact: it is megabytes on a large estate, and only the server reads it.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, &evaluation)
        .map_err(std::io::Error::from)
        .and_then(|()| std::io::Write::flush(&mut out))
        .map_err(|e| Failure::operational(e.to_string(), "the evaluation could not be written"))?;
    Ok(Exit::Ok)
}
