//! `ward backup keygen` at the command line: an environment's backup signing key, made by
//! `ward_ops::keys::keygen`, and what to pin in the estate.

use std::path::PathBuf;

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// `ward backup keygen`.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// The environment, as `workload/environment`.
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: String,
    /// Write the private key here [default: the state folder,
    /// keys/backup/<workload>/<env>.ed25519].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub(crate) fn keygen(cx: &Context, args: KeygenArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let key = ward_ops::keys::keygen(&cx.ws, &estate, &args.target, args.out.clone())?;
    match cx.output {
        Output::Json => print_json(&key)?,
        Output::Text => {
            let public = &key.signing_key;
            println!("{public}");
            cx.info(&format!(
                "wrote the private key to {} (mode 0600)\n\
                 pin the line above in the estate, first in the list, under the environment {}:\n  \
                   backup:\n    signingKeys: [\"{public}\"]\n\
                 and store the private key file's content as the secret {} for the backup job.\n\
                 Keep the old key in the list until its snapshots have aged out.",
                key.private_key_file.display(),
                key.environment,
                key.secret,
            ));
        }
    }
    Ok(Exit::Ok)
}
