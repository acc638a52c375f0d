//! Pushes a batch run's results to a Prometheus Pushgateway, so that the rendered alerts
//! (`RestoreDrillOverdue`, …) see backups and drills that run as Kubernetes Jobs.
//!
//! Pushes use POST, which replaces only the metrics sent: a failed drill updates its
//! `…_passed` and `…_last_run_…` series but leaves the last success where it was.

use base64::Engine;

use crate::report::{Failure, scrub_credentials, warn};

/// One gauge of a push.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: f64,
}

/// The grouping key `job=<job>, environment=<workload/env>` the alerts select on.
pub struct Group<'a> {
    pub job: &'static str,
    pub environment: &'a str,
}

/// The Prometheus text exposition of `gauges`.
fn exposition(gauges: &[Gauge]) -> String {
    let mut out = String::new();
    for g in gauges {
        out.push_str(&format!(
            "# HELP {} {}\n# TYPE {} gauge\n{} {}\n",
            g.name, g.help, g.name, g.name, g.value
        ));
    }
    out
}

/// `<base>/metrics/job/<job>/environment@base64/<…>`: the environment holds a `/`, which a
/// path segment can carry only base64url-encoded.
fn group_url(base: &str, group: &Group<'_>) -> String {
    format!(
        "{}/metrics/job/{}/environment@base64/{}",
        base.trim_end_matches('/'),
        group.job,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(group.environment)
    )
}

/// Pushes `gauges` under `group` to the Pushgateway at `base`.
pub fn push(base: &str, group: &Group<'_>, gauges: &[Gauge]) -> Result<(), Failure> {
    let url = group_url(base, group);
    // The URL may carry basic-auth credentials (reqwest sends them): never in a message.
    let failed = |what: String| {
        Failure::operational(
            scrub_credentials(&format!(
                "cannot push metrics to the Pushgateway at {base}: {what}"
            )),
            "check --pushgateway (WARD_PUSHGATEWAY) and that the Pushgateway runs",
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .header("Content-Type", "text/plain; version=0.0.4")
            .timeout(std::time::Duration::from_secs(10))
            .body(exposition(gauges))
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(failed(format!("{status}: {}", body.trim())))
        }
    })
}

/// Pushes, and on failure warns without failing the command: the run itself succeeded,
/// and a missing metric makes the staleness alerts fire, which is the safe side.
pub fn push_or_warn(base: Option<&str>, group: &Group<'_>, gauges: &[Gauge]) {
    let Some(base) = base else { return };
    if let Err(f) = push(base, group, gauges) {
        warn(&f.message());
    }
}

/// Seconds since the Unix epoch, as Prometheus timestamps are written.
pub fn now_seconds() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_path_carries_the_slash_of_an_environment() {
        let url = group_url(
            "http://pgw:9091/",
            &Group {
                job: ward_render::metrics::DRILL_PUSH_JOB,
                environment: "billing/prod",
            },
        );
        assert_eq!(
            url,
            "http://pgw:9091/metrics/job/ward_drill/environment@base64/YmlsbGluZy9wcm9k"
        );
        let text = exposition(&[Gauge {
            name: "ward_drill_passed",
            help: "1 if the last drill passed",
            value: 1.0,
        }]);
        assert_eq!(
            text,
            "# HELP ward_drill_passed 1 if the last drill passed\n# TYPE ward_drill_passed gauge\nward_drill_passed 1\n"
        );
    }
}
