//! The route table: every route the server answers, and who may call it. The router, the
//! authorization middleware, the OpenAPI document's check and the role test all read it.
//!
//! Every authenticated role reads (`app-support`'s rights); `dba` starts backups, drills
//! and verifies; `platform-ops` owns scheduling and plans; `security-reviewer` the ledger.

use ward_store::Role;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token: health, readiness, the OpenAPI document, metrics, and the login's own
    /// routes (the provider's callback proves itself with its state).
    Public,
    /// Any valid token or session.
    Read,
    /// A token of this role.
    Role(Role),
    /// A valid `X-Hub-Signature-256` over the body with the webhook secret, or a
    /// `platform-ops` token.
    Webhook,
}

impl Access {
    /// Whether `role` may call a route of this access (the webhook's signature is
    /// checked by its handler).
    pub fn admits(self, role: Role) -> bool {
        match self {
            Access::Public | Access::Read => true,
            Access::Role(needed) => needed == role,
            Access::Webhook => role == Role::PlatformOps,
        }
    }

    /// Whether a caller holding `roles` may: one of them is enough. A caller with no role
    /// (a person whose groups map to none) is admitted nowhere but the public routes.
    pub fn admits_any(self, roles: &[Role]) -> bool {
        self == Access::Public || roles.iter().any(|r| self.admits(*r))
    }
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub method: &'static str,
    /// As the router matches it (`{id}` for a parameter).
    pub path: &'static str,
    pub access: Access,
    /// Whether a call changes something (it is then in the ledger, as are denials).
    pub changes: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    changes: bool,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        access,
        changes,
    }
}

use Access::{Public, Read, Webhook};
const DBA: Access = Access::Role(Role::Dba);
const OPS: Access = Access::Role(Role::PlatformOps);
const SECURITY: Access = Access::Role(Role::SecurityReviewer);

/// Every route of the server.
pub const ROUTES: &[RouteSpec] = &[
    route("GET", "/healthz", Public, false),
    route("GET", "/readyz", Public, false),
    route("GET", "/metrics", Public, false),
    route("GET", "/api/v1/openapi.json", Public, false),
    route("GET", "/auth/login", Public, false),
    route("GET", "/auth/callback", Public, true),
    route("POST", "/auth/logout", Read, true),
    route("GET", "/api/v1/session", Read, false),
    route("GET", "/api/v1/estate", Read, false),
    route("GET", "/api/v1/estate/environments", Read, false),
    route(
        "GET",
        "/api/v1/estate/environments/{workload}/{environment}",
        Read,
        false,
    ),
    route("GET", "/api/v1/estate/findings", Read, false),
    route("POST", "/api/v1/estate/refresh", OPS, true),
    route("GET", "/api/v1/commits", Read, false),
    route("GET", "/api/v1/plan", OPS, false),
    route("GET", "/api/v1/snapshots", Read, false),
    route("POST", "/api/v1/snapshots/verify", DBA, true),
    route("POST", "/api/v1/backups", DBA, true),
    route("GET", "/api/v1/drills", Read, false),
    route("POST", "/api/v1/drills", DBA, true),
    route("GET", "/api/v1/runs", Read, false),
    route("GET", "/api/v1/runs/{id}", Read, false),
    route("GET", "/api/v1/runs/{id}/logs", Read, false),
    route("POST", "/api/v1/runs/{id}/cancel", OPS, true),
    route("GET", "/api/v1/schedule", Read, false),
    route("GET", "/api/v1/ledger", SECURITY, false),
    route("GET", "/api/v1/ledger/verify", SECURITY, false),
    route("POST", "/api/v1/webhooks/git", Webhook, true),
];

/// The route `method path` matched, if it is in the table.
pub fn find(method: &str, path: &str) -> Option<&'static RouteSpec> {
    ROUTES.iter().find(|r| r.method == method && r.path == path)
}
