//! Shoal through redis-py (tests/py/test_redis_py.py), the client most
//! Python applications use. scripts/test.sh installs redis-py; elsewhere the
//! test is skipped with a note when the module is missing (never in CI).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn redis_py_available() -> bool {
    if !on_path("python3") {
        return false;
    }
    let mut c = Command::new("python3");
    c.args(["-c", "import redis"]);
    run_with_timeout(c, None, Duration::from_secs(60)).0
}

#[test]
fn redis_py_client() {
    if !redis_py_available() {
        if std::env::var_os("CI").is_some() {
            panic!("python3 with the redis module is required in CI (scripts/test.sh installs it)");
        }
        eprintln!("SKIPPED: python3 -c 'import redis' failed; `python3 -m pip install redis` (or scripts/test.sh) enables this test");
        return;
    }
    let srv = Server::start(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/test_redis_py.py");
    let mut c = Command::new("python3");
    c.arg(script).arg(srv.port.to_string());
    let (ok, out, err) = run_with_timeout(c, None, Duration::from_secs(120));
    assert!(ok, "test_redis_py.py failed:\n{out}\n{err}");
    assert!(out.contains("RESP2: all checks passed"), "{out}");
    eprintln!("{out}");
}
