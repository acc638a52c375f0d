//! Garbage collection reclaims what killed backups leave: `ward backup run` is SIGKILLed
//! while its dump's chunks stream into the local folder store, against a real PostgreSQL,
//! and `ward backup prune --grace 0s` then removes every chunk no snapshot references and
//! every staging file (`<object>#<n>`).

mod vault_support;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vault_support::{World, files_under, json};
use ward_vault::fixture::OdooFixture;

fn is_staging(f: &str) -> bool {
    f.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Every object and staging file under the tenants' `blobs/` and `packs/` folders (dump
/// chunks and filestore blobs, packs and their indexes), with their sizes.
fn shared_files(w: &World) -> Vec<(String, u64)> {
    let vault = w.vault();
    files_under(&vault)
        .into_iter()
        .filter(|f| f.contains("/blobs/") || f.contains("/packs/"))
        .map(|f| {
            let size = std::fs::metadata(vault.join(&f)).map_or(0, |m| m.len());
            (f, size)
        })
        .collect()
}

/// A stored dump chunk of this test's incompressible table: at least the 64 KiB minimum
/// (the attachments are kept smaller).
const CHUNK_FLOOR: u64 = 64 * 1024;

/// Starts `ward backup run` and SIGKILLs it once it has stored at least `chunks` new
/// objects of a dump chunk's size or more (packs of chunks). Returns false if the backup
/// finished first.
fn kill_mid_dump(w: &World, chunks: usize) -> bool {
    let url = w.cluster.url_for("odoo");
    let before: BTreeSet<String> = shared_files(w).into_iter().map(|(f, _)| f).collect();
    let mut child = w
        .command(&w.backup_args(&url))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ward");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let new = shared_files(w)
            .iter()
            .filter(|(f, size)| !is_staging(f) && !before.contains(f) && *size >= CHUNK_FLOOR)
            .count();
        if new >= chunks {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            return true;
        }
        if child.try_wait().expect("try_wait").is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn prune_reclaims_what_killed_backups_leave() {
    let w = World::new(OdooFixture {
        attachments: 10,
        max_blob_bytes: 16 * 1024,
        ..OdooFixture::default()
    });
    // 48 MB that zstd cannot shrink: about 190 chunks, so the dump streams for a while.
    w.psql(
        "odoo",
        "CREATE TABLE bulk AS SELECT g AS id, \
         decode(string_agg(md5(g::text || '-' || h::text), ''), 'hex') AS payload \
         FROM generate_series(1, 48) g, generate_series(1, 65536) h GROUP BY g",
    );
    let mut kills = 0;
    for _ in 0..6 {
        // A killed backup's chunks are reused by none: each run stores them again.
        if kill_mid_dump(&w, 2) {
            kills += 1;
        }
        if kills == 2 {
            break;
        }
    }
    assert_eq!(kills, 2, "the backup was never caught storing its dump");
    // No snapshot was committed, so everything in blobs/ and packs/ is a killed backup's
    // leftovers.
    let (code, out, err) = w.ward(&["backup", "list", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(json(&out).as_array().map(Vec::len), Some(0), "{out}");
    let left = shared_files(&w);
    let chunks = left
        .iter()
        .filter(|(f, size)| !is_staging(f) && *size >= CHUNK_FLOOR)
        .count();
    assert!(chunks >= 4, "{left:?}");
    let left_bytes: u64 = left.iter().map(|(_, s)| s).sum();
    assert!(left_bytes >= 4 * CHUNK_FLOOR, "{left:?}");

    let prune = |extra: &[&str]| {
        let mut args = vec!["backup", "prune", "billing/prod", "-o", "json"];
        args.extend_from_slice(extra);
        let (code, out, err) = w.ward(&args);
        assert_eq!(code, 0, "{extra:?}: {out}{err}");
        json(&out)
    };
    // Within the grace period they stay, and a dry run deletes nothing.
    let kept = prune(&["--grace", "1h"]);
    assert!(
        kept["gc"]["keptFresh"].as_u64() >= Some(left.len() as u64),
        "{kept}"
    );
    prune(&["--grace", "0s", "--dry-run"]);
    assert_eq!(shared_files(&w), left);

    // With no grace every one of them goes, and what they held is counted.
    let report = prune(&["--grace", "0s"]);
    let deleted: Vec<&str> = report["gc"]["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .filter_map(|d| d.as_str())
        .collect();
    for (f, _) in &left {
        assert!(deleted.contains(&f.as_str()), "{f} not in {deleted:?}");
    }
    assert!(
        report["gc"]["deletedBytes"].as_u64() >= Some(left_bytes),
        "{report}"
    );
    assert_eq!(shared_files(&w), Vec::<(String, u64)>::new());

    // The repository still works: a backup commits and verifies reading every byte.
    let id = w.backed_up();
    let (code, out, err) = w.ward(&["backup", "verify", &id, "--read-data"]);
    assert_eq!(code, 0, "{out}{err}");
}
