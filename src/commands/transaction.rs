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
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    out.ok()
}

pub fn exec(ctx: &mut Ctx, out: &mut Out) {
    let Some(state) = ctx.client.multi.take() else {
        return out.error(error::EXEC_WITHOUT_MULTI);
    };
    ctx.client.info.multi_len.store(0, Ordering::Relaxed);
    if state.aborted {
        return out.error(error::EXECABORT);
    }
    let hot = ctx.hot;
    out.array(state.queued.len());
    for argv in &state.queued {
        // Queue time already checked name and arity.
        let cmd = super::lookup(&argv[0]).and_then(|c| super::resolve(c, argv).ok());
        match cmd {
            Some(cmd) => crate::exec::call(ctx.srv, ctx.client, cmd, argv, out, hot),
            None => out.error(&error::unknown_command(argv)),
        }
    }
}
