#!/usr/bin/env bash
# Run every Shoal test on a fresh Debian machine: install what the
# integration tests drive (Debian's redis-cli and redis-server, redis-py) if
# missing, then `cargo test --workspace` (debug build, to keep time low).
#
# Usage: scripts/test.sh [extra cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Root runs apt directly; anyone else through sudo when there is one.
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi

apt_updated=0
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
        apt_updated=1
    fi
    # RUNLEVEL=1 keeps the packages' init scripts from starting services.
    $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends "$@"
}

# redis-cli drives tests/redis_cli.rs; redis-server is the real Redis 7.0
# the differential test compares against.
if [ ! -x /usr/bin/redis-cli ] || [ ! -x /usr/bin/redis-server ]; then
    echo "== installing redis-tools and redis-server"
    apt_install redis-tools redis-server
fi

# redis-py for tests/py/test_redis_py.py.
if ! command -v python3 >/dev/null 2>&1; then
    echo "== installing python3"
    apt_install python3 python3-pip
fi
if ! python3 -c 'import redis' >/dev/null 2>&1; then
    echo "== installing redis-py"
    python3 -m pip install --quiet redis \
        || python3 -m pip install --quiet --break-system-packages redis \
        || apt_install python3-redis
    python3 -c 'import redis; print("redis-py", redis.__version__)'
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# The 10,000-connection test needs that many descriptors; it raises its own
# soft limit too, this covers the server it starts as well.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== redis-cli: $(redis-cli --version)"
echo "== redis-server: $(redis-server --version)"
echo "== cargo test --workspace"
log=$(mktemp)
set +e
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo's last lines are doc tests).
passed=$(grep -oE '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
rm -f "$log"
echo
echo "$passed passed, $failed failed"
exit "$status"
