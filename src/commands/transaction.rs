//! MULTI / EXEC / DISCARD. Queued commands run under the exclusive keyspace
//! gate, so a transaction is atomic with respect to every other client.

use super::Ctx;
use crate::client::MultiState;
use crate::error;
use crate::protocol::Out;
use std::sync::atomic::Ordering;

pub fn multi(ctx: &mut Ctx, out: &mut Out) {
    if ctx.client.multi.is_some() {
        return out.error(error::MULTI_NESTED);
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.client.info.multi_len.store(1, Ordering::Relaxed);
    out.ok()
}

pub fn discard(ctx: &mut Ctx, out: &mut Out) {
    if ctx.client.multi.take().is_none() {
        return out.error(error::DISCARD_WITHOUT_MULTI);
    }
    ctx.srv.watches.unwatch_all(&mut ctx.client.watch);
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    out.ok()
}

pub fn exec(ctx: &mut Ctx, out: &mut Out) {
    let Some(state) = ctx.client.multi.take() else {
        return out.error(error::EXEC_WITHOUT_MULTI);
    };
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    if state.aborted {
        ctx.srv.watches.unwatch_all(&mut ctx.client.watch);
        return out.error(error::EXECABORT);
    }
    let touched = ctx.client.watch.dirty.load(Ordering::Relaxed) || watched_key_expired(ctx);
    ctx.srv.watches.unwatch_all(&mut ctx.client.watch);
    if touched {
        return out.null_array();
    }
    let hot = ctx.hot;
    out.array(state.queued.len());
    ctx.client.in_exec = true;
    for argv in &state.queued {
        // Queue time already checked name and arity.
        let cmd = super::lookup(&argv[0]).and_then(|c| super::resolve(c, argv).ok());
        match cmd {
            Some(cmd) => {
                // The rules may have changed since the command was queued.
                let denied = ctx
                    .client
                    .user
                    .as_ref()
                    .and_then(|u| u.check(cmd, argv).err().map(|d| (d, u.clone())));
                if let Some((d, user)) = denied {
                    ctx.srv.acl.log_denied(
                        d,
                        crate::acl::Context::Multi,
                        cmd,
                        argv,
                        &user,
                        &ctx.client.info,
                        hot.acllog_max_len,
                    );
                    out.error(&format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}", d.exec_reason()));
                    continue;
                }
                crate::exec::call(ctx.srv, ctx.client, cmd, argv, out, hot)
            }
            None => out.error(&error::unknown_command(argv)),
        }
    }
    ctx.client.in_exec = false;
}

/// A key that was live when watched but has expired since counts as
/// modified (Redis 7.0's isWatchedKeyExpired).
fn watched_key_expired(ctx: &Ctx) -> bool {
    ctx.client
        .watch
        .keys
        .iter()
        .any(|(_, _, expire)| matches!(expire, Some(at) if *at != 0 && *at <= ctx.now_ms))
}

pub fn watch(ctx: &mut Ctx, out: &mut Out) {
    if ctx.client.multi.is_some() {
        return out.error("ERR WATCH inside MULTI is not allowed");
    }
    let db_index = ctx.client.db;
    let db = ctx.db();
    for key in &ctx.argv[1..] {
        let mut g = db.lock_key(key);
        // Record whether the key was live and when it expires.
        let expire = g.get_mut(key, ctx.now_ms).map(|e| e.expire_at_ms);
        drop(g);
        ctx.srv
            .watches
            .watch(&mut ctx.client.watch, db_index, key, expire);
    }
    out.ok()
}

pub fn unwatch(ctx: &mut Ctx, out: &mut Out) {
    ctx.srv.watches.unwatch_all(&mut ctx.client.watch);
    out.ok()
}
