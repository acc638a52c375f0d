# WARD-DP-007: the deploy tree holds no secret values.
package ward.controls.WARD_DP_007

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DP-007",
	"title": "No Secret values in the deploy tree",
	"domain": "data-protection",
	"severity": "deny",
	"reads": "objects",
	"applies": {},
	"rationale": "The deploy tree is a Git repository read by many; a Secret with data in it publishes the credential to everyone with read access, forever, in its history.",
	"remediation": "Render an ExternalSecret that reads the value from the secret store instead of a Secret with `data` or `stringData`.",
	"hipaa": "45 CFR 164.312(a)(2)(iv) Encryption and decryption",
}

findings contains f if {
	some item in lib.objects({"Secret"}, metadata.applies)
	count(object.get(item.object, "data", {})) + count(object.get(item.object, "stringData", {})) > 0
	f := lib.object_finding(item, sprintf("Secret %s carries its values in the deploy tree", [item.object.metadata.name]))
}
