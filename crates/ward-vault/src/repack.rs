//! Garbage collection of packs: a pack none of whose objects a verified snapshot references
//! is deleted, and one whose live part has fallen below [`REPACK_BELOW_PERCENT`] is
//! repacked: its live objects' stored bytes, each checked against the signed checksum, are
//! copied into new packs, then the old pack goes. Fresh and locked packs are never touched.

use std::collections::HashMap;

use object_store::ObjectMeta;

use crate::checksum::checksum_of;
use crate::error::Result;
use crate::keys::RepositoryKey;
use crate::manifest::StoredObject;
use crate::pack::{PackWriter, index_identities, load};
use crate::prune::GcReport;
use crate::store::Repository;

/// A pack whose live objects fill less than this share of it is repacked (restic's
/// `prune` default keeps at most 5% unused across the repository; per pack, half keeps
/// the copying to at most as many bytes as are freed).
pub(crate) const REPACK_BELOW_PERCENT: u64 = 50;

/// What garbage collection of packs needs to know of the rest of the tenant.
pub(crate) struct PackGc<'a> {
    pub repo: &'a Repository,
    pub tenant: &'a str,
    pub key: &'a RepositoryKey,
    /// Every object a verified snapshot references, with its signed record.
    pub live: &'a HashMap<String, StoredObject>,
    /// Objects written at or after this are fresh (a backup may be about to reference them).
    pub cutoff: jiff::Timestamp,
    pub now: jiff::Timestamp,
    pub lock_days: Option<u32>,
    pub dry_run: bool,
}

impl PackGc<'_> {
    fn fresh(&self, meta: &ObjectMeta) -> bool {
        self.written(meta) > self.cutoff
    }

    fn locked(&self, meta: &ObjectMeta) -> bool {
        self.lock_days.is_some_and(|days| {
            self.written(meta)
                .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
                .map_or(true, |until| until > self.now)
        })
    }

    fn written(&self, meta: &ObjectMeta) -> jiff::Timestamp {
        jiff::Timestamp::from_second(meta.last_modified.timestamp()).unwrap_or(self.now)
    }

    async fn delete(&self, rel: &str, size: u64, report: &mut GcReport) -> Result<()> {
        if !self.dry_run {
            self.repo.delete(rel).await?;
        }
        report.deleted_bytes += size;
        report.deleted.push(rel.to_string());
        Ok(())
    }

    /// Deletes and repacks the tenant's packs, adding what it did to `report`.
    pub(crate) async fn run(&self, report: &mut GcReport) -> Result<()> {
        let index = load(self.repo, self.tenant, &index_identities(self.key)).await?;
        report.packs = index.packs.len() as u64;
        report.packs_damaged = index.damaged.iter().map(|(rel, _)| rel.clone()).collect();
        // Leftovers of a stopped write: a pack whose index was never written, an index
        // whose pack a stopped repack already deleted.
        for (rel, meta) in index.unindexed.iter().chain(&index.orphan_indexes) {
            if self.fresh(meta) {
                report.kept_fresh += 1;
            } else if self.locked(meta) {
                report.kept_locked += 1;
            } else {
                self.delete(rel, meta.size, report).await?;
            }
        }
        // Each live object counts in one pack only (the first, by id, that holds the bytes
        // its record names): a copy elsewhere (two backups that wrote the same new chunk,
        // a repack that stopped before deleting) is dead.
        let mut owner: HashMap<&str, usize> = HashMap::new();
        for (i, pack) in index.packs.iter().enumerate() {
            for e in &pack.entries {
                if self
                    .live
                    .get(&e.object)
                    .is_some_and(|r| r.stored_size == e.length)
                {
                    owner.entry(e.object.as_str()).or_insert(i);
                }
            }
        }
        let writer = PackWriter::new(self.repo, self.tenant, self.key);
        let mut replaced = Vec::new();
        for (i, pack) in index.packs.iter().enumerate() {
            let live: Vec<_> = pack
                .entries
                .iter()
                .filter(|e| owner.get(e.object.as_str()) == Some(&i))
                .collect();
            if live.len() == pack.entries.len() {
                continue;
            }
            let Some(meta) = index.modified.get(&pack.path) else {
                continue;
            };
            // A pack and its index are kept (and counted) together.
            if self.fresh(meta) {
                report.kept_fresh += 2;
                continue;
            }
            if self.locked(meta) {
                report.kept_locked += 2;
                continue;
            }
            if live.is_empty() {
                replaced.push(pack);
                continue;
            }
            let live_bytes: u64 = live.iter().map(|e| e.length).sum();
            if live_bytes * 100 >= pack.size * REPACK_BELOW_PERCENT {
                continue;
            }
            if self.dry_run {
                report.packs_repacked += 1;
                replaced.push(pack);
                continue;
            }
            let Some(bytes) = self.repo.get_bytes(&pack.path).await? else {
                continue;
            };
            // Only bytes the signed record names are copied; a pack with a damaged live
            // object is left as it is, for verify to report.
            let copies: Option<Vec<(&str, &[u8])>> = live
                .iter()
                .map(|e| {
                    let start = usize::try_from(e.offset).ok()?;
                    let end = start.checked_add(usize::try_from(e.length).ok()?)?;
                    let slice = bytes.get(start..end)?;
                    let record = self.live.get(&e.object)?;
                    let signed = record.stored_checksum.as_ref()?;
                    (checksum_of(signed.algorithm(), slice) == *signed)
                        .then_some((e.object.as_str(), slice))
                })
                .collect();
            let Some(copies) = copies else {
                report.packs_damaged.push(pack.path.clone());
                continue;
            };
            for (object, slice) in copies {
                writer.add_async(object, slice).await?;
            }
            report.packs_repacked += 1;
            replaced.push(pack);
        }
        writer.finish().await?;
        let written = writer.written();
        report.packs_written = written.len() as u64;
        report.written_bytes = written.iter().map(|p| p.size).sum();
        // The new packs and their indexes are stored: now the old ones can go, index
        // first, so that a stop in between leaves an unindexed pack, never a lost object.
        for pack in replaced {
            let index_size = index.modified.get(&pack.index_path).map_or(0, |m| m.size);
            self.delete(&pack.index_path, index_size, report).await?;
            self.delete(&pack.path, pack.size, report).await?;
            report.packs_deleted += 1;
        }
        Ok(())
    }
}
