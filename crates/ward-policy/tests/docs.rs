//! `docs/controls.md` is generated from the catalogue; this test fails when they differ.
//! `UPDATE_DOCS=1 cargo test -p ward-policy --test docs` rewrites the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use ward_policy::{Catalogue, docs::controls_markdown};

#[test]
fn docs_controls_md_matches_the_catalogue() {
    let catalogue = Catalogue::builtin().expect("catalogue");
    let generated = controls_markdown(&catalogue);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/controls.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/controls.md");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/controls.md is out of date with the control catalogue; run `UPDATE_DOCS=1 cargo test -p ward-policy --test docs`"
    );
}

#[test]
fn catalogue_is_well_formed() {
    let catalogue = Catalogue::builtin().expect("catalogue");
    let mut ids = std::collections::BTreeSet::new();
    for c in &catalogue.controls {
        assert!(ids.insert(c.id.clone()), "duplicate {}", c.id);
        let shape = c.id.len() == 11
            && c.id.starts_with("WARD-")
            && c.id[5..7].chars().all(|ch| ch.is_ascii_uppercase())
            && &c.id[7..8] == "-"
            && c.id[8..].chars().all(|ch| ch.is_ascii_digit());
        assert!(shape, "{} is not shaped like WARD-DP-004", c.id);
        assert!(c.module.contains(&c.id), "{} lives in {}", c.id, c.module);
        assert!(
            c.package.ends_with(&c.id.replace('-', "_")),
            "{} has package {}",
            c.id,
            c.package
        );
        for text in [&c.title, &c.rationale, &c.remediation] {
            assert!(!text.trim().is_empty(), "{} has an empty field", c.id);
        }
        if let Some(h) = &c.hipaa {
            assert!(
                h.starts_with("45 CFR 164.308")
                    || h.starts_with("45 CFR 164.310")
                    || h.starts_with("45 CFR 164.312"),
                "{}: {h}",
                c.id
            );
        }
        let text = ward_policy::catalogue::BUILTIN_CONTROLS
            .iter()
            .find(|m| m.path == c.module)
            .map(|m| m.text)
            .unwrap_or_default();
        assert!(
            text.starts_with(&format!("# {}:", c.id)),
            "{} does not open with its doc comment",
            c.module
        );
    }
    for domain in ward_policy::Domain::ALL {
        assert!(
            catalogue
                .controls
                .iter()
                .filter(|c| c.domain == domain)
                .count()
                >= 5,
            "{domain:?} has fewer than 5 controls"
        );
    }
    assert!(catalogue.controls.len() >= 40);
}

#[test]
fn every_module_in_the_folder_is_embedded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = Vec::new();
    for domain in std::fs::read_dir(root.join("controls")).expect("controls/") {
        let domain = domain.expect("entry").path();
        if domain.is_dir() {
            for f in std::fs::read_dir(&domain).expect("domain folder") {
                let p = f.expect("entry").path();
                on_disk.push(
                    p.strip_prefix(root)
                        .expect("inside")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    on_disk.sort();
    let mut embedded: Vec<String> = ward_policy::catalogue::BUILTIN_CONTROLS
        .iter()
        .map(|m| m.path.to_string())
        .collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
}
