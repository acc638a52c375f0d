//! What `ward serve` is told: where to listen, which store, which estate branch, how often
//! to look, and the workspace every run executes in. Filled by the binary only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ward_ops::ProcessEnv;

use crate::oidc::OidcConfig;
use ward_ops::vault::PgSettings;

/// The estate's Git repository and the branch (or any revision) the server follows.
#[derive(Clone, Debug)]
pub struct EstateSource {
    /// A local path or a URL `git fetch` understands.
    pub repository: String,
    /// A branch name, or `HEAD` for the repository's default branch.
    pub revision: String,
}

/// What every run executes with: the same folders and settings a CLI invocation would
/// have, except the estate folder, which is the commit the run was evaluated at.
#[derive(Clone, Debug)]
pub struct WorkspaceTemplate {
    /// The state folder: keys, the vault's local stores and caches.
    pub state_dir: PathBuf,
    pub secrets_dir: Option<PathBuf>,
    /// The platform object store every backup goes to instead of its environment's own.
    pub object_store: Option<String>,
    pub env: ProcessEnv,
    pub pg: PgSettings,
}

/// Everything `ward serve` runs with.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// A second listener for `/metrics` only; `None`: `/metrics` is on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// `sqlite:PATH` or `postgres://…`.
    pub store_url: String,
    pub source: EstateSource,
    /// How often the branch is fetched (a webhook fetches at once).
    pub poll_interval: Duration,
    /// On SIGTERM, how long running jobs may go on before they are handed back.
    pub job_grace: Duration,
    /// Whether this replica takes part in the scheduler's leader election.
    pub scheduler: bool,
    /// Only environments on this cluster are scheduled (`None`: every one).
    pub schedule_cluster: Option<String>,
    /// Only these `workload/environment` addresses are scheduled (empty: every one).
    pub schedule_only: Vec<String>,
    /// This replica's name, as workers and the leader are known in the store.
    pub replica: String,
    /// How many runs this replica executes at once (0: it executes none).
    pub workers: usize,
    /// How long a claimed run is this replica's without a heartbeat.
    pub lease: Duration,
    /// Where the follower keeps its clone and the commits it checked out.
    pub cache_dir: PathBuf,
    /// The shared secret of `POST /api/v1/webhooks/git` (GitHub's
    /// `X-Hub-Signature-256`); `None`: the webhook needs a platform-ops token.
    pub webhook_secret: Option<Vec<u8>>,
    /// The `ward` binary that evaluates each new commit in a child process
    /// (`ward --estate <work tree> -q -o json evaluate-commit --commit <sha>`), so that
    /// rendering and checking a large estate, gigabytes at its peak, hands its memory back
    /// to the system when it ends instead of staying in the server's heap. `None`: in this
    /// process.
    pub evaluator: Option<Evaluator>,
    /// People's logins through an OpenID Connect provider; `None`: API tokens only.
    pub oidc: Option<OidcConfig>,
    pub workspace: WorkspaceTemplate,
}

/// The program that evaluates a commit in a child process, and what it adds to the
/// child's environment.
#[derive(Clone, Debug)]
pub struct Evaluator {
    /// The `ward` binary.
    pub program: PathBuf,
    /// Set in the child only, for example `GLIBC_TUNABLES`: the evaluation allocates
    /// gigabytes once and exits, which transparent huge pages make cheaper.
    pub env: Vec<(String, String)>,
}

impl ServeConfig {
    /// The defaults of a server over `store_url` following `source`, its state in
    /// `workspace.state_dir`.
    pub fn new(
        store_url: String,
        source: EstateSource,
        workspace: WorkspaceTemplate,
    ) -> ServeConfig {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            store_url,
            source,
            poll_interval: Duration::from_secs(60),
            job_grace: Duration::from_secs(600),
            scheduler: true,
            schedule_cluster: None,
            schedule_only: Vec::new(),
            replica: "ward".to_string(),
            workers: 2,
            lease: Duration::from_secs(30),
            cache_dir: workspace.state_dir.join("server"),
            webhook_secret: None,
            evaluator: None,
            oidc: None,
            workspace,
        }
    }
}
