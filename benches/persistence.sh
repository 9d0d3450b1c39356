#!/usr/bin/env bash
# Persistence benchmark: shoal-server vs. Debian's redis-server (7.0.x),
# in the same run, on the same machine.
#
#   bash benches/persistence.sh
#
# Rows (median over ROUNDS; each round starts fresh servers, shoal then redis):
#   SET throughput, appendfsync always / everysec   redis-benchmark -t set
#   AOF load of KEYS keys (commands in the incr file)  start -> DBSIZE answers
#   BGREWRITEAOF of KEYS keys                           command -> rewrite done
#   RDB load of KEYS keys (dump.rdb from SAVE)          start -> DBSIZE answers
# Load and rewrite rows report seconds, so "speed ratio" = redis / shoal
# (above 1: Shoal is faster). Throughput ratio = shoal / redis.
#
# Environment: ROUNDS=3 KEYS=1000000 REQUESTS=100000 CLIENTS=50
#   SKIP_BUILD=1, SHOAL_SERVER, REDIS_SERVER, REDIS_CLI, REDIS_BENCHMARK,
#   STEP_TIMEOUT=300, BENCH_CPU (as in compare.sh).

set -euo pipefail

ROUNDS=${ROUNDS:-3}
KEYS=${KEYS:-1000000}
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-50}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
declare -a STARTED=()
source "$ROOT/benches/lib.sh"
bench_init persistence

RESULTS=$WORK/results.csv   # kind,row,round,value
: >"$RESULTS"
now_ms() { date +%s%3N; }
info_field() {
    timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" info persistence | tr -d '\r' |
        awk -F: -v f="$1" '$1 == f { print $2 }'
}
# Milliseconds from $1 (ms timestamp) until DBSIZE answers $KEYS.
wait_loaded_ms() {
    local t0=$1 deadline=$(( $(now_ms) + STEP_TIMEOUT * 1000 ))
    while :; do
        if [[ $(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" dbsize 2>/dev/null) == "$KEYS" ]]; then
            echo $(( $(now_ms) - t0 ))
            return
        fi
        (( $(now_ms) < deadline )) || server_failed "server" "loading $KEYS keys"
        sleep 0.01
    done
}

# Until the server answers PING with PONG, not LOADING (a fresh server
# still creating its AOF answers LOADING to every command for a moment).
wait_ready() {
    local deadline=$(( $(now_ms) + STEP_TIMEOUT * 1000 ))
    until [[ $(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" ping 2>/dev/null) == PONG ]]; do
        (( $(now_ms) < deadline )) || server_failed "server" "waiting for the load to end"
        sleep 0.01
    done
}

echo "== persistence: shoal vs redis, $(nproc) CPUs, keys=$KEYS rounds=$ROUNDS" >&2
echo "   shoal: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')  redis: $("$REDIS_SERVER" --version | cut -d' ' -f3)" >&2
LOAD=$WORK/load.resp
awk -v n="$KEYS" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = "key:" i; v = "value:" i
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
}' >"$LOAD"

for round in $(seq 1 "$ROUNDS"); do
    for policy in always everysec; do
        for kind in shoal redis; do
            start_server "$kind" --appendonly yes --appendfsync "$policy"
            wait_ready
            out=$(bench -h 127.0.0.1 -p "$SERVER_PORT" -c "$CLIENTS" -n "$REQUESTS" -r 1000000 -t set --csv 2>/dev/null) ||
                server_failed "$kind" "redis-benchmark"
            stop_server
            awk -F'"' -v k="$kind" -v r="$round" -v p="$policy" 'NR > 1 && $2 != "" { printf "%s,SET ops/s appendfsync %s,%s,%s\n", k, p, r, $4 }' <<<"$out" >>"$RESULTS"
        done
    done
    for kind in shoal redis; do
        echo "   round $round/$ROUNDS $kind: load, restart, rewrite, save" >&2
        unset SERVER_DIR_REUSE
        start_server "$kind" --appendonly yes --appendfsync everysec
        wait_ready
        timeout "$STEP_TIMEOUT" "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" --pipe <"$LOAD" >/dev/null 2>&1 ||
            server_failed "$kind" "redis-cli --pipe"
        dir=$SERVER_DIR
        stop_server
        # Restart on the AOF (all data as commands in the incr file).
        SERVER_DIR_REUSE=$dir
        t0=$(now_ms)
        start_server "$kind" --appendonly yes --appendfsync everysec
        echo "$kind,AOF load s,$round,$(awk -v ms="$(wait_loaded_ms "$t0")" 'BEGIN { print ms / 1000 }')" >>"$RESULTS"
        # BGREWRITEAOF, timed until the rewrite is done.
        before=$(info_field aof_rewrites)
        t0=$(now_ms)
        timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" bgrewriteaof >/dev/null
        while [[ $(info_field aof_rewrite_in_progress) != 0 || $(info_field aof_rewrites) == "$before" ]]; do
            sleep 0.01
        done
        echo "$kind,BGREWRITEAOF s,$round,$(awk -v ms=$(( $(now_ms) - t0 )) 'BEGIN { print ms / 1000 }')" >>"$RESULTS"
        timeout "$STEP_TIMEOUT" "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" save >/dev/null
        stop_server
        # Restart on dump.rdb alone.
        t0=$(now_ms)
        start_server "$kind" --appendonly no
        echo "$kind,RDB load s,$round,$(awk -v ms="$(wait_loaded_ms "$t0")" 'BEGIN { print ms / 1000 }')" >>"$RESULTS"
        stop_server
        unset SERVER_DIR_REUSE
        rm -rf "$dir"
    done
done

echo
echo "Persistence (median of $ROUNDS rounds, $KEYS keys)"
printf '%-34s %12s %12s %8s\n' row shoal redis ratio
while IFS= read -r row; do
    s=$(awk -F, -v k=shoal -v r="$row" '$1 == k && $2 == r { print $4 }' "$RESULTS" | median)
    r=$(awk -F, -v k=redis -v r="$row" '$1 == k && $2 == r { print $4 }' "$RESULTS" | median)
    if [[ $row == *" s" ]]; then
        printf '%-34s %12.3f %12.3f %8s  (speed: redis/shoal)\n' "$row" "$s" "$r" "$(ratio "$r" "$s")"
    else
        printf '%-34s %12.0f %12.0f %8s  (shoal/redis)\n' "$row" "$s" "$r" "$(ratio "$s" "$r")"
    fi
done < <(awk -F, '!seen[$2]++ { print $2 }' "$RESULTS")
