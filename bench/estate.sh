#!/usr/bin/env bash
# Benchmark: load, validate and classify a generated estate of 2,000 workloads x 3
# environments (issue: foundation, speed). Compares against parsing the same files with
# PyYAML, the tool a platform engineer would otherwise script this with.
#
#   bash bench/estate.sh [WORKLOADS]        (default 2000; needs python3 with PyYAML)
#
# Prints a Markdown table row per tool: median wall time of 5 runs and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
runs=5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p ward-cli
python3 bench/gen-estate "$work/estate" --workloads "$n" --git >/dev/null

# median wall seconds and max RSS (KiB) of $runs runs of a command
measure() {
  local times=() rss=0
  for _ in $(seq $runs); do
    /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null
    read -r t m <"$work/t"
    times+=("$t")
    (( m > rss )) && rss=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  echo "$median $rss"
}

ward=./target/release/ward
read -r v_t v_m < <(measure "$ward" --estate "$work/estate" validate)
read -r c_t c_m < <(measure "$ward" --estate "$work/estate" classify -o json)
read -r p_t p_m < <(measure python3 -c '
import sys, pathlib, yaml
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    list(yaml.load_all(p.read_text(), Loader=loader))
' "$work/estate")
envs=$(( n * 3 ))
echo "| command | estate | median wall (s) | peak RSS (MiB) |"
echo "|---|---|---|---|"
echo "| \`ward validate\` (load + validate + classify) | $n workloads, $envs environments | $v_t | $(( v_m / 1024 )) |"
echo "| \`ward classify -o json\` | $n workloads, $envs environments | $c_t | $(( c_m / 1024 )) |"
echo "| PyYAML \`load_all\` of the same files (parse only) | $n workloads, $envs environments | $p_t | $(( p_m / 1024 )) |"
