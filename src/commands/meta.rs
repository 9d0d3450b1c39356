//! Redis 7.0's per-command metadata beyond the command table: tips, key
//! specs (with their access flags) and documentation (complexity, history,
//! arguments...). COMMAND INFO / COMMAND DOCS report it, redis-cli builds
//! its hints from the arguments, and COMMAND GETKEYSANDFLAGS reads the key
//! specs' flags. The data is in meta.txt (regenerated from a reference
//! server by scripts/gen-command-meta.py); its notation is described there.

use crate::protocol::Out;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A typed reply value, written back as RESP2 or RESP3.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<(Node, Node)>),
    Array(Vec<Node>),
    Set(Vec<Node>),
    Int(i64),
    Simple(String),
    Bulk(String),
    Null,
}

impl Node {
    pub fn write(&self, out: &mut Out) {
        match self {
            Node::Map(pairs) => {
                out.map(pairs.len());
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
            Node::Array(items) => {
                out.array(items.len());
                items.iter().for_each(|i| i.write(out));
            }
            Node::Set(items) => {
                out.set(items.len());
                items.iter().for_each(|i| i.write(out));
            }
            Node::Int(n) => out.int(*n),
            Node::Simple(s) => out.simple(s),
            Node::Bulk(s) => out.bulk(s.as_bytes()),
            Node::Null => out.null(),
        }
    }

    /// The value of `key` in a map.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.text() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Node::Simple(s) | Node::Bulk(s) => Some(s),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Node::Int(n) => Some(*n),
            _ => None,
        }
    }

    fn items(&self) -> &[Node] {
        match self {
            Node::Array(v) | Node::Set(v) => v,
            _ => &[],
        }
    }
}

/// Where a key spec's search starts.
#[derive(Debug, Clone, PartialEq)]
pub enum BeginSearch {
    Index(i64),
    Keyword { keyword: String, startfrom: i64 },
    Unknown,
}

/// How a key spec finds its keys once the search began.
#[derive(Debug, Clone, PartialEq)]
pub enum FindKeys {
    Range {
        lastkey: i64,
        keystep: i64,
        limit: i64,
    },
    Keynum {
        keynumidx: i64,
        firstkey: i64,
        keystep: i64,
    },
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeySpecDef {
    pub notes: Option<String>,
    /// RO, RW, OW, RM, access, update, insert, delete, not_key, incomplete,
    /// variable_flags, in Redis's order.
    pub flags: Vec<String>,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

impl KeySpecDef {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

pub struct Meta {
    pub tips: Node,
    /// The key specs as COMMAND INFO writes them.
    pub specs_node: Node,
    pub specs: Vec<KeySpecDef>,
    /// COMMAND DOCS's map, without "subcommands" (those come from the table).
    pub docs: Node,
}

static META: OnceLock<HashMap<String, Meta>> = OnceLock::new();

/// The metadata of "name" or "parent|sub" (lower case).
pub fn meta(name: &str) -> Option<&'static Meta> {
    META.get_or_init(|| parse_all(include_str!("meta.txt")))
        .get(name)
}

fn parse_all(text: &str) -> HashMap<String, Meta> {
    let mut all = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let name = fields.next().expect("meta.txt: name");
        let mut next = || parse_value(fields.next().expect("meta.txt: field"));
        let tips = next();
        let specs_node = next();
        let docs = next();
        let specs = specs_node.items().iter().map(spec_of).collect();
        all.insert(
            name.to_string(),
            Meta {
                tips,
                specs_node,
                specs,
                docs,
            },
        );
    }
    all
}

fn spec_of(node: &Node) -> KeySpecDef {
    let flags = node
        .get("flags")
        .map(|f| {
            f.items()
                .iter()
                .filter_map(|i| i.text().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let spec = |part: &str| -> (&str, Node) {
        let p = node.get(part);
        let kind = p
            .and_then(|p| p.get("type"))
            .and_then(Node::text)
            .unwrap_or("unknown");
        (
            kind,
            p.and_then(|p| p.get("spec")).cloned().unwrap_or(Node::Null),
        )
    };
    let num = |s: &Node, k: &str| s.get(k).and_then(Node::int).unwrap_or(0);
    let (bs_kind, bs) = spec("begin_search");
    let begin = match bs_kind {
        "index" => BeginSearch::Index(num(&bs, "index")),
        "keyword" => BeginSearch::Keyword {
            keyword: bs
                .get("keyword")
                .and_then(Node::text)
                .unwrap_or("")
                .to_string(),
            startfrom: num(&bs, "startfrom"),
        },
        _ => BeginSearch::Unknown,
    };
    let (fk_kind, fk) = spec("find_keys");
    let find = match fk_kind {
        "range" => FindKeys::Range {
            lastkey: num(&fk, "lastkey"),
            keystep: num(&fk, "keystep"),
            limit: num(&fk, "limit"),
        },
        "keynum" => FindKeys::Keynum {
            keynumidx: num(&fk, "keynumidx"),
            firstkey: num(&fk, "firstkey"),
            keystep: num(&fk, "keystep"),
        },
        _ => FindKeys::Unknown,
    };
    let notes = node.get("notes").and_then(Node::text).map(str::to_string);
    KeySpecDef {
        notes,
        flags,
        begin,
        find,
    }
}

/// Parse one value of meta.txt's notation.
pub fn parse_value(text: &str) -> Node {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value();
    assert!(p.i >= p.s.len(), "meta.txt: trailing input in {text:.60}");
    v
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn word(&mut self) -> &str {
        while self.s.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b' ' {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).expect("meta.txt: utf8")
    }

    fn count(word: &str) -> usize {
        word[1..].parse().expect("meta.txt: count")
    }

    fn value(&mut self) -> Node {
        while self.s.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        if self.s.get(self.i) == Some(&b'"') {
            return Node::Bulk(self.quoted());
        }
        let w = self.word().to_string();
        match w.as_bytes().first() {
            Some(b'%') => {
                let n = Self::count(&w);
                Node::Map((0..n).map(|_| (self.value(), self.value())).collect())
            }
            Some(b'*') => Node::Array((0..Self::count(&w)).map(|_| self.value()).collect()),
            Some(b'~') => Node::Set((0..Self::count(&w)).map(|_| self.value()).collect()),
            Some(b':') => Node::Int(w[1..].parse().expect("meta.txt: int")),
            Some(b'+') => Node::Simple(w[1..].to_string()),
            Some(b'_') => Node::Null,
            _ => panic!("meta.txt: unexpected token {w}"),
        }
    }

    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while self.s[self.i] != b'"' {
            let c = self.s[self.i];
            if c == b'\\' {
                self.i += 1;
                out.push(match self.s[self.i] {
                    b'n' => b'\n',
                    b't' => b'\t',
                    other => other,
                });
            } else {
                out.push(c);
            }
            self.i += 1;
        }
        self.i += 1;
        String::from_utf8(out).expect("meta.txt: utf8")
    }
}

/// A key found in a command line, with its spec's flags.
pub type FlaggedKey = (usize, Vec<String>);

/// Redis's key-spec walk (getKeysUsingKeySpecs): the keys every spec
/// finds in `argv`, skipping not_key specs. None when a spec cannot be
/// followed (unknown or incomplete, a bad numkeys): the caller then uses
/// the command's own key finder, as Redis falls back to getkeys_proc.
pub fn keys_by_specs(specs: &[KeySpecDef], argv: &[Bytes], arity: i32) -> Option<Vec<FlaggedKey>> {
    let argc = argv.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.has("not_key") {
            continue;
        }
        let mut first = match &spec.begin {
            BeginSearch::Index(pos) => *pos,
            BeginSearch::Keyword { keyword, startfrom } => {
                let (start, end) = if *startfrom > 0 {
                    (*startfrom, argc - 1)
                } else {
                    (argc + startfrom, 1)
                };
                let mut i = start;
                let mut found = 0;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match spec.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                if keynumidx >= argc {
                    return None;
                }
                let n = argv
                    .get((first + keynumidx) as usize)
                    .and_then(|a| crate::util::parse_i64(a))
                    .filter(|n| *n >= 0)?;
                first += firstkey;
                (first + n - 1, keystep)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            if i >= argc || i < first {
                if arity < 0 {
                    i += step.max(1);
                    continue;
                }
                return None;
            }
            out.push((i as usize, spec.flags.clone()));
            i += step.max(1);
        }
        if spec.has("incomplete") {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &str) -> Vec<Bytes> {
        words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn notation_round_trips_types() {
        let v = parse_value(r#"%2 "a" ~2 +RW +access "b" *2 :-1 "x \"q\"\\n""#);
        assert_eq!(
            v.get("a"),
            Some(&Node::Set(vec![
                Node::Simple("RW".into()),
                Node::Simple("access".into())
            ]))
        );
        assert_eq!(
            v.get("b"),
            Some(&Node::Array(vec![
                Node::Int(-1),
                Node::Bulk("x \"q\"\\n".into())
            ]))
        );
    }

    #[test]
    fn every_line_parses() {
        let m = meta("lmove").expect("lmove");
        assert_eq!(m.specs.len(), 2);
        assert_eq!(m.specs[0].flags, ["RW", "access", "delete"]);
        assert_eq!(m.specs[1].flags, ["RW", "insert"]);
        assert!(meta("config|get").is_some());
    }

    #[test]
    fn spec_walk_matches_redis() {
        let m = meta("lmove").unwrap();
        let keys = keys_by_specs(&m.specs, &argv("LMOVE k1 k2 left right"), 5).unwrap();
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 2]);
        let m = meta("mset").unwrap();
        let keys = keys_by_specs(&m.specs, &argv("mset a 1 b 2"), -3).unwrap();
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 3]);
        let m = meta("zunionstore").unwrap();
        let keys = keys_by_specs(&m.specs, &argv("zunionstore d 2 a b"), -4).unwrap();
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 3, 4]);
        let m = meta("xread").unwrap();
        let keys = keys_by_specs(&m.specs, &argv("xread count 1 streams a b 0 0"), -4).unwrap();
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), [4, 5]);
        // SORT's STORE spec is unknown: the command's own finder answers.
        let m = meta("sort").unwrap();
        assert!(keys_by_specs(&m.specs, &argv("sort k store d"), -2).is_none());
    }
}
