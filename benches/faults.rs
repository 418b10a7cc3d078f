//! Fault injection's cost on the request path when its rules match nothing
//! (issue 29): the off check (one `Cell<bool>` read), and a decision over
//! the rules of benches/faults-overhead.sh for a GetObject they do not
//! match, beside one that matches a rule with an every-Nth counter.
//! `cargo bench --bench faults`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringstore::faults::{FaultRules, FaultsCell, RequestFacts};
use ringstore::http::Method;
use ringstore::s3::router::Operation;
use std::time::Instant;

const NO_MATCH: &str = r#"
[[rules]]
id = "nomatch-get"
match = { operations = ["GetObject"], buckets = ["no-such-bucket"], key_prefix = "x/" }
probability = 0.5
action = { error = { code = "SlowDown" } }

[[rules]]
id = "nomatch-put"
match = { operations = ["PutObject"], buckets = ["no-such-bucket"] }
every = 2
action = { latency = { p50_ms = 10, p99_ms = 100 } }

[[rules]]
id = "every-1000th-get"
match = { operations = ["GetObject"], buckets = ["photos"], key_glob = "*.jpg" }
every = 1000
action = { reset = {} }
"#;

fn get(bucket: &str) -> RequestFacts<'_> {
    RequestFacts {
        op: Operation::GetObject,
        method: Method::Get,
        bucket: Some(bucket),
        key: Some("2024/06/holiday/IMG_0042.jpg"),
        access_key: Some("AKIAIOSFODNN7EXAMPLE"),
        size: Some(4096),
        object_body: true,
        request_body: false,
    }
}

fn bench(c: &mut Criterion) {
    let off = FaultsCell::new(None, Instant::now(), 0);
    c.bench_function("faults/off_check", |b| b.iter(|| black_box(&off).is_on()));
    let rules = FaultRules::parse(NO_MATCH).expect("rules");
    let on = FaultsCell::new(Some(&rules), Instant::now(), 0);
    let other = get("other-bucket");
    c.bench_function("faults/decide_no_match", |b| {
        b.iter(|| on.decide(black_box(&other)))
    });
    let photo = get("photos");
    c.bench_function("faults/decide_counted_match", |b| {
        b.iter(|| on.decide(black_box(&photo)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
