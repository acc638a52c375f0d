//! The entry point of every operation: the estate folder, the state folder, the secrets
//! source, the object store override, the actor, and what the process environment said.
//! One owner for where each of these is, read by the CLI and the server alike.

use std::path::{Path, PathBuf};

use std::sync::Arc;
use ward_estate::{Estate, GitState, ResolvedEnvironment};
use ward_ledger::{NewEntry, Outcome};

use crate::process_env::ProcessEnv;
use crate::secrets::SecretsDir;
use crate::{Error, Event, ledger_error};

/// Where an operation runs and on whose behalf.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The estate folder (a Git working tree, or a commit exported from one).
    pub estate_dir: PathBuf,
    /// The state folder: the ledger, keys, caches.
    pub state_dir: PathBuf,
    /// Where secret references resolve at run time.
    pub secrets: SecretsDir,
    /// The platform object store every environment's backups use instead of its own.
    pub object_store: Option<String>,
    /// Who is acting, for the ledger.
    pub actor: String,
    pub env: ProcessEnv,
    /// Where ledger entries go; `None`: the file ledger in the state folder.
    pub ledger: Option<Arc<dyn LedgerSink>>,
}

/// A ledger other than the state folder's file: the server's, in its store. Entries
/// arrive with credentials already masked.
pub trait LedgerSink: Send + Sync + std::fmt::Debug {
    fn append(&self, entry: NewEntry) -> Result<(), Error>;
}

impl Workspace {
    /// The state folder defaults to `.ward/` in the estate, the secrets folder to
    /// `secrets/` in the state folder.
    pub fn new(
        estate_dir: PathBuf,
        state_dir: Option<PathBuf>,
        secrets_dir: Option<PathBuf>,
        actor: String,
        env: ProcessEnv,
    ) -> Workspace {
        let state_dir = state_dir.unwrap_or_else(|| default_state_dir(&estate_dir));
        let secrets = SecretsDir::new(secrets_dir.unwrap_or_else(|| state_dir.join("secrets")));
        Workspace {
            estate_dir,
            state_dir,
            secrets,
            object_store: None,
            actor,
            env,
            ledger: None,
        }
    }

    /// The object store an environment's snapshots are in: the override, else the
    /// environment's own from the estate.
    pub fn store_of(&self, env: &ResolvedEnvironment) -> String {
        self.object_store
            .clone()
            .unwrap_or_else(|| env.object_store.clone())
    }

    /// Loads the estate folder.
    #[tracing::instrument(level = "debug", skip(self), fields(estate = %self.estate_dir.display()))]
    pub fn load_estate(&self) -> Result<Estate, Error> {
        Ok(ward_estate::load(&self.estate_dir)?)
    }

    /// Appends one entry to the ledger in the state folder; an operation that changed
    /// something calls this before it reports success. URL credentials in the subject and
    /// details (failure messages are recorded too) are masked.
    pub fn record(
        &self,
        event: &Event,
        subject: &str,
        outcome: Outcome,
        git: &GitState,
    ) -> Result<(), Error> {
        self.record_with(event, subject, outcome, git, serde_json::Map::new())
    }

    /// [`Workspace::record`] with details beyond the event's (a failure's `error`).
    pub fn record_with(
        &self,
        event: &Event,
        subject: &str,
        outcome: Outcome,
        git: &GitState,
        more: serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Error> {
        let mut details = event.details();
        details.extend(more);
        let entry = entry(&self.actor, event.action(), subject, outcome, git, details);
        match &self.ledger {
            Some(sink) => sink.append(entry),
            None => append_to_file(&self.state_dir, entry),
        }
    }
}

/// `.ward/` in the estate folder.
pub fn default_state_dir(estate: &Path) -> PathBuf {
    estate.join(ward_estate::load::STATE_DIR)
}

/// [`Workspace::record`] into another state folder (`ward init` records in the folder it
/// just created).
pub fn record_in(
    state: &Path,
    actor: &str,
    event: &Event,
    subject: &str,
    outcome: Outcome,
    git: &GitState,
) -> Result<(), Error> {
    append_to_file(
        state,
        entry(
            actor,
            event.action(),
            subject,
            outcome,
            git,
            event.details(),
        ),
    )
}

fn append_to_file(state: &Path, entry: NewEntry) -> Result<(), Error> {
    let ledger = ward_ledger::Ledger::open(state).map_err(ledger_error)?;
    ledger.append(entry).map_err(ledger_error)?;
    Ok(())
}

/// The entry of one action, URL credentials in its subject and details masked.
fn entry(
    actor: &str,
    action: &str,
    subject: &str,
    outcome: Outcome,
    git: &GitState,
    details: serde_json::Map<String, serde_json::Value>,
) -> NewEntry {
    let mut commit = git.commit.clone();
    if git.dirty {
        commit = commit.map(|c| format!("{c}-dirty"));
    }
    let details = details
        .into_iter()
        .map(|(key, mut value)| {
            crate::scrub::scrub_json(&mut value);
            (key, value)
        })
        .collect();
    tracing::info!(action, outcome = outcome.as_str(), "recorded in the ledger");
    NewEntry {
        actor: actor.to_string(),
        action: action.to_string(),
        subject: crate::scrub::scrub_credentials(subject),
        result: outcome,
        estate_commit: commit,
        details,
    }
}
