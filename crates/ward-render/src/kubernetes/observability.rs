//! Monitoring: PodMonitors and the PrometheusRule alerts on backups, drills, WAL
//! archiving and replication that page the platform team.

use super::*;

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

pub(super) fn observability(
    out: &mut Out<'_>,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let severity = if s.tier == 1 { "critical" } else { "warning" };
    let p95 = if s.tier == 1 { "1.5" } else { "3" };
    let lag = if s.tier == 1 { 10 } else { 60 };
    let backup_limit = s.posture.backup_interval.as_secs() * 3 / 2;
    let traefik_service = format!("{ns}-odoo-http-8069@kubernetescrd");
    let mut rules = vec![
        alert(
            "OdooDown",
            format!(
                "sum(kube_deployment_status_replicas_available{{namespace=\"{ns}\", deployment=\"odoo-web\"}}) < 1"
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
        alert(
            "BackupTooOld",
            format!(
                "time() - max(cnpg_collector_last_available_backup_timestamp{{namespace=\"{ns}\"}}) > {backup_limit}"
            ),
            "10m",
            severity,
            format!(
                "The last base backup in {ns} is older than the posture allows ({})",
                s.posture.backup_interval
            ),
        ),
        alert(
            "CertificateExpiringSoon",
            format!(
                "min(certmanager_certificate_expiration_timestamp_seconds{{exported_namespace=\"{ns}\"}}) - time() < 21 * 86400"
            ),
            "1h",
            "warning",
            format!("A TLS certificate in {ns} expires within 21 days"),
        ),
    ];
    for m in &s.members {
        let limit = m.env.classification.posture.drill_every.as_secs() * 11 / 10;
        let address = m.env.address();
        let mut r = alert(
            "RestoreDrillOverdue",
            format!(
                "time() - max(ward_drill_last_success_timestamp_seconds{{environment=\"{address}\"}}) > {limit}"
            ),
            "1h",
            "warning",
            format!(
                "The last successful restore drill of {address} is older than the posture allows ({})",
                m.env.classification.posture.drill_every
            ),
        );
        r.labels.insert("environment".into(), address);
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
    out.push(&cr(
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
    ))?;
    Ok(())
}
