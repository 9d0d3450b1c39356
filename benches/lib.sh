# Shared by the benchmark scripts in benches/: starting and stopping the
# servers a script compares (only the PIDs it started), free loopback ports,
# redis-benchmark with optional CPU pinning, medians and ratios.
# Expects WORK, SHOAL_BIN, REDIS_SERVER, REDIS_CLI, REDIS_BENCHMARK,
# STEP_TIMEOUT and BENCH_CPU to be set, and an array STARTED=().

cleanup() {
    local pid i
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    # SIGTERM first; whatever is still up after 5 s gets SIGKILL.
    for i in $(seq 1 50); do
        local alive=0
        for pid in "${STARTED[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        (( alive )) || break
        sleep 0.1
    done
    for pid in "${STARTED[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

# A loopback port nobody listens on (nothing answers a connect).
free_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# A port for a cluster node: it and its bus port (port + 10000) are both
# unanswered, and both below Linux's default ephemeral range (32768-), where
# the nodes' own outgoing bus connections would otherwise take them between
# the check and the bind. Use as PORT_PICKER=free_cluster_port start_server ...
free_cluster_port() {
    local p
    while :; do
        p=$(( 20000 + RANDOM % 2700 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
            ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 10000))") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}

# start_server shoal|redis [directive value ...]  -> sets SERVER_PID,
# SERVER_PORT and SERVER_DIR. The data directory is $SERVER_DIR_REUSE when
# set (a restart on existing files), else a fresh one. A server that exits at
# once (say, another process took the port between free_port and bind) is
# retried on another port, up to 3 times. PORT_PICKER names the function
# that picks the port (free_port unless set). Returns once it answers PING
# (LOADING counts as an answer; see wait_loaded).
start_server() {
    local kind=$1 port dir bin attempt i reply
    shift
    case $kind in
        shoal) bin=$SHOAL_BIN ;;
        redis) bin=$REDIS_SERVER ;;
    esac
    for attempt in 1 2 3; do
        port=$(${PORT_PICKER:-free_port})
        dir=${SERVER_DIR_REUSE:-$WORK/$kind-$port}
        mkdir -p "$dir"
        "$bin" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" "$@" \
            >>"$dir/server.log" 2>&1 &
        SERVER_PID=$!
        SERVER_PORT=$port
        SERVER_DIR=$dir
        STARTED+=("$SERVER_PID")
        for i in $(seq 1 100); do
            reply=$(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)
            if [[ $reply == PONG || $reply == LOADING* ]]; then
                return 0
            fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        echo "compare.sh: $kind did not start on port $port (attempt $attempt); log:" >&2
        cat "$dir/server.log" >&2
        stop_server
    done
    exit 1
}

stop_server() {
    local pid=$SERVER_PID i
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "compare.sh: PID $pid ignored SIGTERM for 5 s; sending SIGKILL" >&2
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    # Forget it, so cleanup never signals a PID that may have been reused.
    local keep=() p
    for p in "${STARTED[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    STARTED=("${keep[@]}")
}

bench() {
    if [[ -n $BENCH_CPU ]]; then
        timeout "$STEP_TIMEOUT" taskset -c "$BENCH_CPU" "$REDIS_BENCHMARK" "$@"
    else
        timeout "$STEP_TIMEOUT" "$REDIS_BENCHMARK" "$@"
    fi
}

# Called when a step failed or timed out: show what the server is doing.
server_failed() {
    local kind=$1 what=$2
    echo "compare.sh: $what against $kind (port $SERVER_PORT, PID $SERVER_PID) failed or hung for ${STEP_TIMEOUT}s" >&2
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "  server threads (state, utime, stime):" >&2
        for t in /proc/"$SERVER_PID"/task/*; do
            echo "    $(cat "$t/comm") $(cut -d' ' -f3,14,15 "$t/stat")" >&2
        done
        echo "  PING: $(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$SERVER_PORT" ping 2>&1 || echo 'no answer')" >&2
    else
        echo "  the server exited; log tail:" >&2
    fi
    tail -20 "$SERVER_DIR/server.log" >&2
    exit 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }



# bench_init NAME: the common start of a benchmark script — tool defaults and
# checks, `cargo build --release` (unless SKIP_BUILD=1), a scratch WORK dir
# with a private copy of shoal-server (so a concurrent build can't swap it),
# and the cleanup traps. Expects ROOT to be the repository root.
bench_init() {
    local name=$1 tool
    REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
    REDIS_BENCHMARK=${REDIS_BENCHMARK:-/usr/bin/redis-benchmark}
    REDIS_CLI=${REDIS_CLI:-/usr/bin/redis-cli}
    STEP_TIMEOUT=${STEP_TIMEOUT:-300}
    BENCH_CPU=${BENCH_CPU:-}
    for tool in "$REDIS_SERVER" "$REDIS_BENCHMARK" "$REDIS_CLI"; do
        [[ -x $tool ]] || { echo "$name: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 1; }
    done
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        cargo build --release --bin shoal-server >&2
    fi
    SHOAL_SERVER=${SHOAL_SERVER:-${CARGO_TARGET_DIR:-$ROOT/target}/release/shoal-server}
    WORK=$(mktemp -d "/tmp/shoal-$name.XXXXXX")
    STARTED=()
    cp "$SHOAL_SERVER" "$WORK/shoal-server"
    SHOAL_BIN=$WORK/shoal-server
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
