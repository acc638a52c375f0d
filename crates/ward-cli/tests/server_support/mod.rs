//! What the `ward serve` tests share: a real `ward serve` process on a free port, API
//! tokens made with `ward token create`, and a small HTTP/1.1 client over a TCP socket.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound, then released for the server to take).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request, `Connection: close`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let typed = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers: head.to_string(),
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

pub fn get(port: u16, path: &str, token: Option<&str>) -> Answer {
    request(port, "GET", path, token, &[], b"")
}

pub fn post(port: u16, path: &str, token: Option<&str>, body: &serde_json::Value) -> Answer {
    request(port, "POST", path, token, &[], body.to_string().as_bytes())
}

/// A running `ward serve`, killed (SIGKILL) if the test did not stop it.
pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts `command` (a `ward … serve` command without `--listen`) on a free port and
    /// waits until `/healthz` answers.
    pub fn start(mut command: Command, log: &Path) -> Server {
        let port = free_port();
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("WARD_LOG", "info")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn ward serve");
        let server = Server {
            child: Some(child),
            port,
            log: log.to_path_buf(),
        };
        server.wait_for(Duration::from_secs(60), "healthz", |s| {
            std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok()
                && get(s.port, "/healthz", None).status == 200
        });
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `done` every 200 ms until it holds; panics with the server's log after `limit`.
    pub fn wait_for(&self, limit: Duration, what: &str, mut done: impl FnMut(&Server) -> bool) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "timed out waiting for {what}; server log:\n{}",
            self.log_text()
        );
    }

    pub fn ready(&self) {
        self.wait_for(Duration::from_secs(90), "readyz", |s| {
            get(s.port, "/readyz", None).status == 200
        });
    }

    /// SIGTERM, then the exit code (within `limit`).
    pub fn terminate(&mut self, limit: Duration) -> i32 {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                panic!(
                    "ward serve did not stop within {limit:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, as a crashed node.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `ward token create` for `subject` with `role` (in the estate's Team) into the store
/// the flags name; returns the token.
pub fn token(ward: impl Fn(&[&str]) -> (i32, String, String), subject: &str, role: &str) -> String {
    let (code, out, err) = ward(&[
        "token",
        "create",
        "--subject",
        subject,
        "--role",
        role,
        "--expires",
        "1d",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "token create: {out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("token JSON");
    assert!(
        !err.contains(doc["token"].as_str().expect("token")),
        "the token is printed on stdout only"
    );
    doc["token"].as_str().expect("token").to_string()
}

/// The four roles and the example estate's person holding each.
pub const PEOPLE: [(&str, &str); 4] = [
    ("platform-ops", "alice"),
    ("dba", "bob"),
    ("security-reviewer", "carol"),
    ("app-support", "dave"),
];
