//! `/metrics` in the OpenMetrics text format: per environment the last backup (time, size,
//! duration) and the last drill (verdict, RTO, RPO), findings by severity, days to each
//! waiver's expiry, the scheduler's lag, queue depth and leadership, and HTTP latency.
//! Recomputed from the store and the commit in force at each scrape; the backup-age and
//! drill-age alerts `ward render` writes read the two `*_last_success_*` series.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use ward_render::metrics::{BACKUP_LAST_SUCCESS_METRIC, DRILL_LAST_SUCCESS_METRIC};
use ward_store::RunState;

use crate::server::Shared;

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvironmentLabels {
    pub environment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabels {
    pub severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaiverLabels {
    pub waiver: String,
    pub control: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    pub kind: String,
    pub outcome: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The server's series. Cheap to share; [`Metrics::render`] refreshes and encodes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    backup_last_success: Family<EnvironmentLabels, FloatGauge>,
    backup_last_dump_bytes: Family<EnvironmentLabels, FloatGauge>,
    backup_last_new_bytes: Family<EnvironmentLabels, FloatGauge>,
    backup_last_duration: Family<EnvironmentLabels, FloatGauge>,
    drill_last_success: Family<EnvironmentLabels, FloatGauge>,
    drill_last_passed: Family<EnvironmentLabels, FloatGauge>,
    drill_last_rto: Family<EnvironmentLabels, FloatGauge>,
    drill_last_rpo: Family<EnvironmentLabels, FloatGauge>,
    findings: Family<SeverityLabels, FloatGauge>,
    waiver_days: Family<WaiverLabels, FloatGauge>,
    queue: Family<StateLabels, FloatGauge>,
    scheduler_lag: FloatGauge,
    leader: FloatGauge,
    pub evaluation_seconds: FloatGauge,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    runs: Family<RunLabels, Counter>,
    /// One scrape refreshes the families at a time.
    refresh: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            backup_last_success: Family::default(),
            backup_last_dump_bytes: Family::default(),
            backup_last_new_bytes: Family::default(),
            backup_last_duration: Family::default(),
            drill_last_success: Family::default(),
            drill_last_passed: Family::default(),
            drill_last_rto: Family::default(),
            drill_last_rpo: Family::default(),
            findings: Family::default(),
            waiver_days: Family::default(),
            queue: Family::default(),
            scheduler_lag: FloatGauge::default(),
            leader: FloatGauge::default(),
            evaluation_seconds: FloatGauge::default(),
            http: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            runs: Family::default(),
            refresh: Mutex::new(()),
            registry: Registry::default(),
        };
        registry.register(
            BACKUP_LAST_SUCCESS_METRIC,
            "Unix time of the environment's last successful backup",
            m.backup_last_success.clone(),
        );
        registry.register(
            "ward_backup_last_dump_bytes",
            "Database dump size of the environment's last successful backup",
            m.backup_last_dump_bytes.clone(),
        );
        registry.register(
            "ward_backup_last_new_bytes",
            "Bytes the environment's last successful backup added to the vault",
            m.backup_last_new_bytes.clone(),
        );
        registry.register(
            "ward_backup_last_duration_seconds",
            "How long the environment's last successful backup took",
            m.backup_last_duration.clone(),
        );
        registry.register(
            DRILL_LAST_SUCCESS_METRIC,
            "Unix time of the environment's last passed restore drill",
            m.drill_last_success.clone(),
        );
        registry.register(
            "ward_drill_last_passed",
            "Whether the environment's last restore drill passed (1) or not (0)",
            m.drill_last_passed.clone(),
        );
        registry.register(
            "ward_drill_last_rto_seconds",
            "Recovery time the environment's last drill achieved",
            m.drill_last_rto.clone(),
        );
        registry.register(
            "ward_drill_last_rpo_seconds",
            "Recovery point (snapshot age) of the environment's last drill",
            m.drill_last_rpo.clone(),
        );
        registry.register(
            "ward_findings",
            "Findings of the estate commit in force, by severity (waived counted apart)",
            m.findings.clone(),
        );
        registry.register(
            "ward_waiver_expiry_days",
            "Days until each waiver expires (negative: expired)",
            m.waiver_days.clone(),
        );
        registry.register(
            "ward_runs_queued",
            "Runs in the queue by state (queued, due, leased, running)",
            m.queue.clone(),
        );
        registry.register(
            "ward_scheduler_lag_seconds",
            "How long the oldest due run has waited",
            m.scheduler_lag.clone(),
        );
        registry.register(
            "ward_scheduler_leader",
            "Whether this replica leads the scheduler (1) or not (0)",
            m.leader.clone(),
        );
        registry.register(
            "ward_estate_evaluation_seconds",
            "How long loading, classifying and checking the last new commit took",
            m.evaluation_seconds.clone(),
        );
        registry.register(
            "ward_http_request_duration_seconds",
            "HTTP request latency by route",
            m.http.clone(),
        );
        registry.register(
            "ward_runs_finished",
            "Runs this replica finished, by kind and outcome",
            m.runs.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records one HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http
            .get_or_create(&HttpLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .observe(seconds);
    }

    pub fn runs_finished(&self, kind: &str, failed: bool) {
        self.runs
            .get_or_create(&RunLabels {
                kind: kind.to_string(),
                outcome: if failed { "failed" } else { "succeeded" }.to_string(),
            })
            .inc();
    }

    /// Refreshes every series from the store and the commit in force, then encodes them.
    pub async fn render(&self, shared: &Shared) -> Result<String, ward_store::StoreError> {
        let states = shared.store.schedule_states().await?;
        let stats = shared.store.queue_stats().await?;
        let backups = shared
            .store
            .latest_runs("backup", Some(RunState::Succeeded))
            .await?;
        let drills = shared.store.latest_runs("drill", None).await?;
        let current = shared.current();
        let _guard = self.refresh.lock().unwrap_or_else(|p| p.into_inner());
        let env = |address: &str| EnvironmentLabels {
            environment: address.to_string(),
        };
        let seconds = |t: jiff::Timestamp| t.as_millisecond() as f64 / 1000.0;
        for family in [&self.backup_last_success, &self.drill_last_success] {
            family.clear();
        }
        for s in &states {
            let (Some(address), Some(at)) = (&s.environment, s.last_success_at) else {
                continue;
            };
            let family = match s.kind.as_str() {
                "backup" => &self.backup_last_success,
                "drill" => &self.drill_last_success,
                _ => continue,
            };
            family.get_or_create(&env(address)).set(seconds(at));
        }
        for family in [
            &self.backup_last_dump_bytes,
            &self.backup_last_new_bytes,
            &self.backup_last_duration,
        ] {
            family.clear();
        }
        for run in &backups {
            let (Some(address), Some(result)) = (&run.environment, &run.result) else {
                continue;
            };
            let number = |key: &str, before: &str| result_number(result, key, before);
            if let Some(v) = number("dumpBytes", "dump_bytes") {
                self.backup_last_dump_bytes
                    .get_or_create(&env(address))
                    .set(v);
            }
            if let Some(v) = number("newBytes", "new_bytes") {
                self.backup_last_new_bytes
                    .get_or_create(&env(address))
                    .set(v);
            }
            if let Some(v) = number("durationSeconds", "duration_seconds") {
                self.backup_last_duration
                    .get_or_create(&env(address))
                    .set(v);
            }
        }
        for family in [
            &self.drill_last_passed,
            &self.drill_last_rto,
            &self.drill_last_rpo,
        ] {
            family.clear();
        }
        for run in &drills {
            let Some(address) = &run.environment else {
                continue;
            };
            let passed = run.state == RunState::Succeeded;
            self.drill_last_passed
                .get_or_create(&env(address))
                .set(if passed { 1.0 } else { 0.0 });
            if let Some(result) = &run.result {
                if let Some(v) = result_number(result, "rtoSeconds", "rto_seconds") {
                    self.drill_last_rto.get_or_create(&env(address)).set(v);
                }
                if let Some(v) = result_number(result, "rpoSeconds", "rpo_seconds") {
                    self.drill_last_rpo.get_or_create(&env(address)).set(v);
                }
            }
        }
        self.findings.clear();
        self.waiver_days.clear();
        if let Some(current) = &current {
            let summary = current.evaluation.summary;
            for (severity, n) in [
                ("deny", summary.deny),
                ("warn", summary.warn),
                ("waived", summary.waived),
            ] {
                self.findings
                    .get_or_create(&SeverityLabels {
                        severity: severity.to_string(),
                    })
                    .set(n as f64);
            }
            for w in &current.evaluation.waivers {
                self.waiver_days
                    .get_or_create(&WaiverLabels {
                        waiver: w.name.clone(),
                        control: w.control.clone(),
                    })
                    .set(w.days_to_expiry as f64);
            }
        }
        self.queue.clear();
        for (state, n) in [
            ("queued", stats.queued),
            ("due", stats.due),
            ("leased", stats.leased),
            ("running", stats.running),
        ] {
            self.queue
                .get_or_create(&StateLabels {
                    state: state.to_string(),
                })
                .set(n as f64);
        }
        let lag = stats
            .oldest_due
            .map(|due| {
                (jiff::Timestamp::now().as_millisecond() - due.as_millisecond()).max(0) as f64
                    / 1000.0
            })
            .unwrap_or(0.0);
        self.scheduler_lag.set(lag);
        self.leader.set(if shared.leading.load(Ordering::SeqCst) {
            1.0
        } else {
            0.0
        });
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|e| ward_store::StoreError::InvalidInput(format!("encoding metrics: {e}")))?;
        Ok(text)
    }
}

/// A number of a run's result by its key, or by the snake_case key a run recorded before
/// Ward's JSON was camelCase (a store kept across the upgrade).
fn result_number(result: &serde_json::Value, key: &str, before: &str) -> Option<f64> {
    result
        .get(key)
        .or_else(|| result.get(before))
        .and_then(serde_json::Value::as_f64)
}

#[cfg(test)]
mod tests {
    use super::result_number;

    #[test]
    fn a_result_is_read_by_its_camel_case_key_or_the_older_snake_case_one() {
        let new = serde_json::json!({"newBytes": 42, "rtoSeconds": 1.5});
        let old = serde_json::json!({"new_bytes": 7, "rto_seconds": 2.5});
        assert_eq!(result_number(&new, "newBytes", "new_bytes"), Some(42.0));
        assert_eq!(result_number(&old, "newBytes", "new_bytes"), Some(7.0));
        assert_eq!(result_number(&old, "rtoSeconds", "rto_seconds"), Some(2.5));
        assert_eq!(result_number(&new, "dumpBytes", "dump_bytes"), None);
    }
}
