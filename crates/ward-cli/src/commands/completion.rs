//! `ward completion SHELL`: a completion script generated from the parser's own
//! definition, so it never disagrees with the flags `ward` accepts.

use crate::report::{Exit, Failure};

/// Print a shell completion script for bash, zsh or fish.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    source <(ward completion bash)\n  \
    ward completion zsh > \"${fpath[1]}/_ward\"\n  \
    ward completion fish > ~/.config/fish/completions/ward.fish")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(cli: &mut clap::Command, args: Args) -> Result<Exit, Failure> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, cli, "ward", &mut script);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                crate::report::output_closed();
            }
            Failure::operational(
                format!("cannot write output: {e}"),
                "check where stdout goes",
            )
        })?;
    Ok(Exit::Ok)
}
