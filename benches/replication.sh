#!/usr/bin/env bash
# Replication overhead: SET throughput on a master with no replica and with
# one replica attached (online), for shoal-server and Debian's redis-server
# 7.0.x in the same run, alternating (shoal, redis, shoal, ...).
#
#   bash benches/replication.sh       # from the repo root (or anywhere)
#
# Each round starts a fresh master (and, for the "1 replica" row, a fresh
# replica of the same kind, waited on until master_link_status:up), runs
# redis-benchmark -t set (plain and -P 16), and checks at the end that the
# replica caught up (its slave_repl_offset equals master_repl_offset).
# Printed: the median ops/s over rounds, the with/without ratio per server,
# and shoal/redis per row.
#
# Environment:
#   ROUNDS=3  REQUESTS=200000  PIPE_FACTOR=5  CLIENTS=50  KEYSPACE=100000
#   BENCH_CPU=  (taskset CPU list for redis-benchmark)  STEP_TIMEOUT=300
#   REDIS_SERVER REDIS_BENCHMARK REDIS_CLI SHOAL_SERVER  SKIP_BUILD=1
# Only the processes this script started are stopped (by PID).

set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
PIPE_FACTOR=${PIPE_FACTOR:-5}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
declare -a STARTED=()
source "$ROOT/benches/lib.sh"
bench_init replication

RESULTS=$WORK/results.csv   # kind,row,round,ops
: >"$RESULTS"

info_field() { "$REDIS_CLI" -p "$1" info replication | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }

wait_for() { # seconds command...
    local secs=$1 i
    shift
    for i in $(seq 1 $((secs * 10))); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

link_up() { [[ $(info_field "$1" master_link_status) == up ]]; }
caught_up() { [[ $(info_field "$1" master_repl_offset) == "$(info_field "$2" slave_repl_offset)" ]]; }

ops_of() { # redis-benchmark --csv output -> ops/s of its only test
    awk -F'","' 'NR == 2 { gsub(/"/, "", $2); print $2 }'
}

run_round() { # kind round
    local kind=$1 round=$2 replicas mport rport mpid out
    for replicas in 0 1; do
        start_server "$kind"
        mport=$SERVER_PORT
        mpid=$SERVER_PID
        local mdir=$SERVER_DIR rpid=""
        if (( replicas == 1 )); then
            start_server "$kind" --replicaof 127.0.0.1 "$mport"
            rport=$SERVER_PORT
            rpid=$SERVER_PID
            wait_for 60 link_up "$rport" || { echo "replication.sh: $kind replica never synced" >&2; exit 1; }
        fi
        SERVER_PORT=$mport SERVER_PID=$mpid SERVER_DIR=$mdir
        out=$(bench -p "$mport" -c "$CLIENTS" -n "$REQUESTS" -r "$KEYSPACE" -t set --csv) || server_failed "$kind" "SET"
        echo "$kind,set/${replicas},$round,$(ops_of <<<"$out")" >>"$RESULTS"
        out=$(bench -p "$mport" -c "$CLIENTS" -n $((REQUESTS * PIPE_FACTOR)) -r "$KEYSPACE" -P 16 -t set --csv) || server_failed "$kind" "SET -P 16"
        echo "$kind,set-P16/${replicas},$round,$(ops_of <<<"$out")" >>"$RESULTS"
        if (( replicas == 1 )); then
            wait_for 60 caught_up "$mport" "$rport" || { echo "replication.sh: $kind replica did not catch up" >&2; exit 1; }
            SERVER_PID=$rpid
            stop_server
        fi
        SERVER_PID=$mpid
        stop_server
    done
}

for round in $(seq 1 "$ROUNDS"); do
    echo "== round $round/$ROUNDS" >&2
    run_round shoal "$round"
    run_round redis "$round"
done

med() { awk -F, -v k="$1" -v r="$2" '$1 == k && $2 == r { print $4 }' "$RESULTS" | median; }

printf '%-10s %14s %14s %10s %14s %14s %10s %12s %12s\n' workload "shoal 0 repl" "shoal 1 repl" "shoal 1/0" "redis 0 repl" "redis 1 repl" "redis 1/0" "shoal/redis0" "shoal/redis1"
for w in set set-P16; do
    s0=$(med shoal "$w/0"); s1=$(med shoal "$w/1"); r0=$(med redis "$w/0"); r1=$(med redis "$w/1")
    printf '%-10s %14.0f %14.0f %10s %14.0f %14.0f %10s %12s %12s\n' "$w" "$s0" "$s1" "$(ratio "$s1" "$s0")" "$r0" "$r1" "$(ratio "$r1" "$r0")" "$(ratio "$s0" "$r0")" "$(ratio "$s1" "$r1")"
done
