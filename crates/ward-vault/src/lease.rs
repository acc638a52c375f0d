//! Leases: an object with an expiry that keeps two backups (or a backup and a prune) of one
//! environment from running at once.
//!
//! A crashed holder never blocks for ever: the lease expires, and a holder on this very host
//! whose process is gone is recognised at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::error::{Result, VaultError};
use crate::manifest::random_hex;
use crate::store::Repository;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    token: String,
    host: String,
    boot_id: String,
    pid: u32,
    purpose: String,
    acquired: jiff::Timestamp,
    expires: jiff::Timestamp,
}

impl LeaseRecord {
    fn holder(&self) -> String {
        format!("{} pid {} ({})", self.host, self.pid, self.purpose)
    }

    /// The holder ran on this machine in this boot and its process is gone.
    fn holder_is_dead(&self) -> bool {
        self.host == hostname()
            && self.boot_id == boot_id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A held lease. Renewed in the background until released or dropped.
#[derive(Debug)]
pub struct Lease {
    repo: Repository,
    path: String,
    token: String,
    renewer: Option<JoinHandle<()>>,
}

impl Lease {
    /// Takes the lease at `path` for `ttl`, renewing it every third of `ttl`.
    pub(crate) async fn acquire(
        repo: &Repository,
        path: String,
        what: &str,
        purpose: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let record = new_record(random_hex::<16>()?, purpose, ttl)?;
        for _ in 0..3 {
            if let Some(bytes) = repo.get_bytes(&path).await? {
                // An unreadable lease is treated like an expired one: it protects nothing.
                if let Ok(existing) = serde_json::from_slice::<LeaseRecord>(&bytes)
                    && existing.expires > jiff::Timestamp::now()
                    && !existing.holder_is_dead()
                {
                    return Err(VaultError::LeaseHeld {
                        environment: what.to_string(),
                        holder: existing.holder(),
                        expires: existing.expires.to_string(),
                    });
                }
                repo.delete(&path).await?;
            }
            let body =
                serde_json::to_vec(&record).map_err(|e| VaultError::InvalidInput(e.to_string()))?;
            if repo.put_new(&path, body.into(), false).await? {
                // Read back: on stores without conditional writes a racer may have won.
                let back = repo.get_bytes(&path).await?;
                let ours = back
                    .and_then(|b| serde_json::from_slice::<LeaseRecord>(&b).ok())
                    .is_some_and(|r| r.token == record.token);
                if ours {
                    let renewer = spawn_renewer(repo.clone(), path.clone(), record.clone(), ttl);
                    return Ok(Lease {
                        repo: repo.clone(),
                        path,
                        token: record.token,
                        renewer: Some(renewer),
                    });
                }
            }
        }
        Err(VaultError::LeaseHeld {
            environment: what.to_string(),
            holder: "another process that took it at the same moment".into(),
            expires: "unknown".into(),
        })
    }

    /// Releases the lease (only if it is still ours).
    pub(crate) async fn release(mut self) -> Result<()> {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        if let Some(bytes) = self.repo.get_bytes(&self.path).await?
            && serde_json::from_slice::<LeaseRecord>(&bytes).is_ok_and(|r| r.token == self.token)
        {
            self.repo.delete(&self.path).await?;
        }
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Without release (an error path), the lease expires on its own.
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
    }
}

fn new_record(token: String, purpose: &str, ttl: Duration) -> Result<LeaseRecord> {
    let now = jiff::Timestamp::now();
    let expires = now
        .checked_add(
            jiff::SignedDuration::try_from(ttl)
                .map_err(|e| VaultError::InvalidInput(e.to_string()))?,
        )
        .map_err(|e| VaultError::InvalidInput(e.to_string()))?;
    Ok(LeaseRecord {
        token,
        host: hostname(),
        boot_id: boot_id(),
        pid: std::process::id(),
        purpose: purpose.to_string(),
        acquired: now,
        expires,
    })
}

fn spawn_renewer(
    repo: Repository,
    path: String,
    record: LeaseRecord,
    ttl: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(ttl / 3).await;
            let Ok(mut renewed) = new_record(record.token.clone(), &record.purpose, ttl) else {
                continue;
            };
            renewed.acquired = record.acquired;
            if let Ok(body) = serde_json::to_vec(&renewed) {
                let _ = repo.put_unprotected(&path, body.into()).await;
            }
        }
    })
}

/// Object path of an environment's lease.
pub(crate) fn environment_lease_path(tenant: &str, workload: &str, environment: &str) -> String {
    format!("tenants/{tenant}/leases/{workload}/{environment}.json")
}

/// Object path of a tenant's garbage-collection lease.
pub(crate) fn gc_lease_path(tenant: &str) -> String {
    format!("tenants/{tenant}/leases/gc.json")
}
