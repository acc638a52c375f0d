//! People's logins to `ward serve` against a real OpenID provider (npm `oidc-provider`, a
//! certified implementation, installed by `.ci/run`): the authorization code flow with
//! PKCE, the Team's groups mapped to roles, the session cookie and its CSRF guard, the
//! login bound to its browser and used once, logout, and every step in the ledger.

mod server_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use server_support::{Answer, Server, free_port, get, request};

const CLIENT_SECRET: &str = "test-client-secret-3f9a";

/// The provider, killed when dropped.
struct Provider {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// Starts the provider on `port` for a Ward whose callback is `redirect_uri`, or `None`
/// (outside CI) when its npm packages are not installed.
fn start_provider(port: u16, redirect_uri: &str, log: &Path) -> Option<Provider> {
    let dir = provider_dir();
    if !dir.join("node_modules/oidc-provider").is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs the provider (npm ci in {})",
            dir.display()
        );
        eprintln!(
            "skipping: no oidc-provider (run `npm ci` in {})",
            dir.display()
        );
        return None;
    }
    let accounts = serde_json::json!({
        "bob": {"email": "bob@care.example", "groups": ["care-dba", "everyone"]},
        "carol": {"email": "carol@care.example", "groups": ["care-security"]},
        "nina": {"email": "nina@care.example", "groups": ["care-app-support"]},
        "mallory": {"email": "mallory@care.example", "groups": ["everyone"]},
    });
    let out = std::fs::File::create(log).expect("log");
    let child = Command::new("node")
        .arg(dir.join("provider.mjs"))
        .current_dir(&dir)
        .env("ISSUER", format!("http://127.0.0.1:{port}"))
        .env("CLIENT_ID", "ward")
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URI", redirect_uri)
        .env("ACCOUNTS", accounts.to_string())
        .stdout(Stdio::from(out.try_clone().expect("log")))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("node");
    let provider = Provider {
        child,
        port,
        log: log.to_path_buf(),
    };
    for _ in 0..150 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(port, "/.well-known/openid-configuration", None).status == 200
        {
            return Some(provider);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the provider did not start:\n{}",
        std::fs::read_to_string(&provider.log).unwrap_or_default()
    );
}

/// The `Set-Cookie` values of an answer, name → (value, whole line).
fn set_cookies(answer: &Answer) -> BTreeMap<String, (String, String)> {
    answer
        .headers
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim())
        })
        .filter_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), (value.to_string(), v.to_string())))
        })
        .collect()
}

fn location(answer: &Answer) -> String {
    answer
        .headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("location")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no Location: {} {}", answer.status, answer.headers))
}

/// `http://127.0.0.1:PORT/path?q` → (PORT, `/path?q`).
fn split_url(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://127.0.0.1:").expect("a local URL");
    let (port, path) = rest.split_once('/').expect("a path");
    (port.parse().expect("port"), format!("/{path}"))
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One call with cookies (and more headers).
fn call(
    port: u16,
    method: &str,
    path: &str,
    cookies: &str,
    more: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut headers = vec![("Cookie", cookies)];
    headers.extend_from_slice(more);
    request(port, method, path, None, &headers, body)
}

/// A browser's login as `who` at the provider, up to (not including) Ward's callback:
/// the callback's path and the `ward_login` cookie Ward set.
fn at_provider(ward: u16, provider: u16, who: &str) -> (String, String) {
    let start = get(ward, "/auth/login?next=/api/v1/estate", None);
    assert_eq!(start.status, 303, "{}", start.body);
    let bind = set_cookies(&start)
        .get("ward_login")
        .expect("the login is bound to the browser")
        .0
        .clone();
    let mut url = location(&start);
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("code_challenge="), "{url}");
    assert!(url.contains("nonce="), "{url}");
    assert!(url.contains(&format!("state={bind}")), "{url}");
    let mut jar: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..10 {
        let (port, path) = split_url(&url);
        if port == ward {
            return (path, bind);
        }
        assert_eq!(port, provider, "{url}");
        let mut answer = call(port, "GET", &path, &cookie_header(&jar), &[], b"");
        for (k, (v, _)) in set_cookies(&answer) {
            jar.insert(k, v);
        }
        if answer.status == 200 && path.starts_with("/interaction/") {
            let body = format!("login={who}");
            answer = call(
                port,
                "POST",
                &path,
                &cookie_header(&jar),
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body.as_bytes(),
            );
            for (k, (v, _)) in set_cookies(&answer) {
                jar.insert(k, v);
            }
        }
        assert!(
            [302, 303].contains(&answer.status),
            "the provider at {path}: {} {}",
            answer.status,
            answer.body
        );
        url = location(&answer);
        if url.starts_with('/') {
            url = format!("http://127.0.0.1:{port}{url}");
        }
    }
    panic!("the login never came back to Ward")
}

/// A whole login; the callback's answer.
fn login(ward: u16, provider: u16, who: &str) -> Answer {
    let (callback, bind) = at_provider(ward, provider, who);
    call(
        ward,
        "GET",
        &callback,
        &format!("ward_login={bind}"),
        &[],
        b"",
    )
}

fn session_of(answer: &Answer) -> String {
    let cookies = set_cookies(answer);
    let (value, line) = cookies.get("ward_session").expect("a session cookie");
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Lax"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    assert!(!line.contains("Secure"), "plain http here: {line}");
    format!("ward_session={value}")
}

#[test]
fn people_log_in_with_openid_connect_and_their_groups_are_their_roles() {
    let tmp = tempfile::tempdir().expect("tmp");
    let estate = support::init_example(tmp.path());
    let secret_file = tmp.path().join("client-secret");
    std::fs::write(&secret_file, format!("{CLIENT_SECRET}\n")).expect("secret");
    // The provider's address must be known to Ward, and Ward's callback to the provider:
    // Ward discovers the provider at the first login, so it starts first.
    let provider_port = free_port();
    let issuer = format!("http://127.0.0.1:{provider_port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ward"));
    command
        .args(["--estate", estate.to_str().expect("utf8"), "serve"])
        .args(["--scheduler", "off", "--workers", "0"])
        .args(["--oidc-issuer", &issuer, "--oidc-client-id", "ward"])
        .arg("--oidc-client-secret-file")
        .arg(&secret_file)
        .args(["--oidc-groups-prefix", "idp:"])
        .env_remove("WARD_STATE")
        .env_remove("WARD_STORE")
        .env("NO_COLOR", "1");
    let server = Server::start(command, &tmp.path().join("serve.log"));
    server.ready();
    let ward = server.port;
    let redirect = format!("http://127.0.0.1:{ward}/auth/callback");
    let Some(provider) = start_provider(provider_port, &redirect, &tmp.path().join("provider.log"))
    else {
        return;
    };
    let idp = provider.port;

    // The provider itself refuses an authorization request without PKCE: Ward's logins
    // below go through because Ward sends an S256 challenge.
    let without_pkce = get(
        idp,
        &format!(
            "/auth?client_id=ward&response_type=code&scope=openid&redirect_uri={}&state=s0123456789abcdef&nonce=n1",
            redirect.replace(':', "%3A").replace('/', "%2F")
        ),
        None,
    );
    let refused = location(&without_pkce);
    assert!(
        refused.contains("error=invalid_request") && refused.contains("PKCE"),
        "{refused}"
    );

    // bob: groups care-dba (the Team maps idp:care-dba to dba) and everyone.
    let done = login(ward, idp, "bob");
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(location(&done), "/api/v1/estate");
    let bob = session_of(&done);
    assert!(
        set_cookies(&done)
            .get("ward_login")
            .is_some_and(|(v, _)| v.is_empty()),
        "the binding cookie is cleared"
    );
    let me = call(ward, "GET", "/api/v1/session", &bob, &[], b"");
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["subject"], "bob", "{me}");
    assert_eq!(me["roles"], serde_json::json!(["dba"]), "{me}");
    assert_eq!(me["credential"], "session");
    let csrf = me["csrfToken"].as_str().expect("a CSRF token").to_string();
    assert_eq!(csrf.len(), 64);
    assert_eq!(
        call(ward, "GET", "/api/v1/estate", &bob, &[], b"").status,
        200
    );

    // A POST from the session needs its CSRF token; with it, dba's backup is queued.
    let body = serde_json::json!({"environment": "billing/prod"}).to_string();
    let no_csrf = call(ward, "POST", "/api/v1/backups", &bob, &[], body.as_bytes());
    assert_eq!(no_csrf.status, 403, "{}", no_csrf.body);
    assert!(no_csrf.body.contains("X-CSRF-Token"), "{}", no_csrf.body);
    let wrong = call(
        ward,
        "POST",
        "/api/v1/backups",
        &bob,
        &[("X-CSRF-Token", &"0".repeat(64))],
        body.as_bytes(),
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let queued = call(
        ward,
        "POST",
        "/api/v1/backups",
        &bob,
        &[("X-CSRF-Token", &csrf)],
        body.as_bytes(),
    );
    assert_eq!(queued.status, 202, "{}", queued.body);
    // dba is not security-reviewer.
    let ledger = call(ward, "GET", "/api/v1/ledger", &bob, &[], b"");
    assert_eq!(ledger.status, 403, "{}", ledger.body);

    // A login is used once, and only by the browser that started it.
    let (callback, bind) = at_provider(ward, idp, "bob");
    let elsewhere = call(ward, "GET", &callback, "", &[], b"");
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.body);
    assert!(
        elsewhere.body.contains("not started in this browser"),
        "{}",
        elsewhere.body
    );
    let first = call(
        ward,
        "GET",
        &callback,
        &format!("ward_login={bind}"),
        &[],
        b"",
    );
    assert_eq!(first.status, 303, "{}", first.body);
    let replay = call(
        ward,
        "GET",
        &callback,
        &format!("ward_login={bind}"),
        &[],
        b"",
    );
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(
        replay.body.contains("finished or expired"),
        "{}",
        replay.body
    );

    // Groups that map to no role: no session, and the refusal is in the ledger.
    let mallory = login(ward, idp, "mallory");
    assert_eq!(mallory.status, 403, "{}", mallory.body);
    assert!(
        mallory.body.contains("hold no Ward role"),
        "{}",
        mallory.body
    );
    assert!(!set_cookies(&mallory).contains_key("ward_session"));
    // A person the provider vouches for but not in a Team acts under their email.
    let nina = session_of(&login(ward, idp, "nina"));
    let me = call(ward, "GET", "/api/v1/session", &nina, &[], b"").json();
    assert_eq!(me["subject"], "nina@care.example", "{me}");
    assert_eq!(me["roles"], serde_json::json!(["app-support"]), "{me}");
    // An unknown account: the provider refuses, Ward says so.
    let stranger = login(ward, idp, "stranger");
    assert_eq!(stranger.status, 401, "{}", stranger.body);
    assert!(stranger.body.contains("access_denied"), "{}", stranger.body);

    // Logout ends the session for good.
    let out = call(
        ward,
        "POST",
        "/auth/logout",
        &bob,
        &[("X-CSRF-Token", &csrf)],
        b"",
    );
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(
        set_cookies(&out)
            .get("ward_session")
            .is_some_and(|(v, line)| v.is_empty() && line.contains("Max-Age=0"))
    );
    let after = call(ward, "GET", "/api/v1/session", &bob, &[], b"");
    assert_eq!(after.status, 401, "{}", after.body);
    assert!(after.body.contains("logout"), "{}", after.body);

    // carol (security-reviewer) reads the ledger through her session: every step is there.
    let carol = session_of(&login(ward, idp, "carol"));
    let page = call(ward, "GET", "/api/v1/ledger?limit=1000", &carol, &[], b"");
    assert_eq!(page.status, 200, "{}", page.body);
    let page = page.json();
    let entries = page["entries"].as_array().expect("entries");
    let find = |action: &str, actor: &str, result: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["actor"] == actor && e["result"] == result)
            .count()
    };
    assert_eq!(find("auth.login", "bob", "ok"), 2, "{page}");
    assert_eq!(
        find("auth.login", "mallory@care.example", "denied"),
        1,
        "{page}"
    );
    assert_eq!(find("auth.login", "carol", "ok"), 1, "{page}");
    assert_eq!(find("auth.logout", "bob", "ok"), 1, "{page}");
    assert_eq!(find("run.enqueue", "bob", "ok"), 1, "{page}");
    assert_eq!(
        find("api.denied", "bob", "denied"),
        3,
        "two CSRF refusals and the ledger: {page}"
    );
    let bobs_login = entries
        .iter()
        .find(|e| e["action"] == "auth.login" && e["actor"] == "bob")
        .expect("bob's login");
    assert_eq!(bobs_login["details"]["roles"], "dba", "{bobs_login}");
    assert_eq!(
        bobs_login["details"]["groups"],
        serde_json::json!(["care-dba", "everyone"])
    );
    assert_eq!(bobs_login["details"]["issuer"], issuer.as_str());
    let verified = call(ward, "GET", "/api/v1/ledger/verify", &carol, &[], b"").json();
    assert_eq!(verified["ok"], true, "{verified}");

    // No cookie, CSRF token, client secret or code in the server's log.
    let log = server.log_text();
    for secret in [
        bob.trim_start_matches("ward_session="),
        carol.trim_start_matches("ward_session="),
        csrf.as_str(),
        CLIENT_SECRET,
    ] {
        assert!(!log.contains(secret), "a secret leaked into the log");
    }
    assert!(!log.contains("code="), "{log}");
}

#[test]
fn wrong_login_flags_are_refused_and_an_unreachable_provider_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let estate = support::init_example(tmp.path());
    let serve = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["--estate", estate.to_str().expect("utf8"), "serve"])
            .args(extra)
            .env_remove("WARD_STATE")
            .env_remove("WARD_STORE")
            .env("NO_COLOR", "1")
            .output()
            .expect("ward");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let issuer = "https://login.care.example";
    for (args, says) in [
        (vec!["--oidc-issuer", issuer], "--oidc-client-id"),
        (
            vec!["--oidc-issuer", "ftp://x", "--oidc-client-id", "ward"],
            "--oidc-issuer ftp://x",
        ),
        (
            vec![
                "--listen",
                "0.0.0.0:1",
                "--oidc-issuer",
                issuer,
                "--oidc-client-id",
                "ward",
            ],
            "needs --public-url",
        ),
        (
            vec![
                "--oidc-issuer",
                issuer,
                "--oidc-client-id",
                "ward",
                "--oidc-client-secret-file",
                "/nonexistent/secret",
            ],
            "/nonexistent/secret",
        ),
    ] {
        let (code, err) = serve(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }

    // A provider that does not answer: the login says which, and nothing else breaks.
    let closed = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ward"));
    command
        .args(["--estate", estate.to_str().expect("utf8"), "serve"])
        .args(["--scheduler", "off", "--workers", "0"])
        .args(["--oidc-issuer", &format!("http://127.0.0.1:{closed}")])
        .args(["--oidc-client-id", "ward"])
        .env_remove("WARD_STATE")
        .env_remove("WARD_STORE")
        .env("NO_COLOR", "1");
    let server = Server::start(command, &tmp.path().join("serve.log"));
    server.ready();
    let answer = get(server.port, "/auth/login", None);
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.contains(&format!("127.0.0.1:{closed}")),
        "{}",
        answer.body
    );
    // A cookie that is not a session of this server is refused, not a crash.
    let forged = call(
        server.port,
        "GET",
        "/api/v1/session",
        "ward_session=wards_0123456789abcdef_00",
        &[],
        b"",
    );
    assert_eq!(forged.status, 401, "{}", forged.body);
    assert_eq!(get(server.port, "/healthz", None).status, 200);
}

/// The container args of the rendered `ward-server` Deployment, as written.
fn rendered_server_args(deploy: &Path) -> Vec<String> {
    let file = deploy.join("shared-eu1/ward-system/deployment-ward-server.yaml");
    let text = std::fs::read_to_string(&file).expect("the rendered Deployment");
    let mut args = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed == "- args:" {
            inside = true;
        } else if inside && let Some(arg) = trimmed.strip_prefix("- ") {
            args.push(arg.trim_matches('"').to_string());
        } else if inside {
            break;
        }
    }
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{text}");
    args
}

#[test]
fn the_rendered_server_takes_its_login_flags() {
    let tmp = tempfile::tempdir().expect("tmp");
    let estate = support::init_example(tmp.path());
    let platform = estate.join("platform.yaml");
    let text = std::fs::read_to_string(&platform).expect("platform");
    std::fs::write(
        &platform,
        text.replacen(
            "spec:\n  clusters:",
            "spec:\n  controlPlane:\n    url: https://ward.care.example\n    oidc: { issuer: 'https://login.care.example/realms/ward', clientId: ward, groupsPrefix: 'idp:', clientSecretRef: { store: hospital-vault, key: platform/ward/oidc, property: client_secret } }\n  clusters:",
            1,
        ),
    )
    .expect("write");
    support::commit_as(&estate, "alice", "log people in");
    let deploy = tmp.path().join("deploy");
    let (code, out, err) = support::ward(
        &estate,
        "erin",
        &["render", "--out", deploy.to_str().expect("utf8")],
    );
    assert_eq!(code, 0, "{out}{err}");
    let rendered = rendered_server_args(&deploy);
    for flag in [
        "--public-url=https://ward.care.example",
        "--oidc-issuer=https://login.care.example/realms/ward",
        "--oidc-client-id=ward",
        "--oidc-groups-prefix=idp:",
    ] {
        assert!(rendered.iter().any(|a| a == flag), "{flag}: {rendered:?}");
    }

    // Run them: only what belongs to the pod is swapped for this machine's (the mounted
    // files, the listeners, the repository); the login's flags are passed as rendered.
    let store_file = tmp.path().join("store-uri");
    std::fs::write(
        &store_file,
        format!("sqlite:{}", tmp.path().join("ward.db").display()),
    )
    .expect("store uri");
    let secret_file = tmp.path().join("client-secret");
    std::fs::write(&secret_file, CLIENT_SECRET).expect("secret");
    let mut args: Vec<String> = Vec::new();
    for arg in &rendered {
        let (flag, _) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
        match flag {
            "--listen" | "--store-ca-file" | "--estate-revision" => {}
            "--metrics-listen" => args.push(format!("--metrics-listen=127.0.0.1:{}", free_port())),
            "--store-url-file" => args.push(format!("--store-url-file={}", store_file.display())),
            "--estate-repository" => args.push(format!("--estate-repository={}", estate.display())),
            "--oidc-client-secret-file" => args.push(format!(
                "--oidc-client-secret-file={}",
                secret_file.display()
            )),
            _ => args.push(arg.clone()),
        }
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_ward"));
    command
        .args(["--estate", estate.to_str().expect("utf8")])
        .args(&args)
        .arg(format!("--state={}", tmp.path().join("state").display()))
        .env_remove("WARD_STATE")
        .env_remove("WARD_STORE")
        .env("NO_COLOR", "1");
    let server = Server::start(command, &tmp.path().join("serve.log"));
    server.ready();
    // The login is on, for the rendered issuer (which this machine cannot reach).
    let answer = get(server.port, "/auth/login", None);
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.contains("login.care.example"),
        "{}",
        answer.body
    );
    assert!(
        !server.log_text().contains(CLIENT_SECRET),
        "the client secret leaked into the log"
    );
}
