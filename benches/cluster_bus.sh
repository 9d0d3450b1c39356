#!/usr/bin/env bash
# Cluster bus cost on real processes: six nodes (3 masters + 3 replicas,
# redis-cli --cluster create --cluster-replicas 1) at the default
# cluster-node-timeout (15000 ms), idle, for shoal-server and Debian's
# redis-server 7.0.x. After SETTLE_S seconds it reads the kernel's
# bytes_sent of every established bus socket (ss -tinp: the links between
# bus ports, attributed to the process that owns the socket), waits
# MEASURE_S seconds, reads again, and prints bytes/s per node (mean, max).
# Replication and client sockets are not counted.
#
#   bash benches/cluster_bus.sh        # SKIP_BUILD=1 to use target/release as is
#
# Environment: SETTLE_S=10 MEASURE_S=30 NODE_TIMEOUT=15000
#   REDIS_SERVER REDIS_CLI SHOAL_SERVER
# Only the processes this script started are stopped (by PID).

set -euo pipefail

SETTLE_S=${SETTLE_S:-10}
MEASURE_S=${MEASURE_S:-30}
NODE_TIMEOUT=${NODE_TIMEOUT:-15000}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
REDIS_CLI=${REDIS_CLI:-/usr/bin/redis-cli}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHOAL_SERVER=${SHOAL_SERVER:-$ROOT/target/release/shoal-server}
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build --release --bin shoal-server >/dev/null)
fi
WORK=$(mktemp -d /tmp/shoal-cluster-bus.XXXXXX)
declare -a STARTED=()
cleanup() {
    for pid in "${STARTED[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${STARTED[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Sum of bytes_sent per pid over sockets whose local or peer port is one
# of the bus ports given: prints "pid bytes" lines.
bus_bytes() {
    local ports=" $* "
    ss -tinpH state established | awk -v ports="$ports" '
        /users:\(\(/ {
            nl = split($3, l, ":"); np = split($4, pa, ":");
            lp = l[nl]; pp = pa[np];
            bus = index(ports, " " lp " ") || index(ports, " " pp " ");
            match($0, /pid=[0-9]+/); pid = substr($0, RSTART + 4, RLENGTH - 4);
            next
        }
        bus && /bytes_sent:/ {
            match($0, /bytes_sent:[0-9]+/); sent[pid] += substr($0, RSTART + 11, RLENGTH - 11); bus = 0
        }
        END { for (q in sent) print q, sent[q] }'
}

run() { # kind binary
    local kind=$1 bin=$2 base=$((20000 + RANDOM % 20000)) i addrs=() buses=() pids=()
    for i in 0 1 2 3 4 5; do
        local port=$((base + i)) dir=$WORK/$kind$i
        mkdir -p "$dir"
        (cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' \
            --appendonly no --cluster-enabled yes --cluster-node-timeout "$NODE_TIMEOUT" \
            >"$dir/log" 2>&1) &
        STARTED+=($!); pids+=($!)
        addrs+=("127.0.0.1:$port"); buses+=($((port + 10000)))
    done
    for i in 0 1 2 3 4 5; do
        for _ in $(seq 100); do "$REDIS_CLI" -p $((base + i)) ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    "$REDIS_CLI" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$WORK/$kind.create" 2>&1
    sleep "$SETTLE_S"
    bus_bytes "${buses[@]}" | sort >"$WORK/$kind.t0"
    sleep "$MEASURE_S"
    bus_bytes "${buses[@]}" | sort >"$WORK/$kind.t1"
    join "$WORK/$kind.t0" "$WORK/$kind.t1" | awk -v kind="$kind" -v s="$MEASURE_S" '
        { r = ($3 - $2) / s; sum += r; n++; if (r > max) max = r }
        END { printf "%-6s 6 nodes, %d s idle: bus bytes/s per node mean %.0f, max %.0f (%d nodes measured)\n", kind, s, sum / n, max, n }'
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}

run shoal "$SHOAL_SERVER"
if [ -x "$REDIS_SERVER" ]; then run redis "$REDIS_SERVER"; fi
