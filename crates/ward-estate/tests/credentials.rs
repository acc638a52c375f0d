//! Literal credentials are refused by kind, and never shown: a table of credentials of each
//! kind the detector knows, a table of legitimate values it must leave alone, and the
//! masking of the value in every place a report could show it.

mod support;
use support::*;

/// A Team document whose `metadata.labels` holds one `key: value` line (line 6).
fn labelled(key: &str, value: &str) -> String {
    format!(
        "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: case\n  labels:\n    {key}: {value}\nspec: {{people: []}}\n"
    )
}

/// Where a case is written: as a label, or by replacing a line of the example estate.
enum At {
    Label(&'static str),
    Edit(&'static str, &'static str),
}

struct Case {
    kind: &'static str,
    at: At,
    /// The YAML value as written, and the secret part that must never be shown.
    value: &'static str,
    secret: &'static str,
    /// What the message must say.
    says: &'static str,
}

const fn label(
    kind: &'static str,
    key: &'static str,
    value: &'static str,
    secret: &'static str,
    says: &'static str,
) -> Case {
    Case {
        kind,
        at: At::Label(key),
        value,
        secret,
        says,
    }
}

const BILLING: &str = "workloads/billing.yaml";
const PLATFORM: &str = "platform.yaml";
const CLEARINGHOUSE: &str =
    "credentialRef: { store: hospital-vault, key: integrations/clearinghouse }";

fn cases() -> Vec<Case> {
    vec![
        // Secret-like key names, in every spelling.
        label(
            "key",
            "smtp_pass",
            "Tr0ub4dor&3",
            "Tr0ub4dor&3",
            "is a literal credential",
        ),
        label(
            "key",
            "passphrase",
            "correct horse battery staple",
            "correct horse battery staple",
            "is a literal credential",
        ),
        label(
            "key",
            "masterKey",
            "mk-2026-omega",
            "mk-2026-omega",
            "is a literal credential",
        ),
        label(
            "key",
            "PGPASSWORD",
            "hunter2hunter2",
            "hunter2hunter2",
            "is a literal credential",
        ),
        label(
            "key",
            "x-api-key",
            "k3y-v4lue-0001",
            "k3y-v4lue-0001",
            "is a literal credential",
        ),
        label(
            "key",
            "secret_access_key",
            "abc123secretvalue",
            "abc123secretvalue",
            "is a literal credential",
        ),
        label(
            "key",
            "signingKey",
            "signing-material-01",
            "signing-material-01",
            "is a literal credential",
        ),
        label(
            "key",
            "refreshToken",
            "rt-0a1b2c3d4e",
            "rt-0a1b2c3d4e",
            "is a literal credential",
        ),
        label(
            "key",
            "clientsecret",
            "cs-998877",
            "cs-998877",
            "is a literal credential",
        ),
        label(
            "key",
            "db-password",
            "'12345678'",
            "12345678",
            "is a literal credential",
        ),
        label(
            "key",
            "connectionString",
            "Server=db;Pwd=p4ss",
            "Pwd=p4ss",
            "is a literal credential",
        ),
        // A setting of a secret inside a value.
        label(
            "setting",
            "dsn",
            "\"Server=db;Database=odoo;Password=p4ssw0rd\"",
            "p4ssw0rd",
            "setting of a secret",
        ),
        label(
            "setting",
            "options",
            "\"workers=4 admin_passwd=Sup3r\"",
            "Sup3r",
            "setting of a secret",
        ),
        // HTTP authorization values.
        label(
            "bearer",
            "authorization",
            "\"Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig0123\"",
            "eyJhbGciOiJIUzI1NiJ9",
            "is a literal credential",
        ),
        label(
            "bearer",
            "header",
            "\"Authorization: Bearer 0a1b2c3d4e5f6a7b8c9d\"",
            "0a1b2c3d4e5f6a7b8c9d",
            "HTTP authorization value",
        ),
        label(
            "basic",
            "header",
            "\"Basic dXNlcjpwYXNzd29yZA==\"",
            "dXNlcjpwYXNzd29yZA==",
            "HTTP authorization value",
        ),
        label(
            "token",
            "header",
            "\"Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b\"",
            "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
            "HTTP authorization value",
        ),
        // Credential query parameters.
        label(
            "query",
            "hook",
            "https://api.example.com/v1/send?api_key=abc123def456",
            "abc123def456",
            "credential in its query",
        ),
        label(
            "query",
            "hook",
            "https://api.example.com/v1?x=1&access_token=tok987654",
            "tok987654",
            "credential in its query",
        ),
        label(
            "query",
            "hook",
            "https://storage.example.net/b/x?sv=2024&sig=Zm9vYmFy%3D",
            "Zm9vYmFy",
            "credential in its query",
        ),
        label(
            "query",
            "hook",
            "https://s3.example.com/o?X-Amz-Signature=deadbeef01",
            "deadbeef01",
            "credential in its query",
        ),
        label(
            "query",
            "hook",
            "https://maps.example.com/api?key=mapkey0001",
            "mapkey0001",
            "credential in its query",
        ),
        // User-info in URLs.
        label(
            "userinfo",
            "dsn",
            "postgres://odoo:hunter2@db.internal:5432/odoo",
            "hunter2",
            "password in it",
        ),
        label(
            "userinfo",
            "cache",
            "redis://:r3dispass@redis:6379/0",
            "r3dispass",
            "password in it",
        ),
        label(
            "userinfo",
            "repo",
            "https://ghp_0123456789abcdefghijklmnopqrstuvwxyz@github.com/x/y",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "token",
        ),
        Case {
            kind: "userinfo",
            at: At::Edit(
                "      database:\n        passwordRef:",
                "      database:\n        user: 'odoo:pw'\n        passwordRef:",
            ),
            value: "",
            secret: "odoo:pw",
            says: "a user name with a password",
        },
        // Well-known token formats, anywhere in a value.
        label(
            "format",
            "note",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "GitHub token",
        ),
        label(
            "format",
            "note",
            "\"see glpat-0123456789abcdefghij for CI\"",
            "glpat-0123456789abcdefghij",
            "GitLab token",
        ),
        label(
            "format",
            "note",
            "xoxb-1234567890-abcdefghij",
            "xoxb-1234567890-abcdefghij",
            "Slack token",
        ),
        label(
            "format",
            "note",
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXXXXXXXXXXXXXX",
            "webhook",
        ),
        label(
            "format",
            "note",
            "https://discord.com/api/webhooks/123456789/abcdefghijkl",
            "abcdefghijkl",
            "webhook",
        ),
        label(
            "format",
            "note",
            "sk_live_0123456789abcdef",
            "sk_live_0123456789abcdef",
            "Stripe key",
        ),
        label(
            "format",
            "note",
            "AKIAIOSFODNN7EXAMPLE",
            "AKIAIOSFODNN7EXAMPLE",
            "AWS access key id",
        ),
        label(
            "format",
            "note",
            "AIzaSyA0123456789abcdefghijklmnopqrstuv",
            "AIzaSyA0123456789abcdefghijklmnopqrstuv",
            "Google API key",
        ),
        label(
            "format",
            "note",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "dozjgNryP4J3jVmNHl0w5N",
            "JSON Web Token",
        ),
        label(
            "format",
            "note",
            "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS0",
            "QYQSZQGPQYQSZQGP",
            "age secret key",
        ),
        label(
            "format",
            "note",
            "|\n      -----BEGIN OPENSSH PRIVATE KEY-----\n      b3BlbnNzaC1rZXktdjEAAAAA\n      -----END OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAA",
            "PEM private key",
        ),
        // Random-looking values where a reference's name or path belongs.
        Case {
            kind: "reference",
            at: At::Edit(
                CLEARINGHOUSE,
                "credentialRef: { store: hospital-vault, key: q8Zr2LmX9vTb4NcW7yKd }",
            ),
            value: "",
            secret: "q8Zr2LmX9vTb4NcW7yKd",
            says: "random-looking",
        },
        Case {
            kind: "reference",
            at: At::Edit(
                CLEARINGHOUSE,
                "credentialRef: { store: hospital-vault, key: integrations/5f4dcc3b5aa765d61d8327deb882cf99ab12cd34 }",
            ),
            value: "",
            secret: "5f4dcc3b5aa765d61d8327deb882cf99ab12cd34",
            says: "random-looking",
        },
        Case {
            kind: "reference",
            at: At::Edit(
                CLEARINGHOUSE,
                "credentialRef: { store: hospital-vault, key: integrations/x, property: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY }",
            ),
            value: "",
            secret: "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
            says: "random-looking",
        },
        // The case that reached 15 rendered files.
        Case {
            kind: "query",
            at: At::Edit(
                "estateRepository: https://git.care.example/platform/estate.git",
                "estateRepository: https://git.care.example/platform/estate.git?private_token=glsecret0123",
            ),
            value: "",
            secret: "glsecret0123",
            says: "credential in its query",
        },
    ]
}

#[test]
fn literal_credentials_of_every_kind_are_refused_without_being_shown() {
    for case in cases() {
        let dir = example();
        let file = match &case.at {
            At::Label(key) => {
                write(dir.path(), "teams/case.yaml", labelled(key, case.value));
                "teams/case.yaml"
            }
            At::Edit(from, to) => {
                let file = if from.starts_with("estateRepository") {
                    PLATFORM
                } else {
                    BILLING
                };
                edit(dir.path(), file, from, to);
                file
            }
        };
        let p = problems(dir.path());
        let found = p.iter().find(|x| {
            x.location.starts_with(&format!("{file}:"))
                && x.message.contains("literal credential")
                && x.message.contains(case.says)
        });
        assert!(
            found.is_some(),
            "{} case not refused ({}): {p:#?}",
            case.kind,
            case.secret
        );
        for x in &p {
            for text in [&x.message, &x.hint, &x.line_text] {
                assert!(
                    !text.contains(case.secret),
                    "{} case shows its secret: {x:#?}",
                    case.kind
                );
            }
        }
    }
}

fn ssh_public_key(kind: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k");
    let mut args = vec![
        "-q",
        "-t",
        kind,
        "-N",
        "",
        "-C",
        "someone@care.example",
        "-f",
    ];
    let path = key.to_str().expect("utf-8");
    args.push(path);
    if kind == "rsa" {
        args.extend(["-b", "3072"]);
    }
    let status = std::process::Command::new("ssh-keygen")
        .args(&args)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    std::fs::read_to_string(key.with_extension("pub"))
        .expect("public key")
        .trim()
        .to_string()
}

#[test]
fn legitimate_values_are_not_taken_for_credentials() {
    let dir = example();
    let mut people = String::new();
    for (i, kind) in ["ed25519", "rsa", "ecdsa"].iter().enumerate() {
        people.push_str(&format!(
            "    - name: person{i}\n      roles: [dba]\n      keys:\n        ssh: {}\n        age: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
            ssh_public_key(kind)
        ));
    }
    let labels = [
        (
            "image",
            "registry.care.example/odoo/billing@sha256:9b2f1c0d6e4a8b7c3d5e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c",
        ),
        (
            "recipient",
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        ),
        (
            "sk-key",
            "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIGXq",
        ),
        ("automountServiceAccountToken", "false"),
        ("requirePassword", "true"),
        ("passwordRequired", "\"no\""),
        ("tokenTtl", "3600"),
        ("passwordMinLength", "12"),
        ("maxTokens", "100"),
        ("ratio", "0.75"),
        ("host", "billing.st-marys.care.example"),
        ("url", "https://claims.example.net/api?version=2&page=3#top"),
        ("repo", "https://git@git.care.example/platform/estate.git"),
        (
            "description",
            "\"Uses Bearer tokens; Basic authentication is disabled\"",
        ),
        ("commit", "c5cbf0df780e3a1b"),
        ("secretName", "odoo-tls"),
        ("secretStore", "hospital-vault"),
        ("passwordRef", "odoo/billing/prod"),
        ("key", "integrations/clearinghouse"),
        ("bypass", "enabled"),
    ];
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("    {k}: {v}\n"))
        .collect();
    write(
        dir.path(),
        "teams/legit.yaml",
        format!(
            "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: legit\n  labels:\n{labels}spec:\n  people:\n{people}"
        ),
    );
    // References whose paths are names, ids and versions, not secrets.
    edit(
        dir.path(),
        BILLING,
        CLEARINGHOUSE,
        "credentialRef: { store: hospital-vault, key: bw/3f2a9c1e-8b7d-4c6a-9e5f-1a2b3c4d5e6f, property: StMarysBillingProduction2026 }",
    );
    let estate = load_ok(dir.path());
    assert!(estate.teams.iter().any(|t| t.name() == "legit"));
}

#[test]
fn the_snippet_masks_the_secret_and_the_caret_stays_on_it() {
    let dir = example();
    let line = line_of(dir.path(), BILLING, &format!("      {CLEARINGHOUSE}"));
    edit(
        dir.path(),
        BILLING,
        CLEARINGHOUSE,
        "password: \"Tr0ub4dor&3\"",
    );
    let p = problems(dir.path());
    let e = find(
        &p,
        "`spec.integrations[0].password` is a literal credential",
    );
    assert_eq!(e.location, format!("{BILLING}:{line}:17"));
    assert_eq!(e.line_text, "      password: *************");
    assert!(p.iter().all(|x| !x.line_text.contains("Tr0ub4dor")));
}

#[test]
fn other_problems_about_a_secret_value_do_not_echo_it() {
    // A token where a name, a hostname or a store belongs would be quoted by the message
    // saying the name is invalid; only the credential is reported there.
    let dir = example();
    let token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
    edit(
        dir.path(),
        BILLING,
        "  name: billing",
        &format!("  name: {token}"),
    );
    edit(
        dir.path(),
        BILLING,
        "hosts: [billing.st-marys.care.example]",
        "hosts: [\"https://u:Sup3rS3cret@billing.example\"]",
    );
    edit(
        dir.path(),
        BILLING,
        CLEARINGHOUSE,
        "credentialRef: { store: xoxb-1234567890-abcdefghij, key: integrations/clearinghouse }",
    );
    // A credential as a key is echoed by every path under it and by "unknown field".
    edit(
        dir.path(),
        BILLING,
        "      replicas: 3",
        "      replicas: 3\n      AKIAIOSFODNN7EXAMPLE: { note: x }",
    );
    let p = problems(dir.path());
    assert_eq!(
        p.iter()
            .filter(|x| x.message.contains("literal credential"))
            .count(),
        4,
        "{p:#?}"
    );
    for x in &p {
        for secret in [token, "Sup3rS3cret", "xoxb-1234567890", "AKIAIOSFODNN7"] {
            assert!(
                !x.message.contains(secret)
                    && !x.hint.contains(secret)
                    && !x.line_text.contains(secret),
                "{x:#?}"
            );
        }
    }
}
