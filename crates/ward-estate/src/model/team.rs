//! The `Team` document: the people who administer the platform, their roles, the
//! identity-provider group per role, and the keys they sign and restore with.

use super::readers::{list, mapping, opt, req};
use crate::decode::{Choice, Cx, choice};
use crate::source::Spanned;
use crate::yaml::Node;
use serde::Serialize;
use std::collections::BTreeMap;

choice!(
    /// The four administrative roles Ward knows.
    Role {
        PlatformOps = "platform-ops",
        Dba = "dba",
        SecurityReviewer = "security-reviewer",
        AppSupport = "app-support",
    }
);

#[derive(Clone, Debug, Serialize)]
pub struct TeamSpec {
    /// Identity-provider group per role, for RoleBindings.
    pub groups: BTreeMap<String, Spanned<String>>,
    pub people: Vec<Person>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub name: Spanned<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Spanned<String>>,
    pub roles: Vec<Spanned<Role>>,
    /// OpenSSH public key, for signed approvals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<Spanned<String>>,
    /// age recipient (`age1…`), for backups this person may restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_recipient: Option<Spanned<String>>,
}

impl Person {
    pub fn has(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r.value == role)
    }
}

pub(crate) fn decode_team(cx: &mut Cx, node: &Node) -> Option<TeamSpec> {
    mapping(cx, node, "spec", |cx, f| {
        let groups = opt(cx, f, "groups", |cx, n, p| {
            mapping(cx, n, p, |cx, gf| {
                let mut out = BTreeMap::new();
                for role in Role::NAMES {
                    if let Some(g) = opt(cx, gf, role, |cx, n, p| cx.string(n, p)) {
                        out.insert((*role).to_string(), g);
                    }
                }
                Some(out)
            })
        })
        .unwrap_or_default();
        let people = list(cx, f, "people", |cx, n, p| {
            mapping(cx, n, p, |cx, f| {
                let name = req(cx, f, "name", |cx, n, p| cx.name(n, p));
                let full_name = opt(cx, f, "fullName", |cx, n, p| cx.string(n, p));
                let email = opt(cx, f, "email", |cx, n, p| cx.string(n, p));
                let roles = list(cx, f, "roles", |cx, n, p| cx.choice(n, p));
                let (ssh_key, age_recipient) = opt(cx, f, "keys", |cx, n, p| {
                    mapping(cx, n, p, |cx, f| {
                        Some((
                            opt(cx, f, "ssh", |cx, n, p| cx.string(n, p)),
                            opt(cx, f, "age", |cx, n, p| cx.string(n, p)),
                        ))
                    })
                })
                .unwrap_or_default();
                Some(Person {
                    name: name?,
                    full_name,
                    email,
                    roles,
                    ssh_key,
                    age_recipient,
                })
            })
        });
        Some(TeamSpec { groups, people })
    })
}
