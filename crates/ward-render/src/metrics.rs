//! The names of the series Ward's backup and drill results are published under: one
//! owner for the CLI's Pushgateway pusher, the server's `/metrics` and the rendered
//! alerts, so that a rename cannot leave an alert selecting a series nobody writes.

/// Gauge: the Unix time of an environment's last successful logical snapshot.
pub const BACKUP_LAST_SUCCESS_METRIC: &str = "ward_backup_last_success_timestamp_seconds";
/// Gauge: the Unix time of an environment's last passed restore drill.
pub const DRILL_LAST_SUCCESS_METRIC: &str = "ward_drill_last_success_timestamp_seconds";
/// The label naming the environment a series is about: its `workload/environment`
/// address. The server sets no `job` or `namespace` label of its own; its scrape adds them.
pub const ENVIRONMENT_LABEL: &str = "environment";
/// The Pushgateway job (grouping key) `ward backup run` pushes its results under.
pub const BACKUP_PUSH_JOB: &str = "ward_backup";
/// The Pushgateway job `ward drill` pushes its results under.
pub const DRILL_PUSH_JOB: &str = "ward_drill";
/// The namespace `ward serve` runs in (`ward render` renders it there): its scrape gives
/// the series it exposes this `namespace` label, which the alerts select on.
pub const CONTROL_PLANE_NAMESPACE: &str = "ward-system";
