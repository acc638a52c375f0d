#!/usr/bin/env bash
# Renders the example estate with the `ward` binary and validates every core Kubernetes
# object with kubernetes-validate (PyPI) in strict mode, against the Kubernetes version
# ward-render targets. Custom resources are validated against their upstream CRDs by the
# Rust tests (tests/kubernetes.rs); kubernetes-validate has no schemas for them.
#
# usage: crates/ward-render/tests/kubernetes-validate.sh [WARD_BINARY]
# needs: pip install kubernetes-validate
set -euo pipefail

root=$(cd "$(dirname "$0")/../../.." && pwd)
ward=${1:-${WARD:-$root/target/debug/ward}}
version=${KUBERNETES_VERSION:-1.33.0}

command -v kubernetes-validate >/dev/null || {
    echo "kubernetes-validate is not installed: pip install kubernetes-validate" >&2
    exit 2
}
[ -x "$ward" ] || { echo "no ward binary at $ward (cargo build -p ward-cli)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ward" init "$tmp/estate" --example healthcare >/dev/null
"$ward" --estate "$tmp/estate" render --out "$tmp/deploy" >/dev/null

# Core and built-in API groups: `v1`, `apps/v1`, `batch/v1`, `*.k8s.io/*`, `autoscaling/v2`, `policy/v1`.
mapfile -t files < <(cd "$tmp/deploy" && find . -name '*.yaml' ! -name kustomization.yaml -print0 \
    | xargs -0 grep -lE '^apiVersion: (v1|apps/v1|batch/v1|autoscaling/v2|policy/v1|[a-z.]+\.k8s\.io/v1)$' | sort)
[ "${#files[@]}" -gt 100 ] || { echo "expected more than 100 core objects, found ${#files[@]}" >&2; exit 1; }
(cd "$tmp/deploy" && kubernetes-validate --kubernetes-version "$version" --strict --quiet "${files[@]}")
echo "kubernetes-validate: ${#files[@]} core objects valid against Kubernetes $version (strict)"
