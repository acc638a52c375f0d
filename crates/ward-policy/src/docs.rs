//! `docs/controls.md`, generated from the catalogue so that the two cannot drift: a test
//! compares this text with the file (`UPDATE_DOCS=1 cargo test -p ward-policy` rewrites it).

use crate::catalogue::{Catalogue, Domain, Reads};
use std::fmt::Write;

const INTRO: &str = r#"# Controls

<!-- Generated from the Rego modules in crates/ward-policy/controls by
     `UPDATE_DOCS=1 cargo test -p ward-policy --test docs`. Do not edit by hand. -->

`ward check` runs every control below on the estate and on the rendered Kubernetes
objects, then the estate's own policies (`policies/*.rego`), then applies waivers. It
exits 0 when no unwaived `deny` finding remains, 1 when one does, and 2 when the estate or
a policy is broken. `ward controls` prints this catalogue (`--output json` for scripts).

Each control is one Rego module, embedded in the `ward` binary and run by
[regorus](https://github.com/microsoft/regorus). Its `metadata` (ID, title, rationale,
severity, applicability, remediation, HIPAA safeguard) sits next to the `findings` rule
that enforces it.

- **Severity**: `deny` fails the check; `warn` is reported and does not.
- **Applies to**: the tiers, stages and hosting models of the environments it looks at
  ("all" when unrestricted).
- **Reads**: `estate` controls read the resolved estate model; `objects` controls read
  the rendered manifests and only run when the estate was rendered.
- **HIPAA**: the Security Rule safeguard (45 CFR 164.308 administrative, 164.310
  physical, 164.312 technical) the control supports, where one fits.

## Waivers

A `Waiver` document names a `control`, a `scope` (`workload`, `environment`; an absent
field means every), a `reason`, an `approver` and the dates it was `created` and
`expires`. A waived finding is still reported, marked waived with the waiver, and does not
fail the check. A waiver only counts when its approver holds `security-reviewer`
(WARD-IA-005), it has not expired (WARD-DG-006) and it runs at most 180 days
(WARD-DG-007); otherwise the waiver is itself a `deny` finding and covers nothing. Waivers
cannot cover the waiver controls. Users' policies are waived by the ID
`policy:<package>.<rule>`, e.g. `policy:main.deny`.

```yaml
apiVersion: ward.dev/v1
kind: Waiver
metadata:
  name: portal-single-replica
spec:
  control: WARD-RS-001
  scope: { workload: patient-portal, environment: prod }
  reason: Capacity is being added in the new cluster; tracked in CHG-1234
  approver: carol
  created: 2026-11-01
  expires: 2027-01-31
```

## Your own policies

Put Conftest-style Rego modules in `policies/` of the estate. As in
[Conftest](https://www.conftest.dev), every rendered object is the `input` of its own
evaluation, and the rules `deny`, `violation` and `warn` (and `deny_*`, `violation_*`,
`warn_*`) of every package return messages: strings, or objects with a `msg`. Both Rego
v1 (`deny contains msg if { … }`) and v0 (`deny[msg] { … }`) syntax are accepted, so
policies written for `conftest test` against Kubernetes manifests run unchanged. A
syntax or runtime error is reported with its file and line and fails the run with exit
code 2; a policy is never skipped.

## The input document

Built-in controls see one document (`input`) for the whole estate, built by
`ward_policy::build_input`:

```text
input
├── today           "2026-11-26"            the date waivers are judged against
├── rendered        true | false            whether objects were rendered
├── platform        name, clusters[] {name, role, region, zones[], kubernetesVersion},
│                   objectStores[] {name, type, endpoint, bucket, region, objectLock
│                   {mode, days} | null, versioning, replicateTo, credentials},
│                   archiveStore (the WAL archive's store, or null), secretStores[],
│                   baseline {odooVersions[], registries[]}, breakGlassRecipient
├── teams[]         name, groups {role: idp-group}, people[] {name, roles[], sshKey,
│                   ageRecipient}
├── workloads[]     name, tenant, owner, classification {dataSensitivity,
│                   integrationCriticality, uptime, rpoSeconds, rtoSeconds,
│                   contractualIsolation}, odoo {version, image, modules[]},
│                   environments[], integrations[] {name, kind, endpoint,
│                   credentialOwner, credentialRef, onFailure, healthCheck
│                   {url, intervalSeconds} | null}, services[]
├── environments[]  workload, tenant, environment, address ("billing/prod"), stage,
│                   tier, hosting, cluster, recoveryCluster, objectStore, replicas
│                   (declared or null), hosts[], refreshFrom, databaseBytes,
│                   dumpSecondsEstimate, dumpBytesPerSecond (Ward's one job
│                   throughput, which also sizes the rendered jobs), database
│                   {host, port, name, user, external, passwordRef}, posture
│                   {minReplicas, minZones,
│                   postgresInstances, synchronousReplication, walArchiving,
│                   archiveTimeoutSeconds, baseBackupIntervalSeconds,
│                   pitrWindowSeconds, backupIntervalSeconds (logical snapshots),
│                   immutableCopies, crossRegionCopy, drillEverySeconds, recovery},
│                   rules[] (classification rule IDs)
├── controls[]      the IDs of the built-in controls
├── environmentsByStage, objectsByKind, objectsByNamespace, objectsByAddress
│                   indices into environments[] and objects[] by stage, kind,
│                   namespace and owning workload/environment, so controls visit
│                   only what they read
├── waivers[]       name, control, scope {workload, environment}, reason, approver,
│                   created, expires, days (expires − created)
├── objects[]       the rendered Kubernetes manifests, as Kubernetes defines them
└── origins[]       per object (same index): {workload, environment, address, cluster,
                    stage, tier, hosting, minReplicas, postgresInstances, rpoSeconds,
                    at, path} or null when its environment is unknown
```

Every entity has `at`: a map from field name to `{file, line, col}` in the estate (always
`at.name`; other keys such as `at.image`, `at.replicas`, `at.onFailure` when the field is
written), so that a finding names the line to edit. A control's `findings` rule returns
objects `{msg, workload?, environment?, at?, object? {kind, namespace, name}, waiver?}`;
`data.ward.lib` has helpers to build them.

An object's origin comes from the renderer, or from the labels `ward.dev/workload` and
`ward.dev/environment` on the object.
"#;

/// The whole of `docs/controls.md`.
pub fn controls_markdown(catalogue: &Catalogue) -> String {
    let mut out = String::from(INTRO);
    let _ = writeln!(
        out,
        "\n## The catalogue ({} controls)\n",
        catalogue.controls.len()
    );
    out.push_str("| ID | title | severity | reads | HIPAA |\n|---|---|---|---|---|\n");
    for c in &catalogue.controls {
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | {} | {} |",
            c.id,
            c.id.to_lowercase(),
            c.title,
            c.severity,
            reads(c.reads),
            c.hipaa.as_deref().unwrap_or("–")
        );
    }
    for domain in Domain::ALL {
        let _ = writeln!(out, "\n## {}\n", domain.title());
        for c in catalogue.controls.iter().filter(|c| c.domain == domain) {
            let _ = writeln!(out, "### {}\n", c.id);
            let _ = writeln!(out, "**{}**\n", c.title);
            let _ = writeln!(out, "{}\n", c.rationale);
            let _ = writeln!(out, "- Severity: `{}`", c.severity);
            let _ = writeln!(out, "- Applies to: {}", c.applies);
            let _ = writeln!(out, "- Reads: {}", reads(c.reads));
            if let Some(h) = &c.hipaa {
                let _ = writeln!(out, "- HIPAA: {h}");
            }
            if !c.waivable {
                let _ = writeln!(out, "- Cannot be waived");
            }
            let _ = writeln!(out, "- Remediation: {}", c.remediation);
            let _ = writeln!(out, "- Module: `crates/ward-policy/{}`\n", c.module);
        }
    }
    out.trim_end().to_string() + "\n"
}

fn reads(r: Reads) -> &'static str {
    match r {
        Reads::Estate => "estate",
        Reads::Objects => "objects",
        Reads::Both => "estate and objects",
    }
}
