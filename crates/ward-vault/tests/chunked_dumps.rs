//! Deduplicated dumps against a real PostgreSQL and pg_dump: a second backup of an
//! unchanged database stores only the chunk holding the archive's header, one after 1% of
//! rows appended stores a few chunks, and every snapshot restores to the same rows, with
//! one job and with several.

mod common;

use common::{World, progress, small};
use ward_vault::{RestoreRequest, restore};

/// About 16 MB of dump in a table of hex text, as an ERP's rows compress (about 2:1).
const BULK: &str = "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) \
     || md5((g * 13)::text) AS payload FROM generate_series(1, 160000) g";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_changed_chunks_are_stored_again_and_every_snapshot_restores() {
    let w = World::new(small()).await;
    w.psql("odoo", BULK);
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let backup = || async {
        ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
            .await
            .expect("backup")
    };
    let first = backup().await;
    assert!(first.dump_chunks >= 30, "{first:?}");
    assert_eq!(
        first.dump_chunks_uploaded,
        w.objects(&repo, &first.snapshot).await.dump_chunks.len() as u64
    );

    // Nothing changed: only the chunk that holds the archive header (its creation time)
    // is new, and perhaps its neighbour. (On this 9 MB database one chunk is 1-2% of the
    // whole; bench/vault-growth.sh measures the share on a larger one.)
    let unchanged = backup().await;
    assert_eq!(unchanged.dump_chunks, first.dump_chunks);
    assert!(unchanged.dump_chunks_uploaded <= 2, "{unchanged:?}");
    assert_eq!(unchanged.blobs_uploaded, 0);
    assert!(
        unchanged.new_bytes * 100 <= first.new_bytes * 5,
        "unchanged stored {} of {}",
        unchanged.new_bytes,
        first.new_bytes
    );

    // 1% of rows appended: the end of the table's data and the header are new.
    w.psql(
        "odoo",
        "INSERT INTO bulk SELECT id + 160000, payload FROM bulk WHERE id % 100 = 0",
    );
    let appended = backup().await;
    assert!(appended.dump_chunks_uploaded <= 5, "{appended:?}");
    assert!(
        appended.new_bytes * 100 <= first.new_bytes * 10,
        "appended stored {} of {}",
        appended.new_bytes,
        first.new_bytes
    );

    // (snapshot, rows, the highest id it holds, restore jobs)
    for (snapshot, rows, top, jobs) in [
        (&first.snapshot, 160_000, 160_000, 1),
        (&unchanged.snapshot, 160_000, 160_000, 2),
        (&appended.snapshot, 161_600, 320_000, 1),
    ] {
        w.verify_read_data(&repo, snapshot).await;
        let name = format!("copy_{}", snapshot.id.replace('-', "_").to_lowercase());
        let mut req = RestoreRequest::new(
            w.db.with_dbname(&name),
            w.dir.path().join(format!("restored/{name}")),
        );
        req.pg_tools = ward_vault::PgTools::in_dir(w.cluster.bindir());
        req.jobs = jobs;
        let restored = restore(
            &repo,
            snapshot,
            &w.trusted(),
            &w.identities(),
            &req,
            progress(),
        )
        .await
        .expect("restore");
        assert!(restored.is_consistent(), "{restored:?}");
        assert_eq!(
            w.psql(&name, "SELECT count(*) FROM bulk").trim(),
            rows.to_string()
        );
        assert_eq!(
            w.psql(
                &name,
                "SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM bulk"
            ),
            w.psql(
                "odoo",
                &format!(
                    "SELECT md5(string_agg(payload, ',' ORDER BY id)) FROM bulk WHERE id <= {top}"
                )
            )
        );
    }
}
