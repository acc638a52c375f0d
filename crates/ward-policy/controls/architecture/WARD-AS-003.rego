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

# [namespace, stage] for every namespace whose objects (or labels) name a stage.
namespace_stages contains [ns, o.stage] if {
	some i, obj in input.objects
	ns := object.get(obj.metadata, "namespace", "")
	ns != ""
	o := lib.origin(i)
	o.stage
}

namespace_stages contains [obj.metadata.name, o.stage] if {
	some i, obj in input.objects
	obj.kind == "Namespace"
	o := lib.origin(i)
	o.stage
}

namespace_stages contains [obj.metadata.name, stage] if {
	some obj in input.objects
	obj.kind == "Namespace"
	stage := obj.metadata.labels["ward.dev/stage"]
}

production_namespaces := {p[0] | some p in namespace_stages; p[1] == "production"}

lower_namespaces := {p[0] | some p in namespace_stages; p[1] in {"development", "test"}}

namespace_labels := {obj.metadata.name: object.union(object.get(obj.metadata, "labels", {}), {"kubernetes.io/metadata.name": obj.metadata.name}) |
	some obj in input.objects
	obj.kind == "Namespace"
}

labels_of(ns) := l if {
	l := namespace_labels[ns]
} else := {"kubernetes.io/metadata.name": ns}

# Every key=value pair on a development or test namespace: a selector needing a pair
# outside this set cannot select any of them.
lower_pairs := {sprintf("%s=%s", [k, v]) | some ns in lower_namespaces; some k, v in labels_of(ns)}

empty_selector(sel) if count(object.get(sel, "matchLabels", {})) + count(object.get(sel, "matchExpressions", [])) == 0

# Namespaces whose pods are isolated for ingress: a policy selects every pod.
isolated contains obj.metadata.namespace if {
	some obj in input.objects
	obj.kind == "NetworkPolicy"
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
	some item in lib.objects(lib.pod_kinds, metadata.applies)
	ns := item.object.metadata.namespace
	ns in production_namespaces
	count(lower_namespaces) > 0
	not ns in isolated
	f := lib.object_finding(item, sprintf("production namespace %s has no default-deny ingress NetworkPolicy, so pods in development and test namespaces can reach it", [ns]))
}

# An ingress rule without `from` admits every source.
findings contains f if {
	some item in lib.objects({"NetworkPolicy"}, metadata.applies)
	item.object.metadata.namespace in production_namespaces
	some rule in object.get(item.object.spec, "ingress", [])
	count(object.get(rule, "from", [])) == 0
	f := lib.object_finding(item, sprintf("NetworkPolicy %s admits ingress from every namespace (a rule without `from`)", [item.object.metadata.name]))
}

findings contains f if {
	some item in lib.objects({"NetworkPolicy"}, metadata.applies)
	item.object.metadata.namespace in production_namespaces
	some rule in object.get(item.object.spec, "ingress", [])
	some peer in object.get(rule, "from", [])
	sel := peer.namespaceSelector
	may_select_lower(sel)
	reached := {ns | some ns in lower_namespaces; selects(sel, labels_of(ns))}
	count(reached) > 0
	f := lib.object_finding(item, sprintf("NetworkPolicy %s admits ingress from development or test namespaces %v", [item.object.metadata.name, sort(reached)]))
}
