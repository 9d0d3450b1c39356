//! COMMAND and its subcommands: the command table as clients see it
//! (redis-cli reads COMMAND DOCS for hints; cluster clients read key
//! positions from COMMAND).

use super::{help_reply, table, Command, Ctx, KeySpec, READONLY, WRITE};
use crate::protocol::Out;

fn all_commands() -> Vec<&'static Command> {
    let mut v: Vec<&'static Command> = table().commands.values().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn write_info(out: &mut Out, c: &Command) {
    out.array(10);
    out.bulk(c.name.as_bytes());
    out.int(c.arity as i64);
    let flags = c.flag_names();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    // COMMAND's legacy triple: keynum commands report Redis's values for them.
    let (first, last, step) = match c.keys {
        KeySpec::None => (0, 0, 0),
        KeySpec::Range { first, last, step } => (first, last, step),
        KeySpec::Keynum { extra_first, .. } if extra_first > 0 => (extra_first, extra_first, 1),
        KeySpec::Keynum { .. } => (0, 0, 0),
        KeySpec::SortStore | KeySpec::GeoRadius { .. } => (1, 1, 1),
        KeySpec::Migrate => (3, 3, 1),
        KeySpec::Streams { .. } => (0, 0, 0),
    };
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    out.set(c.acl_categories.len());
    for cat in &c.acl_categories {
        out.simple(&format!("@{cat}"));
    }
    out.set(0); // tips
    write_key_specs(out, c);
    // No subcommands: an empty set, as Redis replies.
    if c.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(c.subcommands.len());
    }
    for s in &c.subcommands {
        write_info(out, s);
    }
}

fn write_spec_flags(out: &mut Out, c: &Command) {
    out.bulk(b"flags");
    let flags: &[&str] = if c.has(WRITE) {
        &["RW", "update"]
    } else if c.has(READONLY) {
        &["RO", "access"]
    } else {
        &["RO"]
    };
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
}

fn write_index_search(out: &mut Out, index: i32) {
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"index");
    out.bulk(b"spec");
    out.map(1);
    out.bulk(b"index");
    out.int(index as i64);
}

fn write_key_specs(out: &mut Out, c: &Command) {
    if let KeySpec::Keynum {
        extra_first,
        numkeys_at,
        first_offset,
        step,
    } = c.keys
    {
        out.set(if extra_first > 0 { 2 } else { 1 });
        if extra_first > 0 {
            out.map(3);
            write_spec_flags(out, c);
            write_index_search(out, extra_first);
            write_range(out, 0, 1);
        }
        out.map(3);
        write_spec_flags(out, c);
        write_index_search(out, numkeys_at);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"keynum");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"keynumidx");
        out.int(0);
        out.bulk(b"firstkey");
        out.int(first_offset as i64);
        out.bulk(b"keystep");
        out.int(step as i64);
        return;
    }
    if c.keys == KeySpec::Migrate {
        return write_migrate_key_specs(out);
    }
    if let KeySpec::GeoRadius { store_from } = c.keys {
        return write_georadius_key_specs(out, store_from);
    }
    if let KeySpec::Streams { from } = c.keys {
        // Redis: keyword STREAMS searched from `from`, then half the rest.
        out.set(1);
        out.map(3);
        write_spec_flags(out, c);
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"keyword");
        out.bulk(b"spec");
        out.map(2);
        out.bulk(b"keyword");
        out.bulk(b"STREAMS");
        out.bulk(b"startfrom");
        out.int(from as i64);
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        out.bulk(b"range");
        out.bulk(b"spec");
        out.map(3);
        out.bulk(b"lastkey");
        out.int(-1);
        out.bulk(b"keystep");
        out.int(1);
        out.bulk(b"limit");
        out.int(2);
        return;
    }
    let (first, last, step) = match c.keys {
        KeySpec::Range { first, last, step } => (first, last, step),
        // SORT's source; its STORE destination has an "unknown" spec in Redis.
        KeySpec::SortStore => (1, 1, 1),
        _ => return out.set(0),
    };
    out.set(1);
    out.map(3);
    write_spec_flags(out, c);
    write_index_search(out, first);
    write_range(out, if last < 0 { last } else { last - first }, step);
}

/// MIGRATE's two specs: the key at 3, and everything after a KEYS found
/// searching back from the end.
fn write_migrate_key_specs(out: &mut Out) {
    out.set(2);
    for incomplete in [false, true] {
        out.map(3);
        out.bulk(b"flags");
        let flags: &[&str] = if incomplete {
            &["RW", "access", "delete", "incomplete"]
        } else {
            &["RW", "access", "delete"]
        };
        out.set(flags.len());
        for f in flags {
            out.simple(f);
        }
        if incomplete {
            out.bulk(b"begin_search");
            out.map(2);
            out.bulk(b"type");
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(b"KEYS");
            out.bulk(b"startfrom");
            out.int(-2);
            write_range(out, -1, 1);
        } else {
            write_index_search(out, 3);
            write_range(out, 0, 1);
        }
    }
}

/// GEORADIUS*'s three specs: the source at 1, and the keys after STORE
/// and STOREDIST, searched from `store_from`.
fn write_georadius_key_specs(out: &mut Out, store_from: i32) {
    out.set(3);
    for keyword in [None, Some("STORE"), Some("STOREDIST")] {
        out.map(3);
        out.bulk(b"flags");
        let flags: &[&str] = if keyword.is_some() {
            &["OW", "update"]
        } else {
            &["RO", "access"]
        };
        out.set(flags.len());
        for f in flags {
            out.simple(f);
        }
        match keyword {
            None => write_index_search(out, 1),
            Some(k) => {
                out.bulk(b"begin_search");
                out.map(2);
                out.bulk(b"type");
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(k.as_bytes());
                out.bulk(b"startfrom");
                out.int(store_from as i64);
            }
        }
        write_range(out, 0, 1);
    }
}

fn write_range(out: &mut Out, lastkey: i32, step: i32) {
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    out.bulk(b"range");
    out.bulk(b"spec");
    out.map(3);
    out.bulk(b"lastkey");
    out.int(lastkey as i64);
    out.bulk(b"keystep");
    out.int(step as i64);
    out.bulk(b"limit");
    out.int(0);
}

pub fn command(_ctx: &mut Ctx, out: &mut Out) {
    let all = all_commands();
    out.array(all.len());
    for c in all {
        write_info(out, c);
    }
}

pub fn command_count(_ctx: &mut Ctx, out: &mut Out) {
    out.int(table().commands.len() as i64)
}

/// Find "name" or "parent|sub".
fn find(name: &[u8]) -> Option<&'static Command> {
    let text = String::from_utf8_lossy(name).to_ascii_lowercase();
    match text.split_once('|') {
        Some((parent, sub)) => super::lookup(parent.as_bytes())?.subcommand(sub.as_bytes()),
        None => super::lookup(name),
    }
}

pub fn command_info(ctx: &mut Ctx, out: &mut Out) {
    if ctx.argv.len() == 2 {
        return command(ctx, out);
    }
    out.array(ctx.argv.len() - 2);
    for name in &ctx.argv[2..] {
        match find(name) {
            Some(c) => write_info(out, c),
            None => out.null_array(),
        }
    }
}

fn write_docs(out: &mut Out, c: &Command) {
    let has_subs = !c.subcommands.is_empty();
    out.map(if has_subs { 5 } else { 4 });
    out.bulk(b"summary");
    out.bulk(c.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(c.since.as_bytes());
    out.bulk(b"group");
    out.bulk(c.group.as_bytes());
    out.bulk(b"complexity");
    out.bulk(c.complexity.as_bytes());
    if has_subs {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in &c.subcommands {
            out.bulk(s.name.as_bytes());
            write_docs(out, s);
        }
    }
}

pub fn command_docs(ctx: &mut Ctx, out: &mut Out) {
    let wanted: Vec<&'static Command> = if ctx.argv.len() == 2 {
        all_commands()
    } else {
        ctx.argv[2..].iter().filter_map(|n| find(n)).collect()
    };
    out.map(wanted.len());
    for c in wanted {
        out.bulk(c.name.as_bytes());
        write_docs(out, c);
    }
}

/// Keys of a full command line, or the error text.
fn keys_of(argv: &[bytes::Bytes]) -> Result<(&'static Command, Vec<usize>), &'static str> {
    let cmd = super::lookup(&argv[0]).ok_or("ERR Invalid command specified")?;
    let cmd = super::resolve(cmd, argv).map_err(|_| "ERR Invalid command specified")?;
    // Redis's order: no key specs at all, then arity, then none found.
    if cmd.keys == KeySpec::None {
        return Err("ERR The command has no key arguments");
    }
    if !cmd.arity_ok(argv.len()) {
        return Err("ERR Invalid number of arguments specified for command");
    }
    let keys = cmd.keys_in(argv);
    if keys.is_empty() && !cmd.has(super::NO_MANDATORY_KEYS) {
        return Err("ERR Invalid arguments specified for command");
    }
    Ok((cmd, keys))
}

pub fn command_getkeys(ctx: &mut Ctx, out: &mut Out) {
    let argv = &ctx.argv[2..];
    match keys_of(argv) {
        Ok((_, keys)) => {
            out.array(keys.len());
            for k in keys {
                out.bulk(&argv[k]);
            }
        }
        Err(e) => out.error(e),
    }
}

pub fn command_getkeysandflags(ctx: &mut Ctx, out: &mut Out) {
    let argv = &ctx.argv[2..];
    match keys_of(argv) {
        Ok((cmd, keys)) => {
            let flags: &[&str] = if cmd.has(WRITE) {
                &["RW", "update"]
            } else {
                &["RO", "access"]
            };
            out.array(keys.len());
            for k in keys {
                out.array(2);
                out.bulk(&argv[k]);
                out.set(flags.len());
                for f in flags {
                    out.simple(f);
                }
            }
        }
        Err(e) => out.error(e),
    }
}

pub fn command_list(ctx: &mut Ctx, out: &mut Out) {
    let all = all_commands();
    let mut names: Vec<&str> = Vec::new();
    let filter = if ctx.argv.len() == 5 && ctx.arg_is(2, "FILTERBY") {
        Some((ctx.arg_str(3).to_ascii_lowercase(), ctx.argv[4].clone()))
    } else if ctx.argv.len() == 2 {
        None
    } else {
        return out.error(crate::error::SYNTAX);
    };
    for c in all {
        for cmd in std::iter::once(c).chain(c.subcommands.iter()) {
            let keep = match &filter {
                None => true,
                Some((kind, value)) => match kind.as_str() {
                    "module" => false,
                    "aclcat" => cmd
                        .acl_categories
                        .iter()
                        .any(|cat| cat.as_bytes().eq_ignore_ascii_case(value)),
                    "pattern" => crate::util::glob_match(value, cmd.name.as_bytes(), true),
                    _ => return out.error(crate::error::SYNTAX),
                },
            };
            if keep {
                names.push(&cmd.name);
            }
        }
    }
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
}

pub fn command_help(_ctx: &mut Ctx, out: &mut Out) {
    help_reply(
        out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )
}
