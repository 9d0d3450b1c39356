#!/usr/bin/env bash
# Run units of Redis 7.0.15's own cluster test suite (tests/cluster, 20
# instances per unit) with shoal-server standing in for src/redis-server,
# and print a line per unit: passed / failed.
#
# The suite is not part of this repository. Extract tag 7.0.15's `runtest`
# and `tests/` into a directory first (see scripts/redis-suite.sh); this
# script works on a copy of it, so the extracted tree stays untouched.
#
# The copy is patched in three places, each a known gap outside cluster
# mode, so that the units reach the cluster behaviour they test:
# - the hidden debug directives loading-process-events-interval-bytes and
#   key-load-delay, and DEBUG DROP-CLUSTER-PACKET-FILTER, are dropped from
#   the per-unit init (Shoal has no hidden configs / packet filter);
# - CLUSTER NODES is retried while a replica answers -LOADING (a Shoal
#   replica reports LOADING for its whole sync transfer, Redis only while
#   parsing, during which its single thread serves nobody).
#
# Usage: scripts/redis-cluster-suite.sh /tmp/redis-tests [unit ...]
#   e.g. scripts/redis-cluster-suite.sh /tmp/redis-tests 02-failover 24-links
# Without units it runs every unit in tests/cluster/tests.
set -euo pipefail
suite=${1:?path to the extracted Redis test suite}
shift
repo="$(cd "$(dirname "$0")/.." && pwd)"

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --manifest-path "$repo/Cargo.toml" -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$suite/tests" "$suite/runtest" "$work/"
mkdir -p "$work/src"
cp "$repo/target/release/shoal-server" "$work/src/redis-server"
for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    ln -s "/usr/bin/$tool" "$work/src/$tool"
done
init="$work/tests/cluster/tests/includes/init-tests.tcl"
sed -i '/loading-process-events-interval-bytes/d; /key-load-delay/d; /DROP-CLUSTER-PACKET-FILTER/d' "$init"
python3 - "$work/tests/cluster/cluster.tcl" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
old = '    set lines [split [R $id cluster nodes] "\\r\\n"]'
new = '''    while {[catch {R $id cluster nodes} out]} {
        if {![string match "*LOADING*" $out]} { error $out }
        after 50
    }
    set lines [split $out "\\r\\n"]'''
assert old in s, "cluster.tcl changed: update this patch"
open(p, "w").write(s.replace(old, new))
EOF

units=("$@")
if [ ${#units[@]} -eq 0 ]; then
    for f in "$work"/tests/cluster/tests/*.tcl; do
        units+=("$(basename "$f" .tcl)")
    done
fi
cd "$work"
for unit in "${units[@]}"; do
    log="$work/$unit.log"
    if timeout 600 tclsh tests/cluster/run.tcl --single "$unit" >"$log" 2>&1; then
        echo "$unit: passed"
    else
        echo "$unit: failed"
        grep -E "FAILED|exception" "$log" | head -3 | sed 's/^/    /'
    fi
done
