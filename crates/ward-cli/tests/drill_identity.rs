//! One drill identity per stack, through the real binary: a backup is encrypted to the
//! drill recipient of its own stack (`rendering.drillRecipients`) and to no other stack's,
//! so a stack's drill identity reads that stack's backups and nothing else.

mod vault_support;

use vault_support::World;
use ward_vault::fixture::OdooFixture;

const BILLING_PROD: &str = "dedicated-eu1/billing-prod";
const PORTAL: &str = "shared-eu1/odoo-shared-production-v17";

/// The example's recipient line for `stack`, as `ward init` leaves it.
fn recipient_line(platform: &str, stack: &str) -> String {
    platform
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{stack}: age1")))
        .unwrap_or_else(|| panic!("the example names no drill recipient for {stack}"))
        .to_string()
}

#[test]
fn a_stacks_drill_identity_reads_its_own_stacks_backups_only() {
    let w = World::new(OdooFixture {
        attachments: 5,
        ..OdooFixture::default()
    });
    // Identities for two stacks' drills; their recipients replace the example's.
    let keys = w.tmp.path().join("drill-keys");
    let billing_id = keys.join("billing-prod.age");
    let portal_id = keys.join("portal.age");
    let billing = ward_vault::generate_identity_file(&billing_id).expect("identity");
    let portal = ward_vault::generate_identity_file(&portal_id).expect("identity");
    let platform = std::fs::read_to_string(w.estate.join("platform.yaml")).expect("platform");
    for (stack, recipient) in [(BILLING_PROD, &billing), (PORTAL, &portal)] {
        let line = recipient_line(&platform, stack);
        let indent = &line[..line.len() - line.trim_start().len()];
        w.edit(
            "platform.yaml",
            &line,
            &format!("{indent}{stack}: {recipient}"),
        );
    }

    let id = w.backed_up();
    // billing/prod's drill identity decrypts every byte of billing/prod's snapshot...
    let own = w.ward(&[
        "backup",
        "verify",
        &id,
        "--read-data",
        "--identity",
        billing_id.to_str().expect("utf8"),
    ]);
    assert_eq!(own.0, 0, "billing's drill identity: {}{}", own.1, own.2);
    // ...and another stack's drill identity reads none of it.
    let other = w.ward(&[
        "backup",
        "verify",
        &id,
        "--read-data",
        "--identity",
        portal_id.to_str().expect("utf8"),
    ]);
    assert_ne!(
        other.0, 0,
        "the portal stack's drill identity read billing's backup"
    );
}
