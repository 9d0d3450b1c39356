//! The ACL container: SETUSER, GETUSER, DELUSER, USERS, LIST, WHOAMI,
//! CAT, GENPASS, LOG, DRYRUN, SAVE, LOAD, HELP, with Redis 7.0's replies.

use super::{help_reply, Ctx};
use crate::acl::{self, Selector, User};
use crate::error;
use crate::protocol::Out;
use std::sync::Arc;

/// Disconnect every client authenticated as one of `users` (a deleted or
/// replaced user), as ACLFreeUserAndKillClients: this client after its reply.
pub fn kill_clients_of(ctx: &mut Ctx, users: &[Arc<User>]) {
    if users.is_empty() {
        return;
    }
    let is_gone = |u: &Option<Arc<User>>| {
        u.as_ref()
            .is_some_and(|u| users.iter().any(|g| Arc::ptr_eq(g, u)))
    };
    for c in ctx.srv.clients.snapshot() {
        if !is_gone(&c.user.lock()) {
            continue;
        }
        if c.id == ctx.client.id {
            continue;
        }
        *c.user.lock() = Some(ctx.srv.acl.default_user().clone());
        c.kill();
        ctx.srv.clients.remove(c.id);
    }
    if is_gone(&ctx.client.user) {
        ctx.client.set_user(ctx.srv.acl.default_user().clone());
        ctx.client.authenticated = false;
        ctx.client.close_after_reply = true;
    }
}

/// ACLKillPubsubClientsIfNeeded: clients of `user` subscribed to channels
/// its new rules no longer allow are disconnected.
fn kill_pubsub_clients(ctx: &mut Ctx, user: &Arc<User>) {
    let data = user.data().clone();
    if data.selectors.iter().any(|s| s.allchannels) {
        return;
    }
    for (info, channel, is_pattern) in ctx.srv.pubsub.all_subscriptions() {
        let theirs = info
            .user
            .lock()
            .as_ref()
            .is_some_and(|u| Arc::ptr_eq(u, user));
        if theirs && !data.channel_ok(&channel, is_pattern) {
            if info.id == ctx.client.id {
                ctx.client.close_after_reply = true;
            } else {
                info.kill();
                ctx.srv.clients.remove(info.id);
            }
        }
    }
}

/// addReplySubcommandSyntaxError.
fn syntax_error(ctx: &Ctx) -> String {
    let sub: String = ctx.arg_str(1).chars().take(128).collect();
    format!("ERR unknown subcommand or wrong number of arguments for '{sub}'. Try ACL HELP.")
}

pub fn setuser(ctx: &mut Ctx, out: &mut Out) {
    let name = ctx.arg(2);
    if name.iter().any(|&b| b.is_ascii_whitespace() || b == 0) {
        return out.error("ERR Usernames can't contain spaces or null characters");
    }
    let rules: Vec<Vec<u8>> = ctx.argv[3..].iter().map(|a| a.to_vec()).collect();
    match ctx.srv.acl.set_user(name, &rules) {
        Ok((user, before)) => {
            if before.is_some() {
                kill_pubsub_clients(ctx, &user);
            }
            out.ok()
        }
        Err(e) => out.error(&format!("ERR {e}")),
    }
}

fn selector_fields(out: &mut Out, s: &Selector) {
    out.bulk(b"commands");
    out.bulk(s.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(s.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(s.describe_channels().as_bytes());
}

pub fn getuser(ctx: &mut Ctx, out: &mut Out) {
    let Some(user) = ctx.srv.acl.get(ctx.arg(2)) else {
        return out.null();
    };
    let d = user.data().clone();
    out.map(6);
    out.bulk(b"flags");
    let flags = d.flag_names();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(d.passwords.len());
    for p in &d.passwords {
        out.bulk(p.as_bytes());
    }
    selector_fields(out, &d.selectors[0]);
    out.bulk(b"selectors");
    out.array(d.selectors.len() - 1);
    for s in &d.selectors[1..] {
        out.map(3);
        selector_fields(out, s);
    }
}

pub fn deluser(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv[2..].iter().any(|n| n.as_ref() == b"default") {
        return out.error("ERR The 'default' user cannot be removed");
    }
    let mut gone = Vec::new();
    for name in &ctx.argv[2..] {
        if let Some(u) = ctx.srv.acl.remove(name) {
            gone.push(u);
        }
    }
    let n = gone.len();
    kill_clients_of(ctx, &gone);
    out.int(n as i64)
}

pub fn users(ctx: &mut Ctx, out: &mut Out) {
    let users = ctx.srv.acl.users();
    out.array(users.len());
    for u in users {
        out.bulk(u.name.as_bytes());
    }
}

pub fn list(ctx: &mut Ctx, out: &mut Out) {
    let lines = ctx.srv.acl.list();
    out.array(lines.len());
    for l in lines {
        out.bulk(l.as_bytes());
    }
}

pub fn whoami(ctx: &mut Ctx, out: &mut Out) {
    match &ctx.client.user {
        Some(u) => out.bulk(u.name.as_bytes()),
        None => out.null(),
    }
}

pub fn cat(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() == 2 {
        out.array(acl::CATEGORIES.len());
        for c in acl::CATEGORIES {
            out.bulk(c.as_bytes());
        }
        return;
    }
    if ctx.argv.len() != 3 {
        return out.error(&syntax_error(ctx));
    }
    let Some(mask) = acl::category_mask(&ctx.arg_str(2)) else {
        let name: String = ctx.arg_str(2).chars().take(128).collect();
        return out.error(&format!("ERR Unknown category '{name}'"));
    };
    let names: Vec<&str> = super::all_with_subcommands()
        .into_iter()
        .filter(|c| c.acl_mask & mask != 0)
        .map(|c| c.name.as_str())
        .collect();
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
}

pub fn genpass(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 3 {
        return out.error(&syntax_error(ctx));
    }
    let bits = match ctx.argv.get(2) {
        None => 256,
        Some(a) => match crate::util::parse_i64(a) {
            Some(b) => b,
            None => return out.error(error::NOT_INTEGER),
        },
    };
    if bits <= 0 || bits > 4096 {
        return out.error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
    }
    let chars = ((bits + 3) / 4) as usize;
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let pass: String = (0..chars)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("hex digit"))
        .collect();
    out.bulk(pass.as_bytes())
}

pub fn log(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() > 3 {
        return out.error(&syntax_error(ctx));
    }
    let mut count = 10i64;
    if ctx.argv.len() == 3 {
        if ctx.arg_is(2, "reset") {
            ctx.srv.acl.log.lock().clear();
            return out.ok();
        }
        match crate::util::parse_i64(ctx.arg(2)) {
            Some(c) => count = c.max(0),
            None => return out.error(error::NOT_INTEGER),
        }
    }
    let log = ctx.srv.acl.log.lock();
    let n = (count as usize).min(log.len());
    let now = crate::util::now_ms();
    out.array(n);
    for e in log.iter().take(n) {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(e.username.as_bytes());
        out.bulk(b"age-seconds");
        out.double(now.saturating_sub(e.ctime_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.cinfo.as_bytes());
    }
}

pub fn dryrun(ctx: &mut Ctx, out: &mut Out) {
    let Some(user) = ctx.srv.acl.get(ctx.arg(2)) else {
        return out.error(&format!("ERR User '{}' not found", ctx.arg_str(2)));
    };
    let argv = &ctx.argv[3..];
    let base = super::lookup(&argv[0]);
    let cmd = match base {
        Some(b) if argv.len() > 1 && !b.subcommands.is_empty() => b.subcommand(&argv[1]),
        other => other,
    };
    let Some(cmd) = cmd else {
        return out.error(&format!("ERR Command '{}' not found", ctx.arg_str(3)));
    };
    if !cmd.arity_ok(argv.len()) {
        return out.error(&error::wrong_args(&cmd.name));
    }
    let result = user.data().check(cmd, argv);
    match result {
        Ok(()) => out.ok(),
        Err(acl::Denied::Command) => out.bulk(
            format!(
                "This user has no permissions to run the '{}' command",
                cmd.name
            )
            .as_bytes(),
        ),
        Err(acl::Denied::Key(p)) => out.bulk(
            format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(&argv[p])
            )
            .as_bytes(),
        ),
        Err(acl::Denied::Channel(p)) => out.bulk(
            format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(&argv[p])
            )
            .as_bytes(),
        ),
    }
}

const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

fn aclfile(ctx: &Ctx) -> String {
    ctx.srv.config.read().get("aclfile").to_string()
}

/// strerror's text for an I/O error, as Redis's messages carry it.
pub fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a pointer to a static NUL-terminated string.
        Some(code) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }
            .to_string_lossy()
            .into_owned(),
        None => e.to_string(),
    }
}

/// Read and parse the ACL file (ACLLoadFromFile's errors).
pub fn read_aclfile(
    path: &str,
) -> Result<std::collections::BTreeMap<String, acl::UserData>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{}': {}",
            path,
            strerror(&e)
        )
    })?;
    acl::parse_file(&String::from_utf8_lossy(&text), path)
}

pub fn load(ctx: &mut Ctx, out: &mut Out) {
    let path = aclfile(ctx);
    if path.is_empty() {
        return out.error(NO_ACLFILE);
    }
    match read_aclfile(&path) {
        Ok(users) => {
            let gone = ctx.srv.acl.replace_all(users);
            kill_clients_of(ctx, &gone);
            out.ok()
        }
        Err(e) => out.error(&format!("ERR {e}")),
    }
}

/// Write every user to `path` through a temporary file (ACLSaveToFile).
/// Err: what went wrong (already logged).
pub fn save_to(srv: &crate::server::Server, path: &str) -> Result<(), String> {
    let mut text = String::new();
    for l in srv.acl.list() {
        text.push_str(&l);
        text.push('\n');
    }
    let tmp = format!(
        "{path}.tmp-{}-{}",
        std::process::id(),
        crate::util::now_ms()
    );
    if let Err(e) = std::fs::write(&tmp, text.as_bytes()) {
        let msg = format!("Opening temp ACL file for ACL SAVE: {}", strerror(&e));
        crate::warning!("{msg}");
        let _ = std::fs::remove_file(&tmp);
        return Err(msg);
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let msg = format!("Renaming ACL file for ACL SAVE: {}", strerror(&e));
        crate::warning!("{msg}");
        let _ = std::fs::remove_file(&tmp);
        return Err(msg);
    }
    Ok(())
}

pub fn save(ctx: &mut Ctx, out: &mut Out) {
    let path = aclfile(ctx);
    if path.is_empty() {
        return out.error(NO_ACLFILE);
    }
    match save_to(ctx.srv, &path) {
        Ok(()) => out.ok(),
        Err(_) => out.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information"),
    }
}

pub fn help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    )
}
