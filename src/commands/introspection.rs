//! COMMAND and its subcommands: the command table as clients see it
//! (redis-cli reads COMMAND DOCS for hints; cluster clients read key
//! positions from COMMAND).

use super::meta::{self, BeginSearch, FindKeys, KeySpecDef};
use super::{help_reply, table, Command, Ctx, KeySpec, WRITE};
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
    match meta::meta(&c.name) {
        Some(m) => m.tips.write(out),
        None => out.set(0),
    }
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

/// The key specs COMMAND INFO reports: Redis's own (meta.txt), or for a
/// command it lacks, the ones Shoal's key positions imply.
fn key_specs(c: &Command) -> Vec<KeySpecDef> {
    if let Some(m) = meta::meta(&c.name) {
        return m.specs.clone();
    }
    let flags: Vec<String> = if c.has(WRITE) {
        vec!["RW".into(), "update".into()]
    } else {
        vec!["RO".into(), "access".into()]
    };
    let spec = |begin, find| KeySpecDef {
        notes: None,
        flags: flags.clone(),
        begin,
        find,
    };
    let range = |lastkey: i32, keystep: i32| FindKeys::Range {
        lastkey: lastkey as i64,
        keystep: keystep as i64,
        limit: 0,
    };
    match c.keys {
        KeySpec::Range { first, last, step } => vec![spec(
            BeginSearch::Index(first as i64),
            range(if last < 0 { last } else { last - first }, step),
        )],
        KeySpec::Keynum {
            extra_first,
            numkeys_at,
            first_offset,
            step,
        } => {
            let mut v = Vec::new();
            if extra_first > 0 {
                v.push(spec(BeginSearch::Index(extra_first as i64), range(0, 1)));
            }
            v.push(spec(
                BeginSearch::Index(numkeys_at as i64),
                FindKeys::Keynum {
                    keynumidx: 0,
                    firstkey: first_offset as i64,
                    keystep: step as i64,
                },
            ));
            v
        }
        KeySpec::SortStore => vec![spec(BeginSearch::Index(1), range(0, 1))],
        _ => Vec::new(),
    }
}

fn write_key_specs(out: &mut Out, c: &Command) {
    let specs = key_specs(c);
    out.set(specs.len());
    for s in &specs {
        out.map(3 + s.notes.is_some() as usize);
        if let Some(n) = &s.notes {
            out.bulk(b"notes");
            out.bulk(n.as_bytes());
        }
        out.bulk(b"flags");
        out.set(s.flags.len());
        for f in &s.flags {
            out.simple(f);
        }
        let pairs = |out: &mut Out, kind: &str, items: &[(&str, i64)]| {
            out.map(2);
            out.bulk(b"type");
            out.bulk(kind.as_bytes());
            out.bulk(b"spec");
            out.map(items.len());
            for (k, v) in items {
                out.bulk(k.as_bytes());
                out.int(*v);
            }
        };
        out.bulk(b"begin_search");
        match &s.begin {
            BeginSearch::Index(i) => pairs(out, "index", &[("index", *i)]),
            BeginSearch::Keyword { keyword, startfrom } => {
                out.map(2);
                out.bulk(b"type");
                out.bulk(b"keyword");
                out.bulk(b"spec");
                out.map(2);
                out.bulk(b"keyword");
                out.bulk(keyword.as_bytes());
                out.bulk(b"startfrom");
                out.int(*startfrom);
            }
            BeginSearch::Unknown => pairs(out, "unknown", &[]),
        }
        out.bulk(b"find_keys");
        match s.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => pairs(
                out,
                "range",
                &[("lastkey", lastkey), ("keystep", keystep), ("limit", limit)],
            ),
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => pairs(
                out,
                "keynum",
                &[
                    ("keynumidx", keynumidx),
                    ("firstkey", firstkey),
                    ("keystep", keystep),
                ],
            ),
            FindKeys::Unknown => pairs(out, "unknown", &[]),
        }
    }
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
    let subs = |out: &mut Out| {
        out.bulk(b"subcommands");
        out.map(c.subcommands.len());
        for s in &c.subcommands {
            out.bulk(s.name.as_bytes());
            write_docs(out, s);
        }
    };
    if let Some(meta::Node::Map(pairs)) = meta::meta(&c.name).map(|m| &m.docs) {
        out.map(pairs.len() + has_subs as usize);
        for (k, v) in pairs {
            k.write(out);
            v.write(out);
        }
        if has_subs {
            subs(out);
        }
        return;
    }
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
        subs(out);
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

/// Each key with its access flags, as Redis finds them: by the key specs
/// when they can be followed and their flags do not vary with the
/// arguments, otherwise by the command's own key finder with the flags
/// Redis's getkeys functions give (empty for most).
fn flagged_keys(cmd: &Command, argv: &[bytes::Bytes], keys: Vec<usize>) -> Vec<meta::FlaggedKey> {
    let strs = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if let Some(m) = meta::meta(&cmd.name) {
        let varflags = m.specs.iter().any(|s| s.has("variable_flags"));
        let has_keyspec = m.specs.iter().any(|s| !s.has("not_key"));
        if has_keyspec && !varflags {
            if let Some(found) = meta::keys_by_specs(&m.specs, argv, cmd.arity) {
                return found;
            }
        }
    }
    let word = |i: usize, w: &str| argv[i].eq_ignore_ascii_case(w.as_bytes());
    keys.into_iter()
        .enumerate()
        .map(|(n, pos)| {
            let flags: &[&str] = match cmd.name.as_str() {
                "sort" | "sort_ro" if n == 0 => &["RO", "access"],
                "sort" => &["OW", "update"],
                "migrate" => &["RW", "access", "delete"],
                "set" if (3..argv.len()).any(|i| word(i, "get")) => &["RW", "access", "update"],
                "set" => &["OW", "update"],
                "bitfield" if bitfield_readonly(argv) => &["RO", "access"],
                "bitfield" => &["RW", "access", "update"],
                _ => &[],
            };
            (pos, strs(flags))
        })
        .collect()
}

/// BITFIELD only reads when every operation is a GET (OVERFLOW aside).
pub(crate) fn bitfield_readonly(argv: &[bytes::Bytes]) -> bool {
    let mut i = 2;
    while i < argv.len() {
        let rem = argv.len() - i - 1;
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

pub fn command_getkeysandflags(ctx: &mut Ctx, out: &mut Out) {
    let argv = &ctx.argv[2..];
    match keys_of(argv) {
        Ok((cmd, keys)) => {
            let keys = flagged_keys(cmd, argv, keys);
            out.array(keys.len());
            for (k, flags) in keys {
                out.array(2);
                out.bulk(&argv[k]);
                out.set(flags.len());
                for f in flags {
                    out.simple(&f);
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
