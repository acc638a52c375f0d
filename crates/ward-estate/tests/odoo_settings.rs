//! The estate's Odoo-side settings: `rendering.mail`, `odoo.modules` and `redis` are read
//! as documented, and bad values are refused at the line that holds them.

mod support;
use support::*;

#[test]
fn the_example_names_a_relay_with_a_referenced_login_and_an_imap_server() {
    let dir = example();
    let estate = load_ok(dir.path());
    let mail = &estate
        .platform
        .as_ref()
        .expect("platform")
        .spec
        .rendering
        .mail;
    let relay = mail.outgoing.as_ref().expect("relay");
    assert_eq!(relay.server.host.value, "smtp.care.example");
    assert_eq!(relay.server.port.value, 587);
    assert_eq!(
        relay.user.as_ref().map(|u| u.value.as_str()),
        Some("odoo@care.example")
    );
    assert_eq!(
        relay.password_ref.as_ref().map(|r| r.key.value.as_str()),
        Some("platform/mail/relay")
    );
    let imap = mail.incoming.as_ref().expect("imap");
    assert_eq!(
        (imap.host.value.as_str(), imap.port.value),
        ("imap.care.example", 993)
    );
}

#[test]
fn bad_mail_settings_are_refused_with_what_to_do() {
    let dir = example();
    edit(
        dir.path(),
        "platform.yaml",
        "        port: 587",
        "        port: 465",
    );
    edit(
        dir.path(),
        "platform.yaml",
        "        user: odoo@care.example\n",
        "",
    );
    edit(
        dir.path(),
        "platform.yaml",
        "store: hospital-vault, key: platform/mail/relay",
        "store: hospital-vaul, key: platform/mail/relay",
    );
    edit(
        dir.path(),
        "platform.yaml",
        "        host: imap.care.example",
        "        host: imap.care.example:993\n        cidr: 10.0.0.0/33",
    );
    let p = problems(dir.path());
    let tls = find(
        &p,
        "`spec.rendering.mail.outgoing.port`: Odoo's configuration speaks STARTTLS",
    );
    assert!(tls.hint.contains("587"), "{tls:?}");
    let line = line_of(dir.path(), "platform.yaml", "        port: 465");
    assert!(
        tls.location.starts_with(&format!("platform.yaml:{line}:")),
        "{tls:?}"
    );
    find(
        &p,
        "`spec.rendering.mail.outgoing.user` and `spec.rendering.mail.outgoing.passwordRef` go together",
    );
    find(&p, "unknown secret store `hospital-vaul`");
    find(
        &p,
        "`spec.rendering.mail.incoming.host` must be a host name or address",
    );
    find(
        &p,
        "`spec.rendering.mail.incoming.cidr` is not an IPv4 CIDR",
    );
}

#[test]
fn modules_are_module_names_and_redis_queues_is_refused() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "modules: [account, sale,",
        "modules: [account, \"sale,stock\",",
    );
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "    sessions: true\n",
        "    sessions: true\n    queues: true\n",
    );
    let p = problems(dir.path());
    let m = find(&p, "`spec.odoo.modules` is not an Odoo module name");
    assert!(m.hint.contains("technical name"), "{m:?}");
    let q = find(&p, "`spec.redis.queues` is not read by anything");
    assert!(q.hint.contains("PostgreSQL"), "{q:?}");
}
