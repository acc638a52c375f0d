//! The input document the controls read: the resolved estate as JSON plus the rendered
//! Kubernetes objects and their origins. Every entity carries `at` (field → `{file, line,
//! col}`) so a finding names the estate line that caused it; see `docs/controls.md`.

use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use ward_estate::model::{Document, WorkloadSpec};
use ward_estate::{Estate, Location, ResolvedEnvironment, Span, Spanned};

/// One rendered Kubernetes object (`apiVersion`, `kind`, `metadata`, …) and, when the
/// renderer knows it, the workload environment it belongs to.
#[derive(Clone, Debug, Serialize)]
pub struct RenderedObject {
    pub manifest: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// The workload environments an object was rendered for: one for most objects, several
/// for the shared parts of a multi-tenant stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// `workload/environment` addresses.
    pub owners: Vec<String>,
    /// The cluster the object is applied to, when the renderer knows it (a recovery
    /// cluster's copy of a namespace is not the primary's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The file of the deploy tree the object is written to, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Labels a renderer may set instead of passing [`Provenance`].
pub const WORKLOAD_LABEL: &str = "ward.dev/workload";
pub const ENVIRONMENT_LABEL: &str = "ward.dev/environment";

impl RenderedObject {
    pub fn new(manifest: Value) -> RenderedObject {
        RenderedObject {
            manifest,
            provenance: None,
        }
    }

    /// The explicit provenance, else the one the `ward.dev/*` labels give.
    pub fn origin(&self) -> Option<Provenance> {
        if let Some(p) = &self.provenance {
            return Some(p.clone());
        }
        let labels = self.manifest.pointer("/metadata/labels")?;
        let workload = labels.get(WORKLOAD_LABEL)?.as_str()?;
        let environment = labels.get(ENVIRONMENT_LABEL)?.as_str()?;
        Some(Provenance {
            owners: vec![format!("{workload}/{environment}")],
            cluster: None,
            path: None,
        })
    }

    /// `Kind/namespace/name`, as people refer to an object.
    pub fn reference(&self) -> ObjectRef {
        ObjectRef::of(&self.manifest)
    }
}

/// Which Kubernetes object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn of(manifest: &Value) -> ObjectRef {
        let s = |p: &str| {
            manifest
                .pointer(p)
                .and_then(Value::as_str)
                .map(String::from)
        };
        ObjectRef {
            kind: s("/kind").unwrap_or_default(),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name").unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Builds the controls' input from a loaded estate, the rendered objects (possibly none)
/// and today's date (waiver expiry is judged against it).
pub fn build_input(
    estate: &Estate,
    objects: Option<&[RenderedObject]>,
    today: jiff::civil::Date,
) -> Value {
    let mut root = estate_part(estate, objects, today);
    let objects = objects.unwrap_or(&[]);
    let index = EnvironmentIndex::new(estate);
    let mut origins = OriginCache::default();
    let origins: Vec<Value> = objects
        .iter()
        .map(|o| origins.get(&index, o, |v| v.clone()))
        .collect();
    root.insert(
        "objects".into(),
        Value::Array(objects.iter().map(|o| o.manifest.clone()).collect()),
    );
    root.insert("origins".into(), Value::Array(origins));
    Value::Object(root)
}

/// The same document as [`build_input`], built straight into regorus' representation:
/// objects of the same environments share one origin value, and each rendered object is
/// dropped as soon as it is converted, so that the engine's copy takes the memory the
/// rendered tree gives back instead of adding to it. This is what [`crate::Checker::check`]
/// evaluates.
pub(crate) fn build_engine_input(
    estate: &Estate,
    objects: Option<Vec<RenderedObject>>,
    today: jiff::civil::Date,
    controls: &[String],
) -> Result<regorus::Value, String> {
    let started = std::time::Instant::now();
    let mut root = estate_part(estate, objects.as_deref(), today);
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "estate part built"
    );
    root.insert(
        "controls".into(),
        Value::Array(controls.iter().map(|c| Value::from(c.as_str())).collect()),
    );
    let objects = objects.unwrap_or_default();
    let index = EnvironmentIndex::new(estate);
    let mut cache = OriginCache::default();
    let origins: Vec<regorus::Value> = objects
        .iter()
        .map(|o| cache.get(&index, o, |v| regorus::Value::from(v.clone())))
        .collect();
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "origins built");
    let manifests = engine_manifests(objects)?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "manifests converted"
    );
    let mut value = regorus::Value::from(Value::Object(root));
    if let Ok(map) = value.as_object_mut() {
        map.insert(regorus::Value::from("objects"), manifests);
        map.insert(
            regorus::Value::from("origins"),
            regorus::Value::from(origins),
        );
    }
    Ok(value)
}

/// The manifests in regorus' representation. Each core takes a run of objects and parses
/// it as one JSON document, so that every object key is allocated once per run, not once
/// per object (regorus interns keys within one parse): on 60,000 rendered objects that is
/// most of the input's memory. Each object is freed once written, so the text and the
/// parse reuse its memory.
fn engine_manifests(objects: Vec<RenderedObject>) -> Result<regorus::Value, String> {
    let total = objects.len();
    let runs = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 4);
    let per_run = total.div_ceil(runs).max(1);
    let mut objects = objects.into_iter();
    let chunks: Vec<Vec<RenderedObject>> = (0..runs)
        .map(|_| objects.by_ref().take(per_run).collect())
        .collect();
    let parsed: Vec<Result<regorus::Value, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || parse_run(chunk)))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a conversion thread panicked".into()))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(total);
    for run in parsed {
        let run = run?;
        let items = run.as_array().map_err(|e| e.to_string())?;
        all.extend(items.iter().cloned());
    }
    Ok(regorus::Value::from(all))
}

/// One run of objects as a regorus array, through one JSON text.
fn parse_run(objects: Vec<RenderedObject>) -> Result<regorus::Value, String> {
    let mut text = Vec::with_capacity(objects.len() * 2048);
    text.push(b'[');
    for (i, object) in objects.into_iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        serde_json::to_writer(&mut text, &object.manifest).map_err(|e| e.to_string())?;
    }
    text.push(b']');
    let text = String::from_utf8(text).map_err(|e| e.to_string())?;
    regorus::Value::from_json_str(&text).map_err(|e| e.to_string())
}

/// Everything but `objects` and `origins`.
fn estate_part(
    estate: &Estate,
    objects: Option<&[RenderedObject]>,
    today: jiff::civil::Date,
) -> Map<String, Value> {
    let loc = |span: Span| location_json(&estate.sources.location(span));
    let mut root = Map::new();
    root.insert("today".into(), json!(today.to_string()));
    root.insert("rendered".into(), json!(objects.is_some()));
    root.insert("platform".into(), platform_json(estate, &loc));
    root.insert("teams".into(), teams_json(estate, &loc));
    root.insert(
        "workloads".into(),
        Value::Array(
            estate
                .workloads
                .iter()
                .map(|w| workload_json(w, &loc))
                .collect(),
        ),
    );
    let environments = environments_json(estate, &loc);
    let by_stage = match &environments {
        Value::Array(list) => indices_by(list, |e| e.get("stage")),
        _ => Value::Object(Map::new()),
    };
    root.insert("environments".into(), environments);
    root.insert("environmentsByStage".into(), by_stage);
    root.insert("waivers".into(), waivers_json(estate, &loc));
    let objects = objects.unwrap_or(&[]);
    root.insert(
        "objectsByKind".into(),
        indices_by(objects, |o| o.manifest.get("kind")),
    );
    root.insert(
        "objectsByNamespace".into(),
        indices_by(objects, |o| {
            o.manifest.get("metadata").and_then(|m| m.get("namespace"))
        }),
    );
    let mut by_address: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for (i, o) in objects.iter().enumerate() {
        for owner in o.origin().map(|p| p.owners).unwrap_or_default() {
            by_address.entry(owner).or_default().push(Value::from(i));
        }
    }
    root.insert(
        "objectsByAddress".into(),
        Value::Object(
            by_address
                .into_iter()
                .map(|(k, v)| (k, Value::Array(v)))
                .collect(),
        ),
    );
    root
}

/// Origins computed once per distinct (owners, cluster), then shared.
struct OriginCache<T> {
    seen: HashMap<(Vec<String>, Option<String>), T>,
}

impl<T> Default for OriginCache<T> {
    fn default() -> Self {
        OriginCache {
            seen: HashMap::new(),
        }
    }
}

impl<T: Clone> OriginCache<T> {
    fn get(
        &mut self,
        index: &EnvironmentIndex<'_>,
        object: &RenderedObject,
        make: impl FnOnce(&Value) -> T,
    ) -> T {
        let key = object
            .origin()
            .map(|p| (p.owners, p.cluster))
            .unwrap_or_default();
        self.seen
            .entry(key)
            .or_insert_with(|| make(&origin_json(index, object)))
            .clone()
    }
}

/// Positions of the items in `list` grouped by a string field (`kind`, `stage`), so that
/// controls visit only the items they read instead of every object.
fn indices_by<T>(list: &[T], field: impl Fn(&T) -> Option<&Value>) -> Value {
    let mut groups: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for (i, item) in list.iter().enumerate() {
        if let Some(key) = field(item).and_then(Value::as_str) {
            groups.entry(key).or_default().push(Value::from(i));
        }
    }
    Value::Object(
        groups
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::Array(v)))
            .collect(),
    )
}

fn location_json(l: &Location) -> Value {
    json!({"file": l.file, "line": l.line, "col": l.col})
}

/// `at` maps: field name → location, for the fields that are present.
struct At<'a, F: Fn(Span) -> Value> {
    map: Map<String, Value>,
    loc: &'a F,
}

impl<'a, F: Fn(Span) -> Value> At<'a, F> {
    fn new(loc: &'a F, name: Span) -> Self {
        let mut map = Map::new();
        map.insert("name".into(), loc(name));
        At { map, loc }
    }
    fn put<T>(&mut self, key: &str, v: Option<&Spanned<T>>) -> &mut Self {
        if let Some(v) = v {
            self.map.insert(key.into(), (self.loc)(v.span));
        }
        self
    }
    fn done(&mut self) -> Value {
        Value::Object(std::mem::take(&mut self.map))
    }
}

fn strings(v: &[Spanned<String>]) -> Value {
    Value::Array(v.iter().map(|s| json!(s.value)).collect())
}

fn platform_json<F: Fn(Span) -> Value>(estate: &Estate, loc: &F) -> Value {
    let Some(p) = &estate.platform else {
        return Value::Null;
    };
    let s = &p.spec;
    let clusters: Vec<Value> = s
        .clusters
        .iter()
        .map(|c| {
            json!({
                "name": c.name.value, "role": c.role.value.to_string(), "region": c.region.value,
                "zones": strings(&c.zones),
                "kubernetesVersion": c.kubernetes_version.as_ref().map(|v| v.value.clone()),
                "at": At::new(loc, c.name.span).put("role", Some(&c.role)).put("region", Some(&c.region)).put("zones", c.zones.first()).done(),
            })
        })
        .collect();
    let stores: Vec<Value> = s
        .object_stores
        .iter()
        .map(|o| {
            json!({
                "name": o.name.value, "type": o.kind.value.to_string(),
                "endpoint": o.endpoint.as_ref().map(|e| e.value.clone()),
                "bucket": o.bucket.as_ref().map(|b| b.value.clone()),
                "region": o.region.as_ref().map(|r| r.value.clone()),
                "objectLock": o.object_lock.as_ref().map(|l| json!({"mode": l.mode.value.to_string(), "days": l.days.value})),
                "versioning": o.versioning,
                "replicateTo": o.replicate_to.as_ref().map(|r| r.value.clone()),
                "credentials": o.credentials.is_some(),
                "at": At::new(loc, o.name.span)
                    .put("objectLock", o.object_lock.as_ref().map(|l| &l.mode))
                    .put("lockDays", o.object_lock.as_ref().map(|l| &l.days))
                    .put("replicateTo", o.replicate_to.as_ref())
                    .put("type", Some(&o.kind))
                    .put("endpoint", o.endpoint.as_ref())
                    .done(),
            })
        })
        .collect();
    let mut at = At::new(loc, p.span);
    at.put("breakGlassRecipient", s.break_glass_recipient.as_ref());
    if let Some(first) = s.baseline.odoo_versions.first() {
        at.put("odooVersions", Some(first));
    }
    if let Some(first) = s.baseline.registries.first() {
        at.put("registries", Some(first));
    }
    json!({
        "name": p.name(),
        "clusters": clusters,
        "objectStores": stores,
        // Where PostgreSQL archives WAL, resolved as the renderer does: the named
        // `rendering.archiveStore`, else the first `s3` store; null when there is none.
        "archiveStore": s.rendering.archive_store.as_ref().map(|a| a.value.clone()).or_else(|| {
            s.object_stores.iter().find(|o| o.kind.value == ward_estate::model::StoreKind::S3).map(|o| o.name.value.clone())
        }),
        "secretStores": s.secret_stores.iter().map(|x| json!(x.name.value)).collect::<Vec<_>>(),
        "baseline": {
            "odooVersions": strings(&s.baseline.odoo_versions),
            "registries": strings(&s.baseline.registries),
        },
        "breakGlassRecipient": s.break_glass_recipient.as_ref().map(|r| r.value.clone()),
        "changes": { "requireSignedCommits": s.changes.require_signed_commits },
        "at": at.done(),
    })
}

fn teams_json<F: Fn(Span) -> Value>(estate: &Estate, loc: &F) -> Value {
    Value::Array(
        estate
            .teams
            .iter()
            .map(|t| {
                let people: Vec<Value> = t
                    .spec
                    .people
                    .iter()
                    .map(|p| {
                        let mut at = At::new(loc, p.name.span);
                        if let Some(r) = p.roles.first() {
                            at.put("roles", Some(r));
                        }
                        json!({
                            "name": p.name.value,
                            "roles": p.roles.iter().map(|r| r.value.to_string()).collect::<Vec<_>>(),
                            "sshKey": p.ssh_key.is_some(),
                            "ageRecipient": p.age_recipient.is_some(),
                            "at": at.done(),
                        })
                    })
                    .collect();
                json!({
                    "name": t.name(),
                    "groups": t.spec.groups.iter().map(|(k, v)| (k.clone(), json!(v.value))).collect::<Map<_, _>>(),
                    "people": people,
                    "at": At::new(loc, t.span).done(),
                })
            })
            .collect(),
    )
}

fn workload_json<F: Fn(Span) -> Value>(w: &Document<WorkloadSpec>, loc: &F) -> Value {
    let s = &w.spec;
    let c = &s.classification;
    let integrations: Vec<Value> = s
        .integrations
        .iter()
        .map(|i| {
            json!({
                "name": i.name.value, "kind": i.kind.value, "endpoint": i.endpoint.value,
                "credentialOwner": i.credential_owner.as_ref().map(|o| o.value.clone()),
                "credentialRef": i.credential_ref.is_some(),
                "onFailure": i.on_failure.as_ref().map(|o| o.value.to_string()),
                "healthCheck": i.health_check.as_ref().map(|h| json!({"url": h.url.value, "intervalSeconds": h.interval.value.as_secs()})),
                "at": At::new(loc, i.name.span)
                    .put("endpoint", Some(&i.endpoint))
                    .put("credentialOwner", i.credential_owner.as_ref())
                    .put("onFailure", i.on_failure.as_ref())
                    .put("healthCheck", i.health_check.as_ref().map(|h| &h.url))
                    .done(),
            })
        })
        .collect();
    let mut at = At::new(loc, w.span);
    at.put("owner", Some(&s.owner))
        .put("dataSensitivity", Some(&c.data_sensitivity))
        .put("rpo", Some(&c.rpo))
        .put("rto", Some(&c.rto))
        .put("hosting", c.hosting.as_ref())
        .put("version", Some(&s.odoo.version))
        .put("image", Some(&s.odoo.image));
    json!({
        "name": w.name(),
        "tenant": w.metadata.tenant.as_ref().map(|t| t.value.clone()),
        "owner": s.owner.value,
        "classification": {
            "dataSensitivity": c.data_sensitivity.value.to_string(),
            "integrationCriticality": c.integration_criticality.value.to_string(),
            "uptime": c.uptime.value.to_string(),
            "rpoSeconds": c.rpo.value.as_secs(),
            "rtoSeconds": c.rto.value.as_secs(),
            "contractualIsolation": c.contractual_isolation.value,
        },
        "odoo": {
            "version": s.odoo.version.value,
            "image": s.odoo.image.value,
            "modules": strings(&s.odoo.modules),
        },
        "environments": s.environments.iter().map(|e| json!(e.name.value)).collect::<Vec<_>>(),
        "integrations": integrations,
        "services": strings(&s.services),
        "at": at.done(),
    })
}

fn environments_json<F: Fn(Span) -> Value>(estate: &Estate, loc: &F) -> Value {
    let index = EnvironmentIndex::new(estate);
    let mut out = Vec::with_capacity(estate.environments.len());
    for r in &estate.environments {
        let declared_workload = index.workloads.get(r.workload.as_str()).copied();
        let declared = declared_workload.and_then(|w| {
            w.spec
                .environments
                .iter()
                .find(|e| e.name.value == r.environment)
        });
        let p = &r.classification.posture;
        let mut at = Map::new();
        at.insert("name".into(), location_json(&r.location));
        if let Some(e) = declared {
            let mut a = At::new(loc, e.name.span);
            a.put("stage", Some(&e.stage))
                .put("cluster", e.cluster.as_ref())
                .put("replicas", e.replicas.as_ref())
                .put("refreshFrom", e.refresh_from.as_ref())
                .put("objectStore", e.object_store.as_ref());
            if let Some(h) = e.hosts.first() {
                a.put("hosts", Some(h));
            }
            if let Some(pw) = e.database.as_ref().and_then(|d| d.host.as_ref()) {
                a.put("databaseHost", Some(pw));
            }
            at = match a.done() {
                Value::Object(m) => m,
                _ => at,
            };
        }
        let classification = declared_workload.map(|w| &w.spec.classification);
        out.push(json!({
            "workload": r.workload,
            "dataSensitivity": classification.map(|c| c.data_sensitivity.value.to_string()),
            "rpoSeconds": classification.map(|c| c.rpo.value.as_secs()),
            "rtoSeconds": classification.map(|c| c.rto.value.as_secs()),
            "tenant": r.tenant,
            "environment": r.environment,
            "address": r.address(),
            "stage": r.stage.to_string(),
            "tier": r.classification.tier,
            "hosting": r.classification.hosting.to_string(),
            "cluster": r.cluster,
            "recoveryCluster": r.recovery_cluster,
            "objectStore": r.object_store,
            "replicas": declared.and_then(|e| e.replicas.as_ref()).map(|x| x.value),
            "hosts": declared.map(|e| strings(&e.hosts)).unwrap_or(Value::Array(vec![])),
            "refreshFrom": declared.and_then(|e| e.refresh_from.as_ref()).map(|x| x.value.clone()),
            "databaseBytes": declared.map(|e| e.size.database.value.bytes),
            // How long a logical dump of the declared database takes at Ward's documented
            // throughput (`ward_estate::classify::DUMP_BYTES_PER_SECOND`, which the
            // rendered jobs are sized with too), and that throughput, for messages.
            "dumpSecondsEstimate": declared.map(|e| ward_estate::classify::dump_time(e.size.database.value.bytes).as_secs()),
            "dumpBytesPerSecond": ward_estate::classify::DUMP_BYTES_PER_SECOND,
            "database": {
                "host": r.database.host, "port": r.database.port, "name": r.database.name,
                "user": r.database.user,
                "external": declared.and_then(|e| e.database.as_ref()).and_then(|d| d.host.as_ref()).is_some(),
                "passwordRef": r.database.password_ref.is_some(),
            },
            "posture": {
                "minReplicas": p.min_replicas,
                "minZones": p.min_zones,
                "postgresInstances": p.postgres_instances,
                "synchronousReplication": p.synchronous_replication,
                "walArchiving": p.wal_archiving,
                "archiveTimeoutSeconds": p.archive_timeout.as_secs(),
                "baseBackupIntervalSeconds": p.base_backup_interval.as_secs(),
                "pitrWindowSeconds": p.pitr_window.as_secs(),
                "backupIntervalSeconds": p.backup_interval.as_secs(),
                "immutableCopies": p.immutable_copies,
                "crossRegionCopy": p.cross_region_copy,
                "drillEverySeconds": p.drill_every.as_secs(),
                "recovery": serde_json::to_value(p.recovery).unwrap_or(Value::Null),
            },
            "rules": r.classification.rules.iter().map(|x| json!(x.id)).collect::<Vec<_>>(),
            "at": at,
        }));
    }
    Value::Array(out)
}

fn waivers_json<F: Fn(Span) -> Value>(estate: &Estate, loc: &F) -> Value {
    Value::Array(
        estate
            .waivers
            .iter()
            .map(|w| {
                let s = &w.spec;
                let days = s
                    .created
                    .value
                    .until((jiff::Unit::Day, s.expires.value))
                    .ok()
                    .map(|span| i64::from(span.get_days()));
                json!({
                    "name": w.name(),
                    "control": s.control.value,
                    "scope": {
                        "workload": s.scope.workload.as_ref().map(|x| x.value.clone()),
                        "environment": s.scope.environment.as_ref().map(|x| x.value.clone()),
                    },
                    "reason": s.reason.value,
                    "approver": s.approver.value,
                    "created": s.created.value.to_string(),
                    "expires": s.expires.value.to_string(),
                    "days": days,
                    "at": At::new(loc, w.span)
                        .put("control", Some(&s.control))
                        .put("approver", Some(&s.approver))
                        .put("expires", Some(&s.expires))
                        .done(),
                })
            })
            .collect(),
    )
}

/// Environments and workloads by name, so that joining objects to them stays linear.
struct EnvironmentIndex<'a> {
    environments: HashMap<(&'a str, &'a str), &'a ResolvedEnvironment>,
    workloads: HashMap<&'a str, &'a Document<WorkloadSpec>>,
}

impl<'a> EnvironmentIndex<'a> {
    fn new(estate: &'a Estate) -> Self {
        EnvironmentIndex {
            environments: estate
                .environments
                .iter()
                .map(|e| ((e.workload.as_str(), e.environment.as_str()), e))
                .collect(),
            workloads: estate.workloads.iter().map(|w| (w.name(), w)).collect(),
        }
    }
}

fn origin_json(index: &EnvironmentIndex<'_>, o: &RenderedObject) -> Value {
    let Some(p) = o.origin() else {
        return Value::Null;
    };
    let envs: Vec<&ResolvedEnvironment> = p
        .owners
        .iter()
        .filter_map(|a| a.split_once('/'))
        .filter_map(|(w, e)| index.environments.get(&(w, e)).copied())
        .collect();
    let Some(first) = envs.first() else {
        return json!({"addresses": p.owners, "cluster": p.cluster, "path": p.path});
    };
    // A shared object answers to its strictest owner.
    let stage = envs.iter().map(|e| e.stage).max().unwrap_or(first.stage);
    let tier = envs
        .iter()
        .map(|e| e.classification.tier)
        .min()
        .unwrap_or(3);
    let posture = |f: fn(&ResolvedEnvironment) -> u32| envs.iter().map(|e| f(e)).max();
    let rpo = envs
        .iter()
        .filter_map(|e| index.workloads.get(e.workload.as_str()))
        .map(|w| w.spec.classification.rpo.value.as_secs())
        .min();
    let single = envs.len() == 1;
    json!({
        "workload": single.then(|| first.workload.clone()),
        "environment": single.then(|| first.environment.clone()),
        "address": single.then(|| first.address()),
        "addresses": envs.iter().map(|e| e.address()).collect::<Vec<_>>(),
        "cluster": p.cluster.as_deref().unwrap_or(&first.cluster),
        "stage": stage.to_string(),
        "tier": tier,
        "hosting": first.classification.hosting.to_string(),
        "minReplicas": posture(|e| e.classification.posture.min_replicas),
        "postgresInstances": posture(|e| e.classification.posture.postgres_instances),
        "rpoSeconds": rpo,
        "at": location_json(&first.location),
        "path": p.path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However the objects split into runs (fewer objects than cores, none, many), the
    /// input lists every one, in order, with its keys.
    #[test]
    fn the_manifests_keep_their_order_across_runs() {
        for n in [0_usize, 1, 3, 17] {
            let objects: Vec<RenderedObject> = (0..n)
                .map(|i| {
                    RenderedObject::new(json!({
                        "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}")}
                    }))
                })
                .collect();
            let value = engine_manifests(objects).expect("converts");
            let items = value.as_array().expect("an array");
            assert_eq!(items.len(), n);
            for (i, item) in items.iter().enumerate() {
                let name = &item[&regorus::Value::from("metadata")][&regorus::Value::from("name")];
                assert_eq!(
                    name,
                    &regorus::Value::from(format!("cm-{i}")),
                    "{n} objects"
                );
            }
        }
    }
}
