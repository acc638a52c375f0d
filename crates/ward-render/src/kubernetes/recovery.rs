//! The recovery region's filestore restore, for a tier-1 stack with a recovery cluster: the
//! `odoo-filestore` claim a promoted Odoo mounts, and per environment a suspended CronJob
//! that restores the newest verified snapshot's filestore into it from the replicated store.

use super::*;
use ward_estate::model::{ObjectStore, StoreKind};

/// The Secret holding the stack's drill identity in the recovery namespace, mounted into
/// the filestore restore's pods only.
pub(super) const RECOVERY_IDENTITY_SECRET: &str = "ward-recovery-identity";

/// The annotation on the restore CronJob with the command that runs it.
pub const RUN_COMMAND_ANNOTATION: &str = "ward.dev/run";

/// A schedule that never comes (the 31st of February): the CronJob is suspended, and even
/// unsuspended it never runs on its own. It runs when an operator makes a Job from it.
pub const NEVER_SCHEDULE: &str = "0 0 31 2 *";

/// Why the restore runs as Odoo's user, for checkov's skip annotation on its CronJob.
const RESTORE_UID_WAIVER: (&str, &str) = (
    "checkov.io/skip1",
    "CKV_K8S_40=The filestore restore writes Odoo's files as Odoo's own user 101, so that the promoted Odoo can write beside them (RWX classes such as EFS and NFS do not apply fsGroup). Non-root, no capabilities, read-only root, no privilege escalation",
);

/// The object store the recovery region's filestore restore reads Ward's snapshots from:
/// the copy of the environment's job store (`jobs::job_store`) in the recovery cluster's
/// region, i.e. its `replicateTo` when that is an S3 store there, else the job store
/// itself when it is in that region already, else its `replicateTo` wherever it is (a copy
/// outside the primary region, which WARD-RS-007 requires for tier 1). A store with
/// neither is refused: the restore would read from the region that was lost. Bucket
/// replication keeps the keys, so the copy must declare the source's `prefix`.
pub(super) fn recovery_restore_store<'s>(
    settings: &'s Settings,
    s: &Stack<'_>,
    m: &Member<'_>,
) -> Result<&'s ObjectStore, RenderError> {
    let store = job_store(settings, m)?;
    let cluster = s.recovery_cluster.clone().unwrap_or_default();
    let region = settings.cluster_regions.get(&cluster);
    let copy = store
        .replicate_to
        .as_ref()
        .and_then(|name| settings.object_stores.get(&name.value))
        .filter(|c| c.kind.value == StoreKind::S3);
    let in_region =
        |st: &&ObjectStore| region.is_some() && st.region.as_ref().map(|r| &r.value) == region;
    copy.filter(in_region)
        .or(Some(store).filter(in_region))
        .or(copy)
        .ok_or_else(|| RenderError::RecoveryStoreNotReplicated {
            environment: m.env.address(),
            cluster,
            store: store.name.value.clone(),
        })
}

/// The name of an environment's filestore restore CronJob in the recovery namespace.
pub(super) fn restore_job_name(m: &Member<'_>) -> String {
    // CronJob names are limited to 52 characters (the Job name adds a suffix).
    bounded_name(
        &format!("ward-{}-{}", WardJob::RestoreFilestore.name(), m.slug()),
        52,
    )
}

/// What the recovery namespace needs to restore its environments' filestores: the claim,
/// the jobs' state, service account, secrets (the job store's replica keys, the estate
/// token, the stack's drill identity: the narrowest identity that opens these backups),
/// their egress (DNS, the estate's Git server, the replica store; nothing else) and one
/// suspended CronJob per environment. Pushed before the namespace's SecretStore, so that
/// its policy reaches exactly these keys too.
pub(super) fn recovery_filestore_restore(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    // Refused before anything is rendered: no restore reads from the lost region.
    let stores = s
        .members
        .iter()
        .map(|m| recovery_restore_store(settings, s, m))
        .collect::<Result<Vec<_>, _>>()?;
    out.push(&filestore_claim(settings, s, ns, common))?;
    out.push(&ward_state_claim(settings, ns, common))?;
    out.push(&ServiceAccount {
        metadata: meta("ward-jobs", ns, common),
        // The restore does not talk to the Kubernetes API.
        automount_service_account_token: Some(false),
        ..Default::default()
    })?;
    let all_owners = out.owners.clone();
    let mut credentials: BTreeMap<String, (&ward_estate::model::SecretRef, Vec<String>)> =
        BTreeMap::new();
    for (m, store) in s.members.iter().zip(&stores) {
        if let Some(r) = &store.credentials {
            credentials
                .entry(store.name.value.clone())
                .or_insert_with(|| (r, Vec::new()))
                .1
                .push(m.env.address());
        }
    }
    for (name, (r, owners)) in credentials {
        out.owners = owners.into();
        out.push(&store_credentials_secret(settings, ns, &name, r, common))?;
    }
    out.owners = all_owners.clone();
    if let Some(secret) = estate_git_secret(settings, ns, common) {
        out.push(&secret)?;
    }
    if let Some(r) = stack_drill_identity(settings, s) {
        // The stack's own drill identity, whose recipient only this stack's backups carry.
        out.push(&external_secret(
            ns,
            RECOVERY_IDENTITY_SECRET,
            &r.store.value,
            settings,
            None,
            vec![ExternalSecretData {
                secret_key: "identity".into(),
                remote_ref: remote_ref(&r),
            }],
            common,
        ))?;
    }
    let mut ports = BTreeSet::from([url_port(&settings.estate_repository)]);
    let mut hosts = BTreeSet::from([url_host(&settings.estate_repository)]);
    for store in &stores {
        let (port, host) = store_destination(store);
        ports.insert(port);
        hosts.insert(host);
    }
    let mut egress = NetworkPolicy {
        metadata: meta("allow-ward-jobs-egress", ns, common),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(&[WARD_JOB])),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![
                kube_dns_egress(),
                NetworkPolicyEgressRule {
                    to: Some(vec![internet()]),
                    ports: Some(ports.into_iter().map(tcp).collect()),
                },
            ]),
            ..Default::default()
        }),
    };
    // NetworkPolicy cannot name hosts: for review and an FQDN-aware engine.
    egress.metadata.annotations = Some(labels(&[(
        "ward.dev/egress-hosts",
        &hosts.into_iter().collect::<Vec<_>>().join(","),
    )]));
    out.push(&egress)?;
    for (m, store) in s.members.iter().zip(&stores) {
        out.owners = vec![m.env.address()].into();
        push_restore_job(out, settings, s, m, store, common)?;
    }
    out.owners = all_owners;
    Ok(())
}

/// One environment's suspended restore CronJob: `ward restore --latest <env>
/// --filestore-only` into `filestore/<database>` of the claim, from the replica store.
fn push_restore_job(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    m: &Member<'_>,
    store: &ObjectStore,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let job = WardJob::RestoreFilestore;
    let name = restore_job_name(m);
    let args = vec![
        "restore".to_string(),
        "--latest".into(),
        m.env.address(),
        "--filestore-only".into(),
        "--to-db".into(),
        m.database.clone(),
        "--filestore".into(),
        crate::odoo::DATA_DIR.into(),
        "--object-store".into(),
        store.name.value.clone(),
    ];
    let pod_labels = labels(&[
        WARD_JOB,
        ("ward.dev/job", job.name()),
        ("ward.dev/environment", &bounded_name(&m.slug(), 63)),
    ]);
    let mut cl = common.clone();
    cl.extend(pod_labels.clone());
    let mut metadata = meta(&name, ns, &cl);
    let mut annotations = labels(&[
        // `kubectl create job --from=cronjob/…` is how a suspended CronJob is run once.
        (
            RUN_COMMAND_ANNOTATION,
            &format!("kubectl --namespace {ns} create job --from=cronjob/{name} {name}-1"),
        ),
        RESTORE_UID_WAIVER,
    ]);
    // The keys the snapshot it restores must be signed with: a change shows in the plan.
    if !m.env.backup_signing_keys.is_empty() {
        annotations.insert(
            BACKUP_SIGNING_KEYS_ANNOTATION.to_string(),
            m.env.backup_signing_keys.join(","),
        );
    }
    metadata.annotations = Some(annotations);
    let actor = format!("cronjob/{ns}/{name}");
    out.push(&CronJob {
        metadata,
        spec: Some(CronJobSpec {
            schedule: NEVER_SCHEDULE.into(),
            suspend: Some(true),
            time_zone: Some("Etc/UTC".into()),
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(1),
                    active_deadline_seconds: Some(member_job_sizing(m, job).deadline_seconds),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(pod_labels),
                            ..Default::default()
                        }),
                        spec: Some(ward_job_pod(settings, s, m, job, args, actor)),
                    },
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    })
}
