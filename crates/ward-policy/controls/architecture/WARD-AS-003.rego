# WARD-AS-003: no production namespace is reachable from a development or test namespace.
package ward.controls.WARD_AS_003

import data.ward.lib
import rego.v1

metadata := {
	"id": "WARD-AS-003",
	"title": "Production namespaces are not reachable from development or test",
	"domain": "architecture-standardization",
	"severity": "deny",
	"reads": "objects",
	"applies": {"stages": ["production"]},
	"rationale": "Development and test environments run unreviewed code and weaker access rules; if their pods can open connections into production, a compromise there reaches patient data. Kubernetes allows all ingress to a pod until a NetworkPolicy selects it.",
	"remediation": "Render a default-deny ingress NetworkPolicy (empty podSelector, policyTypes [Ingress]) in every production namespace, and allow ingress only from the ingress controller and monitoring namespaces, never with an empty namespaceSelector.",
	"hipaa": "45 CFR 164.312(a)(1) Access control",
}

# Namespaces are keyed "cluster/namespace": a recovery cluster holds its own copies.
key(i, ns) := concat("/", [object.get(lib.origin(i), "cluster", ""), ns])

indices(kinds) := [i | some kind in kinds; some i in object.get(input.objectsByKind, kind, [])]

# [key, stage] for every namespace whose pods, policies or Namespace object name a stage.
namespace_stages contains [concat("/", [object.get(o, "cluster", ""), ns]), o.stage] if {
	some i in indices(lib.pod_kinds | {"NetworkPolicy"})
	ns := object.get(input.objects[i].metadata, "namespace", "")
	ns != ""
	o := lib.origin(i)
	o.stage
}

namespace_stages contains [key(i, obj.metadata.name), o.stage] if {
	some i in indices({"Namespace"})
	obj := input.objects[i]
	o := lib.origin(i)
	o.stage
}

namespace_stages contains [key(i, obj.metadata.name), stage] if {
	some i in indices({"Namespace"})
	obj := input.objects[i]
	stage := obj.metadata.labels["ward.dev/stage"]
}

production_namespaces := {p[0] | some p in namespace_stages; p[1] == "production"}

lower_namespaces := {p[0] | some p in namespace_stages; p[1] in {"development", "test"}}

# [key, labels] per Namespace object, with the label Kubernetes sets on every namespace.
namespace_labels contains [key(i, obj.metadata.name), labels] if {
	some i in indices({"Namespace"})
	obj := input.objects[i]
	labels := object.union(object.get(obj.metadata, "labels", {}), {"kubernetes.io/metadata.name": obj.metadata.name})
}

labelled := {p[0] | some p in namespace_labels}

name_of(k) := substring(k, indexof(k, "/") + 1, -1)

# The labels of a namespace; one without a Namespace object has only its name label.
labels_of(k) := labels if {
	found := [p[1] | some p in namespace_labels; p[0] == k]
	count(found) > 0
	labels := object.union_n(found)
} else := {"kubernetes.io/metadata.name": name_of(k)}

# Every key=value pair on a development or test namespace: a selector needing a pair
# outside this set cannot select any of them.
lower_pairs contains sprintf("%s=%s", [k, v]) if {
	some p in namespace_labels
	p[0] in lower_namespaces
	some k, v in p[1]
}

lower_pairs contains sprintf("kubernetes.io/metadata.name=%s", [name_of(k)]) if {
	some k in lower_namespaces
	not k in labelled
}

empty_selector(sel) if count(object.get(sel, "matchLabels", {})) + count(object.get(sel, "matchExpressions", [])) == 0

# Namespaces whose pods are isolated for ingress: a policy selects every pod.
isolated contains key(i, obj.metadata.namespace) if {
	some i in indices({"NetworkPolicy"})
	obj := input.objects[i]
	empty_selector(object.get(obj.spec, "podSelector", {}))
	"Ingress" in object.get(obj.spec, "policyTypes", ["Ingress"])
}

expression_holds(e, labels) if {
	e.operator == "In"
	labels[e.key] in e.values
}

expression_holds(e, labels) if {
	e.operator == "NotIn"
	not labels[e.key] in e.values
}

expression_holds(e, labels) if {
	e.operator == "Exists"
	labels[e.key]
}

expression_holds(e, labels) if {
	e.operator == "DoesNotExist"
	not labels[e.key]
}

selects(sel, labels) if {
	every k, v in object.get(sel, "matchLabels", {}) {
		labels[k] == v
	}
	every e in object.get(sel, "matchExpressions", []) {
		expression_holds(e, labels)
	}
}

may_select_lower(sel) if count(object.get(sel, "matchExpressions", [])) > 0

may_select_lower(sel) if {
	every k, v in object.get(sel, "matchLabels", {}) {
		sprintf("%s=%s", [k, v]) in lower_pairs
	}
}

# A production pod workload in a namespace that no policy isolates.
findings contains f if {
	count(lower_namespaces) > 0
	some item in lib.objects(lib.pod_kinds, metadata.applies)
	ns := item.object.metadata.namespace
	k := concat("/", [object.get(item.origin, "cluster", ""), ns])
	k in production_namespaces
	not k in isolated
	f := lib.object_finding(item, sprintf("production namespace %s has no default-deny ingress NetworkPolicy, so pods in development and test namespaces can reach it", [ns]))
}

# An ingress rule without `from` admits every source.
findings contains f if {
	some item in lib.objects({"NetworkPolicy"}, metadata.applies)
	concat("/", [object.get(item.origin, "cluster", ""), item.object.metadata.namespace]) in production_namespaces
	some rule in object.get(item.object.spec, "ingress", [])
	count(object.get(rule, "from", [])) == 0
	f := lib.object_finding(item, sprintf("NetworkPolicy %s admits ingress from every namespace (a rule without `from`)", [item.object.metadata.name]))
}

findings contains f if {
	some item in lib.objects({"NetworkPolicy"}, metadata.applies)
	concat("/", [object.get(item.origin, "cluster", ""), item.object.metadata.namespace]) in production_namespaces
	some rule in object.get(item.object.spec, "ingress", [])
	some peer in object.get(rule, "from", [])
	sel := peer.namespaceSelector
	may_select_lower(sel)
	cluster := object.get(item.origin, "cluster", "")
	reached := {name_of(k) | some k in lower_namespaces; startswith(k, sprintf("%s/", [cluster])); selects(sel, labels_of(k))}
	count(reached) > 0
	f := lib.object_finding(item, sprintf("NetworkPolicy %s admits ingress from development or test namespaces %v", [item.object.metadata.name, sort(reached)]))
}
