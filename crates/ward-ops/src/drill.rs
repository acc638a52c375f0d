//! `drill`: a timed restore drill of an environment's newest verified snapshot (or a
//! given one) into a scratch database on the drill server, checked against the manifest
//! and held to the workload's RTO and RPO; the evidence goes to the ledger, pass or fail.

use std::path::PathBuf;
use std::sync::Arc;

use ward_estate::Estate;
use ward_ledger::Outcome;
use ward_vault::{DrillReport, Progress};

use crate::vault::{
    Login, PgSettings, db_connection, identities, locate_snapshot, newest_verified_snapshot,
    record_result, round, runtime, trusted_keys,
};
use crate::{Error, Workspace, environment, event};

/// What a drill of one environment is asked to do.
#[derive(Clone, Debug)]
pub struct DrillRequest {
    /// The environment, as `workload/environment`.
    pub address: String,
    /// This snapshot (id or unique prefix) instead of the newest that verifies.
    pub snapshot: Option<String>,
    /// The server to create the scratch database on instead of the environment's drill
    /// server, as a user with CREATEDB.
    pub db_url: Option<String>,
    /// Folder for the scratch filestore [default: the process's temporary folder].
    pub scratch_dir: Option<PathBuf>,
    /// pg_restore jobs.
    pub jobs: u32,
    /// An age identity file instead of `WARD_IDENTITY` or the state folder's.
    pub identity: Option<PathBuf>,
    /// Leave the scratch database and folder in place.
    pub keep: bool,
    pub pg: PgSettings,
}

impl DrillRequest {
    /// A drill of `address`'s newest snapshot, as the estate declares its drill server.
    pub fn new(address: impl Into<String>) -> DrillRequest {
        DrillRequest {
            address: address.into(),
            snapshot: None,
            db_url: None,
            scratch_dir: None,
            jobs: 1,
            identity: None,
            keep: false,
            pg: PgSettings::default(),
        }
    }
}

/// Runs one drill and records it (`drill`); a drill whose checks failed is recorded as
/// findings and returned as a report whose `passed()` is false.
#[tracing::instrument(name = "ops.drill", skip_all, fields(environment = %request.address, actor = %ws.actor))]
pub fn run(
    ws: &Workspace,
    estate: &Estate,
    request: &DrillRequest,
    progress: Arc<dyn Progress>,
) -> Result<DrillReport, Error> {
    let env = environment(estate, &request.address)?;
    let objectives = estate
        .workloads
        .iter()
        .find(|w| w.name() == env.workload)
        .map(|w| &w.spec.classification);
    let seconds = |d: &ward_estate::units::Duration| std::time::Duration::from_secs(d.as_secs());
    let mut subject = env.address();
    let mut details = event::Drill {
        environment: env.address(),
        ..Default::default()
    };
    let result = (|| {
        if request.jobs == 0 {
            return Err(Error::bad_input(
                "--jobs must be at least 1",
                "use --jobs 1",
            ));
        }
        let ids = identities(ws, estate, request.identity.as_deref())?;
        let keys = trusted_keys(estate)?;
        // The drill role, not the environment's: only it may create the scratch database
        // (and, on a shared server, connect to it at all).
        let mut server = db_connection(ws, Some(Login::drill(env)), request.db_url.as_deref())?;
        server.db.timeouts = request.pg.timeouts(estate, Some(env))?;
        request.pg.tls.apply(
            &mut server.db,
            Some(env),
            request.db_url.as_deref(),
            ws.env.home.as_deref(),
        )?;
        let drill_request = ward_vault::DrillRequest {
            server: server.db.clone(),
            scratch_dir: request
                .scratch_dir
                .clone()
                .unwrap_or_else(|| ws.env.temp_dir.clone()),
            jobs: request.jobs,
            pg_tools: request.pg.tools(&ws.env),
            rto: objectives.map(|c| seconds(&c.rto.value)),
            rpo: objectives.map(|c| seconds(&c.rpo.value)),
            keep: request.keep,
        };
        runtime()?.block_on(async {
            let (repo, snapshot) = match &request.snapshot {
                Some(id) => {
                    let found = locate_snapshot(ws, estate, id, None).await?;
                    (found.repo, found.manifest.snapshot)
                }
                None => {
                    let (repo, newest, _) =
                        newest_verified_snapshot(ws, estate, env, None).await?;
                    let Some(snapshot) = newest else {
                        return Err(Error::operational(
                            format!(
                                "{} has no verified snapshot to drill (`ward backup list` shows why each one does not verify)",
                                env.address()
                            ),
                            "run `ward backup run` for it first",
                        ));
                    };
                    (repo, snapshot)
                }
            };
            subject = snapshot.to_string();
            ward_vault::drill(&repo, &snapshot, &keys, &ids, &drill_request, progress)
                .await
                .map_err(|e| server.failure(e, "fix the cause and drill again"))
        })
    })();
    let result = match result {
        Ok(report) => {
            details.scratch_database = Some(report.scratch_database.clone());
            details.kept = Some(report.kept);
            details.rto_seconds = Some(round(report.rto_seconds));
            details.rto_target_seconds = report.rto_target_seconds;
            details.rpo_seconds = Some(round(report.rpo_seconds));
            details.rpo_target_seconds = report.rpo_target_seconds;
            details.dump_bytes = Some(report.restore.dump_bytes);
            details.blobs_checked = Some(report.restore.blobs_restored);
            details.passed = Some(report.passed());
            let outcome = if report.passed() {
                Outcome::Ok
            } else {
                details.failures = Some(report.failures.clone());
                Outcome::Findings
            };
            Ok((report, outcome, details.into()))
        }
        Err(f) => Err((f, details.into())),
    };
    record_result(ws, estate, &subject, result)
}
