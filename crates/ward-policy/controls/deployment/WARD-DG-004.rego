# WARD-DG-004: every rendered container image comes from a baseline registry.
package ward.controls.WARD_DG_004

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-004",
	"title": "Rendered containers come from baseline registries",
	"domain": "deployment-governance",
	"severity": "deny",
	"reads": "objects",
	"applies": {},
	"rationale": "Every image the platform runs must be scanned and mirrored by a baseline registry, sidecars included.",
	"remediation": "Mirror the image into a registry of `baseline.registries` and render it from there.",
	"hipaa": "45 CFR 164.308(a)(5)(ii)(B) Protection from malicious software",
}

registries := input.platform.baseline.registries

outside := {image | some image in lib.container_images; not lib.registry(image) in registries}

findings contains f if {
	count(registries) > 0
	count(outside) > 0
	some item in lib.objects(lib.pod_kinds, metadata.applies)
	some c in lib.containers(item.object)
	c.image in outside
	f := lib.object_finding(item, sprintf("container %s of %s %s runs %s from %s, outside the baseline registries", [c.name, item.object.kind, item.object.metadata.name, c.image, lib.registry(c.image)]))
}
