#!/usr/bin/env bash
# Failover time: shoal-server vs Debian's redis-server 7.0.x in the same run.
#
#   bash benches/failover.sh            # from the repo root (or anywhere)
#
# For every cluster-node-timeout in TIMEOUTS and every round, a fresh
# six-node cluster of each kind (shoal, then redis) is made: six processes
# with --cluster-enabled yes, joined by `redis-cli --cluster create ...
# --cluster-replicas 1 --cluster-yes`, waited on until every node reports
# cluster_state:ok, knows three replicas, and every replica's link is up.
# A writer (`redis-cli -c` through another master, following MOVED) SETs a
# key of one master's slot every ~10 ms; that master is SIGKILLed and the
# time from the kill to the first successful write to the slot is recorded
# (failure detection, FAIL agreement, the replica's election and the new
# owner reaching the writer by MOVED). Printed: the median per timeout and
# kind, shoal/redis, and the target: shoal <= redis and <= timeout + 1 s.
#
# Environment:
#   ROUNDS=3                    rounds per timeout and kind (median reported)
#   TIMEOUTS="500 2000 15000"   cluster-node-timeout values, in ms
#   REDIS_SERVER REDIS_CLI SHOAL_SERVER  SKIP_BUILD=1
# Only the processes this script started are stopped (by PID).

set -euo pipefail

ROUNDS=${ROUNDS:-3}
TIMEOUTS=${TIMEOUTS:-"500 2000 15000"}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
declare -a STARTED=()
source "$ROOT/benches/lib.sh"
bench_init failover

RESULTS=$WORK/results.csv   # kind,timeout,round,ms
: >"$RESULTS"

cli() { timeout 5 "$REDIS_CLI" -h 127.0.0.1 "$@" 2>&1 | tr -d '\r'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Forget a PID (killed and reaped here), so cleanup never signals it again.
forget() {
    local keep=() p
    for p in "${STARTED[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    STARTED=("${keep[@]}")
}

# SIGTERM every node of the cluster (SIGKILL after 5 s) and forget them.
stop_cluster() {
    local pid i
    for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${NODE_PIDS[@]}"; do
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        forget "$pid"
    done
}

formed() {
    local p
    for p in "${NODE_PORTS[@]}"; do
        [[ $(cli -p "$p" cluster info) == *cluster_state:ok* ]] || return 1
        (( $(cli -p "$p" cluster nodes | awk '$3 ~ /slave/' | wc -l) == 3 )) || return 1
        if [[ $(cli -p "$p" role | head -1) == slave ]]; then
            [[ $(cli -p "$p" info replication) == *master_link_status:up* ]] || return 1
        fi
    done
}

# start_cluster KIND TIMEOUT -> NODE_PORTS, NODE_PIDS, PORT_PID[port]
start_cluster() {
    local kind=$1 t=$2 i addrs attempt out
    for attempt in 1 2 3; do
        NODE_PORTS=(); NODE_PIDS=(); declare -gA PORT_PID=(); addrs=()
        for i in 1 2 3 4 5 6; do
            PORT_PICKER=free_cluster_port start_server "$kind" --cluster-enabled yes \
                --cluster-node-timeout "$t" --cluster-config-file nodes.conf
            NODE_PORTS+=("$SERVER_PORT"); NODE_PIDS+=("$SERVER_PID")
            PORT_PID[$SERVER_PORT]=$SERVER_PID
            addrs+=("127.0.0.1:$SERVER_PORT")
        done
        out=$(timeout 120 "$REDIS_CLI" --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes 2>&1) || true
        [[ $out == *"[OK] All 16384 slots covered"* ]] && break
        # A fresh node that already knows other nodes was met by a stray
        # process of the shared machine (a node of another cluster that
        # used the port before): try other ports.
        stop_cluster
        if [[ $attempt == 3 || $out != *"is not empty"* ]]; then
            echo "failover.sh: redis-cli --cluster create failed for $kind:" >&2
            echo "$out" >&2
            exit 1
        fi
        echo "   ($kind: a node was not empty; new ports)" >&2
    done
    for i in $(seq 1 300); do
        formed && return 0
        sleep 0.1
    done
    echo "failover.sh: the $kind cluster never settled (state ok, 3 replicas, links up):" >&2
    cli -p "${NODE_PORTS[0]}" cluster nodes >&2
    exit 1
}

# One SET of the probe key through redis-cli -c, entering at port $1.
write_once() { [[ $(cli -c -p "$1" set "$KEY" "$2") == OK ]]; }

# run_round KIND TIMEOUT ROUND: the kill-to-first-write time in ms.
run_round() {
    local kind=$1 t=$2 round=$3 victim entry slot line i t0 t1 deadline pid
    start_cluster "$kind" "$t"
    KEY="{failover}probe"
    slot=$(cli -p "${NODE_PORTS[0]}" cluster keyslot "$KEY")
    # The master serving the slot, and another master to enter through.
    victim=; entry=
    while read -r line; do
        local f=($line) port range a b
        [[ ${f[2]} == *master* ]] || continue
        port=${f[1]%%@*}; port=${port##*:}
        for range in "${f[@]:8}"; do
            a=${range%-*}; b=${range#*-}
            if (( a <= slot && slot <= b )); then victim=$port; fi
        done
        [[ $victim == "$port" ]] || entry=$port
    done < <(cli -p "${NODE_PORTS[0]}" cluster nodes)
    [[ -n $victim && -n $entry ]] || { echo "failover.sh: no owner for slot $slot" >&2; exit 1; }
    # The writer runs for half a second before the kill.
    for i in $(seq 1 50); do
        write_once "$entry" "before-$i" || { echo "failover.sh: write before the kill failed ($kind)" >&2; exit 1; }
        sleep 0.01
    done
    pid=${PORT_PID[$victim]}
    t0=$(now_ms)
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    forget "$pid"
    deadline=$(( t0 + 3 * t + 60000 ))
    i=0
    until write_once "$entry" "after-$i"; do
        i=$((i + 1))
        if (( $(now_ms) > deadline )); then
            echo "failover.sh: $kind (node timeout $t ms) never served slot $slot again; views:" >&2
            cli -p "$entry" cluster nodes >&2
            exit 1
        fi
        sleep 0.01
    done
    t1=$(now_ms)
    echo "$kind,$t,$round,$((t1 - t0))" >>"$RESULTS"
    echo "   $kind node-timeout=$t round $round: writable again $((t1 - t0)) ms after kill -9 of $victim" >&2
    stop_cluster
}

echo "== failover time, shoal vs redis: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "   shoal: $SHOAL_SERVER ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'))" >&2
echo "   redis: $("$REDIS_SERVER" --version | cut -d' ' -f3)   rounds=$ROUNDS timeouts=$TIMEOUTS" >&2

for t in $TIMEOUTS; do
    for round in $(seq 1 "$ROUNDS"); do
        for kind in shoal redis; do
            run_round "$kind" "$t" "$round"
        done
    done
done

echo
echo "Failover time: kill -9 of a master to the first successful write to its slot (median of $ROUNDS rounds, ms)"
printf '%-14s %10s %10s %8s   %s\n' "node-timeout" "shoal" "redis" ratio "target: shoal <= redis and <= timeout + 1000"
for t in $TIMEOUTS; do
    col() { awk -F, -v k="$1" -v t="$t" '$1 == k && $2 == t { print $4 }' "$RESULTS" | median; }
    s=$(col shoal); r=$(col redis)
    verdict=$(awk -v s="$s" -v r="$r" -v t="$t" 'BEGIN {
        ok = (s <= r && s <= t + 1000)
        printf "%s (%s redis, %s timeout+1s)", ok ? "PASS" : "FAIL", (s <= r) ? "<=" : ">", (s <= t + 1000) ? "<=" : ">"
    }')
    printf '%-14s %10s %10s %8s   %s\n' "$t" "$s" "$r" "$(ratio "$s" "$r")" "$verdict"
done
