# WARD-RS-009: the rendered PostgreSQL cluster has the tier's instances.
package ward.controls.WARD_RS_009

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-RS-009",
	"title": "PostgreSQL clusters run the tier's instances",
	"domain": "resilience",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "Replica clusters in the recovery region are not counted, nor restore-drill clusters (label `ward.dev/purpose: restore-drill`), which hold scratch copies only. Tier-1 needs a synchronous standby (three instances) so that losing the primary loses no committed transaction; tier 2 needs a replica to fail over to.",
	"remediation": "Render the CloudNativePG Cluster with `spec.instances` at least the posture's `postgresInstances`.",
	"hipaa": "45 CFR 164.308(a)(7)(ii)(B) Disaster recovery plan",
}

findings contains f if {
	some item in lib.objects({"Cluster"}, metadata.applies)
	startswith(item.object.apiVersion, "postgresql.cnpg.io/")
	not object.get(item.object.spec, ["replica", "enabled"], false)
	# A drill cluster holds scratch copies that each drill drops: nothing to fail over.
	not lib.drill_cluster(item.object)
	needed := item.origin.postgresInstances
	instances := object.get(item.object.spec, "instances", 1)
	instances < needed
	f := lib.object_finding(item, sprintf("PostgreSQL Cluster %s runs %d instance(s); tier %d needs %d", [item.object.metadata.name, instances, item.origin.tier, needed]))
}
