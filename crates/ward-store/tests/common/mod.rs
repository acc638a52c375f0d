//! The backends every case runs against: a SQLite file in a temporary folder and a
//! throwaway PostgreSQL cluster (one per test process, a fresh database per fixture), plus
//! raw SQL access for the tests that tamper with or inspect what the store wrote.
#![allow(dead_code)]

use std::path::PathBuf;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use ward_pgtemp::TempCluster;
use ward_store::{Store, StoreOptions};

/// One database to test against, removed when dropped.
pub struct Fixture {
    pub url: String,
    pub sqlite_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    cluster: Option<TempCluster>,
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join("store.db");
        Fixture {
            url: format!("sqlite:{}", path.display()),
            sqlite_path: Some(path),
            _dir: Some(dir),
            cluster: None,
        }
    }

    pub fn postgres() -> Fixture {
        let cluster = TempCluster::start().expect("start a throwaway PostgreSQL");
        cluster
            .psql("CREATE DATABASE ward_store_test")
            .expect("create database");
        Fixture {
            url: cluster.url_for("ward_store_test"),
            sqlite_path: None,
            _dir: None,
            cluster: Some(cluster),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn cluster(&self) -> &TempCluster {
        self.cluster.as_ref().expect("a PostgreSQL fixture")
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("open the store")
    }

    pub async fn open_with(&self, options: &StoreOptions) -> Store {
        Store::open_with(&self.url, options)
            .await
            .expect("open the store")
    }

    /// Runs statements directly, as someone with access to the database would.
    pub async fn raw(&self, sql: &str) {
        match self.raw_pool().await {
            Raw::Sqlite(pool) => {
                sqlx::raw_sql(sql).execute(&pool).await.expect("raw sql");
                pool.close().await;
            }
            Raw::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(&pool).await.expect("raw sql");
                pool.close().await;
            }
        }
    }

    /// Replaces a ledger row's line bytes.
    pub async fn set_ledger_line(&self, seq: i64, line: Vec<u8>) {
        let sql = "UPDATE ledger_lines SET line = $1 WHERE seq = $2";
        match self.raw_pool().await {
            Raw::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(line)
                    .bind(seq)
                    .execute(&pool)
                    .await
                    .expect("update");
                pool.close().await;
            }
            Raw::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(line)
                    .bind(seq)
                    .execute(&pool)
                    .await
                    .expect("update");
                pool.close().await;
            }
        }
    }

    /// A ledger row's line bytes.
    pub async fn ledger_line(&self, seq: i64) -> Vec<u8> {
        let sql = "SELECT line FROM ledger_lines WHERE seq = $1";
        match self.raw_pool().await {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(seq)
                .fetch_one(&pool)
                .await
                .expect("select"),
            Raw::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(seq)
                .fetch_one(&pool)
                .await
                .expect("select"),
        }
    }

    /// Every byte the database holds for the tokens: the SQLite file and its WAL, or
    /// every api_tokens row as text in PostgreSQL.
    pub async fn token_bytes(&self) -> Vec<u8> {
        self.table_bytes("api_tokens").await
    }

    /// Every byte the database holds for `table` (which has a `secret_sha256` column):
    /// the SQLite file and its WAL, or every row as text in PostgreSQL.
    pub async fn table_bytes(&self, table: &str) -> Vec<u8> {
        if let Some(path) = &self.sqlite_path {
            let mut bytes = std::fs::read(path).expect("read the database file");
            let wal = PathBuf::from(format!("{}-wal", path.display()));
            if let Ok(more) = std::fs::read(wal) {
                bytes.extend(more);
            }
            return bytes;
        }
        let Raw::Postgres(pool) = self.raw_pool().await else {
            unreachable!()
        };
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT t::text || ' ' || encode(t.secret_sha256, 'hex') FROM {table} t"
        ))
        .fetch_all(&pool)
        .await
        .expect("select");
        pool.close().await;
        rows.join("\n").into_bytes()
    }

    /// The stored SHA-256 of every token's secret.
    pub async fn token_hashes(&self) -> Vec<Vec<u8>> {
        let sql = "SELECT secret_sha256 FROM api_tokens ORDER BY id";
        match self.raw_pool().await {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql)
                .fetch_all(&pool)
                .await
                .expect("select"),
            Raw::Postgres(pool) => sqlx::query_scalar(sql)
                .fetch_all(&pool)
                .await
                .expect("select"),
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        match self.raw_pool().await {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .expect("count"),
            Raw::Postgres(pool) => sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .expect("count"),
        }
    }

    async fn raw_pool(&self) -> Raw {
        if self.is_postgres() {
            Raw::Postgres(PgPool::connect(&self.url).await.expect("connect"))
        } else {
            Raw::Sqlite(SqlitePool::connect(&self.url).await.expect("connect"))
        }
    }
}

enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Declares every case once per backend: `cases!(a, b)` makes `sqlite::a`,
/// `postgres::a`, … each calling `a(&Fixture)`.
#[macro_export]
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = $crate::common::Fixture::sqlite();
                    super::$case(&fixture).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let fixture = tokio::task::spawn_blocking($crate::common::Fixture::postgres)
                        .await
                        .expect("start PostgreSQL");
                    super::$case(&fixture).await;
                }
            )*
        }
    };
}
