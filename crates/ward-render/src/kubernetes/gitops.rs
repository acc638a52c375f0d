//! Argo CD: one AppProject and Application per stack (and for `ward-system`) and the
//! cluster-level wiring that points Argo CD at the deploy tree.

use super::*;

/// Per (cluster, namespace): the Argo CD project, tier, stage and owners.
pub(super) type NamespaceIndex = BTreeMap<(String, String), (String, u8, Stage, Vec<String>)>;
/// Per (cluster, project): tier, stage, namespaces and owners.
pub(super) type ProjectIndex =
    BTreeMap<(String, String), (u8, Stage, BTreeSet<String>, Vec<String>)>;

pub(super) fn render_gitops(
    settings: &Settings,
    stacks: &[Stack<'_>],
    objects: &mut dyn FnMut(Object),
) -> Result<(), RenderError> {
    // Every (cluster, namespace) that has objects gets an Application; each tenant an
    // AppProject per cluster that admits only its own namespaces.
    let mut namespaces: NamespaceIndex = BTreeMap::new();
    for s in stacks {
        let project = if s.dedicated() {
            s.tenant.clone()
        } else {
            format!("shared-{}", s.stage)
        };
        let entry = (project.clone(), s.tier, s.stage, s.addresses());
        namespaces.insert((s.cluster.clone(), s.namespace.clone()), entry.clone());
        if let (Some(recovery), 1) = (&s.recovery_cluster, s.tier) {
            namespaces.insert((recovery.clone(), s.namespace.clone()), entry);
        }
    }
    // Ward itself: a project of its own, so that no tenant's project admits `ward-system`.
    if let Some(cp) = &settings.control_plane {
        namespaces.insert(
            (
                cp.cluster.clone(),
                crate::metrics::CONTROL_PLANE_NAMESPACE.to_string(),
            ),
            ("ward".to_string(), 1, Stage::Production, Vec::new()),
        );
    }
    let argo_ns = settings.argocd_namespace.as_str();
    let mut projects: ProjectIndex = BTreeMap::new();
    for ((cluster, ns), (project, tier, stage, owners)) in &namespaces {
        let project_name = bounded_name(&format!("{project}-{cluster}"), 63);
        let app_name = bounded_name(&format!("{cluster}-{ns}"), 63);
        let mut out = Out {
            cluster: cluster.clone(),
            folder: argo_ns.to_string(),
            owners: owners.clone().into(),
            tier: *tier,
            stage: *stage,
            objects,
            remote_keys: BTreeMap::new(),
        };
        out.push(&cr(
            "argoproj.io/v1alpha1",
            "Application",
            meta(&app_name, argo_ns, &BTreeMap::new()),
            ApplicationSpec {
                project: project_name.clone(),
                source: ApplicationSource {
                    repo_url: settings.git_repository.clone(),
                    target_revision: settings.git_revision.clone(),
                    path: format!("{cluster}/{ns}"),
                },
                destination: ApplicationDestination {
                    name: cluster.clone(),
                    namespace: ns.clone(),
                },
                sync_policy: SyncPolicy {
                    automated: Automated {
                        prune: true,
                        self_heal: true,
                    },
                    sync_options: vec!["ServerSideApply=true".into(), "PruneLast=true".into()],
                },
            },
        ))?;
        let e = projects
            .entry((cluster.clone(), project_name))
            .or_insert_with(|| (*tier, *stage, BTreeSet::new(), Vec::new()));
        e.0 = e.0.min(*tier);
        e.1 = e.1.max(*stage);
        e.2.insert(ns.clone());
        e.3.extend(owners.iter().cloned());
    }
    for ((cluster, project), (tier, stage, nss, mut owners)) in projects {
        owners.sort();
        owners.dedup();
        let owners: crate::Owners = owners.into();
        let mut out = Out {
            cluster: cluster.clone(),
            folder: argo_ns.to_string(),
            owners,
            tier,
            stage,
            objects,
            remote_keys: BTreeMap::new(),
        };
        out.push(&cr(
            "argoproj.io/v1alpha1",
            "AppProject",
            meta(&project, argo_ns, &BTreeMap::new()),
            AppProjectSpec {
                description: format!(
                    "Namespaces of {project} on cluster {cluster}, managed by Ward"
                ),
                source_repos: vec![settings.git_repository.clone()],
                destinations: nss
                    .into_iter()
                    .map(|namespace| ApplicationDestination {
                        name: cluster.clone(),
                        namespace,
                    })
                    .collect(),
                cluster_resource_whitelist: vec![GroupKind {
                    group: String::new(),
                    kind: "Namespace".into(),
                }],
            },
        ))?;
    }
    Ok(())
}
