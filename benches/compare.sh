#!/usr/bin/env bash
# Side-by-side benchmark: shoal-server vs. Debian's redis-server (7.0.x).
#
#   bash benches/compare.sh            # from the repo root (or anywhere)
#
# What it does
#   1. `cargo build --release` (shoal-server).
#   2. Throughput/latency: for every workload and every round, a fresh
#      shoal-server and a fresh redis-server are started one after the other
#      (shoal, redis, shoal, redis, ...) on free loopback ports with the same
#      flags (--save '' --appendonly no, bound to 127.0.0.1, a scratch --dir),
#      and redis-benchmark --csv is run against each. The table shows the
#      median over rounds of ops/s, p50 and p99 latency.
#   3. Memory: 1,000,000 distinct small keys (`SET key:N vN`, generated as
#      RESP and loaded with `redis-cli --pipe`) into a fresh server of each
#      kind; reports VmRSS (/proc/PID/status) and INFO used_memory, before and
#      after loading, and the shoal/redis ratios.
#
# CPU pinning: nothing is pinned by default. shoal-server is multi-threaded
# (a tokio runtime with one worker per core) and redis-server is mostly
# single-threaded; on a 2-core machine pinning the servers would decide the
# result more than the servers do, and pinning only redis-benchmark to one
# core would still leave the two servers competing with it differently
# depending on where the scheduler put their threads. Both servers therefore
# run under exactly the same (unpinned) conditions. Set BENCH_CPU (e.g.
# BENCH_CPU=1) to pin redis-benchmark with `taskset -c $BENCH_CPU`, the same
# way for both servers.
#
# Environment (defaults keep a run under ~5 minutes on 2 cores, once shoal
# is built):
#   ROUNDS=3          rounds per workload (median reported)
#   REQUESTS=200000   requests per non-pipelined workload (-n)
#   PIPE_FACTOR=5     pipelined (-P 16) workloads use REQUESTS*PIPE_FACTOR
#   CLIENTS=50        redis-benchmark -c
#   KEYSPACE=1000000  redis-benchmark -r (random keys over this many)
#   MEM_KEYS=1000000  keys loaded for the memory comparison (0 = skip)
#   THROUGHPUT=1      0 = skip the throughput/latency part
#   BENCH_CPU=        CPU list for taskset on redis-benchmark (empty = none)
#   REDIS_SERVER=/usr/bin/redis-server  REDIS_BENCHMARK=/usr/bin/redis-benchmark
#   REDIS_CLI=/usr/bin/redis-cli        SHOAL_SERVER=(target/release/shoal-server)
#   SKIP_BUILD=1      don't run cargo build (use an existing binary)
#   SHOAL_ARGS=       extra directives for shoal-server only, e.g.
#                     SHOAL_ARGS='--io-threads 2' to compare thread counts
#   STEP_TIMEOUT=300  seconds one redis-benchmark / redis-cli --pipe may take;
#                     past that the server is reported as hung and the run fails
#
# Only the server processes this script started are stopped (by PID).

set -euo pipefail

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
PIPE_FACTOR=${PIPE_FACTOR:-5}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-1000000}
MEM_KEYS=${MEM_KEYS:-1000000}
BENCH_CPU=${BENCH_CPU:-}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-/usr/bin/redis-benchmark}
REDIS_CLI=${REDIS_CLI:-/usr/bin/redis-cli}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
THROUGHPUT=${THROUGHPUT:-1}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

for tool in "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI"; do
    [[ -x $tool ]] || { echo "compare.sh: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    echo "== cargo build --release" >&2
    cargo build --release --bin shoal-server >&2
fi
if [[ -z ${SHOAL_SERVER:-} ]]; then
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    SHOAL_SERVER=$TARGET_DIR/release/shoal-server
fi
[[ -x $SHOAL_SERVER ]] || { echo "compare.sh: $SHOAL_SERVER not built" >&2; exit 1; }

WORK=$(mktemp -d /tmp/shoal-compare.XXXXXX)
declare -a STARTED=()   # PIDs of the servers this script started
# Run a private copy, so a concurrent `cargo build` can't swap the binary mid-run.
cp "$SHOAL_SERVER" "$WORK/shoal-server"
SHOAL_BIN=$WORK/shoal-server

source "$ROOT/benches/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

# Workloads: label | redis-benchmark arguments. A "set,get" workload gives
# two rows (label SET… / GET…), named after the CSV test name.
PIPE_REQUESTS=$(( REQUESTS * PIPE_FACTOR ))
WORKLOADS=(
    "P1|-c $CLIENTS -P 1 -n $REQUESTS -r $KEYSPACE -t set,get"
    "P16|-c $CLIENTS -P 16 -n $PIPE_REQUESTS -r $KEYSPACE -t set,get"
    "P1|-c $CLIENTS -P 1 -n $REQUESTS -r $KEYSPACE -t incr"
    "1KB P1|-c $CLIENTS -P 1 -n $REQUESTS -r $KEYSPACE -d 1024 -t set"
    "P1|-c $CLIENTS -P 1 -n $REQUESTS -r $KEYSPACE -t lpush,lpop,sadd,hset,zadd,lrange_100,mset"
    "P16|-c $CLIENTS -P 16 -n $PIPE_REQUESTS -r $KEYSPACE -t lpush,lpop,sadd,hset,zadd,mset"
)

RESULTS=$WORK/results.csv   # kind,row,round,rps,p50,p99
: >"$RESULTS"

echo "== shoal vs redis: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "   shoal: $SHOAL_SERVER ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty'))" >&2
echo "   shoal args: ${SHOAL_ARGS:-(none)}" >&2
echo "   redis: $("$REDIS_SERVER" --version | cut -d' ' -f3)" >&2
echo "   rounds=$ROUNDS requests=$REQUESTS (pipelined $PIPE_REQUESTS) clients=$CLIENTS keyspace=$KEYSPACE bench_cpu=${BENCH_CPU:-none}" >&2

(( THROUGHPUT )) || ROUNDS=0
for round in $(seq 1 "$ROUNDS"); do
    for w in "${WORKLOADS[@]}"; do
        suffix=${w%%|*}
        read -r -a args <<<"${w#*|}"
        for kind in shoal redis; do
            if [[ $kind == shoal ]]; then
                # shellcheck disable=SC2086
                start_server shoal ${SHOAL_ARGS:-}
            else
                start_server redis
            fi
            echo "   round $round/$ROUNDS $kind ${args[*]}" >&2
            out=$(bench -h 127.0.0.1 -p "$SERVER_PORT" "${args[@]}" --csv 2>/dev/null) ||
                server_failed "$kind" "redis-benchmark ${args[*]}"
            stop_server
            # "SET","51282.05","0.664","0.168","0.591","0.903","3.111","10.191"
            awk -F'"' -v kind="$kind" -v suffix="$suffix" -v round="$round" '
                NR > 1 && $2 != "" { printf "%s,%s %s,%s,%s,%s,%s\n", kind, $2, suffix, round, $4, $10, $14 }
            ' <<<"$out" >>"$RESULTS"
        done
    done
done

echo "   load average at end of throughput runs: $(cut -d" " -f1-3 /proc/loadavg)" >&2


if (( THROUGHPUT )); then
echo
echo "Throughput and latency (median of $ROUNDS rounds; latency in ms)"
printf '%-14s %12s %12s %8s %10s %10s %10s %10s\n' workload "shoal ops/s" "redis ops/s" ratio "shoal p50" "redis p50" "shoal p99" "redis p99"
while IFS= read -r row; do
    col() { awk -F, -v k="$1" -v r="$row" -v c="$2" '$1 == k && $2 == r { print $c }' "$RESULTS" | median; }
    s_rps=$(col shoal 4); r_rps=$(col redis 4)
    ratio=$(awk -v a="$s_rps" -v b="$r_rps" 'BEGIN { printf (b > 0) ? "%.2f" : "nan", (b > 0) ? a / b : 0 }')
    printf '%-14s %12.0f %12.0f %8s %10.3f %10.3f %10.3f %10.3f\n' "$row" "$s_rps" "$r_rps" "$ratio" \
        "$(col shoal 5)" "$(col redis 5)" "$(col shoal 6)" "$(col redis 6)"
done < <(awk -F, '!seen[$2]++ { print $2 }' "$RESULTS")
fi

# ---------------------------------------------------------------------------
# Memory

if (( MEM_KEYS > 0 )); then
    echo >&2
    echo "== memory: generating $MEM_KEYS SET commands" >&2
    LOAD=$WORK/load.resp
    awk -v n="$MEM_KEYS" 'BEGIN {
        for (i = 0; i < n; i++) {
            k = "key:" i; v = "v" i
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
        }
    }' >"$LOAD"

    rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
    used_memory() { timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

    declare -A MEM
    for kind in shoal redis; do
        start_server "$kind"
        sleep 0.5
        MEM[$kind.rss0]=$(rss_kb "$SERVER_PID")
        MEM[$kind.used0]=$(used_memory "$SERVER_PORT")
        echo "   loading into $kind" >&2
        timeout "$STEP_TIMEOUT" "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" --pipe <"$LOAD" >"$WORK/pipe-$kind.log" 2>&1 || {
            cat "$WORK/pipe-$kind.log" >&2
            server_failed "$kind" "redis-cli --pipe of $MEM_KEYS SETs"
        }
        MEM[$kind.keys]=$(timeout 10 "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" dbsize)
        sleep 1   # let background work (e.g. jemalloc purging) settle
        MEM[$kind.rss1]=$(rss_kb "$SERVER_PID")
        MEM[$kind.used1]=$(used_memory "$SERVER_PORT")
        for f in rss0 used0 rss1 used1 keys; do
            [[ ${MEM[$kind.$f]} =~ ^[0-9]+$ ]] || server_failed "$kind" "reading $f (got '${MEM[$kind.$f]}')"
        done
        stop_server
    done

    mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
    echo
    echo "Memory with ${MEM[shoal.keys]} (shoal) / ${MEM[redis.keys]} (redis) keys of the form key:N -> vN"
    printf '%-26s %12s %12s %8s\n' "" "shoal MiB" "redis MiB" ratio
    memrow() {
        printf '%-26s %12s %12s %8s\n' "$1" "$(mib "$2")" "$(mib "$3")" \
            "$(awk -v a="$2" -v b="$3" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }')"
    }
    memrow "used_memory (empty)" "${MEM[shoal.used0]}" "${MEM[redis.used0]}"
    memrow "used_memory (loaded)" "${MEM[shoal.used1]}" "${MEM[redis.used1]}"
    memrow "used_memory delta" $(( MEM[shoal.used1] - MEM[shoal.used0] )) $(( MEM[redis.used1] - MEM[redis.used0] ))
    memrow "RSS (empty)" $(( MEM[shoal.rss0] * 1024 )) $(( MEM[redis.rss0] * 1024 ))
    memrow "RSS (loaded)" $(( MEM[shoal.rss1] * 1024 )) $(( MEM[redis.rss1] * 1024 ))
    memrow "RSS delta" $(( (MEM[shoal.rss1] - MEM[shoal.rss0]) * 1024 )) $(( (MEM[redis.rss1] - MEM[redis.rss0]) * 1024 ))
    printf '%-26s %12s %12s\n' "bytes/key (used delta)" \
        $(( (MEM[shoal.used1] - MEM[shoal.used0]) / MEM_KEYS )) $(( (MEM[redis.used1] - MEM[redis.used0]) / MEM_KEYS ))
fi
