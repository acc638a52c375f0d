//! `ward backup list`: the committed snapshots of the estate's object stores (or a
//! `--repo`), each marked verified or not against the pinned signing keys.

use std::path::PathBuf;

use indicatif::HumanBytes;
use ward_vault::ListedSnapshot;

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only this environment (`workload/environment`).
    #[arg(value_name = "WORKLOAD/ENV")]
    pub target: Option<String>,
    /// Read this local repository folder instead of the estate's object stores.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

/// One line of `backup list -o json`: the plaintext manifest without the blob list.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListRow<'a> {
    snapshot: String,
    tenant: &'a str,
    workload: &'a str,
    environment: &'a str,
    id: &'a str,
    /// Its signed statement verifies against a key the estate pins for the environment.
    verified: bool,
    /// Why it does not verify (then nothing below is trusted: it is what the plaintext
    /// manifest claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    unverified: Option<&'a str>,
    /// It has no statement at all (format 1, a forgery, or a backup killed before its
    /// commit point).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unsigned: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    estate_commit: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postgres_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    odoo_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dump_stored_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    blob_stats: Option<&'a ward_vault::BlobStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object_lock: Option<&'a ward_vault::SnapshotLock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipients: Option<&'a [String]>,
}

fn list_row(l: &ListedSnapshot) -> ListRow<'_> {
    let s = l.snapshot();
    let m = match l {
        ListedSnapshot::Verified { manifest, .. } => Some(manifest.as_ref()),
        ListedSnapshot::Unverified { manifest, .. } => manifest.as_deref(),
    };
    ListRow {
        snapshot: s.to_string(),
        tenant: &s.tenant,
        workload: &s.workload,
        environment: &s.environment,
        id: &s.id,
        verified: l.verified().is_some(),
        unverified: match l {
            ListedSnapshot::Unverified { reason, .. } => Some(reason),
            ListedSnapshot::Verified { .. } => None,
        },
        unsigned: matches!(l, ListedSnapshot::Unverified { unsigned: true, .. }),
        started: m.map(|m| m.started),
        finished: m.map(|m| m.finished),
        estate_commit: m.and_then(|m| m.estate_commit.as_deref()),
        postgres_version: m.map(|m| m.postgres_version.as_str()),
        odoo_version: m.and_then(|m| m.odoo_version.as_deref()),
        dump_stored_bytes: m.map(|m| m.dump_stored_bytes()),
        stored_bytes: m.map(|m| m.stored_bytes()),
        blob_stats: m.map(|m| &m.blob_stats),
        object_lock: m.and_then(|m| m.object_lock.as_ref()),
        recipients: m.map(|m| m.recipients.as_slice()),
    }
}

pub(super) fn list(cx: &Context, args: ListArgs) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let listed = ward_ops::snapshots::list(
        &cx.ws,
        &estate,
        args.target.as_deref(),
        args.repo.as_deref(),
    )?;
    let rows: Vec<ListRow> = listed.iter().map(list_row).collect();
    match cx.output {
        Output::Json => print_json(&rows)?,
        Output::Text => {
            if rows.is_empty() {
                println!("no snapshots");
                return Ok(Exit::Ok);
            }
            let mut table = vec![
                [
                    "ID",
                    "TENANT",
                    "WORKLOAD/ENV",
                    "STARTED",
                    "TOOK",
                    "POSTGRES",
                    "ODOO",
                    "ATTACHMENTS",
                    "STORED",
                    "LOCKED UNTIL",
                    "VERIFIED",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for (l, r) in listed.iter().zip(&rows) {
                let row = match l {
                    ListedSnapshot::Verified { manifest: m, .. } => {
                        let took = m.finished.duration_since(m.started).as_secs_f64();
                        vec![
                            r.id.to_string(),
                            r.tenant.to_string(),
                            format!("{}/{}", r.workload, r.environment),
                            m.started.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
                            format!("{:.1}s", took.max(0.0)),
                            m.postgres_version.clone(),
                            m.odoo_version.clone().unwrap_or_else(|| "-".into()),
                            m.blob_stats.referenced.to_string(),
                            HumanBytes(m.stored_bytes()).to_string(),
                            m.object_lock
                                .map(|l| l.retain_until.strftime("%Y-%m-%d").to_string())
                                .unwrap_or_else(|| "-".into()),
                            "yes".into(),
                        ]
                    }
                    // What an unverified manifest claims is not shown: nothing in it is
                    // trusted.
                    ListedSnapshot::Unverified { reason, .. } => vec![
                        r.id.to_string(),
                        r.tenant.to_string(),
                        format!("{}/{}", r.workload, r.environment),
                        format!("NOT VERIFIED: {reason}"),
                    ],
                };
                table.push(row);
            }
            print!(
                "{}",
                crate::commands::classify::table_for(
                    cx,
                    &table,
                    &[
                        "TENANT",
                        "TOOK",
                        "POSTGRES",
                        "ODOO",
                        "ATTACHMENTS",
                        "LOCKED UNTIL"
                    ]
                )
            );
        }
    }
    Ok(Exit::Ok)
}
