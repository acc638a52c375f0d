//! The vault: encrypted, deduplicated, verifiable backups of Odoo databases and filestores.
//!
//! A backup cuts `pg_dump`'s stream (custom format, uncompressed) into content-defined
//! chunks, stores each chunk and each referenced filestore blob once per tenant (zstd, then
//! age), and commits the snapshot by writing its signed statement last. The repository is
//! self-describing: restoring needs only the object store and an age identity.
//!
//! # Repository format (`ward-vault/1`, manifest format 2)
//!
//! ```text
//! <root or S3 prefix>/
//!   ward-vault.json                               {"format": "ward-vault/1"}
//!   tenants/<tenant>/
//!     key.age                                     32-byte repository key, age-encrypted to the recipients
//!     key.json                                    key id (public fingerprint), recipients, creation time
//!     data-keys/<id>.age                          one backup run's 32-byte data key, age-encrypted to the
//!                                                 recipients; id = keyed BLAKE3 of the key (datakey.rs)
//!     packs/<p[:2]>/<p>                           sealed chunks and blobs back to back, Padmé-padded (pack.rs)
//!     packs/<p[:2]>/<p>.index                     where each lies: sealed under a key derived from the tenant key
//!     blobs/<n[:2]>/<n>                           the logical path of a blob or chunk; stored here only when
//!                                                 not packed (a blob over 1 MiB): zstd → age (one stanza,
//!                                                 under the run's data key); n = HMAC-SHA256(key, domain ‖
//!                                                 sha1 or BLAKE3)
//!     snapshots/<workload>/<environment>/<id>/
//!       dump.age                                  manifest format 1 only: the whole dump (still read)
//!       sealed.age                                JSON SealedManifest → zstd → age
//!       objects.age                               every blob and chunk with its stored size and checksum,
//!                                                 sealed under the tenant's index key (objects.rs)
//!       manifest.json                             plaintext SnapshotManifest
//!       statement.json                            signed statement — written last: the commit point
//!     leases/<workload>/<environment>.json        backup/prune lease with expiry
//!     leases/gc.json                              garbage-collection lease
//! ```
//!
//! `manifest.json` starts with a line `ward-vault-manifest/1 sha256:<hex>` over the JSON that
//! follows. Its plaintext part names times, versions and total sizes (what `list` needs,
//! with no key). Which objects a snapshot references, and their sizes, are in `objects.age`
//! (what deduplication, `verify` and garbage collection read, with the tenant key).
//! Attachment names (content sha1s), the dump's chunk order and checksums, modules and row
//! counts are in `sealed.age`. Snapshot ids are `YYYYMMDDTHHMMSSZ-<8 hex>`. See
//! `docs/vault.md`.

mod archive_head;
mod backup;
mod cancel;
mod catalog;
mod checksum;
mod chunks;
mod datakey;
mod drill;
mod dump;
mod error;
mod filestore_restore;
pub mod fixture;
mod keys;
mod lease;
mod manifest;
mod migrate;
mod names;
mod objects;
mod odoo_zip;
mod pack;
mod padding;
mod pg;
mod pipeline;
mod progress;
mod prune;
mod repack;
mod restore;
mod rewrap;
mod runkey;
mod spool;
mod statement;
mod store;
mod tenant;
mod tls;
mod verify;

pub use backup::{
    BackupOptions, BackupSummary, BackupTarget, BlobProblem, BlobProblemKind, ODOO_GC_BARRIER,
    PhaseTimes, StandbySkipped, backup,
};
pub use cancel::Cancel;
pub use catalog::{
    ListedSnapshot, SnapshotFilter, find_snapshot, list, newest_verified_snapshot, open_snapshot,
    pinned_tenant_key_id, read_manifest,
};
pub use checksum::{Checksum, ChecksumAlgorithm};
pub use chunks::DumpChunk;
pub use drill::{DrillReport, DrillRequest, drill};
pub use error::{Result, VaultError};
pub use filestore_restore::{FilestoreRestoreRequest, FilestoreRestoreSummary, restore_filestore};
pub use keys::{Identities, Recipients, RepositoryKey, SecretString, generate_identity_file};
pub use manifest::{
    AttachmentEntry, BlobStats, DumpRole, DumpSource, DumpStats, SealedManifest, SnapshotContents,
    SnapshotLock, SnapshotManifest, SnapshotRef, StoredObject,
};
pub use migrate::{RefusedSnapshot, SignExistingReport, sign_existing};
pub use names::{MAX_COMPONENT_BYTES, check_component, filestore_folder};
pub use objects::SnapshotObjects;
pub use odoo_zip::{OdooZipRequest, OdooZipSummary, export_odoo_zip};
pub use pg::{COUNTED_TABLES, DbConnection, PgTimeouts, PgTools, UrlTls};
pub use progress::{NoProgress, Phase, Progress};
pub use prune::{
    GcReport, PruneDecision, PruneReport, Retention, collect_garbage, prune, snapshot_counts,
};
pub use restore::{
    Cleanup, RESTORED_MARKER, RestoreRequest, RestoreSummary, RowCountMismatch, restore,
};
pub use rewrap::{RewrapRecipients, RewrapReport, StillReadable, rewrap};
pub use statement::{
    BackupSigningKey, BlobIndexRoot, STATEMENT_FORMAT, SigningPublicKey, Statement, StatementPart,
    TrustedKeys, VerifiedStatement,
};
pub use store::{LockMode, ObjectLock, Repository, RepositoryConfig, S3Location, StoreLocation};
pub use tenant::{tenant_key, unlock_tenant_key};
pub use tls::{ChannelBinding, SslMode, load_ca_file};
pub use verify::{ObjectFault, VerifyDepth, VerifyReport, verify};
