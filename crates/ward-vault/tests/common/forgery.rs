//! What an attacker who can write the bucket and knows the public recipients can make, with
//! real tools: snapshots backed up from a database of their own, ciphertexts made with the
//! `zstd` and `age` command lines, manifests written with a fresh checksum line.

use std::path::Path;
use std::process::{Command, Stdio};

use ward_vault::fixture::{self, OdooFixture};
use ward_vault::{
    BackupOptions, BackupSigningKey, BackupTarget, DbConnection, PgTools, Repository,
    RepositoryConfig, SnapshotRef, StoreLocation, TrustedKeys,
};

use super::{World, files_under, progress, snapshot_folder};

/// Runs a shell pipeline of real tools, asserting it succeeds.
pub fn sh(script: &str) {
    let out = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `plain` to `dest` compressed and encrypted exactly as Ward stores a dump or a
/// key, with nothing but the victim's public recipients: `zstd | age -r R1 -r R2 …`.
pub fn encrypt_to_recipients(w: &World, plain: &Path, dest: &Path) {
    let recipients = w
        .recipients
        .to_strings()
        .iter()
        .map(|r| format!("-r {r}"))
        .collect::<Vec<_>>()
        .join(" ");
    sh(&format!(
        "zstd -q -c {} | age {recipients} > {}",
        plain.display(),
        dest.display()
    ));
}

/// Copies every file under `from` to the same place under `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in files_under(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from.join(&rel), dest).expect("copy");
    }
}

/// Two snapshots the attacker made of a database of their own, under the victim's tenant,
/// workload and environment, now in the victim's repository beside the real ones.
pub struct ForgedSnapshots {
    /// Signed with the attacker's own signing key.
    pub signed: SnapshotRef,
    /// With its statement removed.
    pub unsigned: SnapshotRef,
}

/// The attacker backs up a database of their own (database `evil` on the world's server)
/// under the victim's name, with the victim's recipients, into a repository of their own,
/// and copies the snapshots and their blobs into the victim's (never over real objects).
pub async fn forge_snapshots(w: &World) -> ForgedSnapshots {
    w.cluster.psql("CREATE DATABASE evil").expect("db");
    let evil_db = DbConnection::from_url(&w.cluster.url_for("evil")).expect("url");
    let evil_files = w.dir.path().join("evil/filestore");
    std::fs::create_dir_all(&evil_files).expect("mkdir");
    fixture::build(
        &evil_db,
        &evil_files,
        &OdooFixture {
            attachments: 3,
            partners: 5,
            ..OdooFixture::default()
        },
    )
    .await
    .expect("evil fixture");
    let evil_root = w.dir.path().join("evil/repo");
    let evil_repo = Repository::open(&RepositoryConfig {
        store: StoreLocation::Local(evil_root.clone()),
        object_lock: None,
    })
    .await
    .expect("repo");
    let evil_signer =
        BackupSigningKey::generate_file(&w.dir.path().join("evil/signing.ed25519")).expect("key");
    let mut evil_trust = TrustedKeys::new();
    evil_trust.pin("st-marys", "billing", "prod", [evil_signer.public()]);
    let evil_key = ward_vault::tenant_key(
        &evil_repo,
        "st-marys",
        &w.recipients,
        &w.dir.path().join("evil/st-marys.key"),
        None,
        None,
    )
    .await
    .expect("evil tenant key");
    let target = BackupTarget {
        db: evil_db,
        filestore: evil_files,
        ..w.target()
    };
    let mut options = BackupOptions::new(w.recipients.clone(), evil_signer, evil_trust);
    options.pg_tools = PgTools::in_dir(w.cluster.bindir());
    let signed = ward_vault::backup(&evil_repo, &target, &evil_key, &options, progress())
        .await
        .expect("forged backup")
        .snapshot;
    let unsigned = ward_vault::backup(&evil_repo, &target, &evil_key, &options, progress())
        .await
        .expect("forged backup")
        .snapshot;
    std::fs::remove_file(
        evil_root
            .join(snapshot_folder(&unsigned))
            .join("statement.json"),
    )
    .expect("unsign");
    for s in [&signed, &unsigned] {
        let rel = snapshot_folder(s);
        copy_tree(&evil_root.join(&rel), &w.repo_dir.join(&rel));
    }
    copy_tree(
        &evil_root.join("tenants/st-marys/blobs"),
        &w.repo_dir.join("tenants/st-marys/blobs"),
    );
    ForgedSnapshots { signed, unsigned }
}

/// `manifest.json` as Ward writes it for the body `json`: a header line with the body's
/// SHA-256, which anyone can compute, then the body.
pub fn manifest_bytes(json: &serde_json::Value) -> Vec<u8> {
    use sha2::Digest;
    let body = serde_json::to_vec_pretty(json).expect("json");
    let mut out = format!(
        "ward-vault-manifest/1 sha256:{}\n",
        hex::encode(sha2::Sha256::digest(&body))
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}
