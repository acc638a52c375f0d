//! The server's shared state and its life: open the store, follow the estate, lead or
//! follow the scheduler, execute runs, answer HTTP; on shutdown stop taking work, let
//! running jobs finish within the grace period, then hand the rest back.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use ward_estate::Estate;
use ward_ledger::{LedgerKey, NewEntry, Outcome};
use ward_ops::Workspace;
use ward_store::{CommitRecord, CommitStatus, Store};

use crate::config::ServeConfig;
use crate::evaluation::{ChildFailure, CommitEvaluation};
use crate::follower::Follower;
use crate::ledger_sink::StoreLedgerSink;
use crate::metrics::Metrics;
use crate::oidc::OidcLogin;

/// Why the server could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store: {0}")]
    Store(#[from] ward_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("ledger key in {}: {message}", dir.display())]
    LedgerKey { dir: PathBuf, message: String },
    #[error("HTTP server: {0}")]
    Http(std::io::Error),
    #[error("{0}")]
    Oidc(crate::oidc::OidcError),
}

/// The estate commit in force: the newest that loaded.
#[derive(Debug)]
pub struct Current {
    pub commit: String,
    pub estate: Arc<Estate>,
    pub evaluation: Arc<CommitEvaluation>,
}

/// The newest commit that did not load, while an older one stays in force.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedCommit {
    pub commit: String,
    pub error: String,
    pub at: String,
}

/// What every task of one server shares.
#[derive(Debug)]
pub struct Shared {
    pub config: ServeConfig,
    pub store: Store,
    pub ledger: StoreLedgerSink,
    pub follower: Follower,
    /// People's logins, when an OpenID provider is configured.
    pub oidc: Option<OidcLogin>,
    current: RwLock<Option<Arc<Current>>>,
    last_failure: RwLock<Option<FailedCommit>>,
    /// Evaluations of past commits read back from the store, newest use last.
    recent: Mutex<VecDeque<Arc<CommitEvaluation>>>,
    pub metrics: Metrics,
    /// Whether this replica leads the scheduler now.
    pub leading: AtomicBool,
    /// Set on SIGTERM: no new run is claimed, readiness fails.
    pub draining: AtomicBool,
    /// Runs executing on this replica now.
    pub in_flight: AtomicUsize,
    /// Wakes the follower (webhook, refresh).
    pub fetch_now: Notify,
    /// Wakes the workers (a run was enqueued here).
    pub work_ready: Notify,
    stop: watch::Sender<bool>,
}

const RECENT_EVALUATIONS: usize = 8;

impl Shared {
    /// The commit in force, if any loaded yet.
    pub fn current(&self) -> Option<Arc<Current>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The roles an identity provider's groups grant through the Teams of the commit in
    /// force (none before a commit is in force).
    pub fn roles_of_groups(&self, groups: &[String], prefix: &str) -> Vec<ward_store::Role> {
        let Some(current) = self.current() else {
            return Vec::new();
        };
        current
            .estate
            .roles_of_groups(groups, prefix)
            .into_iter()
            .filter_map(|r| r.to_string().parse().ok())
            .collect()
    }

    pub fn last_failure(&self) -> Option<FailedCommit> {
        self.last_failure.read().ok().and_then(|f| f.clone())
    }

    fn set_current(&self, current: Current) {
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(Arc::new(current));
        }
        if let Ok(mut failure) = self.last_failure.write() {
            *failure = None;
        }
    }

    /// The evaluation of `commit` (the one in force when `None`): from memory, else from
    /// the store; `Ok(None)` when the server never evaluated it.
    pub async fn evaluation(
        &self,
        commit: Option<&str>,
    ) -> Result<Option<Arc<CommitEvaluation>>, ward_store::StoreError> {
        let current = self.current();
        let Some(commit) = commit else {
            return Ok(current.map(|c| c.evaluation.clone()));
        };
        if let Some(c) = current.filter(|c| c.commit == commit) {
            return Ok(Some(c.evaluation.clone()));
        }
        if let Some(found) = self
            .recent
            .lock()
            .ok()
            .and_then(|r| r.iter().find(|e| e.commit == commit).cloned())
        {
            return Ok(Some(found));
        }
        let Some(record) = self.store.commit(commit).await? else {
            return Ok(None);
        };
        if record.status != CommitStatus::Ok {
            return Ok(None);
        }
        let Ok(evaluation) = CommitEvaluation::from_document(&record.document) else {
            return Ok(None);
        };
        let evaluation = Arc::new(evaluation);
        if let Ok(mut recent) = self.recent.lock() {
            recent.push_back(evaluation.clone());
            while recent.len() > RECENT_EVALUATIONS {
                recent.pop_front();
            }
        }
        Ok(Some(evaluation))
    }

    /// The workspace a run executes in: the commit's work tree, the server's state and
    /// secrets, entries into the store's ledger as `actor`.
    pub fn workspace(&self, estate: &Estate, actor: &str) -> (Workspace, StoreLedgerSink) {
        let t = &self.config.workspace;
        let mut ws = Workspace::new(
            estate.root.clone(),
            Some(t.state_dir.clone()),
            t.secrets_dir.clone(),
            actor.to_string(),
            t.env.clone(),
        );
        ws.object_store = t.object_store.clone();
        let sink = self.ledger.fresh();
        ws.ledger = Some(Arc::new(sink.clone()));
        (ws, sink)
    }

    /// Appends one of the server's own entries (an API call, a denial) to the ledger.
    pub async fn record(
        &self,
        actor: &str,
        event: &ward_ops::Event,
        subject: &str,
        result: Outcome,
    ) -> Result<u64, ward_ops::Error> {
        let estate_commit = self.current().map(|c| c.commit.clone());
        self.ledger
            .append_async(NewEntry {
                actor: actor.to_string(),
                action: event.action().to_string(),
                subject: ward_ops::scrub::scrub_credentials(subject),
                result,
                estate_commit,
                details: event.details().into_iter().collect(),
            })
            .await
    }

    /// Resolves once shutdown began.
    pub async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps `d`, or less when shutdown begins; true when it did.
    pub async fn sleep_or_stop(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_stopping(),
            _ = self.stopped() => true,
        }
    }
}

/// Runs the server until `shutdown` resolves, then stops as the module doc says.
pub async fn serve(
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = Store::open(&config.store_url).await?;
    let state_dir = config.workspace.state_dir.clone();
    let key = tokio::task::spawn_blocking({
        let dir = state_dir.clone();
        move || LedgerKey::load_or_create(&dir)
    })
    .await
    .map_err(|e| ServeError::LedgerKey {
        dir: state_dir.clone(),
        message: e.to_string(),
    })?
    .map_err(|e| ServeError::LedgerKey {
        dir: state_dir.clone(),
        message: e.to_string(),
    })?;
    let ledger = StoreLedgerSink::new(
        store.ledger(),
        Arc::new(key),
        tokio::runtime::Handle::current(),
    );
    let follower = Follower::new(config.source.clone(), config.cache_dir.clone());
    let (stop, _) = watch::channel(false);
    let oidc = match &config.oidc {
        Some(c) => Some(OidcLogin::new(c.clone()).map_err(ServeError::Oidc)?),
        None => None,
    };
    let shared = Arc::new(Shared {
        metrics: Metrics::new(),
        config,
        store,
        ledger,
        follower,
        oidc,
        current: RwLock::new(None),
        last_failure: RwLock::new(None),
        recent: Mutex::new(VecDeque::new()),
        leading: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        fetch_now: Notify::new(),
        work_ready: Notify::new(),
        stop,
    });

    let listener = tokio::net::TcpListener::bind(shared.config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: shared.config.listen,
            source,
        })?;
    let metrics_listener = match shared.config.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Listen { addr, source })?,
        ),
        None => None,
    };
    tracing::info!(
        listen = %shared.config.listen,
        replica = %shared.config.replica,
        backend = ?shared.store.backend(),
        "ward serve started"
    );

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(follow(shared.clone()));
    if shared.config.scheduler {
        tasks.spawn(crate::scheduler::run(shared.clone()));
    }
    let mut workers = tokio::task::JoinSet::new();
    for n in 0..shared.config.workers {
        workers.spawn(crate::worker::run(shared.clone(), worker_name(&shared, n)));
    }

    let app = crate::api::router(shared.clone(), metrics_listener.is_none());
    let http_stop = shared.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { http_stop.stopped().await })
            .await
    });
    let metrics_http = metrics_listener.map(|l| {
        let s = shared.clone();
        let app = crate::api::metrics_router(shared.clone());
        tokio::spawn(async move {
            axum::serve(l, app)
                .with_graceful_shutdown(async move { s.stopped().await })
                .await
        })
    });

    shutdown.await;
    tracing::info!("shutting down: no new runs are taken");
    shared.draining.store(true, Ordering::SeqCst);
    let _ = shared.stop.send(true);
    shared.work_ready.notify_waiters();

    // Running jobs finish within the grace period; what is left is handed back.
    let deadline = Instant::now() + shared.config.job_grace;
    while shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in 0..shared.config.workers {
        match shared.store.hand_back(&worker_name(&shared, n)).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(runs = ?ids, "handed back runs still running at the end of the grace period");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not hand back runs"),
        }
    }
    workers.abort_all();
    while tasks.join_next().await.is_some() {}
    if let Ok(Err(e)) = http.await {
        return Err(ServeError::Http(e));
    }
    if let Some(h) = metrics_http
        && let Ok(Err(e)) = h.await
    {
        return Err(ServeError::Http(e));
    }
    shared.store.close().await;
    tracing::info!("ward serve stopped");
    Ok(())
}

/// The store name of worker `n` of this replica.
pub fn worker_name(shared: &Shared, n: usize) -> String {
    format!("{}/w{n}", shared.config.replica)
}

/// Fetches at the poll interval or when woken, and brings each new commit in.
async fn follow(shared: Arc<Shared>) {
    // Until the first fetch answers, the last good commit the store knows is in force.
    if let Ok(Some(record)) = shared.store.latest_good_commit().await {
        let _ = bring_in(&shared, &record.commit).await;
    }
    loop {
        let fetched = {
            let s = shared.clone();
            tokio::task::spawn_blocking(move || s.follower.fetch()).await
        };
        match fetched {
            Ok(Ok(commit)) => {
                let in_force = shared.current().is_some_and(|c| c.commit == commit);
                let known_bad = shared.last_failure().is_some_and(|f| f.commit == commit);
                if !in_force && !known_bad {
                    let _ = bring_in(&shared, &commit).await;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot fetch the estate"),
            Err(e) => tracing::error!(error = %e, "the fetch task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
            _ = shared.fetch_now.notified() => {}
            _ = shared.stopped() => return,
        }
    }
}

/// Loads, classifies and checks `commit` (its evaluation read back when the store has
/// it), and puts it in force; a commit that fails to load is recorded as failed and the
/// one in force stays.
pub async fn bring_in(shared: &Arc<Shared>, commit: &str) -> Result<(), String> {
    let started = Instant::now();
    let known = shared.store.commit(commit).await.ok().flatten();
    let s = shared.clone();
    let c = commit.to_string();
    let evaluator = shared.config.evaluator.clone();
    // A commit that cannot be checked out here is this replica's trouble (retried at the
    // next fetch); only one whose estate does not load is recorded as failed.
    let loaded =
        tokio::task::spawn_blocking(move || -> Result<(Estate, CommitEvaluation), Brought> {
            let dir = s
                .follower
                .checkout(&c)
                .map_err(|e| Brought::Local(e.to_string()))?;
            let load = || ward_estate::load(&dir).map_err(|e| Brought::Invalid(load_error(&e)));
            let evaluation = match known {
                Some(CommitRecord {
                    status: CommitStatus::Ok,
                    document,
                    ..
                }) => CommitEvaluation::from_document(&document).ok(),
                _ => None,
            };
            match (evaluation, &evaluator) {
                (Some(e), _) => Ok((load()?, e)),
                // The server's own copy of the estate loads while the child evaluates; a
                // commit that does not load is reported by the load, as without a child.
                (None, Some(program)) => std::thread::scope(|scope| {
                    let loading = scope.spawn(load);
                    let evaluation = CommitEvaluation::in_child(program, &dir, &c);
                    let estate = loading
                        .join()
                        .map_err(|_| Brought::Local("the estate's load panicked".into()))??;
                    let evaluation = evaluation.map_err(|e| match e {
                        ChildFailure::Invalid(m) => Brought::Invalid(m),
                        ChildFailure::Local(m) => Brought::Local(m),
                    })?;
                    Ok((estate, evaluation))
                }),
                (None, None) => {
                    let estate = load()?;
                    let evaluation = CommitEvaluation::compute(&estate, &c)
                        .map_err(|e| Brought::Invalid(e.message()))?;
                    Ok((estate, evaluation))
                }
            }
        })
        .await
        .map_err(|e| Brought::Local(e.to_string()))
        .and_then(|r| r);
    match loaded {
        Ok((estate, evaluation)) => {
            let document = serde_json::to_string(&evaluation).unwrap_or_default();
            let record = CommitRecord {
                commit: commit.to_string(),
                status: CommitStatus::Ok,
                evaluated_at: jiff::Timestamp::now(),
                document,
            };
            if let Err(e) = shared.store.record_commit(&record).await {
                tracing::error!(error = %e, "cannot record the commit's evaluation");
            }
            tracing::info!(
                commit,
                environments = evaluation.environments.len(),
                deny = evaluation.summary.deny,
                seconds = started.elapsed().as_secs_f64(),
                "estate commit in force"
            );
            shared
                .metrics
                .evaluation_seconds
                .set(started.elapsed().as_secs_f64());
            shared.set_current(Current {
                commit: commit.to_string(),
                estate: Arc::new(estate),
                evaluation: Arc::new(evaluation),
            });
            let keep = vec![commit.to_string()];
            let s = shared.clone();
            let _ = tokio::task::spawn_blocking(move || s.follower.forget_except(&keep)).await;
            shared.work_ready.notify_waiters();
            Ok(())
        }
        Err(Brought::Local(error)) => {
            tracing::warn!(commit, error = %error, "cannot check out the estate commit here; retrying at the next fetch");
            Err(error)
        }
        Err(Brought::Invalid(error)) => {
            tracing::warn!(commit, error = %error, "estate commit does not load; the last good one stays in force");
            let record = CommitRecord {
                commit: commit.to_string(),
                status: CommitStatus::Failed {
                    error: error.clone(),
                },
                evaluated_at: jiff::Timestamp::now(),
                document: "null".into(),
            };
            let _ = shared.store.record_commit(&record).await;
            if let Ok(mut failure) = shared.last_failure.write() {
                *failure = Some(FailedCommit {
                    commit: commit.to_string(),
                    error: error.clone(),
                    at: jiff::Timestamp::now().to_string(),
                });
            }
            Err(error)
        }
    }
}

/// Why a commit was not brought in.
enum Brought {
    /// This replica could not check it out (git, disk): not the commit's fault.
    Local(String),
    /// The estate at the commit does not load, classify or check.
    Invalid(String),
}

/// A load error with its diagnostics' places, as one message.
fn load_error(e: &ward_estate::LoadError) -> String {
    let mut text = e.to_string();
    if let ward_estate::LoadError::Invalid {
        diagnostics,
        sources,
        ..
    } = e
    {
        for d in diagnostics.iter().take(5) {
            let place = sources.location(d.span);
            text.push_str(&format!("\n{place}: {}", d.message));
        }
    }
    text
}
