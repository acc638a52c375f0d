//! Snapshot ids typed by a person: a prefix that matches two snapshots in a folder store is
//! refused as bad input (exit 2), naming both candidates newest first with the hint to
//! type more of the id; a longer prefix then finds the one meant.

mod vault_support;

use vault_support::World;
use ward_vault::fixture::OdooFixture;

/// A failure as one line: the text report wraps long lines and marks continuations `│`.
fn said(out: &str, err: &str) -> String {
    format!("{out}\n{err}")
        .lines()
        .map(|l| l.trim().trim_start_matches('│').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn an_ambiguous_prefix_lists_its_candidates_newest_first() {
    let w = World::new(OdooFixture {
        attachments: 2,
        ..OdooFixture::default()
    });
    let older = w.backed_up();
    let newer = w.backed_up();
    assert_ne!(older, newer);
    // Ids are `YYYYMMDDTHHMMSSZ-<hex>`: two made a moment apart share their date at least.
    let shared = older
        .chars()
        .zip(newer.chars())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(shared >= 8, "{older} {newer}");
    let prefix = &older[..shared];

    let (code, out, err) = w.ward(&["backup", "verify", prefix]);
    let said = said(&out, &err);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("is ambiguous: it matches 2 snapshots"),
        "{said}"
    );
    let (at_newer, at_older) = (said.find(&newer), said.find(&older));
    assert!(
        at_newer.is_some() && at_older.is_some() && at_newer < at_older,
        "both candidates, newest first: {said}"
    );
    assert!(
        said.contains("billing/prod/") && said.contains("pass more characters of the id"),
        "{said}"
    );

    // JSON carries the same message for scripts.
    let (code, out, _) = w.ward(&["backup", "verify", prefix, "-o", "json"]);
    assert_eq!(code, 2);
    let v = vault_support::json(&out);
    assert_eq!(v["error"], "bad-input", "{v}");
    assert!(
        v["message"].as_str().expect("test setup").contains(&newer),
        "{v}"
    );

    // One more character past the shared prefix picks one.
    let (code, out, err) = w.ward(&["backup", "verify", &newer[..shared + 1]]);
    assert_eq!(code, 0, "{out}{err}");
}
