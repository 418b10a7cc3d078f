//! Rate limits' cost on the request path (issue 29): the off check (one
//! `Cell<bool>` read), and a check with credential, bucket and prefix
//! limits set and not reached (the common case on a limited server), with
//! a second credential's named limit among them.
//! `cargo bench --bench ratelimit`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringstore::ratelimit::{Defaults, Limit, LimitsCell, Named, RequestFacts};
use std::time::Instant;

/// High enough that the benchmark never reaches it.
const NEVER_REACHED: Limit = Limit {
    requests_per_sec: 1e9,
    burst: Some(1e9),
    bytes_per_sec: None,
};

fn bench(c: &mut Criterion) {
    let started = Instant::now();
    let get = RequestFacts {
        access_key: Some("AKIAIOSFODNN7EXAMPLE"),
        bucket: Some("photos"),
        key: Some("2024/06/holiday/IMG_0042.jpg"),
    };
    let off = LimitsCell::new(Defaults::default(), 2, started);
    c.bench_function("ratelimit/off_check", |b| {
        b.iter(|| black_box(&off).is_on())
    });

    let credential_only = LimitsCell::new(
        Defaults {
            credential: Some(NEVER_REACHED),
            ..Defaults::default()
        },
        2,
        started,
    );
    c.bench_function("ratelimit/credential_not_reached", |b| {
        b.iter(|| credential_only.check(black_box(&get)))
    });

    let all = LimitsCell::new(
        Defaults {
            credential: Some(NEVER_REACHED),
            bucket: Some(NEVER_REACHED),
            prefix: Some(NEVER_REACHED),
            prefix_depth: 1,
            metric_names: false,
        },
        2,
        started,
    );
    let named = Named {
        credentials: [("AKIAOTHER".to_string(), NEVER_REACHED)].into(),
        buckets: [("photos".to_string(), NEVER_REACHED)].into(),
    };
    assert!(all.install(named, (Instant::now(), 1)));
    c.bench_function("ratelimit/all_kinds_not_reached", |b| {
        b.iter(|| all.check(black_box(&get)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
