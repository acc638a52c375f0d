# WARD-AS-007: every cluster declares its Kubernetes version, and they agree.
package ward.controls.WARD_AS_007

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-007",
	"title": "Clusters run one declared Kubernetes version",
	"domain": "architecture-standardization",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "Rendered objects and drills are tested against one Kubernetes version; a recovery cluster on another version may reject the very manifests a failover needs.",
	"remediation": "Set `kubernetesVersion` on every cluster and upgrade them together.",
}

versions := {v | some c in input.platform.clusters; v := c.kubernetesVersion; v != null}

findings contains f if {
	some c in input.platform.clusters
	object.get(c, "kubernetesVersion", null) == null
	f := lib.estate_finding(c, "name", sprintf("cluster %s does not declare its Kubernetes version", [c.name]))
}

findings contains f if {
	count(versions) > 1
	some c in input.platform.clusters
	c.kubernetesVersion != null
	c.kubernetesVersion != max(versions)
	f := lib.estate_finding(c, "name", sprintf("cluster %s runs Kubernetes %s while others run %s", [c.name, c.kubernetesVersion, max(versions)]))
}
