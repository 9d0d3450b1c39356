//! SAVE, BGSAVE and the shutdown save: the commands of `crate::persist`.

use super::Ctx;
use crate::protocol::Out;
use std::sync::atomic::Ordering;

pub fn save(ctx: &mut Ctx, out: &mut Out) {
    if ctx.srv.persist.bgsave_in_progress.load(Ordering::Acquire) {
        return out.error("ERR Background save already in progress");
    }
    match crate::persist::save_foreground(ctx.srv) {
        Ok(()) => out.ok(),
        Err(e) => out.error(&e),
    }
}

pub fn bgrewriteaof(ctx: &mut Ctx, out: &mut Out) {
    if ctx.srv.aof.rewrite_in_progress.load(Ordering::Acquire) {
        return out.error("ERR Background append only file rewriting already in progress");
    }
    if ctx.srv.snapshots.in_progress() {
        ctx.srv.aof.rewrite_scheduled.store(true, Ordering::Release);
        return out.simple("Background append only file rewriting scheduled");
    }
    if ctx.srv.aof.runtime.lock().is_none() {
        // With the AOF off Redis still writes one (a base from the data).
        return match crate::persist::aof::enable(ctx.srv) {
            Ok(()) => {
                crate::persist::aof::stop(ctx.srv);
                out.simple("Background append only file rewriting started")
            }
            Err(e) => out.error(&format!("ERR {e}")),
        };
    }
    match crate::persist::aof::rewrite_background(ctx.srv) {
        Ok(()) => out.simple("Background append only file rewriting started"),
        Err(e) => out.error(&e),
    }
}

pub fn bgsave(ctx: &mut Ctx, out: &mut Out) {
    let schedule = match ctx.argv.len() {
        1 => false,
        2 if ctx.arg_is(1, "SCHEDULE") => true,
        _ => return out.error(crate::error::SYNTAX),
    };
    if ctx.srv.persist.bgsave_in_progress.load(Ordering::Acquire) {
        return out.error("ERR Background save already in progress");
    }
    if ctx.srv.snapshots.in_progress() {
        // An AOF rewrite holds the snapshot: run once it is done.
        if schedule {
            ctx.srv
                .persist
                .bgsave_scheduled
                .store(true, Ordering::Release);
            return out.simple("Background saving scheduled");
        }
        return out.error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
    }
    match crate::persist::save_background(ctx.srv) {
        Ok(()) => out.simple("Background saving started"),
        Err(e) => out.error(&e),
    }
}
