//! `ward serve` as a process: the route table's roles on every route, denials in the
//! ledger, the OpenAPI document checked by a real validator, /metrics scraped by a real
//! Prometheus, following new commits (a bad one leaves the last good in force), and a clean
//! stop on SIGTERM.

mod server_support;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use server_support::{PEOPLE, Server, get, post, request, token};
use ward_server::api::{Access, ROUTES};

fn ward(estate: &Path) -> impl Fn(&[&str]) -> (i32, String, String) + '_ {
    move |args: &[&str]| support::ward(estate, "erin", args)
}

fn serve_command(estate: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ward"));
    c.args([
        "--estate",
        estate.to_str().expect("utf8"),
        "--actor",
        "erin",
        "serve",
    ])
    .args(extra)
    .env_remove("WARD_STATE")
    .env_remove("WARD_STORE")
    .env("NO_COLOR", "1");
    c
}

fn role_of(name: &str) -> ward_store::Role {
    name.parse().expect("role")
}

/// The route's path with its parameters filled, and a body for POSTs.
fn concrete(path: &str, commit: &str) -> (String, serde_json::Value) {
    let path = path
        .replace("{workload}", "billing")
        .replace("{environment}", "prod")
        .replace("{id}", "1");
    let path = if path == "/api/v1/plan" {
        format!("{path}?from={commit}")
    } else {
        path
    };
    let body = match path.as_str() {
        "/api/v1/backups" | "/api/v1/drills" => serde_json::json!({"environment": "billing/prod"}),
        "/api/v1/snapshots/verify" => serde_json::json!({"snapshot": "none"}),
        _ => serde_json::json!({}),
    };
    (path, body)
}

fn hmac_sha256_hex(key: &str, body: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("body");
    std::fs::write(&file, body).expect("write");
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key, "-hex"])
        .arg(&file)
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    text.rsplit(' ').next().expect("digest").trim().to_string()
}

#[test]
fn every_route_refuses_the_roles_it_should_and_the_ledger_records_each_refusal() {
    let tmp = tempfile::tempdir().expect("tmp");
    let estate = support::init_example(tmp.path());
    let commit = support::git_head(&estate);
    let tokens: Vec<(ward_store::Role, String)> = PEOPLE
        .iter()
        .map(|(role, person)| (role_of(role), token(ward(&estate), person, role)))
        .collect();
    let server = Server::start(
        serve_command(&estate, &["--scheduler", "off", "--workers", "0"]),
        &tmp.path().join("serve.log"),
    );
    server.ready();

    let mut denied = 0;
    for route in ROUTES {
        let (path, body) = concrete(route.path, &commit);
        let call = |token: Option<&str>| {
            request(
                server.port,
                route.method,
                &path,
                token,
                &[],
                body.to_string().as_bytes(),
            )
        };
        let anonymous = call(None);
        if route.access == Access::Public {
            assert!(
                ![401, 403].contains(&anonymous.status),
                "{} {path} is public: {}",
                route.method,
                anonymous.status
            );
        } else {
            assert_eq!(
                anonymous.status, 401,
                "{} {path} without a token: {}",
                route.method, anonymous.body
            );
            assert!(
                anonymous
                    .headers
                    .to_ascii_lowercase()
                    .contains("www-authenticate: bearer")
            );
        }
        let forged = call(Some("ward_0000000000000000_00"));
        if route.access != Access::Public {
            assert_eq!(
                forged.status, 401,
                "{} {path} with a forged token",
                route.method
            );
        }
        for (role, token) in &tokens {
            let answer = call(Some(token));
            if route.access.admits(*role) {
                assert!(
                    ![401, 403].contains(&answer.status),
                    "{} {path} admits {role}: {} {}",
                    route.method,
                    answer.status,
                    answer.body
                );
            } else {
                assert_eq!(
                    answer.status, 403,
                    "{} {path} refuses {role}: {}",
                    route.method, answer.body
                );
                assert_eq!(answer.json()["error"], "denied");
                denied += 1;
            }
        }
    }
    assert!(
        denied > 20,
        "the table refuses something to someone: {denied}"
    );

    // Every refusal is in the ledger, with the actor and the role it lacked.
    let security = &tokens
        .iter()
        .find(|(r, _)| *r == ward_store::Role::SecurityReviewer)
        .expect("security token")
        .1;
    let page = get(server.port, "/api/v1/ledger?limit=1000", Some(security)).json();
    let entries = page["entries"].as_array().expect("entries");
    let refusals: Vec<_> = entries
        .iter()
        .filter(|e| e["action"] == "api.denied")
        .collect();
    assert_eq!(refusals.len(), denied, "{page}");
    assert!(
        refusals
            .iter()
            .all(|e| e["result"] == "denied" && !e["actor"].as_str().unwrap_or("").is_empty())
    );
    // What changed is there too: the runs enqueued through the API, with who asked.
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "run.enqueue" && e["actor"] == "bob"),
        "{page}"
    );
    let verified = get(server.port, "/api/v1/ledger/verify", Some(security)).json();
    assert_eq!(verified["ok"], true, "{verified}");
    // No token, no hash, no secret in the server's log.
    let log = server.log_text();
    for (_, t) in &tokens {
        assert!(!log.contains(t.as_str()), "a token leaked into the log");
    }
}

#[test]
fn the_server_follows_the_branch_and_a_bad_commit_leaves_the_last_good_in_force() {
    let tmp = tempfile::tempdir().expect("tmp");
    let estate = support::init_example(tmp.path());
    let first = support::git_head(&estate);
    let ops = token(ward(&estate), "alice", "platform-ops");
    let secret = tmp.path().join("webhook-secret");
    std::fs::write(&secret, "s3cret-hook\n").expect("secret");
    let server = Server::start(
        serve_command(
            &estate,
            &[
                "--scheduler",
                "off",
                "--workers",
                "0",
                // Long: the webhook, not the poll, brings the new commits in.
                "--poll-interval",
                "1h",
                "--webhook-secret-file",
                secret.to_str().expect("utf8"),
            ],
        ),
        &tmp.path().join("serve.log"),
    );
    server.ready();
    let estate_doc = get(server.port, "/api/v1/estate", Some(&ops)).json();
    assert_eq!(estate_doc["commit"], first.as_str());
    let env = get(
        server.port,
        "/api/v1/estate/environments/billing/prod",
        Some(&ops),
    )
    .json();
    assert_eq!(env["commit"], first.as_str());
    assert_eq!(env["environment"]["classification"]["tier"], 1, "{env}");

    // A commit that does not load.
    let billing = estate.join("workloads/billing.yaml");
    let good = std::fs::read_to_string(&billing).expect("billing");
    std::fs::write(&billing, format!("{good}\nbroken: [\n")).expect("break");
    support::commit_as(&estate, "alice", "a broken change");
    let bad = support::git_head(&estate);
    let hook = |body: &str, signature: &str| {
        request(
            server.port,
            "POST",
            "/api/v1/webhooks/git",
            None,
            &[("X-Hub-Signature-256", signature)],
            body.as_bytes(),
        )
    };
    let body = r#"{"ref":"refs/heads/main"}"#;
    assert_eq!(
        hook(body, "sha256=00").status,
        401,
        "a forged signature is refused"
    );
    let signature = format!("sha256={}", hmac_sha256_hex("s3cret-hook", body.as_bytes()));
    assert_eq!(hook(body, &signature).status, 202);
    server.wait_for(
        Duration::from_secs(60),
        "the bad commit's evaluation",
        |s| {
            let commits = get(s.port, "/api/v1/commits", Some(&ops)).json();
            commits["commits"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["commit"] == bad.as_str() && c["status"] == "failed")
            })
        },
    );
    let commits = get(server.port, "/api/v1/commits", Some(&ops)).json();
    let failed = commits["commits"]
        .as_array()
        .expect("commits")
        .iter()
        .find(|c| c["commit"] == bad.as_str())
        .expect("the bad commit");
    assert!(
        failed["error"]
            .as_str()
            .expect("error")
            .contains("billing.yaml"),
        "{failed}"
    );
    assert_eq!(
        commits["commit"],
        first.as_str(),
        "the last good commit stays in force"
    );
    let estate_doc = get(server.port, "/api/v1/estate", Some(&ops)).json();
    assert_eq!(estate_doc["commit"], first.as_str());
    assert_eq!(
        estate_doc["lastFailure"]["commit"],
        bad.as_str(),
        "{estate_doc}"
    );

    // A good commit again: in force; the first is still answered without recomputing.
    std::fs::write(&billing, format!("{good}\n# fixed\n")).expect("fix");
    support::commit_as(&estate, "alice", "the fix");
    let fixed = support::git_head(&estate);
    let refreshed = post(
        server.port,
        "/api/v1/estate/refresh",
        Some(&ops),
        &serde_json::json!({}),
    )
    .json();
    assert_eq!(refreshed["commit"], fixed.as_str(), "{refreshed}");
    let past = get(
        server.port,
        &format!("/api/v1/estate?commit={first}"),
        Some(&ops),
    );
    assert_eq!(past.status, 200, "{}", past.body);
    assert_eq!(past.json()["commit"], first.as_str());
    let unknown = get(
        server.port,
        &format!("/api/v1/estate?commit={}", "0".repeat(40)),
        Some(&ops),
    );
    assert_eq!(unknown.status, 404);
    // The plan between the two good commits names the target.
    let plan = get(
        server.port,
        &format!("/api/v1/plan?from={first}&to={fixed}"),
        Some(&ops),
    );
    assert_eq!(plan.status, 200, "{}", plan.body);
    assert_eq!(plan.json()["commit"], fixed.as_str());

    // Both ways in are in the ledger, with who asked.
    let security = token(ward(&estate), "carol", "security-reviewer");
    let ledger = get(server.port, "/api/v1/ledger", Some(&security)).json();
    let entries = ledger["entries"].as_array().expect("entries");
    let by = |action: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["actor"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(by("estate.webhook"), ["webhook"], "{ledger}");
    assert_eq!(by("estate.refresh"), ["alice"], "{ledger}");
}

#[test]
fn the_openapi_document_validates_and_prometheus_scrapes_the_metrics() {
    let tmp = tempfile::tempdir().expect("tmp");
    let estate = support::init_example(tmp.path());
    let mut server = Server::start(
        serve_command(
            &estate,
            &[
                "--scheduler",
                "server",
                "--workers",
                "0",
                "--schedule-only",
                "none/none",
            ],
        ),
        &tmp.path().join("serve.log"),
    );
    server.ready();

    let doc = get(server.port, "/api/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    assert!(
        doc.json()["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1")
    );
    let file = tmp.path().join("openapi.json");
    std::fs::write(&file, &doc.body).expect("write");
    let validator = Command::new("openapi-spec-validator").arg(&file).output();
    match validator {
        Ok(out) => assert!(
            out.status.success(),
            "openapi-spec-validator: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if std::env::var_os("CI").is_some() => panic!("openapi-spec-validator: {e}"),
        Err(e) => eprintln!("skipping the OpenAPI validator: {e}"),
    }

    // A real Prometheus scrapes /metrics and answers a query about it.
    let metrics = get(server.port, "/metrics", None);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains("ward_scheduler_leader 1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("ward_findings{severity=\"warn\"}"),
        "{}",
        metrics.body
    );
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "CI installs prometheus");
        eprintln!("skipping the Prometheus scrape: no prometheus here");
    } else {
        let prom_port = server_support::free_port();
        let config = tmp.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ward\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
                server.port
            ),
        )
        .expect("config");
        let mut prom = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                tmp.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus");
        let mut answer = serde_json::Value::Null;
        for _ in 0..150 {
            std::thread::sleep(Duration::from_millis(200));
            if std::net::TcpStream::connect(("127.0.0.1", prom_port)).is_err() {
                continue;
            }
            let a = get(prom_port, "/api/v1/query?query=ward_scheduler_leader", None);
            if a.status == 200 {
                let v = a.json();
                if v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
                {
                    answer = v;
                    break;
                }
            }
        }
        let _ = prom.kill();
        let _ = prom.wait();
        assert_eq!(answer["data"]["result"][0]["value"][1], "1", "{answer}");
    }

    // SIGTERM: a clean stop.
    assert_eq!(
        server.terminate(Duration::from_secs(30)),
        0,
        "{}",
        server.log_text()
    );
    assert!(server.log_text().contains("ward serve stopped"));
}
