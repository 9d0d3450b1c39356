#!/usr/bin/env python3
"""Shoal through redis-py, as a Python application would use it.

Usage: test_redis_py.py PORT  (run by tests/redis_py.rs against a fresh server).
Exits 0 when every check passes; an AssertionError (exit 1) names the failing one.
"""
import sys

import redis


def connect(port: int, protocol: int):
    """A client speaking RESP`protocol`, or None if this redis-py predates RESP3 (< 5.0)."""
    kw = dict(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=10, socket_connect_timeout=10)
    try:
        return redis.Redis(protocol=protocol, **kw)
    except TypeError:
        return redis.Redis(**kw) if protocol == 2 else None


def check(r: "redis.Redis", protocol: int) -> None:
    assert r.ping() is True
    r.flushdb()

    assert r.set("greeting", "héllo wörld") is True
    got = r.get("greeting")
    assert got == "héllo wörld" and isinstance(got, str), got
    assert r.get("missing") is None
    assert r.strlen("greeting") == len("héllo wörld".encode()), r.strlen("greeting")

    assert r.incr("counter") == 1
    assert r.incrby("counter", 41) == 42
    assert r.decr("counter") == 41
    assert r.incrbyfloat("float", 2.5) == 2.5
    assert r.get("counter") == "41"

    assert r.set("nx", "first", nx=True) is True
    assert r.set("nx", "second", nx=True) is None
    assert r.set("nx", "third", xx=True, get=True) == "first"

    assert r.expire("greeting", 100) is True
    assert 99 <= r.ttl("greeting") <= 100, r.ttl("greeting")
    assert r.persist("greeting") is True
    assert r.ttl("greeting") == -1
    assert r.ttl("missing") == -2

    assert r.mset({"a": "1", "b": "2", "c": "3"}) is True
    assert r.mget("a", "b", "missing", "c") == ["1", "2", None, "3"]
    assert r.exists("a", "b", "missing") == 2
    assert r.delete("a", "missing") == 1
    assert r.type("b") == "string"

    with r.pipeline(transaction=True) as p:
        p.set("tx", "0").incr("tx").incr("tx").get("tx")
        assert p.execute() == [True, 1, 2, "2"]

    for i in range(500):
        r.set(f"scan:{i}", i)
    seen = set(r.scan_iter(match="scan:*", count=37))
    assert seen == {f"scan:{i}" for i in range(500)}, len(seen)
    assert r.dbsize() == 500 + 7, r.dbsize()

    try:
        r.incr("greeting")
    except redis.ResponseError as e:
        assert str(e) == "value is not an integer or out of range", str(e)
    else:
        raise AssertionError("INCR on a non-integer must fail")

    try:
        r.execute_command("FOO", "bar")
    except redis.ResponseError as e:
        assert str(e) == "unknown command 'FOO', with args beginning with: 'bar' ", repr(str(e))
    else:
        raise AssertionError("an unknown command must fail")

    r.client_setname(f"redis-py-resp{protocol}")
    assert r.client_getname() == f"redis-py-resp{protocol}"
    info = r.info("server")
    assert info["redis_version"] == "7.0.15", info.get("redis_version")
    assert r.config_get("maxmemory") == {"maxmemory": "0"}, r.config_get("maxmemory")
    r.close()


def main() -> int:
    port = int(sys.argv[1])
    for protocol in (2, 3):
        r = connect(port, protocol)
        if r is None:
            print(f"redis-py {redis.__version__} has no RESP{protocol} support: skipped")
            continue
        check(r, protocol)
        print(f"redis-py {redis.__version__} RESP{protocol}: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
