# WARD-DG-003: every rendered production container image is pinned by digest.
package ward.controls.WARD_DG_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-003",
	"title": "Rendered production containers are pinned by digest",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "Sidecars and init containers run next to patient data too; a tag can change under a running production environment without any change in Git.",
	"remediation": "Pin every image of the environment's pods by `@sha256:` digest.",
	"hipaa": "45 CFR 164.312(c)(1) Integrity",
}

unpinned := {image | some image in lib.container_images; not lib.pinned(image)}

findings contains f if {
	count(unpinned) > 0
	some item in lib.objects(lib.pod_kinds, metadata.applies)
	some c in lib.containers(item.object)
	c.image in unpinned
	f := lib.object_finding(item, sprintf("container %s of %s %s runs %s, not pinned by digest", [c.name, item.object.kind, item.object.metadata.name, c.image]))
}
