#!/usr/bin/env bash
# Issue 3 §6: render the generated 2,000-workload × 3-environment estate into a deploy
# tree (target: under 5 s wall) and plan against the unchanged tree (target: under 3 s),
# release build. Prints one line per figure; the estate comes from bench/gen-estate.
#
# usage: bench/render.sh [WORKLOADS]      (default 2000)
#        WARD=/path/to/release/ward bench/render.sh   (skip the build)
#        BENCH_DIR=/mnt/other-fs bench/render.sh       (write the trees on another file system)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workloads=${1:-2000}
cd "$root"
if [ -z "${WARD:-}" ]; then
    cargo build --release -q -p ward-cli
fi
ward=${WARD:-$root/target/release/ward}
# BENCH_DIR: where the trees are written (default: the system's temporary folder).
tmp=$(mktemp -d ${BENCH_DIR:+-p "$BENCH_DIR"})
trap 'rm -rf "$tmp"' EXIT
python3 bench/gen-estate "$tmp/estate" --workloads "$workloads" --git >/dev/null

measure() { # label, command...
    local label=$1; shift
    local start end ms
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    printf '%-44s %3d.%02d s\n' "$label" $((ms / 1000)) $(((ms % 1000) / 10))
}

files() { find "$tmp/deploy" -type f | wc -l; }
# The file system decides most of a fresh render's time: say which one, and how busy.
echo "# $(uname -r); $(findmnt -n -o FSTYPE,OPTIONS --target "$tmp" 2>/dev/null | cut -c1-60); load $(cut -d' ' -f1-3 /proc/loadavg)"
measure "render into an empty folder" "$ward" --estate "$tmp/estate" render --out "$tmp/deploy"
echo "  $(files) files in the tree"
measure "render again (unchanged, nothing written)" "$ward" --estate "$tmp/estate" render --out "$tmp/deploy"
measure "plan against the unchanged tree" "$ward" --estate "$tmp/estate" plan --against "$tmp/deploy"
# A deploy repository as CI clones it: committed and packed.
(cd "$tmp/deploy" && git init -q && git add -A && git -c gc.auto=0 -c user.name=bench -c user.email=bench@ward.invalid commit -qm tree && git gc -q)
measure "plan --against-git HEAD (unchanged)" "$ward" --estate "$tmp/estate" plan --against-git HEAD --repo "$tmp/deploy"
measure "render --target compose" "$ward" --estate "$tmp/estate" render --out "$tmp/compose" --target compose
# The peer: a Python loop that only creates the same files (contents read beforehand, so
# only the writing is timed), into another empty folder on the same file system.
python3 - "$tmp/deploy" "$tmp/peer" <<'PY'
import os, sys, time
src, dst = sys.argv[1:3]
files = []
for d, _, names in os.walk(src):
    if "/.git" in d or d.endswith(".git"):
        continue
    for n in names:
        p = os.path.join(d, n)
        with open(p, "rb") as f:
            files.append((os.path.relpath(p, src), f.read()))
start = time.perf_counter()
made = set()
for rel, data in files:
    folder = os.path.dirname(os.path.join(dst, rel))
    if folder not in made:
        os.makedirs(folder, exist_ok=True)
        made.add(folder)
    with open(os.path.join(dst, rel), "wb") as f:
        f.write(data)
print(f"{'peer: Python loop creating the same files':<44} {time.perf_counter() - start:6.2f} s")
PY
