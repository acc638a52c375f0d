//! Backup → list → verify → restore against a real PostgreSQL and a local folder repository.

mod common;

use common::{World, assert_no_snapshots, files_under, progress};
use sha1::{Digest, Sha1};
use ward_vault::fixture::OdooFixture;
use ward_vault::{ListedSnapshot, RestoreRequest, SnapshotFilter, VaultError, list, restore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_list_verify_restore_round_trip() {
    let w = World::new(OdooFixture::default()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let summary = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("backup");
    assert_eq!(summary.attachments as usize, w.fixture.store_fnames.len());
    assert_eq!(
        summary.blobs_uploaded as usize,
        w.fixture.store_fnames.len()
    );
    assert!(summary.dump_bytes > 0 && summary.new_bytes > 0);
    assert!(summary.problems.is_empty());

    // list works without any key and reveals no content hash.
    let listed = list(&repo, &SnapshotFilter::default(), &w.trusted())
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    let ListedSnapshot::Verified { manifest: m, .. } = &listed[0] else {
        panic!("unreadable manifest")
    };
    assert_eq!(m.snapshot, summary.snapshot);
    assert_eq!(m.estate_commit.as_deref(), Some("0123abcd"));
    assert_eq!(m.odoo_version.as_deref(), Some("17.0"));
    assert!(
        m.postgres_version.starts_with("15"),
        "{}",
        m.postgres_version
    );
    assert_eq!(m.blob_stats.stored as usize, w.fixture.store_fnames.len());
    let manifest_text = std::fs::read_to_string(
        w.repo_dir
            .join(summary.snapshot.to_string().replace(
                &format!("{}/", summary.snapshot.tenant),
                &format!("tenants/{}/snapshots/", summary.snapshot.tenant),
            ))
            .join("manifest.json"),
    )
    .expect("manifest");
    let all_objects = files_under(&w.repo_dir).join("\n");
    for fname in &w.fixture.store_fnames {
        let sha = &fname[3..];
        assert!(!manifest_text.contains(sha), "manifest reveals {sha}");
        assert!(!all_objects.contains(sha), "object names reveal {sha}");
    }
    assert!(!manifest_text.contains("res_partner") && !manifest_text.contains("\"base\""));

    let report = w.verify_read_data(&repo, &summary.snapshot).await;
    let ids = w.identities();
    assert_eq!(
        report.objects_checked as usize,
        3 + w.fixture.store_fnames.len()
    );

    // Restore into a new database and folder, with parallel jobs.
    let target_fs = w.dir.path().join("restore/filestore/odoo_copy");
    let mut req = RestoreRequest::new(w.db.with_dbname("odoo_copy"), &target_fs);
    req.pg_tools = ward_vault::PgTools::in_dir(w.cluster.bindir());
    req.jobs = 2;
    let restored = restore(
        &repo,
        &summary.snapshot,
        &w.trusted(),
        &ids,
        &req,
        progress(),
    )
    .await
    .expect("restore");
    assert!(
        restored.is_consistent(),
        "{:?}",
        restored.row_count_mismatches
    );
    assert_eq!(
        restored.blobs_restored as usize,
        w.fixture.store_fnames.len()
    );

    // Independently: the restored tables and modules equal the source, every blob hashes to its name.
    let q = "SELECT (SELECT count(*) FROM res_partner), (SELECT count(*) FROM ir_attachment), \
             (SELECT string_agg(name || '=' || latest_version, ',' ORDER BY name) FROM ir_module_module WHERE state = 'installed')";
    assert_eq!(w.psql("odoo", q), w.psql("odoo_copy", q));
    // With jobs, indexes and constraints are built from the archive's head by a second
    // pg_restore: every one is there.
    let schema = "SELECT (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes \
                  WHERE schemaname = 'public'), (SELECT string_agg(conname, ',' ORDER BY conname) \
                  FROM pg_constraint WHERE connamespace = 'public'::regnamespace)";
    let source_schema = w.psql("odoo", schema);
    assert!(source_schema.contains("_pkey"), "{source_schema}");
    assert_eq!(w.psql("odoo_copy", schema), source_schema);
    // Beside the blobs, only Ward's marker that it restored this folder.
    let mut restored_files = files_under(&target_fs);
    assert_eq!(
        restored_files.first().map(String::as_str),
        Some(ward_vault::RESTORED_MARKER)
    );
    restored_files.remove(0);
    assert_eq!(restored_files, w.fixture.store_fnames);
    for f in &restored_files {
        let bytes = std::fs::read(target_fs.join(f)).expect("blob");
        assert_eq!(hex::encode(Sha1::digest(&bytes)), f[3..], "{f}");
    }

    // An existing database is never touched without replace.
    let mut again = RestoreRequest::new(
        w.db.with_dbname("odoo_copy"),
        w.dir.path().join("elsewhere"),
    );
    again.pg_tools = req.pg_tools.clone();
    let err = restore(
        &repo,
        &summary.snapshot,
        &w.trusted(),
        &ids,
        &again,
        progress(),
    )
    .await
    .expect_err("exists");
    assert!(matches!(err, VaultError::DatabaseExists(_)), "{err}");
    w.psql("odoo_copy", "DELETE FROM res_partner WHERE id > 100");
    again.replace = true;
    again.filestore = target_fs.clone();
    again.jobs = 1;
    let replaced = restore(
        &repo,
        &summary.snapshot,
        &w.trusted(),
        &ids,
        &again,
        progress(),
    )
    .await
    .expect("replace");
    assert!(replaced.replaced && replaced.is_consistent());
    assert_eq!(w.psql("odoo", q), w.psql("odoo_copy", q));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_backup_uploads_only_new_blobs() {
    let w = World::new(OdooFixture::default()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let first = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("first");
    let spec = OdooFixture {
        seed: 99,
        ..OdooFixture::default()
    };
    let mut rng = ward_vault::fixture::Xorshift::new(99);
    let added = ward_vault::fixture::add_attachments(&w.db, &w.filestore, 7, &spec, &mut rng)
        .await
        .expect("add");
    let second = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect("second");
    assert_eq!(second.blobs_uploaded as usize, added.len());
    assert_eq!(second.blobs_reused, first.blobs_uploaded);
    let first_blob_bytes = first.new_bytes - first.dump_stored_bytes;
    let second_blob_bytes = second.new_bytes - second.dump_stored_bytes;
    assert!(
        second_blob_bytes < first_blob_bytes / 3,
        "{second_blob_bytes} vs {first_blob_bytes}"
    );
    w.verify_read_data(&repo, &second.snapshot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_filestore_is_named_and_fails_unless_allowed() {
    let w = World::new(OdooFixture::default()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let missing = w.fixture.store_fnames[0].clone();
    let damaged = w.fixture.store_fnames[1].clone();
    std::fs::remove_file(w.filestore.join(&missing)).expect("rm");
    common::flip_byte(&w.filestore.join(&damaged));

    let err = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress())
        .await
        .expect_err("must fail");
    let text = err.to_string();
    assert!(
        matches!(err, VaultError::CorruptedFilestore(ref p) if p.len() == 2),
        "{text}"
    );
    assert!(text.contains(&missing) && text.contains(&damaged), "{text}");
    assert_eq!(err.exit_code(), 3);
    assert_no_snapshots(&repo).await;

    let mut opts = w.options();
    opts.allow_missing_blobs = true;
    let summary = ward_vault::backup(&repo, &w.target(), &key, &opts, progress())
        .await
        .expect("allowed");
    let named: Vec<_> = summary
        .problems
        .iter()
        .map(|p| p.store_fname.clone())
        .collect();
    assert_eq!(named.len(), 2);
    assert!(named.contains(&missing) && named.contains(&damaged));
    w.verify_read_data(&repo, &summary.snapshot).await;
}
