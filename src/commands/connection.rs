//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET and
//! the CLIENT container.

use super::{help_reply, Ctx};
use crate::client::ReplyMode;
use crate::error;
use crate::protocol::Out;
use std::sync::atomic::Ordering;

pub fn ping(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 2 {
        return out.error(&error::wrong_args("ping"));
    }
    // A RESP2 subscriber gets PING's answer as a message-shaped array.
    if !ctx.client.resp3 && ctx.client.subs.any() {
        out.array(2);
        out.bulk(b"pong");
        return out.bulk(ctx.argv.get(1).map_or(&b""[..], |m| &m[..]));
    }
    match ctx.argv.get(1) {
        Some(msg) => out.bulk(msg),
        None => out.simple("PONG"),
    }
}

pub fn echo(ctx: &mut Ctx, out: &mut Out) {
    out.bulk(ctx.arg(1))
}

pub fn select(ctx: &mut Ctx, out: &mut Out) {
    let Some(i) = crate::util::parse_i64(ctx.arg(1)) else {
        return out.error(error::NOT_INTEGER);
    };
    if ctx.hot.cluster_enabled && i != 0 {
        return out.error(error::SELECT_CLUSTER);
    }
    if i < 0 || i as usize >= ctx.srv.keyspace.db_count() {
        return out.error(error::DB_INDEX_RANGE);
    }
    ctx.client.select(i as usize);
    out.ok()
}

/// ACLAuthenticateUser: switch the client to `user` if the password
/// matches and the user is on; a failure goes to the ACL log.
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> bool {
    match ctx.srv.acl.authenticate(user, pass) {
        Some(u) => {
            ctx.client.authenticated = true;
            ctx.client.set_user(u);
            true
        }
        None => {
            let context = if ctx.client.multi.is_some() {
                crate::acl::Context::Multi
            } else {
                crate::acl::Context::Toplevel
            };
            ctx.srv.acl.log_event(
                "auth",
                context,
                ctx.argv[0].to_vec(),
                String::from_utf8_lossy(user).into_owned(),
                ctx.client.info.render(crate::util::now_ms()),
                ctx.hot.acllog_max_len,
            );
            false
        }
    }
}

pub fn auth(ctx: &mut Ctx, out: &mut Out) {
    let (user, pass): (&[u8], &[u8]) = match ctx.argv.len() {
        2 => {
            if ctx.srv.acl.default_user().data().nopass {
                return out.error(error::AUTH_NOT_CONFIGURED);
            }
            (b"default", ctx.arg(1))
        }
        3 => (ctx.arg(1), ctx.arg(2)),
        _ => return out.error(error::SYNTAX),
    };
    if authenticate(ctx, user, pass) {
        out.ok()
    } else {
        out.error(error::INVALID_PASSWORD)
    }
}

pub fn hello(ctx: &mut Ctx, out: &mut Out) {
    let mut version = None;
    let mut i = 1;
    if ctx.argv.len() > 1 {
        match crate::util::parse_i64(ctx.arg(1)) {
            Some(v) if v == 2 || v == 3 => version = Some(v),
            Some(_) => return out.error("NOPROTO unsupported protocol version"),
            None => return out.error("ERR Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut setname = None;
    while i < ctx.argv.len() {
        let more = ctx.argv.len() - i - 1;
        if ctx.arg_is(i, "AUTH") && more >= 2 {
            let (user, pass) = (ctx.argv[i + 1].clone(), ctx.argv[i + 2].clone());
            if !authenticate(ctx, &user, &pass) {
                return out.error(error::INVALID_PASSWORD);
            }
            i += 3;
        } else if ctx.arg_is(i, "SETNAME") && more >= 1 {
            if let Err(e) = validate_name(ctx.arg(i + 1)) {
                return out.error(e);
            }
            setname = Some(ctx.argv[i + 1].clone());
            i += 2;
        } else {
            return out.error(&format!(
                "ERR Syntax error in HELLO option '{}'",
                ctx.arg_str(i)
            ));
        }
    }
    if !ctx.client.authenticated {
        return out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = setname {
        *ctx.client.info.name.lock() = if name.is_empty() { None } else { Some(name) };
    }
    if let Some(v) = version {
        ctx.client.resp3 = v == 3;
        ctx.client.info.resp.store(v as usize, Ordering::Relaxed);
        out.resp3 = ctx.client.resp3;
        // A RESP3 client may receive pushes (tracking invalidations
        // redirected to it) from other connections.
        if v == 3 {
            ctx.client.push_sender();
        }
    }
    let cluster = ctx.hot.cluster_enabled;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if ctx.client.resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(if cluster { b"cluster" } else { b"standalone" });
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
}

pub fn quit(ctx: &mut Ctx, out: &mut Out) {
    ctx.client.close_after_reply = true;
    out.ok()
}

pub fn reset(ctx: &mut Ctx, out: &mut Out) {
    ctx.srv.watches.unwatch_all(&mut ctx.client.watch);
    ctx.srv.monitors.remove(ctx.client.id);
    let subs = std::mem::take(&mut ctx.client.subs);
    ctx.srv
        .pubsub
        .remove_client(ctx.client.id, &subs.channels, &subs.shard, &subs.patterns);
    ctx.srv.tracking.disable(ctx.client);
    ctx.client.pushes = None;
    ctx.client.push_tx = None;
    *ctx.client.info.push_tx.lock() = None;
    let c = &mut *ctx.client;
    c.multi = None;
    c.info.multi_len.store(0, Ordering::Relaxed);
    c.select(0);
    c.resp3 = false;
    c.info.resp.store(2, Ordering::Relaxed);
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.cluster = Default::default();
    *c.info.name.lock() = None;
    c.set_user(ctx.srv.acl.default_user().clone());
    c.authenticated = !ctx.srv.acl.auth_required();
    out.resp3 = false;
    out.simple("RESET")
}

pub fn client_id(ctx: &mut Ctx, out: &mut Out) {
    out.int(ctx.client.id as i64)
}

/// Client names may not contain spaces, newlines or special characters.
fn validate_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        Err("ERR Client names cannot contain spaces, newlines or special characters.")
    } else {
        Ok(())
    }
}

pub fn client_setname(ctx: &mut Ctx, out: &mut Out) {
    let name = ctx.arg(2);
    if let Err(e) = validate_name(name) {
        return out.error(e);
    }
    *ctx.client.info.name.lock() = if name.is_empty() {
        None
    } else {
        Some(ctx.argv[2].clone())
    };
    out.ok()
}

pub fn client_getname(ctx: &mut Ctx, out: &mut Out) {
    match ctx.client.info.name.lock().as_ref() {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
}

pub fn client_list(ctx: &mut Ctx, out: &mut Out) {
    let mut ids: Option<Vec<u64>> = None;
    let mut type_filter: Option<String> = None;
    let mut i = 2;
    while i < ctx.argv.len() {
        if ctx.arg_is(i, "TYPE") && i + 1 < ctx.argv.len() {
            let t = ctx.arg_str(i + 1).to_ascii_lowercase();
            if !["normal", "master", "replica", "slave", "pubsub"].contains(&t.as_str()) {
                return out.error(&format!("ERR Unknown client type '{}'", ctx.arg_str(i + 1)));
            }
            type_filter = Some(t);
            i += 2;
        } else if ctx.arg_is(i, "ID") && i + 1 < ctx.argv.len() {
            let mut v = Vec::new();
            for a in &ctx.argv[i + 1..] {
                match crate::util::parse_i64(a) {
                    Some(id) if id > 0 => v.push(id as u64),
                    _ => return out.error("ERR Invalid client ID"),
                }
            }
            ids = Some(v);
            i = ctx.argv.len();
        } else {
            return out.error(error::SYNTAX);
        }
    }
    let now = crate::util::now_ms();
    let mut text = String::new();
    for c in ctx.srv.clients.snapshot() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        if type_filter
            .as_deref()
            .is_some_and(|t| t.replace("slave", "replica") != c.type_name())
        {
            continue;
        }
        text.push_str(&c.render(now));
        text.push('\n');
    }
    out.verbatim(text.as_bytes())
}

pub fn client_info(ctx: &mut Ctx, out: &mut Out) {
    let mut line = ctx.client.info.render(crate::util::now_ms());
    line.push('\n');
    out.verbatim(line.as_bytes())
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR a] [LADDR a] [TYPE t] [USER u] [SKIPME yes|no]
pub fn client_kill(ctx: &mut Ctx, out: &mut Out) {
    let clients = ctx.srv.clients.snapshot();
    if ctx.argv.len() == 3 {
        let addr = ctx.arg_str(2);
        return match clients.iter().find(|c| c.addr.to_string() == addr) {
            Some(c) => {
                // Gone from CLIENT LIST before we reply, as in Redis.
                c.kill();
                ctx.srv.clients.remove(c.id);
                out.ok()
            }
            None => out.error("ERR No such client"),
        };
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut kind: Option<String> = None;
    let mut user: Option<std::sync::Arc<crate::acl::User>> = None;
    let mut i = 2;
    while i + 1 < ctx.argv.len() {
        let v = ctx.arg_str(i + 1);
        if ctx.arg_is(i, "ID") {
            match crate::util::parse_i64(ctx.arg(i + 1)) {
                Some(x) if x > 0 => id = Some(x as u64),
                _ => return out.error("ERR client-id should be greater than 0"),
            }
        } else if ctx.arg_is(i, "ADDR") {
            addr = Some(v);
        } else if ctx.arg_is(i, "LADDR") {
            laddr = Some(v);
        } else if ctx.arg_is(i, "TYPE") {
            if !["normal", "master", "replica", "slave", "pubsub"]
                .contains(&v.to_ascii_lowercase().as_str())
            {
                return out.error(&format!("ERR Unknown client type '{v}'"));
            }
            kind = Some(v.to_ascii_lowercase().replace("slave", "replica"));
        } else if ctx.arg_is(i, "USER") {
            match ctx.srv.acl.get(ctx.arg(i + 1)) {
                Some(u) => user = Some(u),
                None => return out.error(&format!("ERR No such user '{v}'")),
            }
        } else if ctx.arg_is(i, "SKIPME") {
            match v.to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => return out.error(error::SYNTAX),
            }
        } else {
            return out.error(error::SYNTAX);
        }
        i += 2;
    }
    if i != ctx.argv.len() {
        return out.error(error::SYNTAX);
    }
    let mut killed = 0;
    for c in clients {
        if id.is_some_and(|id| id != c.id)
            || addr.as_ref().is_some_and(|a| *a != c.addr.to_string())
            || laddr.as_ref().is_some_and(|a| *a != c.laddr.to_string())
            || (skipme && c.id == ctx.client.id)
            || kind.as_deref().is_some_and(|k| k != c.type_name())
            || user.as_ref().is_some_and(|u| {
                !c.user
                    .lock()
                    .as_ref()
                    .is_some_and(|cu| std::sync::Arc::ptr_eq(cu, u))
            })
        {
            continue;
        }
        c.kill();
        ctx.srv.clients.remove(c.id);
        killed += 1;
    }
    out.int(killed)
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: end another client's blocking
/// command as if it timed out, or with an UNBLOCKED error.
pub fn client_unblock(ctx: &mut Ctx, out: &mut Out) {
    let Some(id) = crate::util::parse_i64(ctx.arg(2)) else {
        return out.error(error::NOT_INTEGER);
    };
    let as_error = match ctx.argv.len() {
        3 => false,
        4 if ctx.arg_is(3, "TIMEOUT") => false,
        4 if ctx.arg_is(3, "ERROR") => true,
        _ => {
            return out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    };
    let waiter = ctx
        .srv
        .blocking
        .all_waiters()
        .into_iter()
        .find(|w| w.client_id as i64 == id);
    let Some(w) = waiter else { return out.int(0) };
    if !w.claim(crate::blocking::SERVED) {
        return out.int(0);
    }
    ctx.srv.blocking.unregister(&w);
    crate::blocking::count_unblocked(&w, as_error);
    let reply: &'static [u8] = if as_error {
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    } else if w.resp3 {
        b"_\r\n"
    } else if matches!(
        w.argv[0].to_ascii_lowercase().as_slice(),
        b"brpoplpush" | b"blmove"
    ) {
        b"$-1\r\n"
    } else {
        b"*-1\r\n"
    };
    let _ = w.tx.send(bytes::Bytes::from_static(reply));
    out.int(1)
}

pub fn client_no_evict(ctx: &mut Ctx, out: &mut Out) {
    match ctx.arg_str(2).to_ascii_lowercase().as_str() {
        "on" => ctx.client.no_evict = true,
        "off" => ctx.client.no_evict = false,
        _ => return out.error(error::SYNTAX),
    }
    out.ok()
}

pub fn client_reply(ctx: &mut Ctx, out: &mut Out) {
    match ctx.arg_str(2).to_ascii_lowercase().as_str() {
        "on" => {
            ctx.client.reply_mode = ReplyMode::On;
            out.ok()
        }
        "off" => ctx.client.reply_mode = ReplyMode::Off,
        // This command's own reply is sent; the next one is skipped.
        "skip" => ctx.client.reply_mode = ReplyMode::SkipNext,
        _ => out.error(error::SYNTAX),
    }
}

pub fn client_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    )
}

pub fn monitor(ctx: &mut Ctx, out: &mut Out) {
    let tx = ctx.client.push_sender();
    ctx.srv.monitors.add(ctx.client.id, tx);
    out.ok()
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn client_pause(ctx: &mut Ctx, out: &mut Out) {
    let Some(ms) = crate::util::parse_i64(ctx.arg(2)).filter(|v| *v >= 0) else {
        return out.error("ERR timeout is not an integer or out of range");
    };
    let all = match ctx.argv.get(3) {
        None => true,
        Some(m) if m.eq_ignore_ascii_case(b"ALL") => true,
        Some(m) if m.eq_ignore_ascii_case(b"WRITE") => false,
        Some(_) => return out.error(error::SYNTAX),
    };
    if ctx.argv.len() > 4 {
        return out.error(error::SYNTAX);
    }
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms as u64);
    ctx.srv.pause.pause(until, all);
    out.ok()
}

pub fn client_unpause(ctx: &mut Ctx, out: &mut Out) {
    ctx.srv.pause.unpause();
    out.ok()
}
