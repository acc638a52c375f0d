//! A model of Kubernetes NetworkPolicy, evaluated on the policies Ward renders: which
//! pod may open a connection to which pod or address, on which port and protocol.
//!
//! Semantics follow the Kubernetes API reference ("NetworkPolicy"): a pod selected by no
//! policy of a type (Ingress, Egress) is unrestricted for that type; policies are
//! additive (a connection is allowed when any rule of any policy selecting the pod
//! allows it); a connection between pods needs the source's egress *and* the
//! destination's ingress. Peers are `podSelector` (same namespace as the policy),
//! `namespaceSelector` (any pod in matching namespaces), both (pods matching in matching
//! namespaces), or `ipBlock` with `except` (addresses; pods match by their IP). Ports
//! are numbers with an optional `endPort` and a protocol (TCP unless written); a rule
//! without `ports` admits every port, a rule without `to`/`from` every peer.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use ward_render::tree::Tree;

pub type Labels = BTreeMap<String, String>;

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// A pod: where it runs, its labels and its address.
#[derive(Clone, Debug)]
pub struct Pod {
    pub namespace: String,
    pub labels: Labels,
    pub ip: Ipv4Addr,
}

/// The other end of a connection: a pod, or an address outside the cluster.
#[derive(Clone, Debug)]
pub enum Endpoint {
    Pod(Pod),
    Address(Ipv4Addr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// The policies and namespaces of one cluster of a rendered tree.
#[derive(Debug, Default)]
pub struct Cluster {
    pub policies: Vec<Value>,
    /// Namespace labels; `kubernetes.io/metadata.name` is added for every namespace, as
    /// the API server does.
    pub namespaces: BTreeMap<String, Labels>,
    /// Every other rendered object of the cluster, to find pod templates in.
    pub objects: Vec<Value>,
    next_ip: u32,
}

impl Cluster {
    /// Reads every object of `cluster` (the first path component) in `tree`.
    pub fn from_tree(tree: &Tree, cluster: &str) -> Cluster {
        let mut c = Cluster {
            next_ip: u32::from(Ipv4Addr::new(10, 244, 0, 10)),
            ..Cluster::default()
        };
        for (path, file) in &tree.files {
            if path.split('/').next() != Some(cluster) {
                continue;
            }
            let Some(v) = &file.value else { continue };
            match v["kind"].as_str() {
                Some("NetworkPolicy") => c.policies.push(v.clone()),
                Some("Namespace") => {
                    let name = v["metadata"]["name"].as_str().unwrap_or_default();
                    let mut l = to_labels(&v["metadata"]["labels"]);
                    l.insert("kubernetes.io/metadata.name".into(), name.into());
                    c.namespaces.insert(name.into(), l);
                }
                _ => c.objects.push(v.clone()),
            }
        }
        c
    }

    fn namespace_labels(&self, ns: &str) -> Labels {
        let mut l = self.namespaces.get(ns).cloned().unwrap_or_default();
        l.insert("kubernetes.io/metadata.name".into(), ns.into());
        l
    }

    /// A pod with `labels` in `namespace`, given the next free pod address.
    pub fn pod(&mut self, namespace: &str, labels: Labels) -> Pod {
        self.next_ip += 1;
        Pod {
            namespace: namespace.into(),
            labels,
            ip: Ipv4Addr::from(self.next_ip),
        }
    }

    /// The pod of a rendered Deployment's template (`kind-name` as in the tree).
    pub fn pod_of(&mut self, namespace: &str, deployment: &str) -> Option<Pod> {
        let template_labels = self.objects.iter().find_map(|o| {
            (o["kind"] == "Deployment"
                && o["metadata"]["namespace"] == namespace
                && o["metadata"]["name"] == deployment)
                .then(|| to_labels(&o["spec"]["template"]["metadata"]["labels"]))
        })?;
        Some(self.pod(namespace, template_labels))
    }

    /// The pods of a namespace's rendered CronJobs whose pod template carries `label`.
    pub fn cronjob_pods(&mut self, namespace: &str, label: (&str, &str)) -> Vec<Pod> {
        let templates: Vec<Labels> = self
            .objects
            .iter()
            .filter(|o| o["kind"] == "CronJob" && o["metadata"]["namespace"] == namespace)
            .map(|o| to_labels(&o["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]))
            .filter(|l| l.get(label.0).map(String::as_str) == Some(label.1))
            .collect();
        templates
            .into_iter()
            .map(|l| self.pod(namespace, l))
            .collect()
    }

    /// The namespaces holding a rendered object of `kind` named `name`.
    pub fn namespaces_with(&self, kind: &str, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .objects
            .iter()
            .filter(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .filter_map(|o| o["metadata"]["namespace"].as_str().map(String::from))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `from` may open a connection to `to` on `port`/`protocol`: the source's
    /// egress and, for a pod, the destination's ingress.
    pub fn may_reach(&self, from: &Pod, to: &Endpoint, port: u16, protocol: &str) -> bool {
        if !self.allows(Direction::Egress, from, to, port, protocol) {
            return false;
        }
        match to {
            Endpoint::Pod(dst) => self.allows(
                Direction::Ingress,
                dst,
                &Endpoint::Pod(from.clone()),
                port,
                protocol,
            ),
            Endpoint::Address(_) => true,
        }
    }

    /// One direction at `subject`: unrestricted when no policy of that type selects it,
    /// else allowed when any rule of those policies admits `peer` on the port.
    pub fn allows(
        &self,
        direction: Direction,
        subject: &Pod,
        peer: &Endpoint,
        port: u16,
        protocol: &str,
    ) -> bool {
        let (type_name, rules_key, peers_key) = match direction {
            Direction::Ingress => ("Ingress", "ingress", "from"),
            Direction::Egress => ("Egress", "egress", "to"),
        };
        let selecting: Vec<&Value> = self
            .policies
            .iter()
            .filter(|p| p["metadata"]["namespace"] == subject.namespace.as_str())
            .filter(|p| selector_matches(&p["spec"]["podSelector"], &subject.labels))
            .filter(|p| policy_types(p).contains(&type_name))
            .collect();
        if selecting.is_empty() {
            return true;
        }
        selecting.iter().any(|p| {
            let policy_ns = p["metadata"]["namespace"].as_str().unwrap_or_default();
            p["spec"][rules_key]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rule| {
                    let peers_ok = match rule[peers_key].as_array() {
                        None => true,
                        Some(peers) if peers.is_empty() => true,
                        Some(peers) => peers.iter().any(|x| self.peer_matches(x, policy_ns, peer)),
                    };
                    peers_ok && ports_match(&rule["ports"], port, protocol)
                })
        })
    }

    fn peer_matches(&self, peer: &Value, policy_ns: &str, endpoint: &Endpoint) -> bool {
        if let Some(block) = peer.get("ipBlock") {
            let ip = match endpoint {
                Endpoint::Pod(p) => p.ip,
                Endpoint::Address(a) => *a,
            };
            let cidr = block["cidr"].as_str().unwrap_or_default();
            let excluded = block["except"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| in_cidr(ip, e.as_str().unwrap_or_default()));
            return in_cidr(ip, cidr) && !excluded;
        }
        let Endpoint::Pod(pod) = endpoint else {
            // Pod and namespace selectors select pods only.
            return false;
        };
        let pods = peer.get("podSelector");
        let namespaces = peer.get("namespaceSelector");
        let ns_ok = match namespaces {
            Some(sel) => selector_matches(sel, &self.namespace_labels(&pod.namespace)),
            None => pod.namespace == policy_ns,
        };
        let pod_ok = pods.is_none_or(|sel| selector_matches(sel, &pod.labels));
        (pods.is_some() || namespaces.is_some()) && ns_ok && pod_ok
    }
}

/// `policyTypes`, or its default: Ingress, and Egress when the policy has egress rules.
fn policy_types(policy: &Value) -> Vec<&str> {
    match policy["spec"]["policyTypes"].as_array() {
        Some(types) => types.iter().filter_map(Value::as_str).collect(),
        None => {
            let mut t = vec!["Ingress"];
            if policy["spec"].get("egress").is_some() {
                t.push("Egress");
            }
            t
        }
    }
}

fn to_labels(v: &Value) -> Labels {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A label selector: `matchLabels` and `matchExpressions` (In, NotIn, Exists,
/// DoesNotExist), all of which must hold; `{}` selects everything.
pub fn selector_matches(selector: &Value, l: &Labels) -> bool {
    let labels_ok = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| l.get(k).map(String::as_str) == v.as_str());
    let expressions_ok = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => l.get(key).is_some_and(|v| values.contains(&v.as_str())),
                Some("NotIn") => l.get(key).is_none_or(|v| !values.contains(&v.as_str())),
                Some("Exists") => l.contains_key(key),
                Some("DoesNotExist") => !l.contains_key(key),
                other => panic!("unknown selector operator {other:?}"),
            }
        });
    labels_ok && expressions_ok
}

fn ports_match(ports: &Value, port: u16, protocol: &str) -> bool {
    let Some(ports) = ports.as_array() else {
        return true;
    };
    if ports.is_empty() {
        return true;
    }
    ports.iter().any(|p| {
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        let number = match &p["port"] {
            Value::Null => return proto == protocol,
            Value::Number(n) => n.as_u64().unwrap_or_default(),
            other => panic!("named ports are not modelled: {other}"),
        };
        let end = p["endPort"].as_u64().unwrap_or(number);
        proto == protocol && (number..=end).contains(&u64::from(port))
    })
}

/// Whether `ip` is inside `a.b.c.d/n`.
pub fn in_cidr(ip: Ipv4Addr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use serde_json::json;

    fn cluster(policies: Vec<Value>) -> Cluster {
        Cluster {
            policies,
            next_ip: u32::from(Ipv4Addr::new(10, 244, 0, 10)),
            ..Cluster::default()
        }
    }

    #[test]
    fn the_model_follows_kubernetes_semantics() {
        // No policy: everything open.
        let mut c = cluster(vec![]);
        let a = c.pod("a", labels(&[("app", "x")]));
        let b = c.pod("b", labels(&[("app", "y")]));
        assert!(c.may_reach(&a, &Endpoint::Pod(b.clone()), 80, "TCP"));
        // Default deny on egress in `a`, then an additive allow to `b` on 80/TCP.
        let deny = json!({"metadata": {"namespace": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        let allow = json!({"metadata": {"namespace": "a"}, "spec": {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}], "ports": [{"port": 80}]}]}});
        let mut c = cluster(vec![deny.clone()]);
        let a = c.pod("a", labels(&[("app", "x")]));
        let b = c.pod("b", labels(&[("app", "y")]));
        assert!(!c.may_reach(&a, &Endpoint::Pod(b.clone()), 80, "TCP"));
        c.policies.push(allow);
        assert!(c.may_reach(&a, &Endpoint::Pod(b.clone()), 80, "TCP"));
        assert!(!c.may_reach(&a, &Endpoint::Pod(b.clone()), 80, "UDP"));
        assert!(!c.may_reach(&a, &Endpoint::Pod(b.clone()), 81, "TCP"));
        // The destination's ingress counts too.
        c.policies.push(json!({"metadata": {"namespace": "b"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}));
        assert!(!c.may_reach(&a, &Endpoint::Pod(b), 80, "TCP"));
        // ipBlock with except, and a podSelector alone stays in the policy's namespace.
        let c = cluster(vec![
            deny,
            json!({"metadata": {"namespace": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}, {"podSelector": {"matchLabels": {"app": "y"}}}]}]}}),
        ]);
        let mut c = c;
        let a = c.pod("a", labels(&[("app", "x")]));
        let b = c.pod("b", labels(&[("app", "y")]));
        let a2 = c.pod("a", labels(&[("app", "y")]));
        assert!(c.may_reach(
            &a,
            &Endpoint::Address(Ipv4Addr::new(203, 0, 113, 1)),
            22,
            "TCP"
        ));
        assert!(!c.may_reach(
            &a,
            &Endpoint::Address(Ipv4Addr::new(10, 1, 2, 3)),
            22,
            "TCP"
        ));
        assert!(!c.may_reach(&a, &Endpoint::Pod(b), 22, "TCP"));
        assert!(c.may_reach(&a, &Endpoint::Pod(a2), 22, "TCP"));
        assert!(in_cidr(Ipv4Addr::new(192, 168, 1, 1), "192.168.0.0/16"));
        assert!(!in_cidr(Ipv4Addr::new(192, 169, 1, 1), "192.168.0.0/16"));
    }
}
