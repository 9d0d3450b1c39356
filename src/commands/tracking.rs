//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR and CLIENT TRACKINGINFO
//! (the state and the invalidations are `crate::tracking`).

use super::Ctx;
use crate::error;
use crate::protocol::Out;
use crate::tracking::{overlaps, BCAST, BROKEN_REDIR, NOLOOP, ON, OPTIN, OPTOUT};
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(ctx: &mut Ctx, out: &mut Out) {
    let argc = ctx.argv.len();
    let mut redirect: u64 = 0;
    let mut options = 0u8;
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < argc {
        let more = j + 1 < argc;
        if ctx.arg_is(j, "redirect") && more {
            j += 1;
            if redirect != 0 {
                return out.error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = crate::util::parse_i64(ctx.arg(j)) else {
                return out.error(error::NOT_INTEGER);
            };
            if id <= 0 || ctx.srv.clients.get(id as u64).is_none() {
                return out.error("ERR The client ID you want redirect to does not exist");
            }
            redirect = id as u64;
        } else if ctx.arg_is(j, "bcast") {
            options |= BCAST;
        } else if ctx.arg_is(j, "optin") {
            options |= OPTIN;
        } else if ctx.arg_is(j, "optout") {
            options |= OPTOUT;
        } else if ctx.arg_is(j, "noloop") {
            options |= NOLOOP;
        } else if ctx.arg_is(j, "prefix") && more {
            j += 1;
            prefixes.push(ctx.argv[j].clone());
        } else {
            return out.error(error::SYNTAX);
        }
        j += 1;
    }
    let current = ctx.client.info.tracking.load(Ordering::Relaxed);
    if ctx.arg_is(2, "on") {
        if options & BCAST == 0 && !prefixes.is_empty() {
            return out.error("ERR PREFIX option requires BCAST mode to be enabled");
        }
        if current & ON != 0 && (current & BCAST != 0) != (options & BCAST != 0) {
            return out.error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
        if options & BCAST != 0 && options & (OPTIN | OPTOUT) != 0 {
            return out.error("ERR OPTIN and OPTOUT are not compatible with BCAST");
        }
        if options & OPTIN != 0 && options & OPTOUT != 0 {
            return out.error("ERR You can't specify both OPTIN mode and OPTOUT mode");
        }
        if (options & OPTIN != 0 && current & OPTOUT != 0)
            || (options & OPTOUT != 0 && current & OPTIN != 0)
        {
            return out.error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
        }
        if options & BCAST != 0 {
            if let Err(e) = check_prefixes(&ctx.client.tracking.prefixes, &prefixes) {
                return out.error(&e);
            }
        }
        ctx.srv
            .tracking
            .enable(ctx.client, redirect, options, &prefixes);
    } else if ctx.arg_is(2, "off") {
        ctx.srv.tracking.disable(ctx.client);
    } else {
        return out.error(error::SYNTAX);
    }
    out.ok()
}

/// New BCAST prefixes must overlap neither the client's nor each other.
fn check_prefixes(
    existing: &std::collections::BTreeSet<Bytes>,
    new: &[Bytes],
) -> Result<(), String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlaps(old, p)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            ));
        }
        if let Some(other) = new[i + 1..].iter().find(|o| overlaps(p, o)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            ));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO
pub fn client_caching(ctx: &mut Ctx, out: &mut Out) {
    let flags = ctx.client.info.tracking.load(Ordering::Relaxed);
    if flags & ON == 0 {
        return out.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    }
    if ctx.arg_is(2, "yes") {
        if flags & OPTIN == 0 {
            return out.error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if ctx.arg_is(2, "no") {
        if flags & OPTOUT == 0 {
            return out.error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return out.error(error::SYNTAX);
    }
    ctx.client.tracking.caching = true;
    out.ok()
}

fn redirect_of(ctx: &Ctx) -> i64 {
    let info = &ctx.client.info;
    if info.tracking.load(Ordering::Relaxed) & ON != 0 {
        info.redir.load(Ordering::Relaxed) as i64
    } else {
        -1
    }
}

/// CLIENT GETREDIR
pub fn client_getredir(ctx: &mut Ctx, out: &mut Out) {
    out.int(redirect_of(ctx))
}

/// CLIENT TRACKINGINFO
pub fn client_trackinginfo(ctx: &mut Ctx, out: &mut Out) {
    let flags = ctx.client.info.tracking.load(Ordering::Relaxed);
    let caching = ctx.client.tracking.caching;
    let mut names: Vec<&str> = vec![if flags & ON != 0 { "on" } else { "off" }];
    if flags & BCAST != 0 {
        names.push("bcast");
    }
    if flags & OPTIN != 0 {
        names.push("optin");
        if caching {
            names.push("caching-yes");
        }
    }
    if flags & OPTOUT != 0 {
        names.push("optout");
        if caching {
            names.push("caching-no");
        }
    }
    if flags & NOLOOP != 0 {
        names.push("noloop");
    }
    if flags & BROKEN_REDIR != 0 {
        names.push("broken_redirect");
    }
    out.map(3);
    out.bulk(b"flags");
    out.set(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(redirect_of(ctx));
    out.bulk(b"prefixes");
    let prefixes = &ctx.client.tracking.prefixes;
    out.array(prefixes.len());
    for p in prefixes {
        out.bulk(p);
    }
}
