#!/usr/bin/env bash
# Issue 14 §7: `ward serve` on the generated 2,000-workload x 3-environment estate, release
# build, embedded SQLite store:
#   - the time to evaluate a new commit (load + classify + check with rendering; target < 10 s),
#     read from the server's own ward_estate_evaluation_seconds after a refresh;
#   - p50 / p99 latency of the posture endpoint (GET /api/v1/estate/environments/W/E, one
#     environment's classification, posture and findings) under 50 concurrent clients, with
#     oha (target p99 < 50 ms);
#   - the server's RSS after all that (target < 300 MB): its peak (VmHWM) and what it holds
#     once the evaluation is done and the load test ran (VmRSS);
#   - the peer: answering the same question with the CLI, one process per question
#     (`ward explain W/E -o json`), what a script without the server would do.
#
#   bash bench/server.sh [WORKLOADS] [SECONDS]     (defaults 2000, 20)
#   WARD=/path/to/release/ward bash bench/server.sh (skip the build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workloads=${1:-2000}
seconds=${2:-20}
cd "$root"
if [ -z "${WARD:-}" ]; then
    cargo build --release -q -p ward-cli
fi
ward=${WARD:-$root/target/release/ward}
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

python3 bench/gen-estate "$tmp/estate" --workloads "$workloads" --git >/dev/null
export WARD_ACTOR=bench NO_COLOR=1
reader=$("$ward" --estate "$tmp/estate" token create --subject dave --role app-support --expires 1h 2>/dev/null)
ops=$("$ward" --estate "$tmp/estate" token create --subject alice --role platform-ops --expires 1h 2>/dev/null)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api="http://127.0.0.1:$port"
start=$(date +%s%N)
"$ward" --estate "$tmp/estate" serve --listen "127.0.0.1:$port" --scheduler off --workers 0 \
    --poll-interval 1h >"$tmp/serve.log" 2>&1 &
pid=$!
until curl -fs "$api/readyz" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log"; exit 1; }
    sleep 0.1
done
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
first_eval=$(curl -fs "$api/metrics" | sed -n 's/^ward_estate_evaluation_seconds \(.*\)/\1/p')

# A new commit: one workload's uptime changes; the server fetches and evaluates it.
target="$tmp/estate/workloads/app-00001.yaml"
sed -i 's/uptime: "99.9%"/uptime: "99.95%"/; s/uptime: 99.9%/uptime: 99.95%/' "$target"
echo "# bench" >> "$target"
git -C "$tmp/estate" -c user.name=bench -c user.email=b@example.invalid commit -qam "bench: a new commit"
t0=$(date +%s%N)
curl -fs -X POST -H "Authorization: Bearer $ops" "$api/api/v1/estate/refresh" >/dev/null
refresh_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
new_eval=$(curl -fs "$api/metrics" | sed -n 's/^ward_estate_evaluation_seconds \(.*\)/\1/p')

url="$api/api/v1/estate/environments/app-00042/prod"
curl -fs -H "Authorization: Bearer $reader" "$url" >/dev/null || { echo "posture endpoint failed: $url" >&2; exit 1; }
oha -z "${seconds}s" -c 50 --no-tui --output-format json -H "Authorization: Bearer $reader" "$url" >"$tmp/oha.json"
read -r rps p50 p99 ok < <(python3 - "$tmp/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
print(f'{r["summary"]["requestsPerSec"]:.0f} {p["p50"]*1000:.2f} {p["p99"]*1000:.2f} {codes.get("200", 0)}')
PY
)
rss_kb=$(sed -n "s/^VmHWM:\s*\([0-9]*\) kB/\1/p" "/proc/$pid/status")
now_kb=$(sed -n "s/^VmRSS:\s*\([0-9]*\) kB/\1/p" "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true; pid=

# The peer: the CLI, one process per question.
cli_ms=()
for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$ward" --estate "$tmp/estate" explain app-00042/prod -o json >/dev/null
    cli_ms+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
done
cli_median=$(printf '%s\n' "${cli_ms[@]}" | sort -n | sed -n 3p)

echo "environments: $((workloads * 3))"
echo "start to ready (first evaluation included): ${ready_ms} ms; first evaluation ${first_eval} s"
echo "new commit: refresh call ${refresh_ms} ms; evaluation ${new_eval} s"
echo "posture endpoint, 50 clients, ${seconds} s: ${rps} req/s, p50 ${p50} ms, p99 ${p99} ms, ${ok} x 200"
echo "server RSS: peak (VmHWM) $((rss_kb / 1024)) MiB; after the load test (VmRSS) $((now_kb / 1024)) MiB"
echo "peer, ward explain per question (median of 5): ${cli_median} ms"
