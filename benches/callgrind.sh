#!/usr/bin/env bash
# Instructions per request of shoal-server, counted by valgrind's callgrind:
# a repeatable cost measure on a machine too noisy for wall-clock A/B tests
# (and where `perf record` gets no samples).
#
#   bash benches/callgrind.sh                       # SET and GET, pipeline 1
#   TESTS="hset zadd" bash benches/callgrind.sh
#   BIN=/tmp/old-shoal-server bash benches/callgrind.sh    # compare builds
#
# For each redis-benchmark test, a fresh shoal-server runs under callgrind:
# WARMUP requests first (connections, first slot tables), then the counters
# are zeroed, REQUESTS more are run, the counters are dumped and the total
# instruction count (Ir, every thread) is divided by REQUESTS. The client
# side (redis-benchmark, the kernel) is not counted.
#
# Environment: REQUESTS=20000 WARMUP=5000 CLIENTS=50 PIPELINE=1
# KEYSPACE=1000000 TESTS="set get" BIN=target/release/shoal-server
# SERVER_ARGS="" (extra directives, e.g. "--io-threads 1")
# KEEP=1 keeps the callgrind output files (for callgrind_annotate).

set -euo pipefail
REQUESTS=${REQUESTS:-20000}
WARMUP=${WARMUP:-5000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-1}
KEYSPACE=${KEYSPACE:-1000000}
TESTS=${TESTS:-set get}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/shoal-server}
SERVER_ARGS=${SERVER_ARGS:-}

WORK=$(mktemp -d /tmp/shoal-callgrind.XXXXXX)
PID=
stop() {
    if [[ -n $PID ]]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
        PID=
    fi
}
trap 'stop; [[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"' EXIT

free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 40000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

printf '%-12s %14s\n' test "Ir/request"
for t in $TESTS; do
    port=$(free_port)
    out=$WORK/callgrind.$t.out
    # shellcheck disable=SC2086
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" $SERVER_ARGS \
        >"$WORK/server.$t.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 300); do
        redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
        sleep 0.2
    done
    redis-benchmark -p "$port" -c "$CLIENTS" -P "$PIPELINE" -n "$WARMUP" -r "$KEYSPACE" -t "$t" -q >/dev/null
    callgrind_control -z "$PID" >/dev/null 2>&1
    redis-benchmark -p "$port" -c "$CLIENTS" -P "$PIPELINE" -n "$REQUESTS" -r "$KEYSPACE" -t "$t" -q >/dev/null
    callgrind_control -d "$PID" >/dev/null 2>&1
    # The dump after zeroing is the highest-numbered part file.
    part=$(ls "$out".* 2>/dev/null | sort -t. -k3 -n | tail -1)
    ir=$(awk '/^summary:/ { print $2 }' "$part")
    stop
    printf '%-12s %14.0f\n' "$t" "$(awk -v a="$ir" -v n="$REQUESTS" 'BEGIN { print a / n }')"
done
[[ ${KEEP:-0} == 1 ]] && echo "callgrind files kept in $WORK" >&2
exit 0
