//! `ward serve`: the control plane as a service (docs/server.md). The command only turns
//! flags into a [`ward_server::ServeConfig`], waits for SIGTERM or Ctrl-C, and reports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::backup::PgArgs;
use super::store_args::{StoreArgs, runtime};
use crate::context::Context;
use crate::report::{Exit, Failure};

/// Run Ward as a service: the HTTP API, the Git follower, the scheduler, workers and
/// /metrics, on an embedded SQLite store or PostgreSQL for several replicas.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward --estate care serve\n  ward serve --estate-repository https://git.example.org/platform/estate.git --store postgres://ward@db/ward\n  ward serve --listen 0.0.0.0:8080 --metrics-listen 0.0.0.0:9090 --scheduler off"
)]
pub struct Args {
    /// Where the API listens.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Serve /metrics on this address only (default: on --listen).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// The estate's Git repository, a path or URL [default: the --estate folder].
    #[arg(long, value_name = "REPO")]
    pub estate_repository: Option<String>,
    /// The branch (or revision) followed.
    #[arg(long, default_value = "HEAD", value_name = "REV")]
    pub estate_revision: String,
    /// How often the branch is fetched (a webhook fetches at once).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub poll_interval: String,
    /// On SIGTERM, how long running jobs may finish before they are handed back.
    #[arg(long, default_value = "600s", value_name = "DURATION")]
    pub job_grace: String,
    /// How long a claimed run stays this replica's without a heartbeat.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub lease: String,
    /// `server`: this replica takes part in the scheduler's leader election; `off`: it
    /// only answers and executes runs (the CronJobs schedule).
    #[arg(long, value_enum, default_value_t = Scheduler::Server)]
    pub scheduler: Scheduler,
    /// Schedule only the environments on this cluster.
    #[arg(long, value_name = "CLUSTER")]
    pub schedule_cluster: Option<String>,
    /// Schedule only this environment (repeatable).
    #[arg(long, value_name = "WORKLOAD/ENV")]
    pub schedule_only: Vec<String>,
    /// Runs executed at once on this replica (0: none; it only answers and schedules).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// This replica's name in the store [default: <hostname>-<pid>].
    #[arg(long, value_name = "NAME")]
    pub replica: Option<String>,
    /// The shared secret of POST /api/v1/webhooks/git (X-Hub-Signature-256).
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Where the follower keeps its clone and checked-out commits [default: <state>/server].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The OpenID Connect issuer people log in with (at /auth/login); without it the API
    /// takes API tokens only.
    #[arg(long, value_name = "URL", requires = "oidc_client_id")]
    pub oidc_issuer: Option<String>,
    /// This server's client id at the issuer.
    #[arg(long, value_name = "ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// The client's secret, for a confidential client [default: a public client, PKCE only].
    #[arg(long, value_name = "FILE", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// Put before each of the provider's groups before it is matched with a Team's
    /// `groups`, as kube-apiserver's --oidc-groups-prefix.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        requires = "oidc_issuer"
    )]
    pub oidc_groups_prefix: String,
    /// The scopes asked for besides `openid`, space-separated.
    #[arg(long, value_name = "SCOPES", default_value = "email profile groups")]
    pub oidc_scopes: String,
    /// How long a login's session lasts.
    #[arg(long, value_name = "DURATION", default_value = "8h")]
    pub session_ttl: String,
    /// The address browsers reach this server at; the provider sends logins back to
    /// <URL>/auth/callback [default: http://<--listen> when it is a loopback address].
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    #[command(flatten)]
    pub pg: PgArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    Server,
    Off,
}

fn duration(flag: &str, text: &str) -> Result<Duration, Failure> {
    ward_estate::units::Duration::parse(text)
        .map(|d| Duration::from_secs(d.as_secs()))
        .map_err(|e| Failure::bad_input(format!("--{flag} {text}: {e}"), "e.g. 30s, 5m, 1h"))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ward".to_string())
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let store_url = args.store.url(cx)?;
    let oidc = oidc_config(&args)?;
    let repository = match args.estate_repository {
        Some(r) => r,
        None => std::fs::canonicalize(&cx.ws.estate_dir)
            .map_err(|e| {
                Failure::bad_input(
                    format!("--estate {}: {e}", cx.ws.estate_dir.display()),
                    "pass the estate's Git repository with --estate-repository",
                )
            })?
            .display()
            .to_string(),
    };
    let webhook_secret = match &args.webhook_secret_file {
        Some(file) => Some(secret_file("webhook-secret-file", file)?),
        None => None,
    };

    // The follower runs git in folders of its own: every path it is given is absolute.
    let state_dir = std::path::absolute(cx.state_dir()).map_err(|e| {
        Failure::bad_input(
            format!("--state {}: {e}", cx.state_dir().display()),
            "pass an absolute --state",
        )
    })?;
    let secrets_dir = std::path::absolute(cx.ws.secrets.root())
        .unwrap_or_else(|_| cx.ws.secrets.root().to_path_buf());
    let workspace = ward_server::WorkspaceTemplate {
        state_dir,
        secrets_dir: Some(secrets_dir),
        object_store: cx.ws.object_store.clone(),
        env: cx.ws.env.clone(),
        pg: args.pg.settings(),
    };
    let source = ward_server::EstateSource {
        repository,
        revision: args.estate_revision.clone(),
    };
    let mut config = ward_server::ServeConfig::new(store_url, source, workspace);
    config.listen = args.listen;
    config.metrics_listen = args.metrics_listen;
    config.poll_interval = duration("poll-interval", &args.poll_interval)?;
    config.job_grace = duration("job-grace", &args.job_grace)?;
    config.lease = duration("lease", &args.lease)?.max(Duration::from_secs(3));
    config.scheduler = args.scheduler == Scheduler::Server;
    config.schedule_cluster = args.schedule_cluster.clone();
    config.schedule_only = args.schedule_only.clone();
    config.workers = args.workers;
    config.replica = args
        .replica
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    config.webhook_secret = webhook_secret;
    config.oidc = oidc;
    // Each new commit is evaluated by this same binary in a child process, whose
    // allocator may back its gigabytes with huge pages (a third of the page faults).
    config.evaluator = std::env::current_exe()
        .ok()
        .map(|program| ward_server::Evaluator {
            program,
            env: vec![(
                "GLIBC_TUNABLES".into(),
                child_tunables(std::env::var("GLIBC_TUNABLES").ok().as_deref()),
            )],
        });
    if let Some(dir) = &args.cache_dir {
        config.cache_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    }
    let listen = config.listen;
    cx.info(&format!(
        "ward serve: listening on http://{listen} (replica {}), following {} at {}",
        config.replica,
        ward_ops::scrub::scrub_credentials(&config.source.repository),
        config.source.revision
    ));
    let rt = runtime()?;
    rt.block_on(async move { ward_server::serve(config, shutdown_signal()).await })
        .map_err(serve_failure)?;
    cx.info("ward serve: stopped");
    Ok(Exit::Ok)
}

/// A secret mounted as a file, without its trailing newline.
fn secret_file(flag: &str, file: &std::path::Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(file)
        .map(|bytes| bytes.trim_ascii().to_vec())
        .map_err(|e| {
            Failure::bad_input(
                format!("--{flag} {}: {e}", file.display()),
                "mount the secret there",
            )
        })
}

/// The login's settings, when `--oidc-issuer` is given.
fn oidc_config(args: &Args) -> Result<Option<ward_server::OidcConfig>, Failure> {
    let (Some(issuer), Some(client_id)) = (&args.oidc_issuer, &args.oidc_client_id) else {
        return Ok(None);
    };
    let http_url = |flag: &str, url: &str| -> Result<(), Failure> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.contains(['@', '?', '#', ' ']) => Ok(()),
            _ => Err(Failure::bad_input(
                format!("--{flag} {url}: not an http(s) URL without a user or query"),
                "e.g. https://login.example.org/realms/ward",
            )),
        }
    };
    http_url("oidc-issuer", issuer)?;
    let public_url = match &args.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None if args.listen.ip().is_loopback() => format!("http://{}", args.listen),
        None => {
            return Err(Failure::bad_input(
                format!(
                    "--oidc-issuer needs --public-url: {} is not an address browsers can be sent back to",
                    args.listen
                ),
                "pass the address people reach the server at, e.g. --public-url https://ward.care.example",
            ));
        }
    };
    http_url("public-url", &public_url)?;
    let client_secret = match &args.oidc_client_secret_file {
        Some(file) => {
            let bytes = secret_file("oidc-client-secret-file", file)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Failure::bad_input(
                    format!("--oidc-client-secret-file {}: not text", file.display()),
                    "the file holds the client secret the provider issued",
                )
            })?;
            Some(ward_server::oidc::ClientSecret::new(text))
        }
        None => None,
    };
    Ok(Some(ward_server::OidcConfig {
        issuer: issuer.clone(),
        client_id: client_id.clone(),
        client_secret,
        scopes: args
            .oidc_scopes
            .split_whitespace()
            .filter(|s| *s != "openid")
            .map(str::to_string)
            .collect(),
        groups_prefix: args.oidc_groups_prefix.clone(),
        session_ttl: duration("session-ttl", &args.session_ttl)?,
        public_url,
    }))
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn serve_failure(e: ward_server::ServeError) -> Failure {
    use ward_server::ServeError as E;
    match e {
        E::Store(s) => super::store_args::store_failure(s),
        E::Listen { .. } => Failure::bad_input(e.to_string(), "pick a free address with --listen"),
        E::LedgerKey { .. } => {
            Failure::operational(e.to_string(), "check the state folder (--state)")
        }
        E::Http(_) => Failure::operational(e.to_string(), "see the log (WARD_LOG=info)"),
        E::Oidc(_) => Failure::operational(e.to_string(), "check --oidc-issuer"),
    }
}

/// glibc's tunables for the evaluation child: the server's own, with malloc's huge pages
/// on unless they already say otherwise.
fn child_tunables(own: Option<&str>) -> String {
    match own.map(str::trim).filter(|t| !t.is_empty()) {
        Some(own) if own.contains("glibc.malloc.hugetlb=") => own.to_string(),
        Some(own) => format!("{own}:glibc.malloc.hugetlb=1"),
        None => "glibc.malloc.hugetlb=1".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_child_keeps_the_server_s_tunables_and_adds_huge_pages() {
        use super::child_tunables;
        assert_eq!(child_tunables(None), "glibc.malloc.hugetlb=1");
        assert_eq!(
            child_tunables(Some("glibc.malloc.arena_max=2")),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
        );
        assert_eq!(
            child_tunables(Some("glibc.malloc.hugetlb=0")),
            "glibc.malloc.hugetlb=0"
        );
    }
}
