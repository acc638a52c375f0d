//! Shared test support: a real throwaway PostgreSQL with an Odoo-shaped database, a real
//! filestore folder, a local repository, age identities, and a real moto S3 server; the
//! calls most tests repeat (back up, restore, verify, prune) with this world's keys.

#![allow(dead_code)]

pub mod forgery;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ward_pgtemp::TempCluster;
use ward_vault::fixture::{self, FixtureData, OdooFixture};
use ward_vault::{
    BackupOptions, BackupSigningKey, BackupSummary, BackupTarget, DbConnection, GcReport,
    Identities, ListedSnapshot, NoProgress, ObjectLock, PgTools, Progress, PruneReport, Recipients,
    Repository, RepositoryConfig, RepositoryKey, RestoreRequest, RestoreSummary, Retention,
    S3Location, SnapshotFilter, SnapshotObjects, SnapshotRef, StoreLocation, TrustedKeys,
    VaultError, VerifyDepth, VerifyReport,
};

/// A small Odoo database and filestore, for tests whose point is not volume.
pub fn small() -> OdooFixture {
    OdooFixture {
        attachments: 12,
        partners: 50,
        ..OdooFixture::default()
    }
}

pub fn progress() -> Arc<dyn Progress> {
    Arc::new(NoProgress)
}

/// Asserts that the repository lists no snapshot: a failed backup committed nothing.
pub async fn assert_no_snapshots(repo: &Repository) {
    // Verified or not: nothing may be listed at all.
    let listed = ward_vault::list(repo, &SnapshotFilter::default(), &TrustedKeys::new())
        .await
        .expect("list");
    assert!(listed.is_empty(), "{} snapshot(s) listed", listed.len());
}

/// Asserts that a restore found the row counts the snapshot recorded.
pub fn assert_consistent(restored: &RestoreSummary) {
    assert!(
        restored.is_consistent(),
        "{:?}",
        restored.row_count_mismatches
    );
}

/// A retention that keeps the last `n` snapshots and nothing by age.
pub fn keep_last(n: u32) -> Retention {
    Retention {
        keep_last: n,
        ..Retention::default()
    }
}

/// Where a snapshot's objects lie, relative to the repository's root.
pub fn snapshot_folder(s: &SnapshotRef) -> String {
    format!(
        "tenants/{}/snapshots/{}/{}/{}",
        s.tenant, s.workload, s.environment, s.id
    )
}

/// Garbage collection of `tenant` without a grace period: what nothing references goes now.
pub async fn collect_garbage_now(
    repo: &Repository,
    tenant: &str,
    keys: &TrustedKeys,
    key: Option<&RepositoryKey>,
    dry_run: bool,
) -> Result<GcReport, VaultError> {
    ward_vault::collect_garbage(repo, tenant, keys, key, Duration::ZERO, dry_run).await
}

/// Everything one test needs, torn down on drop.
pub struct World {
    pub cluster: TempCluster,
    pub dir: tempfile::TempDir,
    pub db: DbConnection,
    pub filestore: PathBuf,
    pub repo_dir: PathBuf,
    pub identity: PathBuf,
    pub other_identity: PathBuf,
    pub recipients: Recipients,
    pub fixture: FixtureData,
    /// The environments' backup signing key (one for all of them, in these tests).
    pub signing_key: PathBuf,
}

impl World {
    pub async fn new(spec: OdooFixture) -> World {
        let cluster = TempCluster::start().expect("temp cluster");
        cluster.psql("CREATE DATABASE odoo").expect("create db");
        let dir = tempfile::tempdir().expect("tempdir");
        let filestore = dir.path().join("filestore/odoo");
        std::fs::create_dir_all(&filestore).expect("filestore");
        let db = DbConnection::from_url(&cluster.url_for("odoo")).expect("url");
        let fixture = fixture::build(&db, &filestore, &spec)
            .await
            .expect("fixture");
        let identity = dir.path().join("state/dba.age");
        let recipient = ward_vault::generate_identity_file(&identity).expect("identity");
        let other_identity = dir.path().join("state/stranger.age");
        ward_vault::generate_identity_file(&other_identity).expect("identity");
        let breakglass = dir.path().join("state/breakglass.age");
        let bg = ward_vault::generate_identity_file(&breakglass).expect("identity");
        let recipients = Recipients::parse(&[recipient, bg]).expect("recipients");
        let repo_dir = dir.path().join("repo");
        let signing_key = dir.path().join("state/keys/backup.ed25519");
        BackupSigningKey::generate_file(&signing_key).expect("signing key");
        World {
            signing_key,
            cluster,
            dir,
            db,
            filestore,
            repo_dir,
            identity,
            other_identity,
            recipients,
            fixture,
        }
    }

    pub fn config(&self) -> RepositoryConfig {
        RepositoryConfig {
            store: StoreLocation::Local(self.repo_dir.clone()),
            object_lock: None,
        }
    }

    pub async fn repo(&self) -> Repository {
        Repository::open(&self.config()).await.expect("open repo")
    }

    /// `verify --read-data` of `snapshot` with the DBA identity, asserting it finds no fault.
    pub async fn verify_read_data(
        &self,
        repo: &Repository,
        snapshot: &SnapshotRef,
    ) -> VerifyReport {
        let report = self.read_data_report(repo, snapshot).await;
        assert!(report.is_ok(), "{:?}", report.faults);
        report
    }

    /// `verify --read-data` of `snapshot` with the DBA identity: its report, faults and all.
    pub async fn read_data_report(
        &self,
        repo: &Repository,
        snapshot: &SnapshotRef,
    ) -> VerifyReport {
        let ids = self.identities();
        ward_vault::verify(
            repo,
            snapshot,
            &self.trusted(),
            VerifyDepth::ReadData(&ids),
            progress(),
        )
        .await
        .expect("verify runs")
    }

    /// The local repository, the tenant key, and one backup of the target into it: where
    /// most tests start.
    pub async fn backed_up(&self) -> (Repository, RepositoryKey, BackupSummary) {
        let repo = self.repo().await;
        let key = self.key(&repo).await;
        let summary = self.backup(&repo, &key).await.expect("backup");
        (repo, key, summary)
    }

    /// Backs up the target with the world's options.
    pub async fn backup(
        &self,
        repo: &Repository,
        key: &RepositoryKey,
    ) -> Result<BackupSummary, VaultError> {
        self.backup_with(repo, key, &self.target(), &self.options())
            .await
    }

    /// Backs up the target as read through `db` (another sslmode, user or server), with the
    /// world's options.
    pub async fn backup_through(
        &self,
        repo: &Repository,
        key: &RepositoryKey,
        db: DbConnection,
    ) -> Result<BackupSummary, VaultError> {
        let target = BackupTarget {
            db,
            ..self.target()
        };
        self.backup_with(repo, key, &target, &self.options()).await
    }

    /// Backs up `target` with `options`.
    pub async fn backup_with(
        &self,
        repo: &Repository,
        key: &RepositoryKey,
        target: &BackupTarget,
        options: &BackupOptions,
    ) -> Result<BackupSummary, VaultError> {
        ward_vault::backup(repo, target, key, options, progress()).await
    }

    /// A restore into a new database `name` on the world's server, with the world's
    /// PostgreSQL tools and a filestore folder of its own.
    pub fn restore_request(&self, name: &str) -> RestoreRequest {
        self.restore_request_over(self.db.with_dbname(name))
    }

    /// A restore through `db` (its database is the one created), with the world's
    /// PostgreSQL tools and a filestore folder named after that database.
    pub fn restore_request_over(&self, db: DbConnection) -> RestoreRequest {
        let filestore = self
            .dir
            .path()
            .join(format!("restored/filestore/{}", db.dbname));
        let mut req = RestoreRequest::new(db, filestore);
        req.pg_tools = PgTools::in_dir(self.cluster.bindir());
        req
    }

    /// Restores `snapshot` as `req` says, with the DBA identity and the pinned keys.
    pub async fn restore(
        &self,
        repo: &Repository,
        snapshot: &SnapshotRef,
        req: &RestoreRequest,
    ) -> Result<RestoreSummary, VaultError> {
        ward_vault::restore(
            repo,
            snapshot,
            &self.trusted(),
            &self.identities(),
            req,
            progress(),
        )
        .await
    }

    /// Every snapshot `list` shows, verified against the pinned keys or not.
    pub async fn listed(&self, repo: &Repository) -> Vec<ListedSnapshot> {
        ward_vault::list(repo, &SnapshotFilter::default(), &self.trusted())
            .await
            .expect("list")
    }

    /// Prunes the target's environment under `retention`.
    pub async fn prune(
        &self,
        repo: &Repository,
        retention: &Retention,
        dry_run: bool,
    ) -> Result<PruneReport, VaultError> {
        let t = self.target();
        ward_vault::prune(
            repo,
            &t.tenant,
            &t.workload,
            &t.environment,
            &self.trusted(),
            retention,
            dry_run,
        )
        .await
    }

    /// Garbage collection of this world's tenant with its tenant key and no grace period.
    pub async fn gc_now(&self, repo: &Repository, dry_run: bool) -> Result<GcReport, VaultError> {
        let key = self.key(repo).await;
        collect_garbage_now(repo, "st-marys", &self.trusted(), Some(&key), dry_run).await
    }

    /// The object list of a verified snapshot (sealed in `objects.age`), opened with this
    /// world's identity.
    pub async fn objects(&self, repo: &Repository, snapshot: &SnapshotRef) -> SnapshotObjects {
        let manifest = ward_vault::read_manifest(repo, snapshot, &self.trusted())
            .await
            .expect("verified manifest");
        ward_vault::open_snapshot(repo, &manifest, &self.identities())
            .await
            .expect("the snapshot opens")
            .objects
    }

    /// The blob objects written alone (large blobs) and the pack files of the local
    /// repository, relative to its root, sorted.
    pub fn blob_objects(&self) -> Vec<String> {
        files_under(&self.repo_dir)
            .into_iter()
            .filter(|f| f.contains("/blobs/") || (f.contains("/packs/") && !f.ends_with(".index")))
            .collect()
    }

    /// The file holding `object` (a blob or chunk path) and the byte range it lies at:
    /// its pack's, or its own file's whole length.
    pub async fn stored_at(
        &self,
        repo: &Repository,
        object: &str,
    ) -> (PathBuf, std::ops::Range<u64>) {
        let key = self.key(repo).await;
        match ward_vault::fixture::locate_packed(repo, "st-marys", &key, object)
            .await
            .expect("pack index")
        {
            Some((pack, range)) => (self.repo_dir.join(pack), range),
            None => {
                let path = self.repo_dir.join(object);
                let len = std::fs::metadata(&path).expect("stored object").len();
                (path, 0..len)
            }
        }
    }

    /// The pack file holding `object`, if one does (see [`World::stored_at`]).
    pub async fn stored_at_maybe(&self, repo: &Repository, object: &str) -> Option<PathBuf> {
        let key = self.key(repo).await;
        ward_vault::fixture::locate_packed(repo, "st-marys", &key, object)
            .await
            .expect("pack index")
            .map(|(pack, _)| self.repo_dir.join(pack))
    }

    /// What a bucket writer can do to a packed object: delete its pack and the pack's index,
    /// so that readers look for the object under its own path, where the attacker then
    /// plants bytes. Returns the object's stored bytes as they were.
    pub async fn unpack(
        &self,
        repo: &Repository,
        tenant: &str,
        key: &RepositoryKey,
        object: &str,
    ) -> Vec<u8> {
        let (pack, range) = ward_vault::fixture::locate_packed(repo, tenant, key, object)
            .await
            .expect("pack index")
            .expect("a packed object");
        let path = self.repo_dir.join(&pack);
        let bytes = std::fs::read(&path).expect("pack");
        let stored = bytes[usize::try_from(range.start).expect("start")
            ..usize::try_from(range.end).expect("end")]
            .to_vec();
        std::fs::remove_file(&path).expect("rm pack");
        std::fs::remove_file(format!("{}.index", path.display())).expect("rm index");
        stored
    }

    /// Flips one bit in the middle of `object`'s stored bytes, wherever they lie.
    pub async fn flip_stored_byte(&self, repo: &Repository, object: &str) {
        let (path, range) = self.stored_at(repo, object).await;
        let mut bytes = std::fs::read(&path).expect("read");
        let i = usize::try_from(range.start + (range.end - range.start) / 2).expect("offset");
        bytes[i] ^= 0x01;
        std::fs::write(&path, bytes).expect("write");
    }

    /// Whether the world's server holds a database `name`.
    pub fn database_exists(&self, name: &str) -> bool {
        self.cluster
            .psql(&format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
            ))
            .expect("psql")
            .trim()
            == "1"
    }

    pub fn identities(&self) -> Identities {
        Identities::from_file(&self.identity).expect("identity")
    }

    pub fn target(&self) -> BackupTarget {
        BackupTarget {
            tenant: "st-marys".into(),
            workload: "billing".into(),
            environment: "prod".into(),
            db: self.db.clone(),
            standby: None,
            filestore: self.filestore.clone(),
        }
    }

    pub fn signer(&self) -> BackupSigningKey {
        BackupSigningKey::load(&self.signing_key).expect("signing key")
    }

    /// The keys the estate would pin: the test signing key, for every environment the
    /// tests back up.
    pub fn trusted(&self) -> TrustedKeys {
        let mut keys = TrustedKeys::new();
        for tenant in ["st-marys", "other"] {
            for environment in ["prod", "staging"] {
                keys.pin(tenant, "billing", environment, [self.signer().public()]);
            }
        }
        keys
    }

    pub fn options(&self) -> BackupOptions {
        let mut o = BackupOptions::new(self.recipients.clone(), self.signer(), self.trusted());
        o.estate_commit = Some("0123abcd".into());
        o.pg_tools = PgTools::in_dir(self.cluster.bindir());
        o
    }

    pub async fn key(&self, repo: &Repository) -> RepositoryKey {
        ward_vault::tenant_key(
            repo,
            "st-marys",
            &self.recipients,
            &self.dir.path().join("state/keys/st-marys.key"),
            None,
            None,
        )
        .await
        .expect("tenant key")
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.cluster.psql_db(db, sql).expect("psql")
    }
}

/// Flips one bit of the byte in the middle of a file.
pub fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A real S3-compatible server (moto) on a free loopback port, killed on drop.
pub struct MotoServer {
    child: Child,
    pub port: u16,
}

impl MotoServer {
    pub fn start() -> MotoServer {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "moto_server is not on PATH: the S3 tests need a real S3-compatible server. \
             Install it with `pip install 'moto[server]'` (CI does)."
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A repository in `bucket` of this server, under the prefix `ward/vault`, with the
    /// server's test credentials and `lock`.
    pub fn repository_config(&self, bucket: &str, lock: Option<ObjectLock>) -> RepositoryConfig {
        let mut loc = S3Location::new(Some(self.endpoint()), bucket, "us-east-1", "ward/vault");
        loc.access_key_id = Some(ward_vault::SecretString::new("testing"));
        loc.secret_access_key = Some(ward_vault::SecretString::new("testing"));
        RepositoryConfig {
            store: StoreLocation::S3(loc),
            object_lock: lock,
        }
    }

    /// A raw, unsigned HTTP request (moto does not check signatures): returns status,
    /// headers and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect moto");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).expect("send");
        s.write_all(body).expect("send body");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read");
        let text = String::from_utf8_lossy(&resp).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, head.to_string(), body.to_string())
    }

    pub fn create_bucket(&self, bucket: &str, object_lock: bool) {
        let headers: &[(&str, &str)] = if object_lock {
            &[("x-amz-bucket-object-lock-enabled", "true")]
        } else {
            &[]
        };
        let (status, _, body) = self.request("PUT", &format!("/{bucket}"), headers, b"");
        assert_eq!(status, 200, "create bucket: {body}");
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
