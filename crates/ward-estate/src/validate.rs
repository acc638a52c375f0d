//! Checks that need the whole estate: uniqueness, references, hostnames, and tier
//! objectives that may only tighten Ward's defaults.
//!
//! Type-level problems were already reported while decoding; this pass adds the rest.

use crate::classify::TierDefaults;
use crate::decode::{Cx, closest};
use crate::load::Estate;
use crate::model::SecretRef;
use crate::source::{Diagnostic, Span, Spanned};
use std::collections::BTreeMap;

pub(crate) fn validate(estate: &Estate, cx: &mut Cx) {
    let Some(platform) = &estate.platform else {
        let span = estate
            .workloads
            .first()
            .map(|w| w.span)
            .unwrap_or(Span::NONE);
        cx.error(span, "the estate has no `Platform` document",
            "add one `kind: Platform` document that declares the clusters and object stores (see docs/estate.md)");
        return;
    };
    for extra in &estate.extra_platforms {
        cx.diags.push(
            duplicate(estate, "platform", &extra.metadata.name, platform.span)
                .hint("an estate describes exactly one platform; merge the two documents"),
        );
    }
    let p = &platform.spec;
    if p.clusters.is_empty() {
        cx.error(
            platform.span,
            "the platform declares no clusters",
            "add `spec.clusters` with at least one shared cluster",
        );
    }
    if p.object_stores.is_empty() {
        cx.error(
            platform.span,
            "the platform declares no object stores",
            "add `spec.objectStores` with at least one store for backups",
        );
    }
    let clusters = unique(estate, cx, "cluster", p.clusters.iter().map(|c| &c.name));
    let stores = unique(
        estate,
        cx,
        "object store",
        p.object_stores.iter().map(|s| &s.name),
    );
    let secret_stores = unique(
        estate,
        cx,
        "secret store",
        p.secret_stores.iter().map(|s| &s.name),
    );
    let teams = unique(
        estate,
        cx,
        "team",
        estate.teams.iter().map(|t| &t.metadata.name),
    );
    let people = unique(
        estate,
        cx,
        "person",
        estate
            .teams
            .iter()
            .flat_map(|t| t.spec.people.iter().map(|p| &p.name)),
    );
    let workloads = unique(
        estate,
        cx,
        "workload",
        estate.workloads.iter().map(|w| &w.metadata.name),
    );
    unique(
        estate,
        cx,
        "waiver",
        estate.waivers.iter().map(|w| &w.metadata.name),
    );

    let check_secret = |cx: &mut Cx, r: &SecretRef| {
        resolve(
            cx,
            "secret store",
            &r.store,
            &secret_stores,
            "declare it under the platform's `secretStores`",
        );
    };
    for s in &p.secret_stores {
        if s.provider.is_some() && s.kind.value == crate::model::SecretStoreKind::ClusterSecretStore
        {
            cx.error(
                s.kind.span,
                format!(
                    "secret store `{}` declares a `provider` but is a ClusterSecretStore",
                    s.name
                ),
                "write `kind: SecretStore`: Ward renders one namespaced store per namespace, whose provider login reaches only that namespace's keys; a ClusterSecretStore is the platform's own and any namespace its `conditions` admit reads every key it reaches",
            );
        }
    }
    for s in &p.object_stores {
        if let Some(to) = &s.replicate_to {
            resolve(
                cx,
                "object store",
                to,
                &stores,
                "name another entry of `objectStores`",
            );
            if to.value == s.name.value {
                cx.error(
                    to.span,
                    "an object store cannot replicate to itself",
                    "name a store in another region",
                );
            }
        }
        if let Some(c) = &s.credentials {
            check_secret(cx, c);
        }
    }
    for c in &p.clusters {
        if c.zones.is_empty() {
            cx.error(
                c.name.span,
                format!("cluster `{}` declares no zones", c.name),
                "list its availability zones under `zones`",
            );
        }
    }
    if let Some(r) = &p.break_glass_recipient {
        check_age_recipient(cx, r);
    }
    TierDefaults::check_objectives(&p.tier_objectives, cx);

    for team in &estate.teams {
        for person in &team.spec.people {
            if let Some(r) = &person.age_recipient {
                check_age_recipient(cx, r);
            }
            if let Some(k) = &person.ssh_key
                && !(k.value.starts_with("ssh-")
                    || k.value.starts_with("ecdsa-")
                    || k.value.starts_with("sk-"))
            {
                cx.error(
                    k.span,
                    format!(
                        "`keys.ssh` of `{}` is not an OpenSSH public key",
                        person.name
                    ),
                    "paste the one line of the `.pub` file, starting with `ssh-ed25519`",
                );
            }
        }
    }

    let mut hosts: BTreeMap<String, Span> = BTreeMap::new();
    for w in &estate.workloads {
        let spec = &w.spec;
        resolve(
            cx,
            "team",
            &spec.owner,
            &teams,
            "declare the team in a `kind: Team` document",
        );
        let envs = unique(
            estate,
            cx,
            &format!("environment of workload `{}`", w.name()),
            spec.environments.iter().map(|e| &e.name),
        );
        unique(
            estate,
            cx,
            &format!("integration of workload `{}`", w.name()),
            spec.integrations.iter().map(|i| &i.name),
        );
        if spec.environments.is_empty() {
            cx.error(
                w.span,
                format!("workload `{}` has no environments", w.name()),
                "add at least one entry under `spec.environments`",
            );
        }
        for env in &spec.environments {
            if let Some(c) = &env.cluster {
                resolve(
                    cx,
                    "cluster",
                    c,
                    &clusters,
                    "name a cluster from the platform's `clusters`",
                );
            }
            if let Some(s) = &env.object_store {
                resolve(
                    cx,
                    "object store",
                    s,
                    &stores,
                    "name a store from the platform's `objectStores`",
                );
            }
            if let Some(from) = &env.refresh_from {
                resolve(
                    cx,
                    "environment",
                    from,
                    &envs,
                    "name another environment of this workload",
                );
                if from.value == env.name.value {
                    cx.error(
                        from.span,
                        "an environment cannot refresh from itself",
                        "name the production environment it copies",
                    );
                }
            }
            if let Some(r) = env.database.as_ref().and_then(|d| d.password_ref.as_ref()) {
                check_secret(cx, r);
            }
            for host in &env.hosts {
                match check_hostname(&host.value) {
                    Err(why) => cx.error(
                        host.span,
                        format!(
                            "`{}` is not a valid hostname: {why}",
                            crate::decode::escape(&host.value)
                        ),
                        "write a lowercase DNS name such as `billing.st-marys.example`",
                    ),
                    Ok(()) => {
                        if let Some(first) = hosts.get(&host.value) {
                            cx.diags
                                .push(duplicate(estate, "hostname", host, *first).hint(
                                    "each hostname routes to exactly one environment; pick another",
                                ));
                        } else {
                            hosts.insert(host.value.clone(), host.span);
                        }
                    }
                }
            }
        }
        for i in &spec.integrations {
            if let Some(owner) = &i.credential_owner {
                resolve(
                    cx,
                    "person",
                    owner,
                    &people,
                    "name a person from a `Team` document",
                );
            }
            if let Some(r) = &i.credential_ref {
                check_secret(cx, r);
            }
            if !(i.endpoint.value.contains("://")) {
                cx.error(
                    i.endpoint.span,
                    format!("endpoint of integration `{}` is not a URL", i.name),
                    "write it with its scheme, as `https://claims.example.net`",
                );
            }
        }
    }

    check_production_credentials(estate, cx);

    for waiver in &estate.waivers {
        let s = &waiver.spec;
        resolve(
            cx,
            "person",
            &s.approver,
            &people,
            "name a person from a `Team` document",
        );
        if s.expires.value < s.created.value {
            cx.error(
                s.expires.span,
                "the waiver expires before it was created",
                "check the two dates",
            );
        }
        if let Some(wl) = &s.scope.workload {
            resolve(
                cx,
                "workload",
                wl,
                &workloads,
                "name a workload of the estate",
            );
            if let (Some(env), Some(w)) = (
                &s.scope.environment,
                estate.workloads.iter().find(|w| w.name() == wl.value),
            ) {
                let envs: BTreeMap<String, Span> = w
                    .spec
                    .environments
                    .iter()
                    .map(|e| (e.name.value.clone(), e.name.span))
                    .collect();
                resolve(
                    cx,
                    "environment",
                    env,
                    &envs,
                    "name an environment of that workload",
                );
            }
        }
    }
}

/// Non-production environments never mount a production credential: every integration
/// credential and database password a `test` or `development` environment would read must
/// differ (store and key) from every one a production environment reads, in any workload.
/// A staging copy of production then cannot reach the clearinghouse, or the database, as
/// production does; the environment declares its own under `integrationCredentials`.
fn check_production_credentials(estate: &Estate, cx: &mut Cx) {
    use crate::decode::Choice;
    use crate::model::Stage;
    let Some(platform) = &estate.platform else {
        return;
    };
    let first_store = platform
        .spec
        .secret_stores
        .first()
        .map_or("default", |s| s.name.value.as_str());
    // The database password an environment reads, with the span that names it (the
    // environment's name when it is the default key).
    let password = |w: &str, env: &crate::model::Environment| -> (String, String, Span) {
        match env.database.as_ref().and_then(|d| d.password_ref.as_ref()) {
            Some(r) => (r.store.value.clone(), r.key.value.clone(), r.key.span),
            None => (
                first_store.to_string(),
                crate::resolve::odoo_secret_key(w, &env.name.value),
                env.name.span,
            ),
        }
    };
    let mut production: BTreeMap<(String, String), (Span, String)> = BTreeMap::new();
    for w in &estate.workloads {
        for env in &w.spec.environments {
            if env.stage.value != Stage::Production {
                continue;
            }
            let (store, key, span) = password(w.name(), env);
            let what = format!("the database password of `{}/{}`", w.name(), env.name);
            production.entry((store, key)).or_insert((span, what));
            for i in &w.spec.integrations {
                if let Some(r) = env.integration_credential(i) {
                    let what =
                        format!("the `{}` credential of `{}/{}`", i.name, w.name(), env.name);
                    production
                        .entry((r.store.value.clone(), r.key.value.clone()))
                        .or_insert((r.key.span, what));
                }
            }
        }
    }
    for w in &estate.workloads {
        for env in &w.spec.environments {
            for (name, r) in &env.integration_credentials {
                if !w.spec.integrations.iter().any(|i| &i.name.value == name) {
                    cx.error(
                        r.store.span,
                        format!(
                            "`integrationCredentials.{name}` of `{}/{}` names no integration of the workload",
                            w.name(),
                            env.name
                        ),
                        "use the `name` of one of the workload's `integrations`",
                    );
                }
            }
            if env.stage.value == Stage::Production {
                continue;
            }
            let stage = env.stage.value.name();
            let mut reads: Vec<(String, String, Span, String)> = Vec::new();
            if env
                .database
                .as_ref()
                .and_then(|d| d.password_ref.as_ref())
                .is_some()
            {
                let (store, key, span) = password(w.name(), env);
                reads.push((store, key, span, "its database password".to_string()));
            }
            for i in &w.spec.integrations {
                if let Some(r) = env.integration_credential(i) {
                    // Where the fix goes: the environment's own entry, or the environment.
                    let span = if env.integration_credentials.contains_key(&i.name.value) {
                        r.key.span
                    } else {
                        env.name.span
                    };
                    reads.push((
                        r.store.value.clone(),
                        r.key.value.clone(),
                        span,
                        format!("the credential of integration `{}`", i.name),
                    ));
                }
            }
            for (store, key, span, what) in reads {
                let Some((first, theirs)) = production.get(&(store.clone(), key.clone())) else {
                    continue;
                };
                let loc = estate.sources.location(*first);
                cx.diags.push(
                    Diagnostic::new(
                        span,
                        format!(
                            "the {stage} environment `{}/{}` would mount a production credential: {what} is `{store}:{key}`, which is {theirs} ({loc})",
                            w.name(),
                            env.name,
                        ),
                    )
                    .related(*first, "the production reference")
                    .hint(
                        "give the environment its own credential, e.g. `integrationCredentials: { <integration>: { store: <store>, key: <a non-production key> } }` or its own `database.passwordRef`; non-production environments never hold production credentials",
                    ),
                );
            }
        }
    }
}

fn duplicate(estate: &Estate, what: &str, name: &Spanned<String>, first: Span) -> Diagnostic {
    let loc = estate.sources.location(first);
    Diagnostic::new(
        name.span,
        format!(
            "duplicate {what} `{}` (first defined in {}:{})",
            name.value, loc.file, loc.line
        ),
    )
    .related(first, "first defined here")
    .hint(format!(
        "rename one of them, or remove the copy; names of a {what} must be unique"
    ))
}

/// Reports repeats and returns each name with the span of its first definition.
fn unique<'a>(
    estate: &Estate,
    cx: &mut Cx,
    what: &str,
    names: impl Iterator<Item = &'a Spanned<String>>,
) -> BTreeMap<String, Span> {
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for n in names {
        match seen.get(&n.value) {
            Some(first) => cx.diags.push(duplicate(estate, what, n, *first)),
            None => {
                seen.insert(n.value.clone(), n.span);
            }
        }
    }
    seen
}

fn resolve(
    cx: &mut Cx,
    what: &str,
    name: &Spanned<String>,
    known: &BTreeMap<String, Span>,
    hint: &str,
) {
    if known.contains_key(&name.value) {
        return;
    }
    let names: Vec<&str> = known.keys().map(String::as_str).collect();
    let hint = match closest(&name.value, &names) {
        Some(best) => format!("did you mean `{best}`? ({hint})"),
        None => hint.to_string(),
    };
    cx.error(
        name.span,
        format!("unknown {what} `{}`", crate::decode::escape(&name.value)),
        hint,
    );
}

fn check_age_recipient(cx: &mut Cx, r: &Spanned<String>) {
    let ok = r.value.starts_with("age1")
        && r.value.len() >= 60
        && r.value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !ok {
        cx.error(
            r.span,
            "not an age recipient",
            "paste the public `age1…` line that `age-keygen` prints",
        );
    }
}

/// A lowercase DNS name with at least two labels (RFC 1123).
pub fn check_hostname(host: &str) -> Result<(), &'static str> {
    if host.len() > 253 {
        return Err("longer than 253 characters");
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err("it needs a domain, as in `app.example.org`");
    }
    for l in labels {
        crate::decode::check_dns_label(l)?;
    }
    Ok(())
}
