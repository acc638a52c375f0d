//! Where a repository lives (a local folder or S3) and the object-level operations on it.
//!
//! With object lock configured, every data object is written with S3 Object Lock headers
//! (mode and retain-until date), so that nobody, Ward included, can delete it early.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use futures::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    ClientOptions, HeaderMap, HeaderValue, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VaultError, io_err, storage_err};
use crate::keys::SecretString;
pub(crate) use crate::names::check_name;

/// An S3 (or S3-compatible) bucket location.
#[derive(Debug, Clone)]
pub struct S3Location {
    /// `None` for AWS itself; e.g. `http://127.0.0.1:9000` for a compatible server.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Folder inside the bucket holding the repository (may be empty).
    pub prefix: String,
    pub access_key_id: Option<SecretString>,
    pub secret_access_key: Option<SecretString>,
}

impl S3Location {
    /// A location without credentials yet: the caller sets `access_key_id` and
    /// `secret_access_key` (the vault reads no environment variable itself).
    pub fn new(
        endpoint: Option<String>,
        bucket: impl Into<String>,
        region: impl Into<String>,
        prefix: impl Into<String>,
    ) -> S3Location {
        S3Location {
            endpoint,
            bucket: bucket.into(),
            region: region.into(),
            prefix: prefix.into(),
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

/// Where the repository lives.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// A local folder (created if missing).
    Local(PathBuf),
    S3(S3Location),
}

/// S3 Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Users with special permission can still shorten or remove the retention.
    Governance,
    /// Nobody, root account included, can delete the object before retention ends.
    Compliance,
}

impl LockMode {
    fn header(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }
}

/// Retention applied to every data object written (the tier's immutability).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLock {
    pub mode: LockMode,
    pub days: u32,
}

/// A repository: where it is and how objects are protected.
#[derive(Debug, Clone)]
pub struct RepositoryConfig {
    pub store: StoreLocation,
    pub object_lock: Option<ObjectLock>,
}

/// An open repository. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Reads, lists, deletes and unprotected writes (leases).
    plain: Arc<dyn ObjectStore>,
    /// Writes of data objects; carries the object-lock headers when configured.
    protected: Arc<dyn ObjectStore>,
    prefix: Option<ObjPath>,
    lock: Option<ObjectLock>,
    retain_until: Option<jiff::Timestamp>,
    description: String,
    /// The same store as `plain` when the repository is a local folder: blob writers on
    /// blocking threads write its files directly instead of going through the async API.
    local: Option<Arc<LocalFileSystem>>,
    /// For the S3 requests `object_store` does not make (listing incomplete uploads).
    s3: Option<Arc<S3Access>>,
}

/// What signed requests to the bucket need. `Debug` never shows the secret.
struct S3Access {
    /// `scheme://host[:port]/bucket` (path style) or `https://bucket.s3.region…` (AWS).
    bucket_url: String,
    region: String,
    credential: Option<object_store::aws::AwsCredential>,
    allow_http: bool,
}

impl std::fmt::Debug for S3Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Access")
            .field("bucket_url", &self.bucket_url)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A multipart upload that was started and never completed nor aborted: on S3, what a
/// killed backup leaves of the dump it was streaming.
#[derive(Debug, Clone)]
pub(crate) struct PendingUpload {
    /// The object it would have become, relative to the repository root.
    pub object: String,
    pub upload_id: String,
    pub initiated: jiff::Timestamp,
}

/// Plain store, protected store, prefix, retain-until, description, local folder store.
type OpenedStores = (
    Arc<dyn ObjectStore>,
    Arc<dyn ObjectStore>,
    Option<ObjPath>,
    Option<jiff::Timestamp>,
    String,
    Option<Arc<LocalFileSystem>>,
);

const MARKER: &str = "ward-vault.json";
const FORMAT: &str = "ward-vault/1";

#[derive(Serialize, Deserialize)]
struct RepositoryMarker {
    format: String,
}

impl Repository {
    /// Opens (and on first use initialises) the repository described by `config`.
    pub async fn open(config: &RepositoryConfig) -> Result<Repository> {
        let (plain, protected, prefix, retain_until, description, local): OpenedStores =
            match &config.store {
                StoreLocation::Local(dir) => {
                    if config.object_lock.is_some() {
                        return Err(VaultError::InvalidInput(
                        "object lock needs an S3 store with Object Lock enabled; a local folder cannot enforce retention".into(),
                    ));
                    }
                    std::fs::create_dir_all(dir)
                        .map_err(io_err("creating the repository folder", dir))?;
                    let store =
                        LocalFileSystem::new_with_prefix(dir).map_err(|e| VaultError::Storage {
                            action: "open",
                            path: dir.display().to_string(),
                            message: crate::error::storage_message(&e),
                        })?;
                    let local = Arc::new(store);
                    let store: Arc<dyn ObjectStore> = local.clone();
                    (
                        store.clone(),
                        store,
                        None,
                        None,
                        dir.display().to_string(),
                        Some(local),
                    )
                }
                StoreLocation::S3(s3) => {
                    let build = |headers: Option<HeaderMap>| -> Result<Arc<dyn ObjectStore>> {
                        let mut b = AmazonS3Builder::new()
                            .with_bucket_name(&s3.bucket)
                            .with_region(&s3.region)
                            .with_checksum_algorithm(object_store::aws::Checksum::SHA256);
                        if let Some(ep) = &s3.endpoint {
                            b = b
                                .with_endpoint(ep)
                                .with_allow_http(ep.starts_with("http://"))
                                .with_virtual_hosted_style_request(false);
                        }
                        if let Some(k) = &s3.access_key_id {
                            b = b.with_access_key_id(k.expose());
                        }
                        if let Some(k) = &s3.secret_access_key {
                            b = b.with_secret_access_key(k.expose());
                        }
                        let mut opts = ClientOptions::new().with_allow_http(
                            s3.endpoint
                                .as_deref()
                                .is_some_and(|e| e.starts_with("http://")),
                        );
                        if let Some(h) = headers {
                            opts = opts.with_default_headers(h);
                        }
                        b = b.with_client_options(opts);
                        let store = b.build().map_err(|e| VaultError::Storage {
                            action: "open",
                            path: format!("s3://{}/{}", s3.bucket, s3.prefix),
                            message: crate::error::storage_message(&e),
                        })?;
                        Ok(Arc::new(store))
                    };
                    let plain = build(None)?;
                    let (protected, retain_until) = match config.object_lock {
                        Some(lock) => {
                            let until = jiff::Timestamp::now()
                                .checked_add(jiff::SignedDuration::from_hours(
                                    24 * i64::from(lock.days),
                                ))
                                .map_err(|e| {
                                    VaultError::InvalidInput(format!("object lock days: {e}"))
                                })?;
                            let mut h = HeaderMap::new();
                            h.insert(
                                "x-amz-object-lock-mode",
                                HeaderValue::from_static(lock.mode.header()),
                            );
                            let date = until.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
                            let value = HeaderValue::from_str(&date).map_err(|e| {
                                VaultError::InvalidInput(format!("object lock date: {e}"))
                            })?;
                            h.insert("x-amz-object-lock-retain-until-date", value);
                            // S3 requires a declared checksum on writes that carry a retention.
                            h.insert(
                                "x-amz-sdk-checksum-algorithm",
                                HeaderValue::from_static("SHA256"),
                            );
                            (build(Some(h))?, Some(until))
                        }
                        None => (plain.clone(), None),
                    };
                    let prefix = s3.prefix.trim_matches('/');
                    let prefix = (!prefix.is_empty())
                        .then(|| ObjPath::parse(prefix))
                        .transpose()
                        .map_err(|e| {
                            VaultError::InvalidInput(format!("S3 prefix {prefix:?}: {e}"))
                        })?;
                    (
                        plain,
                        protected,
                        prefix,
                        retain_until,
                        format!("s3://{}/{}", s3.bucket, s3.prefix),
                        None,
                    )
                }
            };
        let s3 = match &config.store {
            StoreLocation::S3(s3) => Some(Arc::new(S3Access {
                bucket_url: match &s3.endpoint {
                    Some(ep) => format!("{}/{}", ep.trim_end_matches('/'), s3.bucket),
                    None => format!("https://{}.s3.{}.amazonaws.com", s3.bucket, s3.region),
                },
                region: s3.region.clone(),
                credential: s3
                    .access_key_id
                    .as_ref()
                    .zip(s3.secret_access_key.as_ref())
                    .map(|(id, secret)| object_store::aws::AwsCredential {
                        key_id: id.expose().to_string(),
                        secret_key: secret.expose().to_string(),
                        token: None,
                    }),
                allow_http: s3
                    .endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
            })),
            StoreLocation::Local(_) => None,
        };
        let repo = Repository {
            plain,
            protected,
            prefix,
            lock: config.object_lock,
            retain_until,
            description,
            local,
            s3,
        };
        repo.ensure_marker().await?;
        Ok(repo)
    }

    async fn ensure_marker(&self) -> Result<()> {
        match self.get_bytes(MARKER).await? {
            Some(bytes) => {
                let marker: RepositoryMarker =
                    serde_json::from_slice(&bytes).map_err(|e| VaultError::Corrupted {
                        object: MARKER.into(),
                        reason: e.to_string(),
                    })?;
                if marker.format != FORMAT {
                    return Err(VaultError::InvalidInput(format!(
                        "repository format {:?} is not supported (expected {FORMAT}); use a newer Ward",
                        marker.format
                    )));
                }
                Ok(())
            }
            None => {
                let body = serde_json::to_vec_pretty(&RepositoryMarker {
                    format: FORMAT.into(),
                })
                .map_err(|e| VaultError::InvalidInput(e.to_string()))?;
                self.put_unprotected(MARKER, body.into()).await
            }
        }
    }

    /// Human-readable location (no credentials).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The object lock applied to data objects written through this handle, if any.
    pub fn object_lock(&self) -> Option<ObjectLock> {
        self.lock
    }

    pub(crate) fn retain_until(&self) -> Option<jiff::Timestamp> {
        self.retain_until
    }

    pub(crate) fn path(&self, rel: &str) -> ObjPath {
        match &self.prefix {
            Some(p) => ObjPath::from(format!("{p}/{rel}")),
            None => ObjPath::from(rel),
        }
    }

    /// Strips the repository prefix off a listed path.
    pub(crate) fn relative(&self, path: &ObjPath) -> String {
        let s = path.as_ref();
        match &self.prefix {
            Some(p) => s
                .strip_prefix(p.as_ref())
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(s)
                .to_string(),
            None => s.to_string(),
        }
    }

    /// Whether the repository is a local folder.
    pub(crate) fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The file behind object `rel` when the repository is a local folder (never with
    /// object lock: a local folder refuses it), for writers on blocking threads.
    pub(crate) fn local_file(&self, rel: &str) -> Result<Option<PathBuf>> {
        let Some(local) = &self.local else {
            return Ok(None);
        };
        let path = self.path(rel);
        local
            .path_to_filesystem(&path)
            .map(Some)
            .map_err(storage_err("locate", &path))
    }

    pub(crate) fn protected_store(&self) -> &Arc<dyn ObjectStore> {
        &self.protected
    }

    pub(crate) async fn put(&self, rel: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(rel);
        self.protected
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(storage_err("write", &path))?;
        Ok(())
    }

    /// Writes only if the object does not exist yet. Returns false if it existed.
    pub(crate) async fn put_new(&self, rel: &str, bytes: Bytes, protected: bool) -> Result<bool> {
        let path = self.path(rel);
        let store = if protected {
            &self.protected
        } else {
            &self.plain
        };
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match store
            .put_opts(&path, PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::NotImplemented { .. }) => {
                // Stores without conditional writes: check, then write. The window is small
                // and callers that need exclusivity read back what they wrote.
                if self.head(rel).await?.is_some() {
                    return Ok(false);
                }
                store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(storage_err("write", &path))?;
                Ok(true)
            }
            Err(e) => Err(storage_err("write", &path)(e)),
        }
    }

    pub(crate) async fn put_unprotected(&self, rel: &str, bytes: Bytes) -> Result<()> {
        let path = self.path(rel);
        self.plain
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(storage_err("write", &path))?;
        Ok(())
    }

    pub(crate) async fn get_bytes(&self, rel: &str) -> Result<Option<Bytes>> {
        let path = self.path(rel);
        match self.plain.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(storage_err("read", &path))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_err("read", &path)(e)),
        }
    }

    /// Reads `range` of an object (an object inside a pack); `None` if the object is gone.
    pub(crate) async fn get_range(
        &self,
        rel: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Option<Bytes>> {
        let path = self.path(rel);
        match self.plain.get_range(&path, range).await {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_err("read", &path)(e)),
        }
    }

    pub(crate) async fn get_stream(
        &self,
        rel: &str,
    ) -> Result<Option<BoxStream<'static, object_store::Result<Bytes>>>> {
        let path = self.path(rel);
        match self.plain.get(&path).await {
            Ok(r) => Ok(Some(r.into_stream())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_err("read", &path)(e)),
        }
    }

    pub(crate) async fn head(&self, rel: &str) -> Result<Option<ObjectMeta>> {
        let path = self.path(rel);
        match self.plain.head(&path).await {
            Ok(m) => Ok(Some(m)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage_err("inspect", &path)(e)),
        }
    }

    /// Lists every object under `rel_prefix` (recursively), with paths made relative.
    pub(crate) async fn list(&self, rel_prefix: &str) -> Result<Vec<(String, ObjectMeta)>> {
        let path = self.path(rel_prefix.trim_end_matches('/'));
        let metas: Vec<ObjectMeta> = self
            .plain
            .list(Some(&path))
            .try_collect()
            .await
            .map_err(storage_err("list", &path))?;
        let mut out: Vec<(String, ObjectMeta)> = metas
            .into_iter()
            .map(|m| (self.relative(&m.location), m))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    pub(crate) async fn delete(&self, rel: &str) -> Result<()> {
        let path = self.path(rel);
        match self.plain.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_err("delete", &path)(e)),
        }
    }
}

/// A staging file of a local repository (`<object>#<digits>`): a write in progress, or what
/// a killed writer left. Listings never show these, so garbage collection finds them here.
#[derive(Debug, Clone)]
pub(crate) struct StagingFile {
    /// Path relative to the repository root, `#<digits>` included.
    pub rel: String,
    /// The object it would have become.
    pub object: String,
    pub path: PathBuf,
    pub size: u64,
    pub modified: jiff::Timestamp,
}

/// Whether a file name is a staging name, `<name>#<digits>`, as `LocalFileSystem` and
/// [`StagedFile`] make them.
fn staging_object(file_name: &str) -> Option<&str> {
    let (object, suffix) = file_name.rsplit_once('#')?;
    (!object.is_empty() && !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
        .then_some(object)
}

impl Repository {
    /// One signed request to the bucket (`query` after the `?`, `key` the object's full
    /// key or empty), returning the response body; `None` without static credentials.
    async fn s3_request(&self, method: &str, key: &str, query: &str) -> Result<Option<Bytes>> {
        let Some(s3) = &self.s3 else {
            return Ok(None);
        };
        let Some(credential) = &s3.credential else {
            return Ok(None);
        };
        let url = format!("{}/{key}?{query}", s3.bucket_url);
        let failed = |message: String| VaultError::Storage {
            action: "manage uploads in",
            path: self.description.clone(),
            message,
        };
        let mut request = object_store::client::HttpRequest::new(Vec::new().into());
        *request.method_mut() = method
            .parse()
            .map_err(|_| failed(format!("bad method {method}")))?;
        *request.uri_mut() = url
            .parse()
            .map_err(|_| failed("the bucket's address is not a valid URL".into()))?;
        object_store::aws::AwsAuthorizer::new(credential, "s3", &s3.region)
            .try_authorize(&mut request, None)
            .map_err(|e| failed(crate::error::storage_message(&e)))?;
        let client = object_store::client::HttpConnector::connect(
            &object_store::client::ReqwestConnector::default(),
            &ClientOptions::new().with_allow_http(s3.allow_http),
        )
        .map_err(|e| failed(crate::error::storage_message(&e)))?;
        let response = client
            .execute(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let code = xml_values(&text, "Code")
                .into_iter()
                .next()
                .unwrap_or_default();
            return Err(failed(format!("HTTP {status} {code}")));
        }
        Ok(Some(body))
    }

    /// Multipart uploads under `rel_prefix` never completed nor aborted (S3 only; empty
    /// for a local folder, or without static credentials to sign the listing with).
    pub(crate) async fn pending_uploads(&self, rel_prefix: &str) -> Result<Vec<PendingUpload>> {
        let prefix = self.path(rel_prefix.trim_end_matches('/')).to_string() + "/";
        let mut out = Vec::new();
        let mut markers = String::new();
        loop {
            let query = format!("prefix={}&uploads={markers}", query_escape(&prefix));
            let Some(body) = self.s3_request("GET", "", &query).await? else {
                return Ok(out);
            };
            let text = String::from_utf8_lossy(&body);
            for upload in text.split("<Upload>").skip(1) {
                let value = |tag| xml_values(upload, tag).into_iter().next();
                let (Some(key), Some(upload_id)) = (value("Key"), value("UploadId")) else {
                    continue;
                };
                let initiated = value("Initiated")
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .unwrap_or_else(jiff::Timestamp::now);
                out.push(PendingUpload {
                    object: self.relative(&ObjPath::from(key.as_str())),
                    upload_id,
                    initiated,
                });
            }
            let truncated =
                xml_values(&text, "IsTruncated").first().map(String::as_str) == Some("true");
            let next_key = xml_values(&text, "NextKeyMarker").into_iter().next();
            let next_id = xml_values(&text, "NextUploadIdMarker").into_iter().next();
            match (truncated, next_key, next_id) {
                (true, Some(key), Some(id)) => {
                    markers = format!(
                        "&key-marker={}&upload-id-marker={}",
                        query_escape(&key),
                        query_escape(&id)
                    );
                }
                _ => return Ok(out),
            }
        }
    }

    /// Aborts one multipart upload, which deletes the parts it stored.
    pub(crate) async fn abort_upload(&self, upload: &PendingUpload) -> Result<()> {
        let key = self.path(&upload.object).to_string();
        let key: String = key
            .split('/')
            .map(query_escape)
            .collect::<Vec<_>>()
            .join("/");
        let query = format!("uploadId={}", query_escape(&upload.upload_id));
        self.s3_request("DELETE", &key, &query).await.map(|_| ())
    }

    /// Every staging file under `rel_prefix`, when the repository is a local folder (an S3
    /// upload that never completed is not an object; see docs/vault.md). Symbolic links are
    /// not followed.
    pub(crate) fn local_staging_files(&self, rel_prefix: &str) -> Result<Vec<StagingFile>> {
        let Some(root) = self.local_file(rel_prefix.trim_end_matches('/'))? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut folders = vec![(root, rel_prefix.trim_end_matches('/').to_string())];
        while let Some((folder, rel)) = folders.pop() {
            let entries = match std::fs::read_dir(&folder) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                other => other.map_err(io_err("listing the repository folder", &folder))?,
            };
            for entry in entries {
                let entry = entry.map_err(io_err("listing the repository folder", &folder))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path)
                    .map_err(io_err("inspecting a repository file", &path))?;
                let child = format!("{rel}/{name}");
                if meta.is_dir() {
                    folders.push((path, child));
                } else if meta.is_file()
                    && let Some(object) = staging_object(&name)
                {
                    let modified = meta
                        .modified()
                        .ok()
                        .and_then(|t| jiff::Timestamp::try_from(t).ok())
                        .unwrap_or_else(jiff::Timestamp::now);
                    out.push(StagingFile {
                        object: format!("{rel}/{object}"),
                        rel: child,
                        path,
                        size: meta.len(),
                        modified,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }
}

/// The unescaped texts of every `<tag>…</tag>` in an S3 XML response (flat elements only).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v))
        .map(|v| {
            v.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// Percent-encodes all but RFC 3986's unreserved characters, as SigV4 wants.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A file being written beside its final path and renamed onto it when complete, as the
/// object store's own local writes do: readers never see a partial object. The staging name
/// `<final>#<digits>` is the one `LocalFileSystem` uses and leaves out of listings, so a
/// file left by a crash is invisible to `list` and is never mistaken for an object.
pub(crate) struct StagedFile {
    file: File,
    staging: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl StagedFile {
    /// Creates the staging file (and the object's folder when it is missing).
    pub(crate) fn create(dest: &Path) -> io::Result<StagedFile> {
        let mut suffix = 1u32;
        let mut created_folder = false;
        loop {
            let mut staging = dest.as_os_str().to_owned();
            staging.push(format!("#{suffix}"));
            let staging = PathBuf::from(staging);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&staging)
            {
                Ok(file) => {
                    return Ok(StagedFile {
                        file,
                        staging,
                        dest: dest.to_path_buf(),
                        committed: false,
                    });
                }
                // Another writer of the same content: take the next staging name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => suffix += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound && !created_folder => {
                    let folder = dest.parent().ok_or(e)?;
                    std::fs::create_dir_all(folder)?;
                    created_folder = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Publishes the file under its final name (atomically replacing an older copy).
    pub(crate) fn commit(mut self) -> io::Result<()> {
        std::fs::rename(&self.staging, &self.dest)?;
        self.committed = true;
        Ok(())
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover staging file is invisible to listings anyway.
            let _ = std::fs::remove_file(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_name_hash_digits() {
        assert_eq!(staging_object("dump.age#1"), Some("dump.age"));
        assert_eq!(staging_object("ab12#37"), Some("ab12"));
        for not in ["dump.age", "dump.age#", "#1", "dump#age", "dump.age#1a"] {
            assert_eq!(staging_object(not), None, "{not}");
        }
    }
}
