//! Micro-benchmarks of the slot-partitioned keyspace
//! (`shoal::keyspace::Keyspace` → `Db::lock_key` → `SlotGuard::insert/get`),
//! the path every SET and GET takes, without the network or the parser.
//!
//! Run: `cargo bench --bench keyspace` (add `-- --quick` or
//! `-- --measurement-time 2` for a short run).
//!
//! * `insert_100k_new`: 100,000 distinct keys into an empty database
//!   (table growth included; the keyspace is built in setup and dropped
//!   outside the timing).
//! * `overwrite_100k`: SET over 100,000 existing keys.
//! * `get_100k_hit`: GET of 100,000 existing keys.
//! * `get_100k_miss`: GET of 100,000 absent keys.
//! * `get_100k_hit_with_ttl`: GET when the slots hold volatile keys, so the
//!   lazy-expire check does a real lookup.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shoal::keyspace::{Entry, Keyspace, StrVal, Value};

const N: usize = 100_000;

fn keys(prefix: &str) -> Vec<Vec<u8>> {
    (0..N)
        .map(|i| format!("{prefix}:{i}").into_bytes())
        .collect()
}

fn entry(i: usize) -> Entry {
    Entry::new(Value::Str(StrVal::from_bytes(format!("v{i}").as_bytes())))
}

fn filled(keys: &[Vec<u8>], ttl_ms: u64) -> Keyspace {
    let ks = Keyspace::new(16);
    let db = ks.db(0);
    for (i, k) in keys.iter().enumerate() {
        let mut e = entry(i);
        if ttl_ms != 0 {
            e.expire_at_ms = shoal::util::now_ms() + ttl_ms;
        }
        db.lock_key(k).insert(k, e, false);
    }
    assert_eq!(db.len(), keys.len() as u64);
    ks
}

fn bench_keyspace(c: &mut Criterion) {
    let ks_keys = keys("key");
    let miss_keys = keys("absent");
    // Values prepared outside the timed loop so allocation of the value is
    // not what is measured (short values are stored inline anyway).
    let values: Vec<Entry> = (0..N).map(entry).collect();

    let mut g = c.benchmark_group("keyspace");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);

    g.bench_function("insert_100k_new", |b| {
        b.iter_batched(
            || (Keyspace::new(16), values.clone()),
            |(ks, vals)| {
                let db = ks.db(0);
                for (k, e) in ks_keys.iter().zip(vals) {
                    db.lock_key(k).insert(k, e, false);
                }
                ks // dropped outside the timing
            },
            BatchSize::PerIteration,
        )
    });

    let ks = filled(&ks_keys, 0);
    g.bench_function("overwrite_100k", |b| {
        b.iter_batched(
            || values.clone(),
            |vals| {
                let db = ks.db(0);
                for (k, e) in ks_keys.iter().zip(vals) {
                    db.lock_key(k).insert(k, e, false);
                }
            },
            BatchSize::PerIteration,
        )
    });

    g.bench_function("get_100k_hit", |b| {
        let db = ks.db(0);
        let now = shoal::util::now_ms();
        b.iter(|| {
            let mut found = 0usize;
            for k in &ks_keys {
                if db.lock_key(k).get(k, now).is_some() {
                    found += 1;
                }
            }
            assert_eq!(black_box(found), N);
        })
    });

    g.bench_function("get_100k_miss", |b| {
        let db = ks.db(0);
        let now = shoal::util::now_ms();
        b.iter(|| {
            let mut found = 0usize;
            for k in &miss_keys {
                if db.lock_key(k).get(k, now).is_some() {
                    found += 1;
                }
            }
            assert_eq!(black_box(found), 0);
        })
    });

    let ks_ttl = filled(&ks_keys, 3_600_000);
    g.bench_function("get_100k_hit_with_ttl", |b| {
        let db = ks_ttl.db(0);
        let now = shoal::util::now_ms();
        b.iter(|| {
            let mut found = 0usize;
            for k in &ks_keys {
                if db.lock_key(k).get(k, now).is_some() {
                    found += 1;
                }
            }
            assert_eq!(black_box(found), N);
        })
    });

    g.finish();
}

criterion_group!(benches, bench_keyspace);
criterion_main!(benches);
