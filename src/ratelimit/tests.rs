use super::*;
use std::time::Duration;

fn limit(rate: f64, burst: f64) -> Limit {
    Limit {
        requests_per_sec: rate,
        burst: Some(burst),
        bytes_per_sec: None,
    }
}

fn facts<'a>(ak: &'a str, bucket: &'a str, key: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        access_key: Some(ak),
        bucket: Some(bucket),
        key: Some(key),
    }
}

/// Admitted out of `n` requests spread evenly over `secs` after `t0`.
fn admitted(s: &mut ShardLimits, f: &RequestFacts, t0: Instant, n: u32, secs: f64) -> u32 {
    (0..n)
        .filter(|i| {
            let at = t0 + Duration::from_secs_f64(secs * *i as f64 / n as f64);
            s.check(f, at).is_ok()
        })
        .count() as u32
}

#[test]
fn prefix_is_the_key_up_to_its_depth_th_slash() {
    for (key, depth, want) in [
        ("a/b/c", 1, "a/"),
        ("a/b/c", 2, "a/b/"),
        ("a/b/c", 3, "a/b/"),
        ("file", 1, ""),
        ("/x", 1, "/"),
        ("a//b", 2, "a//"),
    ] {
        assert_eq!(prefix_of(key, depth), want, "{key} at depth {depth}");
    }
}

#[test]
fn a_slice_admits_its_burst_then_its_rate() {
    let t0 = Instant::now();
    let defaults = Defaults {
        credential: Some(limit(100.0, 10.0)),
        ..Defaults::default()
    };
    // Shard 0 of 2: 50/s, burst 5.
    let mut s = ShardLimits::new(defaults, Named::default(), 2, (t0, 0));
    let f = facts("AK", "b", "k");
    assert_eq!(admitted(&mut s, &f, t0, 100, 0.0), 5, "the burst at once");
    // 10 s of 1000 offered requests: 50/s more.
    let n = admitted(&mut s, &f, t0, 1000, 10.0);
    assert!((499..=501).contains(&n), "{n} admitted in 10 s at 50/s");
    assert_eq!(
        s.stats(t0)[Kind::Credential as usize].throttled,
        1100 - 5 - n as u64
    );
    // Another credential has its own bucket.
    assert!(s.check(&facts("AK2", "b", "k"), t0).is_ok());
}

#[test]
fn a_request_over_one_limit_takes_no_token_from_the_others() {
    let t0 = Instant::now();
    let defaults = Defaults {
        credential: Some(limit(10.0, 10.0)),
        ..Defaults::default()
    };
    let named = Named {
        buckets: [("slow".to_string(), limit(1.0, 1.0))].into(),
        ..Named::default()
    };
    let mut s = ShardLimits::new(defaults, named, 1, (t0, 0));
    assert!(s.check(&facts("AK", "slow", "k"), t0).is_ok());
    for _ in 0..20 {
        assert_eq!(s.check(&facts("AK", "slow", "k"), t0), Err(Kind::Bucket));
    }
    // The credential still has 9 of its 10.
    assert_eq!(admitted(&mut s, &facts("AK", "other", "k"), t0, 20, 0.0), 9);
}

#[test]
fn prefixes_of_one_bucket_are_limited_apart() {
    let t0 = Instant::now();
    let defaults = Defaults {
        prefix: Some(limit(3.0, 3.0)),
        prefix_depth: 1,
        ..Defaults::default()
    };
    let mut s = ShardLimits::new(defaults, Named::default(), 1, (t0, 0));
    assert_eq!(admitted(&mut s, &facts("AK", "b", "x/1"), t0, 10, 0.0), 3);
    assert_eq!(admitted(&mut s, &facts("AK", "b", "x/2/3"), t0, 10, 0.0), 0);
    assert_eq!(admitted(&mut s, &facts("AK", "b", "y/1"), t0, 10, 0.0), 3);
    assert_eq!(admitted(&mut s, &facts("AK", "c", "x/1"), t0, 10, 0.0), 3);
    // Bucket-level requests (no key) have no prefix.
    let list = RequestFacts {
        key: None,
        ..facts("AK", "b", "")
    };
    assert!(s.check(&list, t0).is_ok());
    assert_eq!(s.stats(t0)[Kind::Prefix as usize].buckets, 3);
}

#[test]
fn named_limits_replace_the_defaults_and_newest_change_wins() {
    let t0 = Instant::now();
    let cell = LimitsCell::new(Defaults::default(), 1, t0);
    assert!(!cell.is_on());
    assert!(cell.check(&facts("AK", "b", "k")).is_ok());
    let named = Named {
        credentials: [("AK".to_string(), limit(1.0, 1.0))].into(),
        ..Named::default()
    };
    let later = t0 + Duration::from_secs(1);
    assert!(cell.install(named.clone(), (later, 1)));
    assert!(cell.is_on());
    assert!(
        !cell.install(Named::default(), (t0, 0)),
        "an older change loses"
    );
    assert!(cell.check(&facts("AK", "b", "k")).is_ok());
    assert_eq!(cell.check(&facts("AK", "b", "k")), Err(Kind::Credential));
    assert!(cell.check(&facts("OTHER", "b", "k")).is_ok());
    assert!(cell.install(Named::default(), (later + Duration::from_secs(1), 0)));
    assert!(!cell.is_on());
    assert_eq!(cell.listing().1, Named::default());
}

#[test]
fn flag_values_parse_and_bad_ones_name_what_is_wrong() {
    assert_eq!(
        Limit::parse("100").unwrap(),
        Limit {
            requests_per_sec: 100.0,
            burst: None,
            bytes_per_sec: None,
        }
    );
    assert_eq!(Limit::parse("100:20").unwrap(), limit(100.0, 20.0));
    assert!(Limit::parse("abc").unwrap_err().contains("rate `abc`"));
    assert!(Limit::parse("10:x").unwrap_err().contains("burst `x`"));
    assert!(Limit::parse("0").unwrap_err().contains("requests_per_sec"));
    assert!(Limit::parse("5:-1").unwrap_err().contains("burst"));
    assert!(Limit::parse("inf").is_err());
    assert_eq!(
        Limit::parse("100:20,1MiB").unwrap().bytes_per_sec,
        Some(1048576.0)
    );
    assert!(Limit::parse("100,lots")
        .unwrap_err()
        .contains("bytes per second `lots`"));
    assert!(Limit::parse("100,0").unwrap_err().contains("bytes_per_sec"));
}

#[test]
fn bad_admin_input_names_the_field() {
    let bad = [
        (
            r#"{"credentials": {"AK": {"requests_per_sec": -1}}}"#,
            "credentials.AK.requests_per_sec",
        ),
        (
            r#"{"buckets": {"b": {"requests_per_sec": 5, "burst": 0}}}"#,
            "buckets.b.burst",
        ),
        (
            r#"{"buckets": {"b": {"requests_per_sec": "x"}}}"#,
            "buckets.b",
        ),
        (r#"{"buckets": {"b": {"rps": 5}}}"#, "buckets.b"),
        (r#"{"bucket": {}}"#, "bucket: unknown field"),
        (r#"{"credentials": []}"#, "credentials"),
        (r#"[]"#, "JSON object"),
    ];
    for (body, want) in bad {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let err = Named::from_json(&v).unwrap_err();
        assert!(err.contains(want), "{body}: {err} should name {want}");
    }
    let v = serde_json::json!({"credentials": {"AK": {"requests_per_sec": 5}}});
    let named = Named::from_json(&v).unwrap();
    assert_eq!(named.credentials["AK"].burst(), 5.0);
}

#[test]
fn tracked_buckets_stay_bounded() {
    let t0 = Instant::now();
    let defaults = Defaults {
        credential: Some(limit(1.0, 1.0)),
        ..Defaults::default()
    };
    let mut s = ShardLimits::new(defaults, Named::default(), 1, (t0, 0));
    for i in 0..MAX_TRACKED_BUCKETS + 10 {
        let ak = format!("AK{i}");
        let _ = s.check(
            &RequestFacts {
                access_key: Some(&ak),
                ..Default::default()
            },
            t0,
        );
    }
    assert!(s.stats(t0)[0].buckets as usize <= MAX_TRACKED_BUCKETS);
}

#[test]
fn a_shard_whose_peer_is_idle_borrows_its_share_and_the_bound_holds() {
    let t0 = Instant::now();
    let defaults = Defaults {
        credential: Some(limit(100.0, 10.0)),
        ..Defaults::default()
    };
    let mut busy = ShardLimits::new(defaults.clone(), Named::default(), 2, (t0, 0));
    let mut idle = ShardLimits::new(defaults, Named::default(), 2, (t0, 1));
    let f = facts("AK", "b", "k");
    // 500 requests a second for 10 s, all on one shard; every ask answered
    // at once by the idle one.
    let mut ok = 0;
    for i in 0..5000 {
        let at = t0 + Duration::from_secs_f64(10.0 * i as f64 / 5000.0);
        ok += busy.check(&f, at).is_ok() as u32;
        for w in busy.take_wanted() {
            let lent = idle.lend(w.kind, &w.name, at);
            busy.credit(w.kind, &w.name, lent, at);
        }
    }
    // Without lending: 50/s + 5. The bound: 100/s * 10 s + 10.
    assert!((950..=1010).contains(&ok), "{ok} admitted in 10 s");
}

#[test]
fn a_shard_lends_half_of_what_its_own_clients_use() {
    let t0 = Instant::now();
    let defaults = Defaults {
        bucket: Some(limit(100.0, 20.0)),
        ..Defaults::default()
    };
    let mut s = ShardLimits::new(defaults, Named::default(), 2, (t0, 0));
    // Unused: all 10 of its slice's burst.
    assert_eq!(s.lend(Kind::Bucket, "b", t0), 10.0);
    assert!(s
        .check(&facts("AK", "b", "k"), t0 + Duration::from_millis(100))
        .is_ok());
    // Used since: half of what it has (5 refilled, 1 taken).
    assert_eq!(
        s.lend(Kind::Bucket, "b", t0 + Duration::from_millis(100)),
        2.0
    );
    assert_eq!(
        s.lend(Kind::Credential, "AK", t0),
        0.0,
        "no credential limit"
    );
}

#[test]
fn a_byte_limit_refuses_while_in_debt_until_the_refill_repays_it() {
    let t0 = Instant::now();
    let per_sec = Limit {
        bytes_per_sec: Some(1000.0),
        ..limit(100.0, 100.0)
    };
    let named = Named {
        buckets: [("b".to_string(), per_sec)].into(),
        ..Named::default()
    };
    let mut s = ShardLimits::new(Defaults::default(), named, 1, (t0, 0));
    assert!(s.counts_bytes());
    let f = facts("AK", "b", "k");
    assert!(s.check(&f, t0).is_ok());
    s.charge(&f, 3000, t0);
    // 1000 held, 3000 charged: 2000 in debt, repaid after 2 s.
    assert_eq!(
        s.check(&f, t0 + Duration::from_millis(1900)),
        Err(Kind::Bucket)
    );
    assert!(s.check(&f, t0 + Duration::from_millis(2001)).is_ok());
    // Other buckets are not charged.
    s.charge(&facts("AK", "other", "k"), 1 << 30, t0);
    assert!(s.check(&facts("AK", "other", "k"), t0).is_ok());
}

#[test]
fn refusals_are_counted_by_name_only_when_asked_and_boundedly() {
    let t0 = Instant::now();
    let mut defaults = Defaults {
        credential: Some(limit(1.0, 1.0)),
        bucket: Some(limit(1.0, 1.0)),
        prefix: Some(limit(1.0, 1.0)),
        ..Defaults::default()
    };
    let mut off = ShardLimits::new(defaults.clone(), Named::default(), 1, (t0, 0));
    assert_eq!(admitted(&mut off, &facts("AK1", "b1", "k"), t0, 3, 0.0), 1);
    assert!(off.throttled_by_name().is_empty(), "no names unless asked");

    defaults.metric_names = true;
    let mut on = ShardLimits::new(defaults, Named::default(), 1, (t0, 0));
    assert_eq!(admitted(&mut on, &facts("AK1", "b1", "k"), t0, 3, 0.0), 1);
    // A fresh credential on a dry bucket is refused by the bucket's limit;
    // the prefix limit is never named.
    assert_eq!(admitted(&mut on, &facts("AK2", "b1", "k"), t0, 1, 0.0), 0);
    let by_name = on.throttled_by_name();
    assert_eq!(
        by_name,
        vec![
            (Kind::Credential, "AK1".to_string(), 2),
            (Kind::Bucket, "b1".to_string(), 1),
        ]
    );
    assert_eq!(on.throttled[Kind::Credential as usize], 2);
    // Past MAX_METRIC_NAMES names (AK1 is one), refusals go under "": 11.
    for n in 0..MAX_METRIC_NAMES + 10 {
        let ak = format!("K{n}");
        admitted(&mut on, &facts(&ak, &format!("b-{n}"), "k"), t0, 2, 0.0);
    }
    let names = on.throttled_by_name();
    let credentials: Vec<_> = names.iter().filter(|e| e.0 == Kind::Credential).collect();
    assert_eq!(credentials.len(), MAX_METRIC_NAMES + 1);
    assert!(credentials.iter().any(|e| e.1.is_empty() && e.2 == 11));
}
