//! An Odoo-shaped fixture for tests and benchmarks: the tables a backup reads (with Odoo's
//! own column names) and a filestore in Odoo's `<sha1[:2]>/<sha1>` layout.
//!
//! Content is pseudo-random from a seed, so runs are repeatable. Not used by backups.

use std::fmt::Write as _;
use std::path::Path;

use sha1::{Digest, Sha1};

use crate::error::{Result, VaultError, io_err};
use crate::pg::{DbConnection, db_error};

/// What to generate.
#[derive(Debug, Clone)]
pub struct OdooFixture {
    pub partners: usize,
    pub users: usize,
    /// Attachments stored in the filestore (a few share content, as in Odoo).
    pub attachments: usize,
    pub min_blob_bytes: usize,
    pub max_blob_bytes: usize,
    pub seed: u64,
}

impl Default for OdooFixture {
    fn default() -> Self {
        OdooFixture {
            partners: 200,
            users: 10,
            attachments: 60,
            min_blob_bytes: 64,
            max_blob_bytes: 64 * 1024,
            seed: 1,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct FixtureData {
    /// Distinct `store_fname`s written, sorted.
    pub store_fnames: Vec<String>,
    pub blob_bytes: u64,
}

/// A small, fast pseudo-random generator (xorshift64*); quality is irrelevant here.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Half compressible text, half noise, like real documents and images.
    pub fn content(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let noisy = self.below(2) == 0;
        while out.len() < len {
            let v = self.next_u64();
            if noisy {
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.extend_from_slice(b"Patient record line ");
                let _ = write!(FmtVec(&mut out), "{} ", v % 100_000);
            }
        }
        out.truncate(len);
        out
    }
}

struct FmtVec<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for FmtVec<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS res_partner (
    id serial PRIMARY KEY, name varchar, display_name varchar, email varchar, phone varchar,
    street varchar, city varchar, zip varchar, country_id integer, is_company boolean DEFAULT false,
    active boolean DEFAULT true, company_id integer, create_date timestamp DEFAULT now(),
    write_date timestamp DEFAULT now());
CREATE TABLE IF NOT EXISTS res_users (
    id serial PRIMARY KEY, login varchar NOT NULL UNIQUE, password varchar,
    partner_id integer NOT NULL REFERENCES res_partner(id), active boolean DEFAULT true,
    company_id integer, share boolean DEFAULT false, create_date timestamp DEFAULT now(),
    write_date timestamp DEFAULT now());
CREATE TABLE IF NOT EXISTS ir_module_module (
    id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, state varchar, latest_version varchar,
    author varchar, summary varchar, application boolean DEFAULT false,
    create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE IF NOT EXISTS ir_attachment (
    id serial PRIMARY KEY, name varchar NOT NULL, description text, res_model varchar,
    res_field varchar, res_id integer, company_id integer, type varchar NOT NULL DEFAULT 'binary',
    url varchar(1024), public boolean, access_token varchar, db_datas bytea, store_fname varchar,
    file_size integer, checksum varchar(40), mimetype varchar, index_content text,
    create_uid integer, create_date timestamp DEFAULT now(), write_uid integer,
    write_date timestamp DEFAULT now());
CREATE INDEX IF NOT EXISTS ir_attachment_store_fname_index ON ir_attachment (store_fname);
CREATE TABLE IF NOT EXISTS ir_config_parameter (
    id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL,
    create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE IF NOT EXISTS ir_cron (
    id serial PRIMARY KEY, cron_name varchar, ir_actions_server_id integer, user_id integer,
    active boolean DEFAULT true, interval_number integer, interval_type varchar,
    nextcall timestamp NOT NULL DEFAULT now(), lastcall timestamp, priority integer DEFAULT 5,
    create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
CREATE TABLE IF NOT EXISTS ir_mail_server (
    id serial PRIMARY KEY, name varchar NOT NULL, from_filter varchar, smtp_host varchar,
    smtp_port integer DEFAULT 25, smtp_authentication varchar DEFAULT 'login', smtp_user varchar,
    smtp_pass varchar, smtp_encryption varchar DEFAULT 'none', sequence integer DEFAULT 10,
    active boolean DEFAULT true, create_date timestamp DEFAULT now(), write_date timestamp DEFAULT now());
"#;

const MODULES: &[(&str, &str, &str)] = &[
    ("base", "installed", "17.0.1.3"),
    ("web", "installed", "17.0.1.0"),
    ("mail", "installed", "17.0.1.15"),
    ("contacts", "installed", "17.0.1.0"),
    ("account", "installed", "17.0.1.2"),
    ("sale", "installed", "17.0.1.2"),
    ("calendar", "installed", "17.0.1.1"),
    ("hr", "uninstalled", "17.0.1.1"),
    ("website", "uninstalled", "17.0.1.0"),
];

/// Creates the Odoo tables in `db` (which must exist) and fills them, writing attachment
/// files under `filestore`.
pub async fn build(db: &DbConnection, filestore: &Path, spec: &OdooFixture) -> Result<FixtureData> {
    let client = db.connect().await?;
    client.batch_execute(SCHEMA).await.map_err(db_error)?;
    let mut rng = Xorshift::new(spec.seed);

    let mut sql =
        String::from("INSERT INTO ir_module_module (name, state, latest_version, author) VALUES ");
    for (i, (name, state, version)) in MODULES.iter().enumerate() {
        let _ = write!(
            sql,
            "{}('{name}', '{state}', '{version}', 'Odoo S.A.')",
            if i > 0 { "," } else { "" }
        );
    }
    sql.push_str(" ON CONFLICT (name) DO NOTHING");
    client.batch_execute(&sql).await.map_err(db_error)?;

    client
        .batch_execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES \
             ('database.uuid', 'c0ffee00-0000-4000-8000-000000000001'), \
             ('web.base.url', 'https://odoo.example.org'), \
             ('database.create_date', '2026-01-01 00:00:00'), \
             ('ir_attachment.location', 'file') ON CONFLICT (key) DO NOTHING; \
             INSERT INTO ir_cron (cron_name, interval_number, interval_type, active) VALUES \
             ('Mail: Email Queue Manager', 1, 'minutes', true), \
             ('Base: Auto-vacuum internal data', 1, 'days', true), \
             ('Calendar: Event Reminder', 1, 'hours', false); \
             INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_user, smtp_encryption) VALUES \
             ('outbound', 'smtp.example.org', 587, 'odoo', 'starttls');",
        )
        .await
        .map_err(db_error)?;

    for chunk_start in (0..spec.partners).step_by(500) {
        let mut sql = String::from(
            "INSERT INTO res_partner (name, display_name, email, phone, city, is_company) VALUES ",
        );
        for i in chunk_start..(chunk_start + 500).min(spec.partners) {
            let n = rng.below(1_000_000);
            let _ = write!(
                sql,
                "{}('Patient {i} {n}', 'Patient {i}', 'p{i}@example.org', '+1555{n:07}', 'Springfield', {})",
                if i > chunk_start { "," } else { "" },
                i % 10 == 0
            );
        }
        client.batch_execute(&sql).await.map_err(db_error)?;
    }
    if spec.users > 0 {
        let mut sql =
            String::from("INSERT INTO res_users (login, password, partner_id, share) VALUES ");
        for i in 0..spec.users {
            let _ = write!(
                sql,
                "{}('user{i}@example.org', '$pbkdf2-sha512$fixture', (SELECT min(id) FROM res_partner) + {}, {})",
                if i > 0 { "," } else { "" },
                i % spec.partners.max(1),
                i > 3
            );
        }
        client.batch_execute(&sql).await.map_err(db_error)?;
    }
    // Attachments kept in the database rather than the filestore, and URL attachments:
    // they must not be looked for on disk.
    client
        .batch_execute(
            "INSERT INTO ir_attachment (name, type, db_datas, file_size, mimetype, res_model, res_id) VALUES \
             ('inline.txt', 'binary', 'inline bytes'::bytea, 12, 'text/plain', 'res.partner', 1); \
             INSERT INTO ir_attachment (name, type, url, res_model, res_id) VALUES \
             ('portal link', 'url', 'https://example.org/doc', 'res.partner', 2);",
        )
        .await
        .map_err(db_error)?;
    let store_fnames = add_attachments(db, filestore, spec.attachments, spec, &mut rng).await?;
    let mut blob_bytes = 0;
    for f in &store_fnames {
        blob_bytes += std::fs::metadata(filestore.join(f))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    Ok(FixtureData {
        store_fnames,
        blob_bytes,
    })
}

/// Writes `count` new attachment files and rows (every tenth shares its content with the
/// previous one, as Odoo deduplicates). Returns the distinct new `store_fname`s.
pub async fn add_attachments(
    db: &DbConnection,
    filestore: &Path,
    count: usize,
    spec: &OdooFixture,
    rng: &mut Xorshift,
) -> Result<Vec<String>> {
    let client = db.connect().await?;
    let mut names = Vec::new();
    let mut sql = String::new();
    let mut previous: Option<(String, String, usize)> = None;
    for i in 0..count {
        let (store_fname, checksum, size) = match (&previous, i % 10 == 9) {
            (Some(p), true) => p.clone(),
            _ => {
                let span = spec.max_blob_bytes.saturating_sub(spec.min_blob_bytes) as u64;
                let size = spec.min_blob_bytes + rng.below(span + 1) as usize;
                let data = rng.content(size);
                let sha = hex::encode(Sha1::digest(&data));
                let store_fname = format!("{}/{}", &sha[..2], sha);
                let path = filestore.join(&store_fname);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(io_err("creating a fixture folder", parent))?;
                }
                std::fs::write(&path, &data).map_err(io_err("writing a fixture blob", &path))?;
                names.push(store_fname.clone());
                (store_fname, sha, size)
            }
        };
        if sql.is_empty() {
            sql.push_str(
                "INSERT INTO ir_attachment (name, res_model, res_id, type, store_fname, checksum, file_size, mimetype) VALUES ",
            );
        } else {
            sql.push(',');
        }
        let _ = write!(
            sql,
            "('scan-{i}-{}.pdf', 'res.partner', {}, 'binary', '{store_fname}', '{checksum}', {size}, 'application/pdf')",
            rng.below(1 << 30),
            1 + rng.below(100)
        );
        previous = Some((store_fname, checksum, size));
        if i % 500 == 499 {
            client.batch_execute(&sql).await.map_err(db_error)?;
            sql.clear();
        }
    }
    if !sql.is_empty() {
        client.batch_execute(&sql).await.map_err(db_error)?;
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Checks a fixture spec (for benchmark input).
pub fn validate(spec: &OdooFixture) -> Result<()> {
    if spec.min_blob_bytes > spec.max_blob_bytes {
        return Err(VaultError::InvalidInput(
            "min_blob_bytes exceeds max_blob_bytes".into(),
        ));
    }
    Ok(())
}

/// Where a packed object lies, for tests that damage stored bytes: its pack (relative to
/// the repository root) and byte range, if a pack index the tenant key opens places it.
pub async fn locate_packed(
    repo: &crate::store::Repository,
    tenant: &str,
    key: &crate::keys::RepositoryKey,
    object: &str,
) -> Result<Option<(String, std::ops::Range<u64>)>> {
    let index = crate::pack::load(repo, tenant, &crate::pack::index_identities(key)).await?;
    Ok(index
        .locate(object)
        .map(|(pack, offset, length)| (pack.to_string(), offset..offset + length)))
}
