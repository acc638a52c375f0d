//! `ward classify`: every environment's tier, hosting model and DR posture.

use crate::context::{Context, Output, print_json};
use crate::report::{Exit, Failure};

/// Show the service tier, hosting model and DR posture of every workload environment.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ward --estate care classify\n  ward classify -o wide\n  ward classify -o json | jq '.environments[] | select(.classification.tier == 1)'"
)]
pub struct Args {
    /// Only this workload (or `workload/environment`).
    pub filter: Option<String>,
}

pub fn run(cx: &Context, args: Args) -> Result<Exit, Failure> {
    let estate = cx.load_estate()?;
    let envs: Vec<_> = estate
        .environments
        .iter()
        .filter(|e| {
            args.filter
                .as_deref()
                .is_none_or(|f| f == e.workload || f == e.address())
        })
        .collect();
    if let Some(f) = &args.filter
        && envs.is_empty()
    {
        return Err(crate::commands::explain::unknown_address(&estate, f));
    }
    match cx.output {
        Output::Json => {
            // Serialized straight from the model: a 6,000-environment estate never
            // becomes an intermediate JSON tree or one big string.
            #[derive(serde::Serialize)]
            struct Report<'a> {
                commit: &'a Option<String>,
                dirty: bool,
                environments: &'a [&'a ward_estate::ResolvedEnvironment],
            }
            print_json(&Report {
                commit: &estate.git.commit,
                dirty: estate.git.dirty,
                environments: &envs,
            })?;
        }
        Output::Text => {
            // The default fits 100 columns; `-o wide` adds the rest of the posture.
            let wide = cx.wide();
            let header: &[&str] = if wide {
                &[
                    "WORKLOAD/ENV",
                    "TENANT",
                    "STAGE",
                    "TIER",
                    "HOSTING",
                    "CLUSTER",
                    "RECOVERY CLUSTER",
                    "MIN REPLICAS",
                    "MIN ZONES",
                    "PG INSTANCES",
                    "BACKUP EVERY",
                    "DRILL EVERY",
                ]
            } else {
                &[
                    "WORKLOAD/ENV",
                    "TENANT",
                    "TIER",
                    "HOSTING",
                    "CLUSTER",
                    "BACKUP EVERY",
                ]
            };
            let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
            for e in &envs {
                let p = &e.classification.posture;
                rows.push(if wide {
                    vec![
                        e.address(),
                        e.tenant.clone(),
                        e.stage.to_string(),
                        e.classification.tier.to_string(),
                        e.classification.hosting.to_string(),
                        e.cluster.clone(),
                        e.recovery_cluster.clone().unwrap_or_else(|| "-".into()),
                        p.min_replicas.to_string(),
                        p.min_zones.to_string(),
                        p.postgres_instances.to_string(),
                        p.backup_interval.to_string(),
                        p.drill_every.to_string(),
                    ]
                } else {
                    vec![
                        e.address(),
                        e.tenant.clone(),
                        e.classification.tier.to_string(),
                        e.classification.hosting.to_string(),
                        e.cluster.clone(),
                        p.backup_interval.to_string(),
                    ]
                });
            }
            print!("{}", table(&rows));
        }
    }
    Ok(Exit::Ok)
}

/// [`table`] with the columns whose header `wide_only` names left out, unless `-o wide`:
/// kubectl's way of fitting a terminal by default and showing everything on request.
/// Rows shorter than the header (a snapshot that does not verify) keep their cells.
pub fn table_for(cx: &Context, rows: &[Vec<String>], wide_only: &[&str]) -> String {
    let Some(header) = rows.first().filter(|_| !cx.wide()) else {
        return table(rows);
    };
    let kept: Vec<usize> = (0..header.len())
        .filter(|&i| !wide_only.contains(&header[i].as_str()))
        .collect();
    let narrow: Vec<Vec<String>> = rows
        .iter()
        .map(|r| kept.iter().filter_map(|&i| r.get(i).cloned()).collect())
        .collect();
    table(&narrow)
}

/// Left-aligned columns separated by three spaces, as `kubectl get` prints them.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}
