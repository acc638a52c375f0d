//! Ward's own jobs in the cluster: backup and drill CronJobs, with the estate clone, the
//! state folder, secrets and identity they mount.

use super::*;

/// Where Ward's jobs find what `ward` reads: the estate (a fresh clone), the state folder
/// (ledger, lease, cached tenant keys), the secrets folder (`<store>/<key>[/<property>]`,
/// the layout `ward` resolves secret references in) and the drill's identity.
pub(super) const JOB_ESTATE: &str = "/estate";
/// Where the clone step mounts the estate volume. It clones into a folder of it, which git
/// creates as the job's user, because git refuses a repository whose top folder another
/// user owns (an `emptyDir`'s root belongs to root); `ward` mounts that folder as
/// `JOB_ESTATE`.
pub(super) const JOB_CLONE: &str = "/clone";
pub(super) const CLONE_FOLDER: &str = "estate";
pub(super) const JOB_STATE: &str = "/var/lib/ward";
pub(super) const JOB_SECRETS: &str = "/var/run/ward/secrets";
pub(super) const JOB_GIT: &str = "/var/run/ward/git";
pub(super) const JOB_IDENTITY: &str = "/var/run/ward/identity";
pub(super) const JOB_IDENTITY_FILE: &str = "key.txt";
/// The ward image's non-root user.
pub(super) const WARD_UID: i64 = 65_532;
/// The state folder holds a ledger, a lease and a few keys; backups go to object storage.
pub(super) const WARD_STATE_BYTES: u64 = 1 << 30;
/// Secret files only the job's user (through the pod's fsGroup) may read.
pub(super) const SECRET_MODE: i32 = 0o400;

/// The ExternalSecret name of an object store's credentials for Ward's jobs.
pub(super) fn store_secret_name(store: &str) -> String {
    bounded_name(&format!("ward-objectstore-{store}"), 63)
}

pub(super) const ESTATE_GIT_SECRET: &str = "ward-estate-git";
pub(super) const DRILL_IDENTITY_SECRET: &str = "ward-drill-identity";

/// Git's configuration for cloning the estate with a token: an `Authorization` header
/// sent only to the estate's repository URL. External Secrets fills in `<user>:<token>`
/// in the cluster, so the token never passes through the deploy tree.
pub(super) fn estate_git_config(repository: &str) -> String {
    let scope = repository.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "[http \"{scope}\"]\n    extraHeader = Authorization: Basic {{{{ .credentials | b64enc }}}}\n"
    )
}

pub(super) fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        ..Default::default()
    }
}

pub(super) fn empty_dir_volume(name: &str, size_limit: Quantity) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(size_limit),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn claim_volume(name: &str, claim: &str, read_only: bool) -> Volume {
    Volume {
        name: name.to_string(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: read_only.then_some(true),
        }),
        ..Default::default()
    }
}

/// A volume holding one key of a Secret as one file.
pub(super) fn secret_file_volume(
    name: &str,
    secret: &str,
    key: &str,
    path: &str,
    mode: i32,
) -> Volume {
    Volume {
        name: name.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_string()),
            items: Some(vec![KeyToPath {
                key: key.to_string(),
                path: path.to_string(),
                ..Default::default()
            }]),
            default_mode: Some(mode),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_string(),
        mount_path: path.to_string(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// The secrets one job of an environment reads, as projections of the Secrets that hold
/// them, each at the file of the secrets folder its reference names: the password it logs
/// in to PostgreSQL with (a backup: the environment's role's, which the ExternalSecret for
/// that role already fetches; a drill: the drill role's, and not the environment's, which
/// it does not use) and, for an S3 backup store, that store's keys.
pub(super) fn job_secret_items(
    settings: &Settings,
    s: &Stack<'_>,
    m: &Member<'_>,
    job: WardJob,
) -> Vec<SecretProjection> {
    let mut by_secret: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let (credentials, pw) = match job {
        WardJob::Backup if s.dedicated() => (
            "db-odoo-credentials".to_string(),
            &m.env.database.password_secret,
        ),
        WardJob::Backup => (
            tenant_credentials_secret(m),
            &m.env.database.password_secret,
        ),
        WardJob::Drill => (
            DRILL_CREDENTIALS_SECRET.to_string(),
            &m.env.database.drill.password_secret,
        ),
    };
    by_secret
        .entry(credentials)
        .or_default()
        .insert(pw.file(), "password".into());
    if let Some((name, r)) = job_store_credentials(settings, m) {
        // The key pair's two values are files of the key's folder (`property` is not used).
        let keys = ward_estate::model::SecretRef {
            property: None,
            ..r.clone()
        };
        for part in S3_PARTS {
            let file = format!("{}/{part}", keys.file());
            by_secret
                .entry(store_secret_name(&name))
                .or_default()
                .insert(file, part.to_string());
        }
    }
    by_secret
        .into_iter()
        .map(|(name, items)| SecretProjection {
            name,
            items: Some(
                items
                    .into_iter()
                    .map(|(path, key)| KeyToPath {
                        key,
                        path,
                        ..Default::default()
                    })
                    .collect(),
            ),
            optional: None,
        })
        .collect()
}

/// The two files `ward` reads S3 credentials from, under `<store>/<key>/`.
pub(super) const S3_PARTS: [&str; 2] = ["access_key_id", "secret_access_key"];

/// The environment's backup store, when it is S3 with credentials: its name and the
/// reference to its keys.
pub(super) fn job_store_credentials<'s>(
    settings: &'s Settings,
    m: &Member<'_>,
) -> Option<(String, &'s ward_estate::model::SecretRef)> {
    let store = settings.object_stores.get(&m.env.object_store)?;
    if store.kind.value != ward_estate::model::StoreKind::S3 {
        return None;
    }
    store
        .credentials
        .as_ref()
        .map(|r| (store.name.value.clone(), r))
}

/// The ExternalSecrets and the state volume Ward's jobs share within a namespace.
pub(super) fn ward_job_support(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let all_owners = out.owners.clone();
    // One ExternalSecret per S3 backup store the namespace's environments use, owned by
    // those environments.
    let mut stores: BTreeMap<String, (&ward_estate::model::SecretRef, Vec<String>)> =
        BTreeMap::new();
    for m in &s.members {
        if let Some((name, r)) = job_store_credentials(settings, m) {
            stores
                .entry(name)
                .or_insert_with(|| (r, Vec::new()))
                .1
                .push(m.env.address());
        }
    }
    for (name, (r, owners)) in stores {
        out.owners = owners.into();
        let data = S3_PARTS
            .iter()
            .map(|part| ExternalSecretData {
                secret_key: (*part).to_string(),
                remote_ref: RemoteRef {
                    key: r.key.value.clone(),
                    property: Some((*part).to_string()),
                },
            })
            .collect();
        out.push(&external_secret(
            ns,
            &store_secret_name(&name),
            &r.store.value,
            settings,
            None,
            data,
            common,
        ))?;
    }
    out.owners = all_owners;
    if let Some(r) = &settings.estate_credentials {
        let template = ExternalSecretTemplate {
            engine_version: "v2",
            secret_type: None,
            data: [(
                "gitconfig".to_string(),
                estate_git_config(&settings.estate_repository),
            )]
            .into(),
        };
        out.push(&external_secret(
            ns,
            ESTATE_GIT_SECRET,
            &r.store.value,
            settings,
            Some(template),
            vec![ExternalSecretData {
                secret_key: "credentials".into(),
                remote_ref: remote_ref(r),
            }],
            common,
        ))?;
    }
    if let Some(r) = &settings.drill_identity {
        out.push(&external_secret(
            ns,
            DRILL_IDENTITY_SECRET,
            &r.store.value,
            settings,
            None,
            vec![ExternalSecretData {
                secret_key: "identity".into(),
                remote_ref: remote_ref(r),
            }],
            common,
        ))?;
    }
    out.push(&PersistentVolumeClaim {
        metadata: meta("ward-state", ns, common),
        spec: Some(PersistentVolumeClaimSpec {
            // ReadWriteMany: a backup and a drill (and, in a shared namespace, other
            // tenants' jobs) may run at once on different nodes; the ledger's file lock and
            // the vault's lease order what must not overlap. The filestore's storage class
            // already offers it.
            access_modes: Some(vec!["ReadWriteMany".into()]),
            storage_class_name: settings.filestore_storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some([("storage".to_string(), q(quantity(WARD_STATE_BYTES)))].into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    Ok(())
}

/// What differs between the two jobs of an environment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum WardJob {
    Backup,
    Drill,
}

impl WardJob {
    fn name(self) -> &'static str {
        match self {
            WardJob::Backup => "backup",
            WardJob::Drill => "drill",
        }
    }
}

/// The pod of one of Ward's jobs: an init container clones the estate, then `ward` runs
/// with the estate, its state, its secrets folder and (backup) the filestore or (drill)
/// the identity mounted.
pub(super) fn ward_job_pod(
    settings: &Settings,
    s: &Stack<'_>,
    m: &Member<'_>,
    job: WardJob,
    args: Vec<String>,
    actor: String,
) -> PodSpec {
    let mut volumes = vec![
        empty_dir_volume("estate", q("1Gi")),
        claim_volume("state", "ward-state", false),
        Volume {
            name: "secrets".into(),
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(SECRET_MODE),
                sources: Some(
                    job_secret_items(settings, s, m, job)
                        .into_iter()
                        .map(|secret| VolumeProjection {
                            secret: Some(secret),
                            ..Default::default()
                        })
                        .collect(),
                ),
            }),
            ..Default::default()
        },
        // A drill restores the filestore into its temporary folder: bounded by the
        // environment's declared filestore, so a drill cannot fill the node's disk.
        empty_dir_volume(
            "tmp",
            q(quantity(match job {
                WardJob::Backup => 1 << 30,
                WardJob::Drill => m.spec.size.filestore.value.bytes + (1 << 30),
            })),
        ),
    ];
    // git writes nothing outside the clone, but reads `$HOME`; the root is read-only.
    let mut clone_env = vec![env("HOME", "/tmp"), env("GIT_TERMINAL_PROMPT", "0")];
    let mut clone_mounts = vec![
        mount("estate", JOB_CLONE, false),
        mount("tmp", "/tmp", false),
    ];
    if settings.estate_credentials.is_some() {
        volumes.push(secret_file_volume(
            "estate-git",
            ESTATE_GIT_SECRET,
            "gitconfig",
            "gitconfig",
            SECRET_MODE,
        ));
        clone_mounts.push(mount("estate-git", JOB_GIT, true));
        clone_env.push(env("GIT_CONFIG_GLOBAL", format!("{JOB_GIT}/gitconfig")));
    }
    let clone = Container {
        name: "estate".into(),
        image: Some(settings.ward_image.clone()),
        command: Some(vec!["git".into()]),
        args: Some(vec![
            "clone".into(),
            "--quiet".into(),
            "--depth=1".into(),
            "--single-branch".into(),
            format!("--branch={}", settings.estate_revision),
            "--".into(),
            settings.estate_repository.clone(),
            format!("{JOB_CLONE}/{CLONE_FOLDER}"),
        ]),
        env: Some(clone_env),
        resources: Some(resources("500m", "512Mi")),
        security_context: Some(restricted_container(true)),
        volume_mounts: Some(clone_mounts),
        ..Default::default()
    };
    let mut env_vars = vec![
        env("WARD_ACTOR", actor),
        env("WARD_ESTATE", JOB_ESTATE),
        env("WARD_STATE", JOB_STATE),
        env("WARD_SECRETS_DIR", JOB_SECRETS),
        env("HOME", "/tmp"),
    ];
    if let Some(url) = &settings.pushgateway {
        // The rendered backup and drill alerts read what the jobs push there.
        env_vars.push(env("WARD_PUSHGATEWAY", url.clone()));
    }
    let mut mounts = vec![
        VolumeMount {
            sub_path: Some(CLONE_FOLDER.into()),
            ..mount("estate", JOB_ESTATE, true)
        },
        mount("state", JOB_STATE, false),
        mount("secrets", JOB_SECRETS, true),
        mount("tmp", "/tmp", false),
    ];
    let mut pod_security = restricted_pod(WARD_UID);
    // The state volume is small; checking its root is enough between runs.
    pod_security.fs_group_change_policy = Some("OnRootMismatch".into());
    match job {
        WardJob::Backup => {
            // Odoo writes the filestore under `<data_dir>/filestore/<database>` of the
            // claim (a shared stack's claim holds every tenant's folder); the job sees only
            // this environment's folder, read-only, where the estate says it is.
            // Read-only at the volume too: the backup can never change the filestore,
            // and the kubelet leaves its ownership alone.
            volumes.push(claim_volume("filestore", "odoo-filestore", true));
            mounts.push(VolumeMount {
                name: "filestore".into(),
                mount_path: m.env.filestore.clone(),
                sub_path: Some(format!("filestore/{}", m.database)),
                read_only: Some(true),
                ..Default::default()
            });
            // Odoo's files belong to its group; the job reads them as a member of it.
            pod_security.supplemental_groups = Some(vec![ODOO_UID]);
        }
        WardJob::Drill => {
            if settings.drill_identity.is_some() {
                volumes.push(secret_file_volume(
                    "identity",
                    DRILL_IDENTITY_SECRET,
                    "identity",
                    JOB_IDENTITY_FILE,
                    SECRET_MODE,
                ));
                mounts.push(mount("identity", JOB_IDENTITY, true));
                env_vars.push(env(
                    "WARD_IDENTITY",
                    format!("{JOB_IDENTITY}/{JOB_IDENTITY_FILE}"),
                ));
            }
        }
    }
    PodSpec {
        service_account_name: Some("ward-jobs".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        restart_policy: Some("Never".into()),
        security_context: Some(pod_security),
        init_containers: Some(vec![clone]),
        containers: vec![Container {
            name: "ward".into(),
            image: Some(settings.ward_image.clone()),
            args: Some(args),
            env: Some(env_vars),
            resources: Some(resources("500m", "512Mi")),
            security_context: Some(restricted_container(true)),
            volume_mounts: Some(mounts),
            ..Default::default()
        }],
        volumes: Some(volumes),
        ..Default::default()
    }
}

pub(super) fn ward_jobs(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    ward_job_support(out, settings, s, common)?;
    let all_owners = out.owners.clone();
    for m in &s.members {
        // A tenant's own objects belong to its environment only.
        out.owners = vec![m.env.address()].into();
        let address = m.env.address();
        let posture = &m.env.classification.posture;
        for (job, cron, args, deadline) in [
            (
                WardJob::Backup,
                schedule::every(
                    posture.backup_interval.min(s.posture.backup_interval),
                    &address,
                ),
                vec!["backup".to_string(), "run".into(), address.clone()],
                3600,
            ),
            (
                WardJob::Drill,
                schedule::every(posture.drill_every, &address),
                vec!["drill".to_string(), address.clone()],
                4 * 3600,
            ),
        ] {
            let what = job.name();
            // CronJob names are limited to 52 characters (the Job name adds a suffix).
            let name = bounded_name(&format!("ward-{what}-{}", m.slug()), 52);
            let pod_labels = labels(&[
                WARD_JOB,
                ("ward.dev/job", what),
                ("ward.dev/environment", &bounded_name(&m.slug(), 63)),
            ]);
            let mut cl = common.clone();
            cl.extend(pod_labels.clone());
            let actor = format!("cronjob/{ns}/{name}");
            out.push(&CronJob {
                metadata: meta(&name, ns, &cl),
                spec: Some(CronJobSpec {
                    schedule: cron,
                    time_zone: Some("Etc/UTC".into()),
                    concurrency_policy: Some("Forbid".into()),
                    starting_deadline_seconds: Some(600),
                    successful_jobs_history_limit: Some(3),
                    failed_jobs_history_limit: Some(3),
                    job_template: JobTemplateSpec {
                        metadata: None,
                        spec: Some(JobSpec {
                            backoff_limit: Some(1),
                            active_deadline_seconds: Some(deadline),
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
            })?;
        }
    }
    out.owners = all_owners;
    Ok(())
}
