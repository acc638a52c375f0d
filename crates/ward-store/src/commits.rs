//! The estate commits cache: for each commit the server evaluated, whether it loaded, when,
//! and the opaque JSON document it computed (posture, findings). The store does not read
//! the document.

use jiff::Timestamp;
use serde::Serialize;

use crate::Store;
use crate::db::{DbRow, args, to_ms};
use crate::error::StoreError;

/// Whether the estate at a commit loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CommitStatus {
    Ok,
    Failed { error: String },
}

/// One evaluated commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitRecord {
    pub commit: String,
    pub status: CommitStatus,
    pub evaluated_at: Timestamp,
    /// What the server computed for it, as JSON text; stored as it is, not interpreted
    /// (text rather than a parsed value: on a large estate it is megabytes).
    pub document: String,
}

fn record_from(row: &DbRow) -> Result<CommitRecord, StoreError> {
    let status = match row.text("status")?.as_str() {
        "ok" => CommitStatus::Ok,
        "failed" => CommitStatus::Failed {
            error: row.opt_text("error")?.unwrap_or_default(),
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "unknown commit status {other:?}"
            )));
        }
    };
    Ok(CommitRecord {
        commit: row.text("commit_id")?,
        status,
        evaluated_at: row.time("evaluated_ms")?,
        document: row.text("document")?,
    })
}

impl Store {
    /// Records (or replaces) the evaluation of a commit.
    pub async fn record_commit(&self, record: &CommitRecord) -> Result<(), StoreError> {
        if record.commit.is_empty() {
            return Err(StoreError::InvalidInput(
                "a commit id cannot be empty".into(),
            ));
        }
        let (status, error) = match &record.status {
            CommitStatus::Ok => ("ok", None),
            CommitStatus::Failed { error } => ("failed", Some(error.clone())),
        };
        self.pool
            .execute(
                "INSERT INTO estate_commits (commit_id, status, error, evaluated_ms, document) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (commit_id) DO UPDATE SET \
                 status = excluded.status, error = excluded.error, \
                 evaluated_ms = excluded.evaluated_ms, document = excluded.document",
                args![
                    record.commit.as_str(),
                    status,
                    error,
                    to_ms(record.evaluated_at),
                    record.document.as_str()
                ],
            )
            .await?;
        Ok(())
    }

    /// The evaluation of `commit`, if there is one.
    pub async fn commit(&self, commit: &str) -> Result<Option<CommitRecord>, StoreError> {
        self.pool
            .fetch_optional(
                "SELECT * FROM estate_commits WHERE commit_id = $1",
                args![commit],
            )
            .await?
            .map(|row| record_from(&row))
            .transpose()
    }

    /// The most recently evaluated commit that loaded.
    pub async fn latest_good_commit(&self) -> Result<Option<CommitRecord>, StoreError> {
        self.pool
            .fetch_optional(
                "SELECT * FROM estate_commits WHERE status = 'ok' \
                 ORDER BY evaluated_ms DESC, commit_id LIMIT 1",
                args![],
            )
            .await?
            .map(|row| record_from(&row))
            .transpose()
    }

    /// The `limit` most recently evaluated commits, newest first, without their documents
    /// (`document` is empty): a listing of a large estate's commits would otherwise read
    /// megabytes per commit. [`Store::commit`] reads one whole.
    pub async fn recent_commits(&self, limit: u32) -> Result<Vec<CommitRecord>, StoreError> {
        self.pool
            .fetch_all(
                "SELECT commit_id, status, error, evaluated_ms, '' AS document \
                 FROM estate_commits ORDER BY evaluated_ms DESC, commit_id LIMIT $1",
                args![i64::from(limit)],
            )
            .await?
            .iter()
            .map(record_from)
            .collect()
    }
}
