# WARD-DG-009: tier-1 production changes are made of signed commits.
package ward.controls.WARD_DG_009

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-DG-009",
	"title": "Changes to tier-1 production require signed commits",
	"domain": "deployment-governance",
	"severity": "warn",
	"reads": "estate",
	"applies": {},
	"rationale": "A Git author is self-asserted: anyone can commit as anyone. Without signed commits, who wrote a change (and so who may not approve it) is only what the commits claim; with them, each commit is signed by a Team key of the reviewed state.",
	"remediation": "Set `spec.changes.requireSignedCommits: true` on the platform, and have every person sign commits with the SSH key the Team lists (`git config gpg.format ssh`, `user.signingkey`, `commit.gpgsign true`).",
	"hipaa": "45 CFR 164.312(c)(1) Integrity",
}

tier1_production := [e |
	some e in input.environments
	e.tier == 1
	e.stage == "production"
]

findings contains f if {
	count(tier1_production) > 0
	not input.platform.changes.requireSignedCommits
	f := lib.estate_finding(input.platform, "name", sprintf("%d tier-1 production environment(s) (%s first) but the platform does not require signed commits", [count(tier1_production), tier1_production[0].address]))
}
