//! `ward version`: the version, the Git commit it was built from when the builder said
//! (`WARD_GIT_COMMIT` at build time), and the target it was built for.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Print Ward's version, build commit and target.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  ward version\n  ward version -o json | jq -r .version")]
pub struct Args {}

#[derive(serde::Serialize)]
struct Version {
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<&'static str>,
    target: &'static str,
}

pub fn run(cx: &Context, _args: Args) -> Result<Exit, Failure> {
    let v = Version {
        version: env!("CARGO_PKG_VERSION"),
        commit: option_env!("WARD_GIT_COMMIT").filter(|c| !c.trim().is_empty()),
        target: env!("WARD_BUILD_TARGET"),
    };
    match cx.output {
        Output::Json => print_json(&v)?,
        Output::Text => match v.commit {
            Some(c) => println!("ward {} (commit {c}, {})", v.version, v.target),
            None => println!("ward {} ({})", v.version, v.target),
        },
    }
    Ok(Exit::Ok)
}
