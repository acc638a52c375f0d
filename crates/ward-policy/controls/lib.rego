# Helpers shared by Ward's built-in controls: scoping by applicability, finding
# constructors that point at the estate, and readers for Kubernetes objects.
package ward.lib

import rego.v1

# --- applicability -------------------------------------------------------------------

# An environment (or an object's origin) is in scope when every listed dimension
# matches; an empty list, or a dimension the origin does not know, matches anything.
applies(a, e) if {
	dimension_ok(object.get(a, "tiers", []), e, "tier")
	dimension_ok(object.get(a, "stages", []), e, "stage")
	dimension_ok(object.get(a, "hosting", []), e, "hosting")
}

dimension_ok(list, _, _) if count(list) == 0

dimension_ok(_, e, key) if not e[key]

dimension_ok(list, e, key) if e[key] in list

# The environments a control applies to (visiting only the listed stages).
environments(a) := [e |
	some stage in a.stages
	some i in object.get(input.environmentsByStage, stage, [])
	e := input.environments[i]
	applies(a, e)
] if count(object.get(a, "stages", [])) > 0

environments(a) := [e | some e in input.environments; applies(a, e)] if count(object.get(a, "stages", [])) == 0

# The origin of object i: the environment it was rendered for, or {} when unknown.
origin(i) := o if {
	o := input.origins[i]
	o != null
} else := {}

# Objects of the given kinds in scope, each as {"object", "origin"}. A control that
# applies everywhere (`applies: {}`) skips the scope test: it runs once per object.
objects(kinds, a) := [item |
	some kind in kinds
	some i in object.get(input.objectsByKind, kind, [])
	item := {"object": input.objects[i], "origin": origin(i)}
] if count(a) == 0

objects(kinds, a) := [item |
	some kind in kinds
	some i in object.get(input.objectsByKind, kind, [])
	orig := origin(i)
	applies(a, orig)
	item := {"object": input.objects[i], "origin": orig}
] if count(a) > 0

# Whether objects were rendered for this environment, so "must exist" controls apply.
is_rendered(env) if {
	input.rendered
	count(object.get(input.objectsByAddress, env.address, [])) > 0
}

# --- findings ---------------------------------------------------------------------------

env_finding(env, field, msg) := {
	"msg": msg,
	"workload": env.workload,
	"environment": env.environment,
	"at": object.get(env.at, field, env.at.name),
}

workload_finding(w, field, msg) := {
	"msg": msg,
	"workload": w.name,
	"at": object.get(w.at, field, w.at.name),
}

# A finding about a part of a workload (an integration) with its own `at`.
part_finding(w, part, field, msg) := {
	"msg": msg,
	"workload": w.name,
	"at": object.get(part.at, field, part.at.name),
}

# A finding about the estate as a whole, pointing at an entity's `at`.
estate_finding(entity, field, msg) := {
	"msg": msg,
	"at": object.get(entity.at, field, entity.at.name),
}

object_finding(item, msg) := {
	"msg": msg,
	"workload": object.get(item.origin, "workload", null),
	"environment": object.get(item.origin, "environment", null),
	"at": object.get(item.origin, "at", null),
	"object": ref(item.object),
}

ref(o) := {
	"kind": o.kind,
	"namespace": object.get(o.metadata, "namespace", null),
	"name": o.metadata.name,
}

# --- Kubernetes readers -------------------------------------------------------------

pod_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

pod_spec(o) := o.spec.template.spec if o.kind in template_kinds

pod_spec(o) := o.spec.jobTemplate.spec.template.spec if o.kind == "CronJob"

pod_spec(o) := o.spec if o.kind == "Pod"

containers(o) := pod_containers(pod_spec(o))

# Every distinct image a rendered container runs: a control that judges only the image
# judges each once, and visits the containers again only when one is wrong.
container_images := {c.image |
	some kind in pod_kinds
	some i in object.get(input.objectsByKind, kind, [])
	some c in containers(input.objects[i])
}

# The init and main containers of a pod spec.
pod_containers(spec) := array.concat(object.get(spec, "initContainers", []), object.get(spec, "containers", []))

# Odoo containers: those running an image or command that names Odoo.
is_odoo(c) if contains(lower(c.image), "odoo")

is_odoo(c) if {
	some word in object.get(c, "command", [])
	contains(word, "odoo")
}

# The Odoo web workload of a stack: labelled component "web", or (unlabelled) a
# workload whose Odoo container serves HTTP on 8069 and whose name is not a cron's.
component(o) := object.get(o.metadata, ["labels", "app.kubernetes.io/component"], "")

odoo_web(o) if {
	component(o) == "web"
	some c in containers(o)
	is_odoo(c)
}

odoo_web(o) if {
	component(o) == ""
	not contains(o.metadata.name, "cron")
	some c in containers(o)
	is_odoo(c)
	some p in object.get(c, "ports", [])
	p.containerPort == 8069
}

# The registry host of an image reference (`docker.io` when none is named).
registry(image) := r if {
	parts := split(image, "/")
	count(parts) > 1
	first := parts[0]
	registry_host(first)
	r := first
} else := "docker.io"

# String tests rather than a regex: these run once per container of the estate (tens of
# thousands), and a regex match costs far more in the evaluator.
registry_host(h) if contains(h, ".")

registry_host(h) if contains(h, ":")

registry_host(h) if h == "localhost"

# Pinned by digest: `@sha256:` then 64 lowercase hex digits, at the end.
pinned(image) if {
	parts := split(image, "@sha256:")
	count(parts) == 2
	digest := parts[1]
	count(digest) == 64
	trim(digest, "0123456789abcdef") == ""
}

# `odoo.conf` files in ConfigMaps, parsed into key → value.
odoo_configs(a) := [item |
	some i in object.get(input.objectsByKind, "ConfigMap", [])
	o := input.objects[i]
	orig := origin(i)
	applies(a, orig)
	some key, text in object.get(o, "data", {})
	endswith(key, ".conf")
	contains(text, "[options]")
	item := {"object": o, "origin": orig, "conf": parse_conf(text)}
]

parse_conf(text) := {k: v |
	some line in split(text, "\n")
	trimmed := trim_space(line)
	not startswith(trimmed, ";")
	not startswith(trimmed, "#")
	parts := split(trimmed, "=")
	count(parts) > 1
	k := trim_space(parts[0])
	v := trim_space(concat("=", array.slice(parts, 1, count(parts))))
}

truthy(v) if lower(v) in {"true", "1", "yes", "on"}

# --- people ---------------------------------------------------------------------------

people := [p | some t in input.teams; some p in t.people]

holders(role) := {p.name | some p in people; role in p.roles}

# A CloudNativePG cluster Ward renders for restore drills only (`ward.dev/purpose:
# restore-drill`): it holds scratch copies that each drill drops, so the controls on
# production clusters (WAL archiving, standbys) do not apply to it.
drill_cluster(obj) if object.get(obj.metadata, ["labels", "ward.dev/purpose"], "") == "restore-drill"
