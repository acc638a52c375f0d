//! Leader election with fencing. In PostgreSQL the leader holds a session advisory lock on
//! a dedicated connection for as long as it leads; on winning it increments a durable term,
//! and every scheduler write names that term and is refused once a newer one exists.

use sqlx::postgres::PgConnection;
use sqlx::{ConnectOptions, Connection};

use crate::Store;
use crate::db::{Backend, Tx, args, lock_key, now_ms};
use crate::error::StoreError;

/// The term a scheduler write is made under: refused with [`StoreError::Fenced`] once a
/// newer term of the same election exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    name: String,
    term: i64,
}

impl Fence {
    /// The election's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The term, increasing with every election won.
    pub fn term(&self) -> i64 {
        self.term
    }
}

/// Leadership of one election, held until dropped, released or lost.
///
/// PostgreSQL: the lock lives on a connection of its own (never one from the pool); if it
/// drops (network, server restart, `pg_terminate_backend`) the lock is gone and another
/// replica can win. [`LeaderLease::check`] finds out. SQLite (one process): winning is
/// immediate, but the term works the same, so a second process on the same file deposes
/// the first, whose writes are then fenced.
#[derive(Debug)]
pub struct LeaderLease {
    store: Store,
    fence: Fence,
    conn: Option<PgConnection>,
}

impl Store {
    /// Tries to become the leader of election `name` (e.g. `scheduler`) as `holder` (the
    /// replica's name); `None` when another replica leads. On winning, the term is
    /// incremented.
    pub async fn try_lead(
        &self,
        name: &str,
        holder: &str,
    ) -> Result<Option<LeaderLease>, StoreError> {
        let upsert = "INSERT INTO leader_terms (name, term, holder, since_ms) VALUES ($1, 1, $2, $3) \
                      ON CONFLICT (name) DO UPDATE SET term = leader_terms.term + 1, \
                      holder = excluded.holder, since_ms = excluded.since_ms RETURNING term";
        match (&self.pg, self.backend()) {
            (Some(options), Backend::Postgres) => {
                let options = options
                    .clone()
                    .application_name(&format!("ward-leader:{name}"));
                let mut conn = options.connect().await?;
                let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(lock_key(&format!("leader:{name}")))
                    .fetch_one(&mut conn)
                    .await?;
                if !won {
                    conn.close().await?;
                    return Ok(None);
                }
                let term: i64 = sqlx::query_scalar(upsert)
                    .bind(name)
                    .bind(holder)
                    .bind(now_ms())
                    .fetch_one(&mut conn)
                    .await?;
                Ok(Some(LeaderLease {
                    store: self.clone(),
                    fence: Fence {
                        name: name.to_string(),
                        term,
                    },
                    conn: Some(conn),
                }))
            }
            _ => {
                let row = self
                    .pool
                    .fetch_one(upsert, args![name, holder, now_ms()])
                    .await?;
                Ok(Some(LeaderLease {
                    store: self.clone(),
                    fence: Fence {
                        name: name.to_string(),
                        term: row.i64("term")?,
                    },
                    conn: None,
                }))
            }
        }
    }

    /// The current term of election `name` and its holder; `None` before the first.
    pub async fn leader_term(&self, name: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.pool
            .fetch_optional(
                "SELECT term, holder FROM leader_terms WHERE name = $1",
                args![name],
            )
            .await?
            .map(|row| Ok((row.i64("term")?, row.text("holder")?)))
            .transpose()
    }
}

impl LeaderLease {
    /// What this leader's writes carry.
    pub fn fence(&self) -> Fence {
        self.fence.clone()
    }

    pub fn term(&self) -> i64 {
        self.fence.term
    }

    /// Checks that this replica still leads: the dedicated connection answers (so the
    /// lock is still held) and no newer term exists. Cheap (one query); call it before
    /// each reconcile pass. Err is [`StoreError::LeadershipLost`] (or a database error
    /// reaching the store on SQLite).
    pub async fn check(&mut self) -> Result<(), StoreError> {
        let lost = |reason: String| StoreError::LeadershipLost {
            name: self.fence.name.clone(),
            term: self.fence.term,
            reason,
        };
        let sql = "SELECT term FROM leader_terms WHERE name = $1";
        let current: Option<i64> = match &mut self.conn {
            Some(conn) => match sqlx::query_scalar(sql)
                .bind(&self.fence.name)
                .fetch_optional(&mut *conn)
                .await
            {
                Ok(current) => current,
                Err(e) => {
                    self.conn = None;
                    return Err(lost(format!(
                        "the connection holding the leader lock failed ({e}), so the lock is gone"
                    )));
                }
            },
            None if self.store.backend() == Backend::Postgres => {
                return Err(lost(
                    "the connection holding the leader lock is closed".into(),
                ));
            }
            None => self
                .store
                .pool
                .fetch_optional(sql, args![self.fence.name.as_str()])
                .await?
                .map(|row| row.i64("term"))
                .transpose()?,
        };
        match current {
            Some(term) if term == self.fence.term => Ok(()),
            Some(term) => Err(lost(format!("term {term} is current"))),
            None => Err(lost("the term record is gone".into())),
        }
    }

    /// [`LeaderLease::check`] as a yes or no.
    pub async fn is_held(&mut self) -> bool {
        self.check().await.is_ok()
    }

    /// Gives up leadership: the lock is released (its connection closed), so another
    /// replica can win the next term. The term stays, so this leader's writes are fenced
    /// as soon as one does.
    pub async fn release(mut self) -> Result<(), StoreError> {
        if let Some(conn) = self.conn.take() {
            conn.close().await?;
        }
        Ok(())
    }
}

/// Refuses the transaction's writes unless `fence` is the current term. In PostgreSQL the
/// term row is share-locked until commit, so a new leader's increment waits for this
/// write: it either lands before the new term or is refused.
pub(crate) async fn check_fence(tx: &mut Tx, fence: &Fence) -> Result<(), StoreError> {
    let sql = match tx.backend() {
        Backend::Postgres => "SELECT term FROM leader_terms WHERE name = $1 FOR SHARE",
        Backend::Sqlite => "SELECT term FROM leader_terms WHERE name = $1",
    };
    let current = tx
        .fetch_optional(sql, args![fence.name.as_str()])
        .await?
        .map(|row| row.i64("term"))
        .transpose()?;
    if current == Some(fence.term) {
        return Ok(());
    }
    Err(StoreError::Fenced {
        name: fence.name.clone(),
        term: fence.term,
        current,
    })
}
