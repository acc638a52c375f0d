//! The rendered alerts as Prometheus runs them: every PrometheusRule of the example is
//! written out as a rules file, `promtool check rules` accepts it, and `promtool test
//! rules` replays synthetic series for each alert, built from what the estate and the
//! rendered schedules say should happen: on-time backups and drills, a healthy archive
//! and standby stay silent; a missed run, a stalled archive, a lagging standby fire.
//! Run for both label conventions (`rendering.prometheusHonorLabels`).

mod common;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use ward_estate::Estate;
use ward_estate::classify::{base_backup_time, dump_time, tier_rpo};
use ward_estate::model::Stage;
use ward_render::schedule::Cron;
use ward_render::tree::Tree;

const PROMTOOL: &str = "promtool";

fn promtool_available() -> bool {
    Command::new(PROMTOOL).arg("--version").output().is_ok()
}

fn render(estate: &Estate) -> Tree {
    match ward_render::render_kubernetes(estate) {
        Ok(t) => t,
        Err(e) => panic!("example estate does not render: {e}"),
    }
}

fn honoring_labels() -> Estate {
    common::loaded(common::example_edited(|name, text| {
        if name == "platform.yaml" {
            text.replace(
                "prometheusHonorLabels: false",
                "prometheusHonorLabels: true",
            )
        } else {
            text
        }
    }))
}

/// Every object of `kind` in the tree, with its folder (`<cluster>/<namespace>`).
fn objects<'t>(tree: &'t Tree, kind: &str) -> Vec<(&'t str, &'t Value)> {
    tree.files
        .iter()
        .filter_map(|(path, f)| {
            let v = f.value.as_ref()?;
            (v["kind"] == kind).then(|| (path.rsplit_once('/').map_or("", |(d, _)| d), v))
        })
        .collect()
}

/// How the platform's Prometheus names a label an exporter set about another object.
struct Convention {
    honor: bool,
}

impl Convention {
    /// The labels a series pushed by Ward's jobs carries once scraped from the Pushgateway.
    fn pushed(&self, job: &str, environment: &str) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([("environment".to_string(), environment.to_string())]);
        if self.honor {
            l.insert("job".into(), job.into());
        } else {
            l.insert("exported_job".into(), job.into());
            l.insert("job".into(), "pushgateway".into());
            l.insert("namespace".into(), "monitoring".into());
        }
        l
    }

    /// The labels of the same series exposed by `ward serve` on its own `/metrics` and
    /// scraped through its ServiceMonitor: no job label of its own (whatever the
    /// convention, nothing is renamed), the scrape's `job`, `namespace` and `instance`.
    fn served(&self, environment: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                ward_render::metrics::ENVIRONMENT_LABEL.to_string(),
                environment.to_string(),
            ),
            ("job".to_string(), "ward-server".to_string()),
            (
                "namespace".to_string(),
                ward_render::metrics::CONTROL_PLANE_NAMESPACE.to_string(),
            ),
            ("instance".to_string(), "10.244.1.7:9090".to_string()),
        ])
    }

    /// The labels of a kube-state-metrics or cert-manager series about `namespace`.
    fn about(&self, namespace: &str) -> BTreeMap<String, String> {
        if self.honor {
            BTreeMap::from([("namespace".to_string(), namespace.to_string())])
        } else {
            BTreeMap::from([
                ("exported_namespace".to_string(), namespace.to_string()),
                ("namespace".to_string(), "monitoring".to_string()),
            ])
        }
    }
}

fn series(metric: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", json!(v)))
        .collect();
    format!("{metric}{{{}}}", inner.join(", "))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// One promtool test group: series sampled every `interval` seconds and the alerts
/// expected at given times (an empty list: silent).
struct Scenario {
    name: String,
    interval: u64,
    evaluation: u64,
    series: Vec<(String, Vec<String>)>,
    checks: Vec<(u64, Vec<Value>)>,
}

fn expect(rule: &Value, extra: &[(&str, &str)]) -> Value {
    let mut l: BTreeMap<String, String> = rule["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    for (k, v) in extra {
        l.insert((*k).into(), (*v).into());
    }
    json!({"exp_labels": l, "exp_annotations": rule["annotations"]})
}

/// A gauge holding the time of the last success of a job fired by `firings` (seconds
/// from the start of the scenario) that takes `runtime`, skipping the run at `skip`.
/// Returns the samples every `step` up to `end`, and the successes.
fn last_success(
    firings: &[i64],
    runtime: i64,
    skip: Option<usize>,
    step: i64,
    end: i64,
) -> (Vec<String>, Vec<i64>) {
    let successes: Vec<i64> = firings
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .map(|(_, f)| f + runtime)
        .collect();
    let values = (0..=end / step)
        .map(|k| {
            let t = k * step;
            match successes.iter().rev().find(|s| **s <= t) {
                Some(s) => s.to_string(),
                None => "_".to_string(),
            }
        })
        .collect();
    (values, successes)
}

/// "Time since the last success" alerts: runs on schedule stay silent at every point where
/// the age peaks (just before each success); with one run missed, the alert fires before
/// the following run repairs it.
#[allow(clippy::too_many_arguments)]
fn age_scenarios(
    name: &str,
    rule: &Value,
    metric: &str,
    series_labels: &BTreeMap<String, String>,
    schedule: &str,
    runtime: i64,
    extra: &[(&str, &str)],
    out: &mut Vec<Scenario>,
) {
    let cron = Cron::parse(schedule).unwrap_or_else(|| panic!("{name}: unreadable {schedule}"));
    let absolute = cron.firings(0, 4 * 366);
    assert!(
        absolute.len() >= 5,
        "{name}: {schedule} fires too rarely to simulate"
    );
    // Start two runs before the largest gap, so the scenario holds it.
    let widest = absolute
        .windows(2)
        .enumerate()
        .max_by_key(|(_, w)| w[1] - w[0])
        .map_or(0, |(i, _)| i);
    let first = widest.saturating_sub(1).min(absolute.len() - 5);
    let origin = absolute[first] - 600;
    let firings: Vec<i64> = absolute[first..first + 5]
        .iter()
        .map(|f| f - origin)
        .collect();
    let gap = firings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(3600);
    let step = (gap / 200).max(60);
    let end = firings[firings.len() - 1] + runtime + step;
    let evaluation = step;
    let round = |t: i64| (t / step) * step;
    // On time: silent just before every success, where the age is largest.
    let (values, successes) = last_success(&firings, runtime, None, step, end);
    let checks = successes
        .windows(2)
        .map(|w| (u64::try_from(round(w[1] - 1)).unwrap_or(0), Vec::new()))
        .collect();
    out.push(Scenario {
        name: format!("{name}: runs on time ({schedule}) stay silent"),
        interval: step as u64,
        evaluation: evaluation as u64,
        series: vec![(series(metric, series_labels), values)],
        checks,
    });
    // The run after the widest gap is missed: firing before the next one succeeds.
    let missed = 2;
    let (values, _) = last_success(&firings, runtime, Some(missed), step, end);
    let repaired = firings[missed + 1] + runtime;
    out.push(Scenario {
        name: format!("{name}: a missed run fires"),
        interval: step as u64,
        evaluation: evaluation as u64,
        series: vec![(series(metric, series_labels), values)],
        checks: vec![(
            u64::try_from(round(repaired - 1)).unwrap_or(0),
            vec![expect(rule, extra)],
        )],
    });
}

struct Context<'e> {
    tree: &'e Tree,
    estate: &'e Estate,
    convention: Convention,
}

impl Context<'_> {
    fn in_folder<'t>(&'t self, kind: &str, folder: &str) -> Vec<&'t Value> {
        objects(self.tree, kind)
            .into_iter()
            .filter(|(f, _)| *f == folder)
            .map(|(_, v)| v)
            .collect()
    }

    fn environment(&self, address: &str) -> &ward_estate::ResolvedEnvironment {
        self.estate
            .environments
            .iter()
            .find(|e| e.address() == address)
            .unwrap_or_else(|| panic!("no environment {address}"))
    }

    fn database_bytes(&self, address: &str) -> u64 {
        let e = self.environment(address);
        self.estate
            .workload(&e.workload)
            .and_then(|w| {
                w.spec
                    .environments
                    .iter()
                    .find(|x| x.name.value == e.environment)
            })
            .map_or(0, |x| x.size.database.value.bytes)
    }

    /// The RPO a namespace's recovery answers to: its production members' own, else their
    /// tier's.
    fn rpo(&self, namespace: &str) -> i64 {
        let settings = ward_render::stack::Settings::from_platform(
            &self.estate.platform.as_ref().expect("platform").spec,
        )
        .expect("settings");
        let stacks = ward_render::stack::stacks(self.estate, &settings).expect("stacks");
        let stack = stacks
            .iter()
            .find(|s| s.namespace == namespace)
            .unwrap_or_else(|| panic!("no stack {namespace}"));
        stack
            .members
            .iter()
            .map(|m| {
                if m.env.stage == Stage::Production {
                    m.workload.spec.classification.rpo.value
                } else {
                    tier_rpo(m.env.classification.tier)
                }
            })
            .min()
            .map_or(3600, |d| d.as_secs() as i64)
    }

    fn cronjob_schedule(&self, folder: &str, job: &str, address: &str) -> String {
        self.in_folder("CronJob", folder)
            .into_iter()
            .find(|c| {
                c["metadata"]["labels"]["ward.dev/job"] == job
                    && c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == address))
            })
            .and_then(|c| c["spec"]["schedule"].as_str())
            .unwrap_or_else(|| panic!("no {job} CronJob for {address} in {folder}"))
            .to_string()
    }
}

/// Flat series: `value` at every sample up to `end`.
fn flat(value: &str, step: u64, end: u64) -> Vec<String> {
    vec![value.to_string(); (end / step + 1) as usize]
}

/// A counter growing by `per_step` every sample.
fn counter(per_step: u64, step: u64, end: u64) -> Vec<String> {
    (0..=end / step)
        .map(|k| (k * per_step).to_string())
        .collect()
}

fn scenarios(cx: &Context<'_>, folder: &str, rule: &Value) -> Vec<Scenario> {
    let name = rule["alert"].as_str().unwrap_or_default();
    let ns = folder.rsplit('/').next().unwrap_or_default();
    let title = |what: &str| format!("{folder} {name}: {what}");
    let mut out = Vec::new();
    let pair = |name: String,
                step: u64,
                end: u64,
                good: Vec<(String, Vec<String>)>,
                bad: Vec<(String, Vec<String>)>,
                fired: Value,
                out: &mut Vec<Scenario>| {
        out.push(Scenario {
            name: format!("{name}: healthy stays silent"),
            interval: step,
            evaluation: 60,
            series: good,
            checks: vec![(end, Vec::new())],
        });
        out.push(Scenario {
            name: format!("{name}: unhealthy fires"),
            interval: step,
            evaluation: 60,
            series: bad,
            checks: vec![(end, vec![fired])],
        });
    };
    let (step, end) = (60, 7200);
    match name {
        "OdooDown" => {
            let mut l = cx.convention.about(ns);
            l.insert("deployment".into(), "odoo-web".into());
            let s = series("kube_deployment_status_replicas_available", &l);
            pair(
                title("replicas"),
                step,
                end,
                vec![(s.clone(), flat("2", step, end))],
                vec![(s, flat("0", step, end))],
                expect(rule, &[]),
                &mut out,
            );
        }
        "OdooHigh5xxRate" | "OdooSlowP95" => {
            let route = cx
                .in_folder("IngressRoute", folder)
                .into_iter()
                .next()
                .expect("an IngressRoute");
            let backend = &route["spec"]["routes"][1]["services"][0];
            let service = format!(
                "{ns}-{}-{}@kubernetescrd",
                backend["name"].as_str().unwrap_or_default(),
                backend["port"]
            );
            if name == "OdooHigh5xxRate" {
                let ok = series(
                    "traefik_service_requests_total",
                    &labels(&[("service", &service), ("code", "200")]),
                );
                let failed = series(
                    "traefik_service_requests_total",
                    &labels(&[("service", &service), ("code", "502")]),
                );
                pair(
                    title("error ratio"),
                    step,
                    end,
                    vec![
                        (ok.clone(), counter(1000, step, end)),
                        (failed.clone(), counter(10, step, end)),
                    ],
                    vec![
                        (ok, counter(1000, step, end)),
                        (failed, counter(200, step, end)),
                    ],
                    expect(rule, &[]),
                    &mut out,
                );
            } else {
                let bucket = |le: &str| {
                    series(
                        "traefik_service_request_duration_seconds_bucket",
                        &labels(&[("service", &service), ("le", le)]),
                    )
                };
                // Fast: every request under 0.3s. Slow: every request between 5s and 10s.
                let fast = vec![
                    (bucket("0.3"), counter(100, step, end)),
                    (bucket("5"), counter(100, step, end)),
                    (bucket("10"), counter(100, step, end)),
                    (bucket("+Inf"), counter(100, step, end)),
                ];
                let slow = vec![
                    (bucket("0.3"), flat("0", step, end)),
                    (bucket("5"), flat("0", step, end)),
                    (bucket("10"), counter(100, step, end)),
                    (bucket("+Inf"), counter(100, step, end)),
                ];
                pair(
                    title("latency"),
                    step,
                    end,
                    fast,
                    slow,
                    expect(rule, &[]),
                    &mut out,
                );
            }
        }
        "PostgresReplicationLag" => {
            let s = series(
                "cnpg_pg_replication_lag",
                &labels(&[("namespace", ns), ("pod", "db-2")]),
            );
            pair(
                title("standby lag"),
                step,
                end,
                vec![(s.clone(), flat("1", step, end))],
                vec![(s, flat("300", step, end))],
                expect(rule, &[]),
                &mut out,
            );
        }
        "CertificateExpiringSoon" => {
            let mut l = cx.convention.about(ns);
            l.insert("name".into(), "odoo".into());
            let s = series("certmanager_certificate_expiration_timestamp_seconds", &l);
            let in_days = |d: u64| flat(&(end + d * 86_400).to_string(), step, end);
            pair(
                title("expiry"),
                step,
                end,
                vec![(s.clone(), in_days(60))],
                vec![(s, in_days(7))],
                expect(rule, &[]),
                &mut out,
            );
        }
        "WalArchivingStale" => {
            // The primary (`db-1`) archives every archive_timeout while healthy; the
            // standby (`db-2`) never archives and must not count. Stalled: the primary's
            // last archival ages past the RPO.
            let rpo = cx.rpo(ns) as u64;
            let (key, value) = ward_render::kubernetes::DRILL_CLUSTER_LABEL;
            let cluster = cx
                .in_folder("Cluster", folder)
                .into_iter()
                .find(|c| c["metadata"]["labels"][key] != value)
                .expect("a Cluster");
            let timeout: u64 = cluster["spec"]["postgresql"]["parameters"]["archive_timeout"]
                .as_str()
                .and_then(|t| t.strip_suffix('s'))
                .and_then(|t| t.parse().ok())
                .expect("archive_timeout in seconds");
            assert!(
                timeout * 3 <= rpo,
                "{folder}: archive_timeout {timeout}s vs RPO {rpo}s"
            );
            // Long enough for a stalled archive to pass the RPO and stay there past `for`.
            let end = rpo + 3600;
            let archiver = |pod: &str| {
                series(
                    "cnpg_pg_stat_archiver_seconds_since_last_archival",
                    &labels(&[("namespace", ns), ("pod", pod)]),
                )
            };
            let recovering = |pod: &str| {
                series(
                    "cnpg_pg_replication_in_recovery",
                    &labels(&[("namespace", ns), ("pod", pod)]),
                )
            };
            let sawtooth: Vec<String> = (0..=end / step)
                .map(|k| ((k * step) % timeout).to_string())
                .collect();
            let stalled: Vec<String> = (0..=end / step).map(|k| (k * step).to_string()).collect();
            let roles = vec![
                (recovering("db-1"), flat("0", step, end)),
                (recovering("db-2"), flat("1", step, end)),
                (archiver("db-2"), stalled.clone()),
            ];
            let mut good = roles.clone();
            good.push((archiver("db-1"), sawtooth));
            let mut bad = roles;
            bad.push((archiver("db-1"), stalled));
            pair(
                title("archiver"),
                step,
                end,
                good,
                bad,
                expect(rule, &[]),
                &mut out,
            );
        }
        "BaseBackupTooOld" => {
            let backup = cx
                .in_folder("ScheduledBackup", folder)
                .into_iter()
                .next()
                .expect("a ScheduledBackup");
            // The cluster holds every environment whose backup job runs in this folder.
            let bytes: u64 = cx
                .estate
                .environments
                .iter()
                .filter(|e| {
                    objects(cx.tree, "CronJob").iter().any(|(f, c)| {
                        *f == folder
                            && c["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
                                ["args"]
                                .as_array()
                                .is_some_and(|a| a.iter().any(|x| x == e.address().as_str()))
                    })
                })
                .map(|e| cx.database_bytes(&e.address()))
                .sum();
            let runtime = (base_backup_time(bytes).as_secs() + 1800) as i64;
            age_scenarios(
                &title("base backups"),
                rule,
                "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
                &labels(&[("namespace", ns), ("pod", "db-1")]),
                backup["spec"]["schedule"].as_str().unwrap_or_default(),
                runtime,
                &[],
                &mut out,
            );
        }
        "BackupTooOld" | "RestoreDrillOverdue" => {
            let address = rule["labels"]["environment"].as_str().unwrap_or_default();
            let (job, metric, metrics_job, runtime) = if name == "BackupTooOld" {
                (
                    "backup",
                    ward_render::metrics::BACKUP_LAST_SUCCESS_METRIC,
                    ward_render::metrics::BACKUP_PUSH_JOB,
                    dump_time(cx.database_bytes(address)).as_secs() as i64 + 1800,
                )
            } else {
                (
                    "drill",
                    ward_render::metrics::DRILL_LAST_SUCCESS_METRIC,
                    ward_render::metrics::DRILL_PUSH_JOB,
                    2 * 3600,
                )
            };
            let schedule = cx.cronjob_schedule(folder, job, address);
            age_scenarios(
                &title(address),
                rule,
                metric,
                &cx.convention.pushed(metrics_job, address),
                &schedule,
                runtime,
                &[],
                &mut out,
            );
            // The same runs reported by `ward serve` instead, with no Pushgateway: on
            // time silent, a missed run fires.
            age_scenarios(
                &title(&format!("{address} from the server")),
                rule,
                metric,
                &cx.convention.served(address),
                &schedule,
                runtime,
                &[],
                &mut out,
            );
            // A series of that name and environment from any other scrape (a tenant's
            // pod) is no evidence: while the server's own last success grows old, a
            // fresh stranger does not keep the alert silent.
            let stranger = BTreeMap::from([
                (
                    ward_render::metrics::ENVIRONMENT_LABEL.to_string(),
                    address.to_string(),
                ),
                ("job".to_string(), "odoo".to_string()),
                ("namespace".to_string(), ns.to_string()),
            ]);
            let limit = u64::try_from(threshold(rule)).unwrap_or(0);
            let step = (limit / 100).max(60);
            let end = limit + 2 * 3600 + 2 * step;
            let fresh: Vec<String> = (0..=end / step).map(|k| (k * step).to_string()).collect();
            out.push(Scenario {
                name: title(&format!(
                    "{address}: another scrape's series does not count"
                )),
                interval: step,
                evaluation: step,
                series: vec![
                    (
                        series(metric, &cx.convention.served(address)),
                        flat("0", step, end),
                    ),
                    (series(metric, &stranger), fresh),
                ],
                checks: vec![(end, vec![expect(rule, &[])])],
            });
        }
        "StandbyDown" => {
            let s = series(
                "cnpg_collector_up",
                &labels(&[("namespace", ns), ("pod", "db-1")]),
            );
            pair(
                title("collector"),
                step,
                end,
                vec![(s.clone(), flat("1", step, end))],
                vec![(s, flat("0", step, end))],
                expect(rule, &[]),
                &mut out,
            );
            // No series at all (the standby is gone): fires too.
            let other = series("cnpg_collector_up", &labels(&[("namespace", "elsewhere")]));
            out.push(Scenario {
                name: title("absent fires"),
                interval: step,
                evaluation: 60,
                series: vec![(other, flat("1", step, end))],
                checks: vec![(end, vec![expect(rule, &[])])],
            });
        }
        "StandbyReplicationLag" => {
            let rpo = cx.rpo(ns) as u64;
            let s = series(
                "cnpg_pg_replication_lag",
                &labels(&[("namespace", ns), ("pod", "db-1")]),
            );
            pair(
                title("standby lag"),
                step,
                end,
                vec![(s.clone(), flat(&(rpo / 2).to_string(), step, end))],
                vec![(s, flat(&(rpo * 2).to_string(), step, end))],
                expect(rule, &[]),
                &mut out,
            );
        }
        other => panic!("{folder}: no scenario for alert {other}; add one"),
    }
    out
}

fn run(tool_args: &[&str], dir: &Path) -> String {
    let out = Command::new(PROMTOOL)
        .args(tool_args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {tool_args:?} failed:\n{text}"
    );
    text
}

fn check_alerts(estate: &Estate, honor: bool) {
    let tree = render(estate);
    let cx = Context {
        tree: &tree,
        estate,
        convention: Convention { honor },
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rule_files = Vec::new();
    let mut test_files = Vec::new();
    let mut alerts_seen = std::collections::BTreeSet::new();
    for (i, (folder, rule)) in objects(&tree, "PrometheusRule").into_iter().enumerate() {
        let rules_file = format!("rules-{i}.yml");
        // JSON is YAML: the spec is exactly a Prometheus rules file.
        std::fs::write(
            dir.path().join(&rules_file),
            serde_json::to_string_pretty(&rule["spec"]).expect("json"),
        )
        .expect("write rules");
        rule_files.push(rules_file.clone());
        for r in rule["spec"]["groups"][0]["rules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = r["alert"].as_str().unwrap_or_default();
            alerts_seen.insert(name.to_string());
            for (k, sc) in scenarios(&cx, folder, r).into_iter().enumerate() {
                let test = json!({
                    "rule_files": [rules_file],
                    "evaluation_interval": format!("{}s", sc.evaluation),
                    "tests": [{
                        "name": sc.name,
                        "interval": format!("{}s", sc.interval),
                        "input_series": sc.series.iter().map(|(s, v)| json!({"series": s, "values": v.join(" ")})).collect::<Vec<_>>(),
                        "alert_rule_test": sc.checks.iter().map(|(t, exp)| json!({
                            "eval_time": format!("{t}s"),
                            "alertname": name,
                            "exp_alerts": exp,
                        })).collect::<Vec<_>>(),
                    }],
                });
                let file = format!("test-{i}-{name}-{k}.yml");
                std::fs::write(
                    dir.path().join(&file),
                    serde_json::to_string_pretty(&test).expect("json"),
                )
                .expect("write test");
                test_files.push(file);
            }
        }
    }
    for a in [
        "BackupTooOld",
        "BaseBackupTooOld",
        "WalArchivingStale",
        "RestoreDrillOverdue",
        "StandbyDown",
        "StandbyReplicationLag",
    ] {
        assert!(
            alerts_seen.contains(a),
            "{a} is not rendered: {alerts_seen:?}"
        );
    }
    let mut args = vec!["check", "rules"];
    args.extend(rule_files.iter().map(String::as_str));
    run(&args, dir.path());
    for chunk in test_files.chunks(40) {
        let mut args = vec!["test", "rules"];
        args.extend(chunk.iter().map(String::as_str));
        run(&args, dir.path());
    }
}

#[test]
fn every_alert_fires_when_it_should_and_only_then() {
    if !promtool_available() {
        panic!("promtool is not installed (Debian: apt-get install prometheus)");
    }
    check_alerts(&common::example(), false);
}

#[test]
fn alerts_follow_the_label_convention_that_honors_exporter_labels() {
    if !promtool_available() {
        panic!("promtool is not installed (Debian: apt-get install prometheus)");
    }
    let estate = honoring_labels();
    let tree = render(&estate);
    let rule = objects(&tree, "PrometheusRule")
        .into_iter()
        .find(|(f, _)| f.ends_with("/billing-prod"))
        .map(|(_, r)| r["spec"].to_string())
        .expect("billing's rules");
    assert!(
        rule.contains("job=\\\"ward_backup\\\"") && !rule.contains("exported_"),
        "{rule}"
    );
    check_alerts(&estate, true);
}

/// The threshold a `time() - max(...) > N` rule alerts past.
fn threshold(rule: &Value) -> i64 {
    rule["expr"]
        .as_str()
        .and_then(|e| e.rsplit("> ").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no threshold in {rule}"))
}

/// Two years of every rendered drill schedule, run on time (each drill passing two hours
/// after it starts): the age of the last success never reaches the rendered threshold,
/// which therefore exceeds the schedule's largest gap. The old threshold (the posture's
/// interval plus 10%) would have fired for the twice-a-month schedule tier 1 gets.
#[test]
fn drill_thresholds_cover_every_gap_of_two_years_of_calendar() {
    let estate = common::example();
    let tree = render(&estate);
    let cx = Context {
        tree: &tree,
        estate: &estate,
        convention: Convention { honor: false },
    };
    let mut checked = 0;
    let mut old_would_fire = 0;
    for (folder, rules) in objects(&tree, "PrometheusRule") {
        for rule in rules["spec"]["groups"][0]["rules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if rule["alert"] != "RestoreDrillOverdue" {
                continue;
            }
            let address = rule["labels"]["environment"].as_str().unwrap_or_default();
            let schedule = cx.cronjob_schedule(folder, "drill", address);
            let firings = Cron::parse(&schedule)
                .expect("a schedule Ward writes")
                .firings(
                    ward_render::schedule::SIMULATION_START_DAY,
                    ward_render::schedule::SIMULATION_DAYS,
                );
            let runtime = 2 * 3600;
            let limit = threshold(rule);
            let every = cx
                .environment(address)
                .classification
                .posture
                .drill_every
                .as_secs() as i64;
            let old_limit = every * 11 / 10;
            // The age peaks just before each success: the gap between the two runs.
            // Counted with a run's time on top, in case one run is slower than the last.
            let mut fired = 0;
            let mut old_fired = 0;
            for w in firings.windows(2) {
                let age = w[1] - w[0] + runtime;
                fired += i32::from(age > limit);
                old_fired += i32::from(age > old_limit);
            }
            let largest = firings.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
            assert!(
                limit > largest,
                "{address}: {limit}s ≤ largest gap {largest}s of {schedule}"
            );
            assert_eq!(
                fired, 0,
                "{address}: on-time drills ({schedule}) would alert {fired} times"
            );
            old_would_fire += old_fired;
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked} drill alerts checked");
    assert!(
        old_would_fire > 0,
        "the old threshold would not have fired: the test proves nothing new"
    );
}
