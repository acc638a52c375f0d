//! One way to run a statement on either database: SQL written once with `$1`-style
//! placeholders (which both SQLite and PostgreSQL read), arguments as [`Arg`], rows read
//! through [`DbRow`]. Write transactions take the database's writer lock up front.

use jiff::Timestamp;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Postgres, Row, Sqlite, Transaction};

use crate::error::StoreError;

/// Which database a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pool of connections to one of the two databases.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on one of the two databases. Dropped without
/// [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A row read back from either database.
pub(crate) enum DbRow {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

/// A statement argument. The typed nulls matter to PostgreSQL, which types every
/// parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    NullInt,
    NullText,
    NullBytes,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(v.clone())
    }
}

impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Arg {
        Arg::Bytes(v)
    }
}

impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Arg {
        v.map_or(Arg::NullBytes, Arg::Bytes)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        v.map_or(Arg::NullInt, Arg::Int)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        v.map_or(Arg::NullText, Arg::Text)
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        v.map_or(Arg::NullText, |s| Arg::Text(s.to_string()))
    }
}

/// `args![a, b, …]`: a `Vec<Arg>` from values that convert into [`Arg`].
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($value)),*]
    };
}
pub(crate) use args;

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
                Arg::NullInt => query.bind(None::<i64>),
                Arg::NullText => query.bind(None::<String>),
                Arg::NullBytes => query.bind(None::<Vec<u8>>),
            };
        }
        query
    }};
}

impl Pool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// A transaction that writes: in SQLite `BEGIN IMMEDIATE`, which takes the database's
    /// single writer lock now (waiting up to the busy timeout) instead of failing at the
    /// first write; in PostgreSQL a plain `BEGIN` (rows lock as they are written).
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A transaction that only reads, from one consistent snapshot: SQLite's deferred
    /// read transaction (WAL keeps its snapshot), PostgreSQL's `REPEATABLE READ`.
    pub(crate) async fn begin_read(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Pool::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    pub(crate) async fn execute(&self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(match self {
            Pool::Sqlite(pool) => bind_all!(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
            Pool::Postgres(pool) => bind_all!(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    pub(crate) async fn fetch_optional(
        &self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<DbRow>, StoreError> {
        Ok(match self {
            Pool::Sqlite(pool) => bind_all!(sqlx::query(sql), args)
                .fetch_optional(pool)
                .await?
                .map(DbRow::Sqlite),
            Pool::Postgres(pool) => bind_all!(sqlx::query(sql), args)
                .fetch_optional(pool)
                .await?
                .map(DbRow::Postgres),
        })
    }

    pub(crate) async fn fetch_one(&self, sql: &str, args: Vec<Arg>) -> Result<DbRow, StoreError> {
        Ok(match self {
            Pool::Sqlite(pool) => {
                DbRow::Sqlite(bind_all!(sqlx::query(sql), args).fetch_one(pool).await?)
            }
            Pool::Postgres(pool) => {
                DbRow::Postgres(bind_all!(sqlx::query(sql), args).fetch_one(pool).await?)
            }
        })
    }

    pub(crate) async fn fetch_all(
        &self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<DbRow>, StoreError> {
        Ok(match self {
            Pool::Sqlite(pool) => bind_all!(sqlx::query(sql), args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Pool::Postgres(pool) => bind_all!(sqlx::query(sql), args)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
        })
    }
}

impl Tx {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub(crate) async fn execute(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => bind_all!(sqlx::query(sql), args)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    pub(crate) async fn fetch_optional(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<DbRow>, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query(sql), args)
                .fetch_optional(&mut **tx)
                .await?
                .map(DbRow::Sqlite),
            Tx::Postgres(tx) => bind_all!(sqlx::query(sql), args)
                .fetch_optional(&mut **tx)
                .await?
                .map(DbRow::Postgres),
        })
    }

    pub(crate) async fn fetch_one(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<DbRow, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => DbRow::Sqlite(
                bind_all!(sqlx::query(sql), args)
                    .fetch_one(&mut **tx)
                    .await?,
            ),
            Tx::Postgres(tx) => DbRow::Postgres(
                bind_all!(sqlx::query(sql), args)
                    .fetch_one(&mut **tx)
                    .await?,
            ),
        })
    }

    pub(crate) async fn fetch_all(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<DbRow>, StoreError> {
        Ok(match self {
            Tx::Sqlite(tx) => bind_all!(sqlx::query(sql), args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(DbRow::Sqlite)
                .collect(),
            Tx::Postgres(tx) => bind_all!(sqlx::query(sql), args)
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(DbRow::Postgres)
                .collect(),
        })
    }

    /// Runs several statements at once (a migration), without parameters.
    pub(crate) async fn execute_script(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(tx) => {
                sqlx::raw_sql(sql).execute(&mut **tx).await?;
            }
            Tx::Postgres(tx) => {
                sqlx::raw_sql(sql).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }
}

macro_rules! get {
    ($row:expr, $col:expr) => {
        match $row {
            DbRow::Sqlite(row) => row.try_get($col)?,
            DbRow::Postgres(row) => row.try_get($col)?,
        }
    };
}

impl DbRow {
    pub(crate) fn i64(&self, col: &str) -> Result<i64, StoreError> {
        Ok(get!(self, col))
    }

    pub(crate) fn opt_i64(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(get!(self, col))
    }

    pub(crate) fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(get!(self, col))
    }

    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(get!(self, col))
    }

    pub(crate) fn bytes(&self, col: &str) -> Result<Vec<u8>, StoreError> {
        Ok(get!(self, col))
    }

    pub(crate) fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(get!(self, col))
    }

    /// A time column (unix milliseconds).
    pub(crate) fn time(&self, col: &str) -> Result<Timestamp, StoreError> {
        from_ms(self.i64(col)?)
    }

    pub(crate) fn opt_time(&self, col: &str) -> Result<Option<Timestamp>, StoreError> {
        self.opt_i64(col)?.map(from_ms).transpose()
    }
}

/// Times are stored as unix milliseconds (BIGINT in both databases).
pub(crate) fn to_ms(time: Timestamp) -> i64 {
    time.as_millisecond()
}

pub(crate) fn from_ms(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| StoreError::Corrupt(format!("time {ms} ms is out of range: {e}")))
}

/// Now, to the millisecond the store keeps.
pub(crate) fn now_ms() -> i64 {
    to_ms(Timestamp::now())
}

/// A duration in milliseconds for arithmetic on stored times.
pub(crate) fn duration_ms(d: std::time::Duration) -> Result<i64, StoreError> {
    i64::try_from(d.as_millis())
        .map_err(|_| StoreError::InvalidInput(format!("duration {d:?} is too long")))
}

/// A 64-bit key for PostgreSQL advisory locks, derived from a name so that the store's
/// locks do not collide with anyone else's small integers.
pub(crate) fn lock_key(name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("ward-store lock: {name}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}
