//! `ward vault rewrap` on the example estate: a DBA's key is replaced in the estate, the
//! rewrap re-encrypts the keys, the old identity restores nothing, the new one restores
//! the snapshot, and the ledger records it.

mod vault_support;

use vault_support::{World, json};
use ward_vault::fixture::OdooFixture;

#[test]
fn a_dba_key_replaced_in_the_estate_is_rewrapped_and_the_old_one_refused() {
    let w = World::new(OdooFixture {
        attachments: 4,
        ..OdooFixture::default()
    });
    w.endpoint_here(None);
    let id = w.backed_up();

    // Bob's key is lost: the estate names a new one for him.
    let old_identity = w.state().join("keys/bob.age");
    let old = ward_vault::Identities::from_file(&old_identity).expect("bob's identity");
    let old_recipient = old.recipients()[0].clone();
    let new_identity = w.tmp.path().join("bob-2026.age");
    let new_recipient = ward_vault::generate_identity_file(&new_identity).expect("new identity");
    w.edit(
        "teams/platform.yaml",
        &format!("age: {old_recipient}"),
        &format!("age: {new_recipient}"),
    );

    // A dry run says what would change and writes nothing.
    let data_keys = w.vault().join("tenants/st-marys/data-keys");
    let before = std::fs::read_dir(&data_keys).expect("data keys").count();
    assert_eq!(before, 1);
    let (code, out, err) = w.ward(&["vault", "rewrap", "st-marys", "--dry-run", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(report[0]["store"], "vault", "{out}");
    assert_eq!(report[0]["dryRun"], true);
    assert_eq!(report[0]["dataKeysRewrapped"], 1);
    let recipients = report[0]["tenantKeyRecipients"]
        .as_array()
        .expect("recipients");
    assert!(recipients.iter().any(|r| r == new_recipient.as_str()));
    assert!(!recipients.iter().any(|r| r == old_recipient.as_str()));

    // The rewrap itself, opened with the old identity (bob still has it).
    let old_path = old_identity.to_str().expect("utf8");
    let (code, out, err) = w.ward(&["vault", "rewrap", "st-marys", "--identity", old_path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("re-encrypted tenant key"), "{out}");
    assert!(out.contains("and 1 data key(s)"), "{out}");

    // The old identity restores nothing now; the new one restores the snapshot.
    let data = w.tmp.path().join("restored-old");
    let (code, out, err) = w.restore(&id, "with_old_key", &data, &["--identity", old_path]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("cannot decrypt"), "{err}");
    assert!(!w.has_database("with_old_key"));
    let data = w.tmp.path().join("restored-new");
    let new_path = new_identity.to_str().expect("utf8");
    let (code, out, err) = w.restore(&id, "with_new_key", &data, &["--identity", new_path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(w.has_database("with_new_key"));

    // The rewrap is in the ledger, with what it did.
    let (code, out, err) = w.ward(&["audit", "log", "--action", "vault.rewrap", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let entries = json(&out);
    let entries = entries.as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{out}");
    assert!(out.contains("\"dataKeysRewrapped\":1") || out.contains("\"dataKeysRewrapped\": 1"));

    // A tenant the estate does not have is refused, naming those it has.
    let (code, _, err) = w.ward(&["vault", "rewrap", "st-mary"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no tenant `st-mary`") && err.contains("st-marys"),
        "{err}"
    );
}

#[test]
fn sign_existing_leaves_signed_snapshots_alone_and_records_what_it_checked() {
    let w = World::new(OdooFixture {
        attachments: 2,
        ..OdooFixture::default()
    });
    w.endpoint_here(None);
    let id = w.backed_up();
    let (code, out, err) = w.ward(&["backup", "sign-existing", "billing/prod", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report = json(&out);
    assert_eq!(report["alreadySigned"], 1, "{report}");
    assert_eq!(report["signed"], serde_json::json!([]), "{report}");
    assert_eq!(report["refused"], serde_json::json!([]), "{report}");
    // The snapshot still verifies, and the run is in the ledger with camelCase details.
    let (code, out, err) = w.ward(&["backup", "verify", &id]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = w.ward(&[
        "audit",
        "log",
        "--action",
        "backup.sign-existing",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let entries = json(&out);
    let entry = &entries.as_array().expect("entries")[0];
    assert_eq!(entry["result"], "ok", "{entry}");
    assert_eq!(entry["details"]["dryRun"], false, "{entry}");
    assert_eq!(entry["details"]["signed"], serde_json::json!([]), "{entry}");
    // An environment the estate does not have is refused before anything is read.
    let (code, _, err) = w.ward(&["backup", "sign-existing", "billing/nope"]);
    assert_eq!(code, 2, "{err}");
}
