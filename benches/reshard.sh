#!/usr/bin/env bash
# Resharding speed: shoal-server vs Debian's redis-server 7.0.x in the same run.
#
#   bash benches/reshard.sh            # from the repo root (or anywhere)
#
# For every round, a fresh three-master cluster of each kind (shoal, then
# redis; --appendonly yes as operators run it) is made with `redis-cli
# --cluster create`, filled with `redis-benchmark --cluster -t set` (random
# keys over KEYSPACE, 16-byte values), and `redis-cli --cluster reshard`
# moves SLOTS slots from the first master to the second (SETSLOT
# IMPORTING/MIGRATING, GETKEYSINSLOT, MIGRATE ... KEYS in batches of
# PIPELINE, SETSLOT NODE on every master). Timed: the reshard alone, idle,
# then the same move back while `redis-benchmark --cluster` runs SET/GET
# against the cluster (its ops/s during the move are reported too).
# Printed: medians per kind and shoal/redis ratios of speed (redis time /
# shoal time: above 1 means Shoal reshards faster).
#
# Environment:
#   ROUNDS=3  SLOTS=4096  KEYSPACE=200000  PIPELINE=100
#   REDIS_SERVER REDIS_CLI REDIS_BENCHMARK SHOAL_SERVER  SKIP_BUILD=1
# Only the processes this script started are stopped (by PID).

set -euo pipefail

ROUNDS=${ROUNDS:-3}
SLOTS=${SLOTS:-4096}
KEYSPACE=${KEYSPACE:-200000}
PIPELINE=${PIPELINE:-100}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
declare -a STARTED=()
source "$ROOT/benches/lib.sh"
bench_init reshard

RESULTS=$WORK/results.csv   # kind,round,idle_s,loaded_s,load_ops
: >"$RESULTS"

cli() { timeout 10 "$REDIS_CLI" -h 127.0.0.1 "$@" 2>&1 | tr -d '\r'; }
now_s() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# start_cluster KIND -> NODE_PORTS, NODE_PIDS
start_cluster() {
    local kind=$1 i addrs=() out
    NODE_PORTS=(); NODE_PIDS=()
    for i in 1 2 3; do
        PORT_PICKER=free_cluster_port start_server "$kind" --cluster-enabled yes \
            --cluster-config-file nodes.conf --appendonly yes
        NODE_PORTS+=("$SERVER_PORT"); NODE_PIDS+=("$SERVER_PID")
        addrs+=("127.0.0.1:$SERVER_PORT")
    done
    out=$(timeout 120 "$REDIS_CLI" --cluster create "${addrs[@]}" --cluster-yes 2>&1) || true
    [[ $out == *"[OK] All 16384 slots covered"* ]] || { echo "reshard.sh: create failed ($kind): $out" >&2; exit 1; }
    for i in $(seq 1 300); do
        local ok=1 p
        for p in "${NODE_PORTS[@]}"; do
            [[ $(cli -p "$p" cluster info) == *cluster_state:ok* ]] || ok=0
        done
        (( ok )) && return 0
        sleep 0.1
    done
    echo "reshard.sh: the $kind cluster never reached cluster_state:ok" >&2
    exit 1
}

stop_cluster() {
    local i
    for i in "${!NODE_PIDS[@]}"; do
        SERVER_PID=${NODE_PIDS[$i]}; SERVER_PORT=${NODE_PORTS[$i]}
        stop_server
    done
}

# reshard FROM_PORT TO_PORT: seconds the move of $SLOTS slots took.
reshard() {
    local from=$1 to=$2 a b t0 t1 out
    a=$(cli -p "$from" cluster myid); b=$(cli -p "$to" cluster myid)
    t0=$(now_s)
    out=$(timeout "$STEP_TIMEOUT" "$REDIS_CLI" --cluster reshard "127.0.0.1:$from" \
        --cluster-from "$a" --cluster-to "$b" --cluster-slots "$SLOTS" \
        --cluster-pipeline "$PIPELINE" --cluster-yes 2>&1) || { echo "reshard.sh: reshard failed: ${out: -2000}" >&2; exit 1; }
    t1=$(now_s)
    [[ $out != *"[ERR]"* ]] || { echo "reshard.sh: reshard reported an error: ${out: -2000}" >&2; exit 1; }
    elapsed "$t0" "$t1"
}

keys_total() {
    local p n=0
    for p in "${NODE_PORTS[@]}"; do n=$(( n + $(cli -p "$p" dbsize) )); done
    echo "$n"
}

run_round() {
    local kind=$1 round=$2 idle loaded load_out ops before after bpid
    start_cluster "$kind"
    bench --cluster -h 127.0.0.1 -p "${NODE_PORTS[0]}" -t set -n "$KEYSPACE" -r "$KEYSPACE" \
        -d 16 -P 16 -q >/dev/null 2>&1 || { echo "reshard.sh: fill failed ($kind)" >&2; exit 1; }
    before=$(keys_total)
    idle=$(reshard "${NODE_PORTS[0]}" "${NODE_PORTS[1]}")
    # Back again, under SET/GET load from 50 clients.
    load_out=$WORK/load-$kind-$round.txt
    bench --cluster -h 127.0.0.1 -p "${NODE_PORTS[0]}" -t set,get -n 100000000 -r "$KEYSPACE" \
        -d 16 -c 50 -q >"$load_out" 2>&1 &
    bpid=$!
    STARTED+=("$bpid")
    sleep 1
    local t0 t1
    t0=$(now_s)
    loaded=$(reshard "${NODE_PORTS[1]}" "${NODE_PORTS[0]}")
    t1=$(now_s)
    kill "$bpid" 2>/dev/null || true
    wait "$bpid" 2>/dev/null || true
    local keep=() p
    for p in "${STARTED[@]}"; do [[ $p == "$bpid" ]] || keep+=("$p"); done
    STARTED=("${keep[@]}")
    # redis-benchmark prints progress lines with the running rps; take the last.
    ops=$(tr '\r' '\n' <"$load_out" | grep -oE 'rps=[0-9.]+ \(overall: [0-9.]+' | tail -1 | sed 's/.*overall: //' || true)
    after=$(keys_total)
    (( after >= before )) || { echo "reshard.sh: $kind lost keys: $before before, $after after" >&2; exit 1; }
    echo "$kind,$round,$idle,$loaded,${ops:-0}" >>"$RESULTS"
    printf '   %-5s round %d: %d keys, %s slots idle %6.2f s, under load %6.2f s (load %s ops/s)\n' \
        "$kind" "$round" "$before" "$SLOTS" "$idle" "$loaded" "${ops:-?}"
    stop_cluster
}

echo "== reshard $SLOTS slots between two of three masters, $KEYSPACE-key space, pipeline $PIPELINE, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
    run_round shoal "$round"
    run_round redis "$round"
done

col() { awk -F, -v k="$1" -v c="$2" '$1 == k { print $c }' "$RESULTS" | median; }
si=$(col shoal 3); ri=$(col redis 3); sl=$(col shoal 4); rl=$(col redis 4)
so=$(col shoal 5); ro=$(col redis 5)
echo
printf '%-28s %10s %10s %8s\n' "median" "shoal" "redis" "speed"
printf '%-28s %9.2fs %9.2fs %8s\n' "reshard idle" "$si" "$ri" "$(ratio "$ri" "$si")"
printf '%-28s %9.2fs %9.2fs %8s\n' "reshard under SET/GET load" "$sl" "$rl" "$(ratio "$rl" "$sl")"
printf '%-28s %10.0f %10.0f %8s\n' "load ops/s during the move" "$so" "$ro" "$(ratio "$so" "$ro")"
