//! Micro-benchmarks of the RESP request parser (`shoal::protocol::RequestParser`).
//!
//! Run: `cargo bench --bench parser` (add `-- --quick` or
//! `-- --measurement-time 2` for a short run).
//!
//! * `multibulk_pipeline_1000_set`: one read buffer holding 1000 pipelined
//!   `SET key:N value:N` multibulk requests, parsed to the end.
//! * `multibulk_split_reads`: the same stream arriving in 4 KiB reads, the
//!   way the connection loop feeds it (partial requests resumed).
//! * `inline_pipeline_1000_set`: 1000 inline `SET key:N value:N` lines.
//! * `inline_quoted_1000`: inline lines with quoted and escaped arguments.
//! * `scaling/{inline,multibulk}/N`: N = 100, 1000, 10000 pipelined SETs in
//!   one buffer, reported per request: the per-request time must stay flat
//!   as N grows (a scan of the whole remaining buffer per request shows up
//!   here as time growing with N).

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shoal::protocol::{Limits, Parsed, RequestParser};

const LIMITS: Limits = Limits {
    proto_max_bulk_len: 512 * 1024 * 1024,
    authenticated: true,
};
const N: usize = 1000;

fn resp_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn multibulk_stream() -> Vec<u8> {
    multibulk_stream_n(N)
}

fn multibulk_stream_n(n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..n {
        let k = format!("key:{i:06}");
        let v = format!("value:{i:06}");
        resp_command(&mut s, &[b"SET", k.as_bytes(), v.as_bytes()]);
    }
    s
}

fn inline_stream() -> Vec<u8> {
    inline_stream_n(N)
}

fn inline_stream_n(n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..n {
        s.extend_from_slice(format!("SET key:{i:06} value:{i:06}\r\n").as_bytes());
    }
    s
}

fn inline_quoted_stream() -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..N {
        s.extend_from_slice(format!("SET \"key {i}\\x41\\n\" 'it\\'s value {i}'\r\n").as_bytes());
    }
    s
}

/// Parse every request in `buf`; returns how many were parsed.
fn drain(parser: &mut RequestParser, buf: &mut BytesMut) -> usize {
    let mut n = 0;
    loop {
        match parser.next(buf, LIMITS).expect("valid stream") {
            Parsed::Request(argv) => {
                black_box(&argv);
                n += 1;
            }
            Parsed::Incomplete => return n,
        }
    }
}

fn bench_parser(c: &mut Criterion) {
    let mb = multibulk_stream();
    let inl = inline_stream();
    let quoted = inline_quoted_stream();

    // Sanity: every stream yields exactly N requests.
    for s in [&mb, &inl, &quoted] {
        let mut p = RequestParser::new();
        let mut b = BytesMut::from(&s[..]);
        assert_eq!(drain(&mut p, &mut b), N);
        assert!(b.is_empty());
    }

    let mut g = c.benchmark_group("parser");

    g.throughput(Throughput::Bytes(mb.len() as u64));
    g.bench_function("multibulk_pipeline_1000_set", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&mb[..]),
            |buf| {
                let mut p = RequestParser::new();
                assert_eq!(drain(&mut p, buf), N);
            },
            BatchSize::SmallInput,
        )
    });

    g.bench_function("multibulk_split_reads_4k", |b| {
        b.iter(|| {
            let mut p = RequestParser::new();
            let mut buf = BytesMut::with_capacity(16 * 1024);
            let mut n = 0;
            for chunk in mb.chunks(4096) {
                buf.extend_from_slice(chunk);
                n += drain(&mut p, &mut buf);
            }
            assert_eq!(n, N);
        })
    });

    g.throughput(Throughput::Bytes(inl.len() as u64));
    g.bench_function("inline_pipeline_1000_set", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&inl[..]),
            |buf| {
                let mut p = RequestParser::new();
                assert_eq!(drain(&mut p, buf), N);
            },
            BatchSize::SmallInput,
        )
    });

    g.throughput(Throughput::Bytes(quoted.len() as u64));
    g.bench_function("inline_quoted_1000", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&quoted[..]),
            |buf| {
                let mut p = RequestParser::new();
                assert_eq!(drain(&mut p, buf), N);
            },
            BatchSize::SmallInput,
        )
    });

    g.finish();
}

fn bench_scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling");
    for n in [100usize, 1000, 10000] {
        for (name, stream) in [
            ("inline", inline_stream_n(n)),
            ("multibulk", multibulk_stream_n(n)),
        ] {
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(format!("{name}/{n}"), |b| {
                b.iter_batched_ref(
                    || BytesMut::from(&stream[..]),
                    |buf| {
                        let mut p = RequestParser::new();
                        assert_eq!(drain(&mut p, buf), n);
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench_parser, bench_scaling);
criterion_main!(benches);
