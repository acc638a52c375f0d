//! The SQL Ward renders for its PostgreSQL databases, shared by the Kubernetes and Compose
//! renderers: the bootstrap statements a new server runs once as its superuser, and the
//! setup each database's owner runs on it (CONNECT, extensions, the `unaccent` wrapper).
//!
//! Everything here is idempotent, so that it can run again on every deploy.

use std::fmt::Write as _;

/// The schema the `unaccent` extension is installed in. Not `public`: Odoo looks for a
/// one-argument `public.unaccent`, which must be Ward's immutable wrapper, not the
/// extension's own (stable) function of the same signature.
pub const UNACCENT_SCHEMA: &str = "unaccent";

/// The maintenance database. Odoo connects to it by this name to list its databases
/// (`db_connect('postgres')` in `list_dbs`), and `ward drill` to create scratch copies.
pub const MAINTENANCE_DATABASE: &str = "postgres";

/// A group role created at bootstrap that holds `CONNECT` on the maintenance database
/// `postgres` (revoked from `PUBLIC`): Odoo's role connects there to list its databases
/// (`list_dbs` in `odoo/service/db.py`) and the drill role to create its scratch copies.
pub const MAINTENANCE_CONNECT_ROLE: &str = "ward_maintenance_connect";

/// A PostgreSQL identifier, always double-quoted (embedded quotes doubled).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal (embedded quotes doubled).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// What a new server runs once, as its superuser, in the `postgres` database
/// (CloudNativePG's `bootstrap.initdb.postInitSQL`): no role may connect to the
/// maintenance and template databases unless granted, and the group role that is.
pub fn bootstrap_statements() -> Vec<String> {
    let group = ident(MAINTENANCE_CONNECT_ROLE);
    let maintenance = ident(MAINTENANCE_DATABASE);
    vec![
        format!("REVOKE ALL ON DATABASE {maintenance} FROM PUBLIC"),
        "REVOKE ALL ON DATABASE template1 FROM PUBLIC".to_string(),
        format!("CREATE ROLE {group} NOLOGIN"),
        format!("GRANT CONNECT ON DATABASE {maintenance} TO {group}"),
    ]
}

/// What a new server runs once, as its superuser, after it created the owner role
/// Odoo logs in as (CloudNativePG's `bootstrap.initdb.postInitApplicationSQL`): that role
/// may reach the maintenance database, where Odoo lists its databases.
pub fn owner_bootstrap_statements(owner: &str) -> Vec<String> {
    vec![format!(
        "GRANT {} TO {}",
        ident(MAINTENANCE_CONNECT_ROLE),
        ident(owner)
    )]
}

/// The setup of one database, run by its owner (the role Odoo logs in as) while connected
/// to it, before Odoo initialises it and again on every upgrade:
///
/// - `CONNECT` and `TEMPORARY` are revoked from `PUBLIC`, so that only the owner and its
///   members connect (pg_hba narrows that further, per role);
/// - `pg_trgm` in `public`, where Odoo's trigram indexes and `%` searches look for it;
/// - `unaccent` in its own schema, and `public.unaccent(text)`, an immutable SQL wrapper
///   that names the extension's function and dictionary with their schema. Odoo 17+
///   (`has_unaccent` in `odoo/modules/db.py`) indexes `unaccent(column)` only when
///   `public.unaccent` is immutable, and the extension's own function is only stable.
///   Odoo's own way, `ALTER FUNCTION unaccent(text) IMMUTABLE`, changes a function of the
///   extension, which `pg_dump` does not keep: the restore then fails on every such index.
///   The wrapper is an ordinary function, dumped with its `IMMUTABLE`, and its body works
///   under the empty `search_path` that `pg_restore` builds indexes with.
///
/// Both extensions are trusted (PostgreSQL 13+), so the owner needs no superuser.
pub fn database_setup_sql(database: &str) -> String {
    let db = ident(database);
    let schema = ident(UNACCENT_SCHEMA);
    let dictionary = literal(&format!("{}.unaccent", ident(UNACCENT_SCHEMA)));
    let mut sql = String::new();
    let mut line = |s: &str| {
        let _ = writeln!(sql, "{s}");
    };
    line(&format!(
        "-- Rendered by ward: run as the owner of {db}, connected to it."
    ));
    line(&format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC;"));
    line("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;");
    line(&format!("CREATE SCHEMA IF NOT EXISTS {schema};"));
    line(&format!(
        "CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA {schema};"
    ));
    line(&format!(
        "CREATE OR REPLACE FUNCTION public.unaccent(text) RETURNS text\n  \
         LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE\n  \
         RETURN {schema}.unaccent({dictionary}::regdictionary, $1);"
    ));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maintenance_database_is_the_drills() {
        assert_eq!(
            MAINTENANCE_DATABASE,
            ward_estate::resolve::DRILL_MAINTENANCE_DATABASE
        );
    }

    #[test]
    fn names_are_quoted() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
        let sql = database_setup_sql("portal.st-marys.care.example");
        assert!(
            sql.contains("REVOKE ALL ON DATABASE \"portal.st-marys.care.example\" FROM PUBLIC;")
        );
    }
}
