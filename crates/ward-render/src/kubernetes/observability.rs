//! Monitoring: the ServiceMonitors and the PrometheusRule alerts on backups, drills, WAL
//! archiving and replication that page the platform team, in the primary cluster and for
//! the standby in the recovery region. Thresholds follow what was rendered: the schedules'
//! largest gaps, the posture's RPO and archive timeout.

use super::*;
use crate::stack::stack_rpo;
use ward_estate::classify::{base_backup_time, dump_time};
use ward_estate::units::Duration;

pub(super) fn alert(
    name: &str,
    expr: String,
    for_: &str,
    severity: &str,
    summary: String,
) -> AlertRule {
    AlertRule {
        alert: name.to_string(),
        expr,
        for_: for_.to_string(),
        labels: labels(&[("severity", severity)]),
        annotations: labels(&[("summary", &summary)]),
    }
}

/// The name a label set by an exporter about other objects (kube-state-metrics,
/// cert-manager, the Pushgateway) has in the platform's Prometheus: kept with
/// `honorLabels: true`, else renamed `exported_<label>` because the scrape target's own
/// `namespace`/`job` take the name (`rendering.prometheusHonorLabels`).
pub(super) fn exported(settings: &Settings, label: &str) -> String {
    if settings.prometheus_honor_labels {
        label.to_string()
    } else {
        format!("exported_{label}")
    }
}

/// The series of an environment's last success, from either source: pushed by a job
/// to the Pushgateway (`<exported_job>="<push job>"`), or exposed by `ward serve` on its
/// own `/metrics`, which carries no job label and is scraped in `ward-system` (so the
/// scrape's `namespace` is that). Whichever is newer counts (`max` over both), so a
/// platform that moves from CronJobs to the server needs no Pushgateway, and the move
/// itself leaves no gap.
pub(super) fn last_success(
    settings: &Settings,
    metric: &str,
    push_job: &str,
    address: &str,
) -> String {
    use crate::metrics::{CONTROL_PLANE_NAMESPACE, ENVIRONMENT_LABEL};
    let exported_job = exported(settings, "job");
    format!(
        "max({metric}{{{exported_job}=\"{push_job}\", {ENVIRONMENT_LABEL}=\"{address}\"}}\n    or {metric}{{namespace=\"{CONTROL_PLANE_NAMESPACE}\", {ENVIRONMENT_LABEL}=\"{address}\"}})"
    )
}

/// The age past which "time since the last success" alerts: the largest gap the rendered
/// schedule produces over two years, plus the time a run may take to finish (its success
/// is recorded at the end). A schedule Ward cannot read falls back to `fallback`.
pub(super) fn age_limit(schedule: &str, fallback: Duration, run: Duration) -> u64 {
    schedule::largest_gap(schedule)
        .unwrap_or(fallback)
        .as_secs()
        + run.as_secs()
}

/// What a logical snapshot of `bytes` may take before its success is pushed: an hour of
/// margin (clone, start, filestore) plus the dump at Ward's documented throughput.
pub(super) fn snapshot_allowance(bytes: u64) -> Duration {
    Duration::secs(3600 + dump_time(bytes).as_secs())
}

/// What a restore drill may take: the jobs' four-hour deadline.
pub(super) const DRILL_ALLOWANCE: Duration = Duration::hours(4);

pub(super) fn observability(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let severity = if s.tier == 1 { "critical" } else { "warning" };
    let p95 = if s.tier == 1 { "1.5" } else { "3" };
    let lag = if s.tier == 1 { 10 } else { 60 };
    let exported_namespace = exported(settings, "namespace");
    let traefik_service = format!("{ns}-odoo-http-8069@kubernetescrd");
    let rpo = stack_rpo(s);
    let base_schedule = schedule::every_with_seconds(s.posture.base_backup_interval, ns);
    let base_limit = age_limit(
        &base_schedule,
        s.posture.base_backup_interval,
        Duration::secs(3600 + base_backup_time(s.database_bytes).as_secs()),
    );
    let mut rules = vec![
        alert(
            "OdooDown",
            format!(
                "sum(kube_deployment_status_replicas_available{{{exported_namespace}=\"{ns}\", deployment=\"odoo-web\"}}) < 1"
            ),
            "2m",
            severity,
            format!("No Odoo web pod is available in {ns}"),
        ),
        alert(
            "OdooHigh5xxRate",
            format!(
                "sum(rate(traefik_service_requests_total{{service=\"{traefik_service}\", code=~\"5..\"}}[5m]))\n  / sum(rate(traefik_service_requests_total{{service=\"{traefik_service}\"}}[5m])) > 0.05"
            ),
            "5m",
            severity,
            format!("More than 5% of requests to Odoo in {ns} fail with a 5xx"),
        ),
        alert(
            "OdooSlowP95",
            format!(
                "histogram_quantile(0.95, sum by (le) (rate(traefik_service_request_duration_seconds_bucket{{service=\"{traefik_service}\"}}[5m]))) > {p95}"
            ),
            "10m",
            "warning",
            format!("95th percentile latency of Odoo in {ns} is above {p95}s"),
        ),
        alert(
            "PostgresReplicationLag",
            format!("max(cnpg_pg_replication_lag{{namespace=\"{ns}\"}}) > {lag}"),
            "5m",
            severity,
            format!("A PostgreSQL standby in {ns} is more than {lag}s behind"),
        ),
        // CloudNativePG's own `cnpg_collector_last_available_backup_timestamp` stays unset
        // with the barman-cloud plugin; the plugin reports its own.
        alert(
            "BaseBackupTooOld",
            format!(
                "time() - max(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{{namespace=\"{ns}\"}}) > {base_limit}"
            ),
            "10m",
            severity,
            format!(
                "The last base backup in {ns} is older than its schedule allows (every {})",
                s.posture.base_backup_interval
            ),
        ),
        // The primary only: a standby's archiver is idle by design. Odoo's cron writes
        // every minute, so a healthy database always has WAL to archive.
        alert(
            "WalArchivingStale",
            format!(
                "max(cnpg_pg_stat_archiver_seconds_since_last_archival{{namespace=\"{ns}\"}}\n  and on (pod) (cnpg_pg_replication_in_recovery{{namespace=\"{ns}\"}} == 0)) > {}",
                rpo.as_secs()
            ),
            "5m",
            severity,
            format!("No WAL has been archived in {ns} for longer than the RPO ({rpo})"),
        ),
        alert(
            "CertificateExpiringSoon",
            format!(
                "min(certmanager_certificate_expiration_timestamp_seconds{{{exported_namespace}=\"{ns}\"}}) - time() < 21 * 86400"
            ),
            "1h",
            "warning",
            format!("A TLS certificate in {ns} expires within 21 days"),
        ),
    ];
    for m in &s.members {
        let address = m.env.address();
        let backup_schedule = backup_schedule(s, m);
        let backup_limit = age_limit(
            &backup_schedule,
            m.env.classification.posture.backup_interval,
            snapshot_allowance(m.spec.size.database.value.bytes),
        );
        let mut r = alert(
            "BackupTooOld",
            format!(
                "time() - {} > {backup_limit}",
                last_success(
                    settings,
                    crate::metrics::BACKUP_LAST_SUCCESS_METRIC,
                    crate::metrics::BACKUP_PUSH_JOB,
                    &address
                )
            ),
            "10m",
            severity,
            format!(
                "The last logical snapshot of {address} is older than its schedule allows ({backup_schedule})"
            ),
        );
        r.labels
            .insert(crate::metrics::ENVIRONMENT_LABEL.into(), address.clone());
        rules.push(r);
        let posture = &m.env.classification.posture;
        let drill_schedule = drill_schedule(m);
        let limit = age_limit(&drill_schedule, posture.drill_every, DRILL_ALLOWANCE);
        let mut r = alert(
            "RestoreDrillOverdue",
            format!(
                "time() - {} > {limit}",
                last_success(
                    settings,
                    crate::metrics::DRILL_LAST_SUCCESS_METRIC,
                    crate::metrics::DRILL_PUSH_JOB,
                    &address
                )
            ),
            "1h",
            "warning",
            format!(
                "The last successful restore drill of {address} is older than its schedule allows ({drill_schedule}, every {})",
                posture.drill_every
            ),
        );
        r.labels
            .insert(crate::metrics::ENVIRONMENT_LABEL.into(), address);
        rules.push(r);
    }
    out.push(&cr(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        meta("odoo-alerts", ns, common),
        PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: format!("ward.{ns}"),
                rules,
            }],
        },
    ))?;
    out.push(&postgres_monitor(ns, common))?;
    Ok(())
}

pub(super) fn postgres_monitor(
    ns: &str,
    common: &BTreeMap<String, String>,
) -> CustomResource<ServiceMonitorSpec> {
    cr(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        meta("postgres", ns, common),
        ServiceMonitorSpec {
            selector: selector(&[(MANAGED_BY.0, MANAGED_BY.1), ("ward.dev/stack", ns)]),
            endpoints: vec![MonitorEndpoint {
                port: "metrics".into(),
                path: "/metrics".into(),
                interval: "30s".into(),
            }],
        },
    )
}

/// The recovery region's standby: scraped by that region's Prometheus, with alerts when
/// it is down or falls behind the primary by more than the RPO (what a failover would
/// lose), and when its own base backups stop once it archives.
pub(super) fn recovery_observability(
    out: &mut Out<'_>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let rpo = stack_rpo(s);
    let rules = vec![
        // No series at all (the standby or its scrape is gone) counts as down.
        alert(
            "StandbyDown",
            format!("(max(cnpg_collector_up{{namespace=\"{ns}\"}}) or vector(0)) < 1"),
            "10m",
            "critical",
            format!("The recovery standby of {ns} reports no running PostgreSQL"),
        ),
        alert(
            "StandbyReplicationLag",
            format!(
                "max(cnpg_pg_replication_lag{{namespace=\"{ns}\"}}) > {}",
                rpo.as_secs()
            ),
            "10m",
            "critical",
            format!(
                "The recovery standby of {ns} is further behind the primary than the RPO ({rpo}): a failover now would lose more"
            ),
        ),
    ];
    out.push(&cr(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        meta("recovery-alerts", ns, common),
        PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: format!("ward.recovery.{ns}"),
                rules,
            }],
        },
    ))?;
    out.push(&postgres_monitor(ns, common))?;
    Ok(())
}
