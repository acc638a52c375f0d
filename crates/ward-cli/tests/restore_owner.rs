//! A restore Odoo can use, on a real PostgreSQL: `ward restore` (run as the superuser)
//! hands the database and every object in it to the environment's role, so that Odoo,
//! connecting as that role, reads every table and finds the database in its listing.

mod vault_support;

use vault_support::{ENV_ROLE, World};
use ward_vault::fixture::OdooFixture;

/// Odoo's database listing (`odoo/service/db.py`, `list_dbs`): the databases the
/// connecting user owns.
const ODOO_LIST_DBS: &str = "select datname from pg_database where datdba=(select usesysid from pg_user where usename=current_user) and not datistemplate and datallowconn and datname not in ('postgres') order by datname";

#[test]
fn a_restored_database_belongs_to_the_environments_role() {
    let w = World::new(OdooFixture {
        attachments: 5,
        ..OdooFixture::default()
    });
    let id = w.backed_up();
    let data = w.tmp.path().join("restored-data");
    let (code, out, err) = w.restore(&id, "billing_restored", &data, &[]);
    assert_eq!(code, 0, "restore: {out}{err}");

    // Nothing in the restored database belongs to the superuser that restored it.
    let foreign = w.psql(
        "billing_restored",
        &format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relowner <> '{ENV_ROLE}'::regrole"
        ),
    );
    assert_eq!(foreign.trim(), "0", "objects not owned by {ENV_ROLE}");
    // As the environment's role: every table reads, and Odoo's listing finds the database.
    let tables = w.psql(
        "billing_restored",
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert!(
        tables.trim().parse::<u32>().expect("a count") > 5,
        "{tables}"
    );
    let read_all = format!(
        "SET ROLE {ENV_ROLE}; DO $$ DECLARE t text; BEGIN \
         FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP \
         EXECUTE format('SELECT count(*) FROM public.%I', t); END LOOP; END $$;"
    );
    w.psql("billing_restored", &read_all);
    let listed = w.psql(
        "billing_restored",
        &format!("SET ROLE {ENV_ROLE}; {ODOO_LIST_DBS}"),
    );
    assert_eq!(listed.trim(), "billing_restored", "Odoo lists {listed:?}");
    // The role that ran the restore would list nothing of it: it owns none of it.
    let as_superuser = w.psql("billing_restored", ODOO_LIST_DBS);
    assert!(!as_superuser.contains("billing_restored"), "{as_superuser}");

    // `--owner` names another role; one that does not exist is refused, and nothing stays.
    let (code, out, err) = w.restore(&id, "by_ghost", &data.join("g"), &["--owner", "ghost"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("ghost"), "{err}");
    assert!(!w.has_database("by_ghost"));
}
