//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`. A test checks it lists exactly the route table's routes.

use std::sync::OnceLock;

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::{Modify, OpenApi};

use super::{handlers, login};

/// The two ways to call: an API token, or a person's session cookie (whose POSTs carry
/// `X-CSRF-Token`). Every route that takes a token takes a session too.
struct Authentication;

impl Modify for Authentication {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::SESSION_COOKIE,
                "the session of a login at /auth/login; POSTs also need the X-CSRF-Token header",
            ))),
        );
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let Some(security) = &mut op.security else {
                    continue;
                };
                let requirement = |name: &str| SecurityRequirement::new(name, Vec::<String>::new());
                let session = requirement("session");
                if security.contains(&requirement("bearer")) && !security.contains(&session) {
                    security.push(session);
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ward",
        description = "Ward's control plane: the estate at each commit, plans, snapshots, drills, runs and the ledger. Every response names the estate commit it describes.",
    ),
    paths(
        handlers::healthz,
        handlers::readyz,
        handlers::metrics,
        handlers::openapi_document,
        login::login,
        login::callback,
        login::logout,
        login::session,
        handlers::estate,
        handlers::environments,
        handlers::environment,
        handlers::findings,
        handlers::refresh,
        handlers::commits,
        handlers::plan,
        handlers::snapshots,
        handlers::verify_snapshot,
        handlers::start_backup,
        handlers::drills,
        handlers::start_drill,
        handlers::runs,
        handlers::run,
        handlers::run_logs,
        handlers::cancel_run,
        handlers::schedule,
        handlers::ledger,
        handlers::verify_ledger,
        handlers::git_webhook,
    ),
    modifiers(&Authentication),
)]
pub struct ApiDoc;

/// The document as served (computed once).
pub fn document_json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc.to_pretty_json().unwrap_or_default()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::ROUTES;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_exactly_the_route_table() {
        let doc: serde_json::Value = serde_json::from_str(&document_json()).expect("JSON");
        let version = doc["openapi"].as_str().expect("openapi version");
        assert!(version.starts_with("3.1"), "{version}");
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .expect("operations")
                    .keys()
                    .map(move |m| (m.to_uppercase(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(documented, routed);
        // Every route that needs a token says so.
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            let secured = op.get("security").is_some();
            assert_eq!(
                secured,
                !matches!(
                    r.access,
                    crate::api::Access::Public | crate::api::Access::Webhook
                ),
                "{} {}",
                r.method,
                r.path
            );
        }
    }
}
