//! Odoo's attachment garbage collection against a running backup, on a real PostgreSQL:
//! while the backup reads the filestore, a second connection taking the lock the way
//! Odoo's `ir.attachment._gc_file_store` does waits, and it gets the lock once the
//! backup's snapshot transaction ends; also when the snapshot is read from a standby.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{World, small};
use ward_vault::{Phase, Progress};

/// What Odoo's `_gc_file_store` runs before it unlinks checklisted files (Odoo 16-18,
/// `odoo/addons/base/models/ir_attachment.py`), without its 10 s lock timeout, so the
/// test sees it wait for as long as the backup holds its lock.
const ODOO_GC_LOCK: &str = "BEGIN; LOCK ir_attachment IN SHARE MODE; COMMIT;";

/// How many sessions wait for a SHARE lock on `ir_attachment` that is not granted.
const WAITING_GC: &str = "SELECT count(*) FROM pg_locks \
     WHERE relation = 'ir_attachment'::regclass AND mode = 'ShareLock' AND NOT granted";

/// Starts Odoo's garbage collection's lock when the backup starts reading the filestore,
/// and records, when that phase ends, whether the collection was still waiting.
struct OdooGcDuringBackup {
    url: String,
    psql: std::path::PathBuf,
    acquired: Arc<AtomicBool>,
    gc: Mutex<Option<std::thread::JoinHandle<Result<(), String>>>>,
    waiting_at_filestore_end: Mutex<Option<bool>>,
    sessions_waiting: Mutex<Option<String>>,
    cluster_psql: Box<dyn Fn(&str) -> String + Send + Sync>,
}

impl Progress for OdooGcDuringBackup {
    fn start(&self, phase: Phase, _total: Option<u64>) {
        if phase != Phase::Filestore {
            return;
        }
        let (psql, url, acquired) = (self.psql.clone(), self.url.clone(), self.acquired.clone());
        *self.gc.lock().expect("lock") = Some(std::thread::spawn(move || {
            let out = std::process::Command::new(psql)
                .args([
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    &url,
                    "-c",
                    ODOO_GC_LOCK,
                ])
                .output()
                .map_err(|e| e.to_string())?;
            acquired.store(true, Ordering::SeqCst);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        }));
    }

    fn finish(&self, phase: Phase) {
        if phase != Phase::Filestore {
            return;
        }
        // Give the collection's connection time to ask for its lock; it must be queued
        // behind the backup's, not granted.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut waiting = (self.cluster_psql)(WAITING_GC);
        while waiting.trim() == "0"
            && !self.acquired.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
            waiting = (self.cluster_psql)(WAITING_GC);
        }
        *self.sessions_waiting.lock().expect("lock") = Some(waiting.trim().to_string());
        *self.waiting_at_filestore_end.lock().expect("lock") =
            Some(!self.acquired.load(Ordering::SeqCst));
    }
}

/// Odoo's garbage collection on `w`'s primary, started when a backup reads the filestore.
fn gc_during_backup(w: &World) -> Arc<OdooGcDuringBackup> {
    let url = w.cluster.url_for("odoo");
    let cluster_url = url.clone();
    let psql = w.cluster.bindir().join("psql");
    let psql_for_check = psql.clone();
    Arc::new(OdooGcDuringBackup {
        url,
        psql,
        acquired: Arc::new(AtomicBool::new(false)),
        gc: Mutex::new(None),
        waiting_at_filestore_end: Mutex::new(None),
        sessions_waiting: Mutex::new(None),
        cluster_psql: Box::new(move |sql| {
            let out = std::process::Command::new(&psql_for_check)
                .args(["-X", "-At", "-d", &cluster_url, "-c", sql])
                .output()
                .expect("psql");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }),
    })
}

/// The collection waited while the filestore was read, queued behind the backup's lock,
/// and got its lock once the backup had ended.
fn assert_gc_waited_for_the_backup(progress: &OdooGcDuringBackup) {
    assert_eq!(
        *progress.waiting_at_filestore_end.lock().expect("lock"),
        Some(true),
        "Odoo's garbage collection got its lock while the backup was reading the filestore"
    );
    assert_eq!(
        progress.sessions_waiting.lock().expect("lock").as_deref(),
        Some("1"),
        "the collection's lock was not queued behind the backup's"
    );
    // The backup's transaction is over: the collection gets its lock and goes on.
    let gc = progress
        .gc
        .lock()
        .expect("lock")
        .take()
        .expect("gc started");
    gc.join()
        .expect("gc thread")
        .expect("Odoo's lock after the backup");
    assert!(progress.acquired.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_attachment_gc_waits_for_the_backup_snapshot() {
    let w = World::new(small()).await;
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let progress = gc_during_backup(&w);
    let summary = ward_vault::backup(&repo, &w.target(), &key, &w.options(), progress.clone())
        .await
        .expect("backup");
    assert!(summary.problems.is_empty());
    assert_gc_waited_for_the_backup(&progress);
}

/// With the snapshot read from a hot standby, the barrier is still the primary's: a lock
/// on the standby would conflict with nothing Odoo does there. The collection, run on
/// the primary as Odoo runs it, waits until the backup has read the filestore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_attachment_gc_waits_for_a_backup_read_from_a_standby() {
    let w = World::new(small()).await;
    let standby = w.cluster.start_standby().expect("standby");
    let repo = w.repo().await;
    let key = w.key(&repo).await;
    let progress = gc_during_backup(&w);
    let mut target = w.target();
    target.standby =
        Some(ward_vault::DbConnection::from_url(&standby.url_for("odoo")).expect("url"));
    let summary = ward_vault::backup(&repo, &target, &key, &w.options(), progress.clone())
        .await
        .expect("backup");
    assert_eq!(summary.source.role, ward_vault::DumpRole::Standby);
    assert_eq!(
        summary.source.server,
        format!("127.0.0.1:{}", standby.port())
    );
    assert!(summary.problems.is_empty());
    assert_gc_waited_for_the_backup(&progress);
}

/// The barrier is what makes the collection wait: without a backup, Odoo's lock (with
/// its own 10 s timeout) is granted at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_attachment_gc_runs_when_no_backup_holds_the_snapshot() {
    let w = World::new(small()).await;
    let started = Instant::now();
    w.psql(
        "odoo",
        "BEGIN; SET LOCAL lock_timeout TO '10s'; LOCK ir_attachment IN SHARE MODE; COMMIT;",
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
