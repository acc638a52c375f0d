//! Secret references, never values: ExternalSecrets for database, integration, archive
//! and object-store credentials, named in one place and read by the workloads.

use super::*;
use ward_estate::model::{SecretProvider, VaultProvider};

/// Where External Secrets fetches a secret reference from.
pub(super) fn remote_ref(r: &ward_estate::model::SecretRef) -> RemoteRef {
    RemoteRef {
        key: r.key.value.clone(),
        property: r.property.as_ref().map(|p| p.value.clone()),
    }
}

/// A database role's password for CloudNativePG (and for Ward's jobs), as the
/// `kubernetes.io/basic-auth` Secret a managed role's `passwordSecret` names: the password
/// is the ExternalSecret's `db_password`.
pub(super) fn basic_auth(username: &str) -> ExternalSecretTemplate {
    ExternalSecretTemplate {
        engine_version: "v2",
        secret_type: Some("kubernetes.io/basic-auth".into()),
        data: [
            ("username".to_string(), username.to_string()),
            ("password".to_string(), "{{ .db_password }}".to_string()),
        ]
        .into(),
    }
}

/// The basic-auth Secret of a tenant's own role on a shared stack.
pub(super) fn tenant_credentials_secret(m: &Member<'_>) -> String {
    bounded_name(&format!("db-{}-credentials", m.slug()), 63)
}

/// The Secret holding one environment's backup signing key (its private half), which only
/// that environment's backup job mounts: a drill or a prune never signs.
pub(super) fn backup_signing_secret(m: &Member<'_>) -> String {
    bounded_name(&format!("ward-backup-signing-{}", m.slug()), 63)
}

/// The Secret holding the drill role's password on a stack's PostgreSQL cluster: the
/// managed role's `passwordSecret`, and the file the drill jobs read it from.
pub(super) const DRILL_CREDENTIALS_SECRET: &str = "db-ward-drill-credentials";

/// The remote key of an environment's Odoo credentials and the property of each. The
/// database password is the environment's one resolved reference (`password_secret`),
/// the same `ward` reads at run time.
pub(super) fn credential_refs(m: &Member<'_>) -> (String, Vec<ExternalSecretData>) {
    let pw = &m.env.database.password_secret;
    let base = ward_estate::resolve::odoo_secret_key(&m.env.workload, &m.env.environment);
    (
        pw.store.value.clone(),
        vec![
            ExternalSecretData {
                secret_key: "admin_passwd".into(),
                remote_ref: RemoteRef {
                    key: base,
                    property: Some("admin_passwd".into()),
                },
            },
            ExternalSecretData {
                secret_key: "db_password".into(),
                remote_ref: remote_ref(pw),
            },
        ],
    )
}

pub(super) fn external_secret(
    ns: &str,
    name: &str,
    store: &str,
    settings: &Settings,
    template: Option<ExternalSecretTemplate>,
    data: Vec<ExternalSecretData>,
    common: &BTreeMap<String, String>,
) -> CustomResource<ExternalSecretSpec> {
    cr(
        "external-secrets.io/v1",
        "ExternalSecret",
        meta(name, ns, common),
        ExternalSecretSpec {
            refresh_interval: "1h".into(),
            secret_store_ref: SecretStoreRef {
                name: store.to_string(),
                kind: settings.store_kind(store),
            },
            target: ExternalSecretTarget {
                name: name.to_string(),
                creation_policy: "Owner",
                deletion_policy: "Retain",
                template,
            },
            data,
        },
    )
}

pub(super) fn secrets(
    out: &mut Out<'_>,
    settings: &Settings,
    s: &Stack<'_>,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let ns = s.namespace.as_str();
    let user = odoo_db_user(s);
    // Odoo's configuration is a template: the Secret is assembled by External Secrets in
    // the cluster, so credentials never pass through Git.
    let (store, data) = match (s.dedicated(), s.members.first()) {
        (true, Some(m)) => credential_refs(m),
        _ => {
            let base = format!("odoo/shared/{}/{}", s.cluster, ns);
            (
                settings.default_secret_store.clone(),
                ["admin_passwd", "db_password"]
                    .iter()
                    .map(|k| ExternalSecretData {
                        secret_key: (*k).to_string(),
                        remote_ref: RemoteRef {
                            key: base.clone(),
                            property: Some((*k).to_string()),
                        },
                    })
                    .collect(),
            )
        }
    };
    // The mail relay's password joins Odoo's configuration through the same
    // ExternalSecret, so it must come from the same store.
    let mut config_data = data.clone();
    if let Some(r) = settings
        .mail
        .outgoing
        .as_ref()
        .and_then(|m| m.password_ref.as_ref())
    {
        if r.store.value != store {
            return Err(RenderError::MailPasswordStore {
                store: r.store.value.clone(),
                config_store: store,
                namespace: ns.to_string(),
            });
        }
        config_data.push(ExternalSecretData {
            secret_key: SMTP_PASSWORD_KEY.into(),
            remote_ref: remote_ref(r),
        });
    }
    let template = ExternalSecretTemplate {
        engine_version: "v2",
        secret_type: None,
        data: [
            (
                "odoo-web.conf".to_string(),
                odoo_conf(settings, s, OdooRole::Web, &user),
            ),
            (
                "odoo-cron.conf".to_string(),
                odoo_conf(settings, s, OdooRole::Cron, &user),
            ),
        ]
        .into(),
    };
    out.push(&external_secret(
        ns,
        "odoo-config",
        &store,
        settings,
        Some(template),
        config_data,
        common,
    ))?;
    // The database role's password for CloudNativePG, as a basic-auth Secret.
    let db_only: Vec<ExternalSecretData> = data
        .into_iter()
        .filter(|d| d.secret_key == "db_password")
        .collect();
    out.push(&external_secret(
        ns,
        "db-odoo-credentials",
        &store,
        settings,
        Some(basic_auth(&user)),
        db_only,
        common,
    ))?;
    if !s.dedicated() {
        let all_owners = out.owners.clone();
        for m in &s.members {
            // A tenant's own objects belong to its environment only.
            out.owners = vec![m.env.address()].into();
            let (store, data) = credential_refs(m);
            let db_only: Vec<ExternalSecretData> = data
                .into_iter()
                .filter(|d| d.secret_key == "db_password")
                .collect();
            let name = tenant_credentials_secret(m);
            out.push(&external_secret(
                ns,
                &name,
                &store,
                settings,
                Some(basic_auth(&m.role)),
                db_only,
                common,
            ))?;
        }
        out.owners = all_owners;
    }
    // The drill role's password: one role per PostgreSQL cluster, so one reference per
    // stack (every member resolves the same one, see `ward_estate::resolve::DrillAccess`).
    if let Some(m) = s.members.first() {
        let drill = &m.env.database.drill;
        out.push(&external_secret(
            ns,
            DRILL_CREDENTIALS_SECRET,
            &drill.password_secret.store.value,
            settings,
            Some(basic_auth(&drill.user)),
            vec![ExternalSecretData {
                secret_key: "db_password".into(),
                remote_ref: remote_ref(&drill.password_secret),
            }],
            common,
        ))?;
    }
    // Each environment's backup signing key, in a Secret of its own: in a shared stack one
    // tenant's backup job must not hold the key that signs another's snapshots.
    let all_owners = out.owners.clone();
    for m in &s.members {
        out.owners = vec![m.env.address()].into();
        let r = &m.env.backup_signing_secret;
        out.push(&external_secret(
            ns,
            &backup_signing_secret(m),
            &r.store.value,
            settings,
            None,
            vec![ExternalSecretData {
                secret_key: ward_estate::resolve::BACKUP_SIGNING_PROPERTY.into(),
                remote_ref: remote_ref(r),
            }],
            common,
        ))?;
    }
    out.owners = all_owners;
    // Integration credentials, one key per integration, mounted read-only into Odoo.
    let mut by_store: BTreeMap<String, Vec<ExternalSecretData>> = BTreeMap::new();
    for m in &s.members {
        for i in &m.workload.spec.integrations {
            // The environment's own credential where it declares one (a non-production
            // environment never mounts production's: `ward_estate::validate`).
            if let Some(r) = m.spec.integration_credential(i) {
                let key = if s.dedicated() {
                    i.name.value.clone()
                } else {
                    format!("{}-{}", m.slug(), i.name.value)
                };
                by_store
                    .entry(r.store.value.clone())
                    .or_default()
                    .push(ExternalSecretData {
                        secret_key: key,
                        remote_ref: remote_ref(r),
                    });
            }
        }
    }
    for (i, (store, data)) in by_store.into_iter().enumerate() {
        let name = if i == 0 {
            "integration-credentials".to_string()
        } else {
            format!("integration-credentials-{store}")
        };
        out.push(&external_secret(
            ns, &name, &store, settings, None, data, common,
        ))?;
    }
    if let Some(r) = settings
        .archive_store
        .as_ref()
        .and_then(|a| a.credentials.as_ref())
    {
        out.push(&archive_credentials(ns, settings, r, common))?;
    }
    Ok(())
}

pub(super) fn archive_credentials(
    ns: &str,
    settings: &Settings,
    r: &ward_estate::model::SecretRef,
    common: &BTreeMap<String, String>,
) -> CustomResource<ExternalSecretSpec> {
    let data = ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"]
        .iter()
        .zip(["access_key_id", "secret_access_key"])
        .map(|(k, p)| ExternalSecretData {
            secret_key: (*k).to_string(),
            remote_ref: RemoteRef {
                key: r.key.value.clone(),
                property: Some(p.to_string()),
            },
        })
        .collect();
    external_secret(
        ns,
        "archive-credentials",
        &r.store.value,
        settings,
        None,
        data,
        common,
    )
}

/// The service account a namespace's own `SecretStore` logs in to the provider as.
pub(super) fn secret_store_account(store: &str) -> String {
    bounded_name(&format!("secret-store-{store}"), 63)
}

/// The provider-side names of a namespace's login: the Vault auth mount (one per cluster,
/// as each cluster issues its own tokens), the role in it, and the policy the role holds.
pub(super) fn vault_login(
    vault: &VaultProvider,
    cluster: &str,
    namespace: &str,
) -> (String, String, String) {
    (
        format!(
            "{}/{cluster}",
            vault.auth_mount_path.value.trim_end_matches('/')
        ),
        namespace.to_string(),
        format!("ward-{cluster}-{namespace}"),
    )
}

/// The Vault policy of a namespace's role: `read` on exactly the keys its ExternalSecrets
/// name, nothing under them and nothing else. This, not the `SecretStore`, is what keeps
/// a namespace to its own paths: whoever can create an ExternalSecret in the namespace can
/// ask for any key, and Vault answers only for these.
pub fn vault_policy(vault: &VaultProvider, keys: &BTreeSet<String>) -> String {
    let mount = vault.path.value.trim_matches('/');
    let mut out = String::new();
    for key in keys {
        let path = if vault.version.value == "v1" {
            format!("{mount}/{key}")
        } else {
            format!("{mount}/data/{key}")
        };
        out.push_str(&format!(
            "path \"{path}\" {{\n  capabilities = [\"read\"]\n}}\n"
        ));
    }
    out
}

/// One namespaced `SecretStore` per store with a `provider` that the namespace's
/// ExternalSecrets use, and the service account it logs in as. Rendered after every
/// ExternalSecret of the namespace, so that the policy lists what they name.
pub(super) fn secret_stores(
    out: &mut Out<'_>,
    settings: &Settings,
    ns: &str,
    common: &BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let used = std::mem::take(&mut out.remote_keys);
    for (store, keys) in &used {
        let Some(SecretProvider::Vault(vault)) = settings.secret_providers.get(store) else {
            continue;
        };
        let account = secret_store_account(store);
        out.push(&ServiceAccount {
            metadata: meta(&account, ns, common),
            // External Secrets requests this account's tokens (TokenRequest); no pod runs
            // as it.
            automount_service_account_token: Some(false),
            ..Default::default()
        })?;
        let (mount_path, role, policy_name) = vault_login(vault, &out.cluster, ns);
        let mut metadata = meta(store, ns, common);
        metadata.annotations = Some(labels(&[
            ("ward.dev/vault-policy-name", &policy_name),
            ("ward.dev/vault-policy", &vault_policy(vault, keys)),
        ]));
        out.push(&cr(
            "external-secrets.io/v1",
            "SecretStore",
            metadata,
            SecretStoreSpec {
                provider: SecretStoreProvider {
                    vault: VaultStoreProvider {
                        server: vault.server.value.clone(),
                        path: vault.path.value.clone(),
                        version: vault.version.value.clone(),
                        auth: VaultAuth {
                            kubernetes: VaultKubernetesAuth {
                                mount_path,
                                role,
                                service_account_ref: ServiceAccountRef { name: account },
                            },
                        },
                    },
                },
            },
        ))?;
    }
    out.remote_keys = used;
    Ok(())
}
