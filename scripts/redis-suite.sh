#!/usr/bin/env bash
# Run units of Redis's own tcl test suite (the compatibility yardstick)
# against a fresh release shoal-server, one server per unit, and print a
# line per unit: passed / failed / aborted.
#
# The suite is not part of this repository. Extract tag 7.0.15's `runtest`
# and `tests/` into a directory first, e.g.
#   git --git-dir=<redis snapshot> archive 7.0.15 runtest tests | tar -x -C /tmp/redis-tests
# Usage: scripts/redis-suite.sh /tmp/redis-tests unit/type/zset unit/multi ...
# Env: PORT (default 7500), BASEPORT (runtest's own ports, default 25000),
#      TAGS (default "-slow -needs:repl"),
#      INTERNAL=1: let runtest start its own servers (shoal-server standing in
#      for src/redis-server in a copy of the suite) instead of pointing it at
#      one running server; units tagged external:skip (unit/acl, unit/acl-v2)
#      only run this way.
set -euo pipefail
suite=${1:?path to the extracted Redis test suite}
shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
port=${PORT:-7500}
baseport=${BASEPORT:-25000}
tags=${TAGS:--slow -needs:repl}

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --manifest-path "$repo/Cargo.toml" -q
bin=$(mktemp -d)/shoal-server
cp "$repo/target/release/shoal-server" "$bin"
mkdir -p "$suite/src"
for tool in redis-cli redis-benchmark redis-server redis-check-aof redis-check-rdb; do
    [ -e "$suite/src/$tool" ] || ln -s "/usr/bin/$tool" "$suite/src/$tool"
done

server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ "${INTERNAL:-0}" = 1 ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp -r "$suite/tests" "$suite/runtest" "$work/"
    mkdir -p "$work/src"
    cp "$bin" "$work/src/redis-server"
    for tool in redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
        ln -s "/usr/bin/$tool" "$work/src/$tool"
    done
    for unit in "$@"; do
        out=$(mktemp)
        (cd "$work" && timeout 900 ./runtest --baseport "$baseport" --tags "$tags" \
            --single "$unit" > "$out" 2>&1) || true
        sed -i 's/\x1b\[[0-9;]*m//g' "$out"
        printf '%-28s passed=%s failed=%s aborted=%s  (%s)\n' "$unit" \
            "$(grep -c '^\[ok\]' "$out")" "$(grep -c '^\[err\]' "$out")" "$(grep -c '^\[exception\]' "$out")" "$out"
    done
    exit 0
fi

for unit in "$@"; do
    "$bin" --port "$port" --save '' --enable-debug-command yes > "/tmp/shoal-suite-$port.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
    out=$(mktemp)
    (cd "$suite" && timeout 600 ./runtest --host 127.0.0.1 --port "$port" --baseport "$baseport" \
        --tags "$tags" --single "$unit" > "$out" 2>&1) || true
    sed -i 's/\x1b\[[0-9;]*m//g' "$out"
    printf '%-28s passed=%s failed=%s aborted=%s  (%s)\n' "$unit" \
        "$(grep -c '^\[ok\]' "$out")" "$(grep -c '^\[err\]' "$out")" "$(grep -c '^\[exception\]' "$out")" "$out"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
done
