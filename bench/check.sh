#!/usr/bin/env bash
# Issue 4 §5: time `ward check` (classify + render + 50 Rego controls + waivers) on the
# example estate (target: under 1 s) and on the generated 2,000-workload x 3-environment
# estate (target: under 10 s), release build; and, when checkov is installed, time
# `checkov -d <deploy tree> --framework kubernetes` on the same rendered tree.
#
#   bash bench/check.sh [WORKLOADS]             (default 2000)
#   WARD=/path/to/release/ward bash bench/check.sh   (skip the build)
#   CHECKOV=/path/to/checkov bash bench/check.sh     (default: checkov on PATH)
#
# Prints one line per figure: median wall seconds of the runs, and the number of checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workloads=${1:-2000}
cd "$root"
if [ -z "${WARD:-}" ]; then
    cargo build --release -q -p ward-cli
fi
ward=${WARD:-$root/target/release/ward}
checkov=${CHECKOV:-$(command -v checkov || true)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median wall seconds of $1 runs of a command (exit codes 0 and 1 both count as a run)
median() {
    local runs=$1; shift
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || [ $? -eq 1 ]
        end=$(date +%s%N)
        times+=("$(( (end - start) / 1000000 ))")
    done
    local ms
    ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

"$ward" init "$tmp/example" --example healthcare >/dev/null
python3 bench/gen-estate "$tmp/estate" --workloads "$workloads" --git >/dev/null
"$ward" --estate "$tmp/estate" render --out "$tmp/deploy" >/dev/null

controls=$("$ward" controls -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
summary() { # estate → "environments objects deny warn"
    "$ward" --estate "$1" check -o json | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["environments"], r["objects"], r["summary"]["deny"], r["summary"]["warn"])'
}
read -r ex_envs ex_objects _ _ < <(summary "$tmp/example")
read -r gen_envs gen_objects gen_deny gen_warn < <(summary "$tmp/estate")

# A Conftest-style policy, evaluated once per rendered object as conftest would.
mkdir -p "$tmp/estate/policies"
cat >"$tmp/estate/policies/k8s.rego" <<'REGO'
package main

import rego.v1

deny contains msg if {
	input.kind == "Deployment"
	not input.spec.template.spec.securityContext.runAsNonRoot
	msg := sprintf("Containers must not run as root in Deployment %s", [input.metadata.name])
}

warn contains msg if {
	input.kind in {"Deployment", "StatefulSet"}
	not input.metadata.labels["app.kubernetes.io/name"]
	msg := sprintf("%s %s has no app.kubernetes.io/name label", [input.kind, input.metadata.name])
}
REGO

echo "ward check, example estate ($ex_envs environments, $ex_objects objects, $controls controls): $(median 5 "$ward" --estate "$tmp/example" check -o json) s"
echo "ward check, generated estate ($gen_envs environments, $gen_objects objects, $controls controls; $gen_deny deny, $gen_warn warn): $(median 3 "$ward" --estate "$tmp/estate" check -o json --no-user-policies) s"
echo "ward check --no-render, generated estate (estate controls only): $(median 3 "$ward" --estate "$tmp/estate" check -o json --no-render --no-user-policies) s"
echo "ward check + 1 Conftest-style policy file (2 rules x $gen_objects objects): $(median 3 "$ward" --estate "$tmp/estate" check -o json) s"

if [ -n "$checkov" ]; then
    # One run, JSON to a file: its wall time and the checks it ran. On a 2-core machine a
    # 2,000-workload tree takes checkov well over 15 minutes; CHECKOV_TIMEOUT caps it.
    start=$(date +%s%N)
    status=0
    timeout "${CHECKOV_TIMEOUT:-3600}" "$checkov" -d "$tmp/deploy" --framework kubernetes -o json \
        >"$tmp/checkov.json" 2>/dev/null || status=$?
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    if [ "$status" -eq 124 ]; then
        echo "checkov -d <deploy tree> --framework kubernetes: did not finish within ${CHECKOV_TIMEOUT:-3600} s"
    else
        read -r ids runs < <(python3 -c '
import json, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
ids, runs = set(), 0
for r in reports:
    for kind in ("passed_checks", "failed_checks"):
        for c in r.get("results", {}).get(kind, []):
            ids.add(c["check_id"]); runs += 1
print(len(ids), runs)' "$tmp/checkov.json")
        printf 'checkov -d <deploy tree> --framework kubernetes (%s files): %d.%03d s, %s distinct checks, %s check results\n' \
            "$(find "$tmp/deploy" -name '*.yaml' | wc -l)" $((ms / 1000)) $((ms % 1000)) "$ids" "$runs"
    fi
else
    echo "checkov: not installed (pip install checkov), skipped"
fi
