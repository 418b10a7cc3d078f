//! The access decision on the request path: a bucket without a policy or
//! grants (the common case, which must cost next to nothing), and a
//! 20-statement policy with conditions (IP ranges, prefixes, dates,
//! headers, TLS) that the request walks to its last statement.
//! `cargo bench --bench access`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringstore::access::principal::derive_canonical_id;
use ringstore::access::{
    decide, AccessRequest, Action, AuthType, BucketAccess, ObjectOwnership, Policy,
    PublicAccessBlock, RequestContext, RequestFacts, Requester, UserIdentity,
};

struct Facts;

impl RequestFacts for Facts {
    fn header(&self, name: &str) -> Option<&str> {
        match name {
            "user-agent" => Some("aws-sdk-rust/1.0 os/linux lang/rust"),
            "referer" => Some("https://www.example.com/gallery"),
            "x-amz-content-sha256" => Some("UNSIGNED-PAYLOAD"),
            _ => None,
        }
    }
    fn query(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Nineteen statements that do not match the request (other principals,
/// prefixes, conditions that fail late) and a last one that allows it.
fn twenty_statements() -> String {
    let mut statements = Vec::new();
    for i in 0..19 {
        statements.push(format!(
            r#"{{"Sid":"s{i}","Effect":"{effect}","Principal":{{"AWS":"arn:aws:iam::{acct:012}:user/u{i}"}},
                "Action":["s3:GetObject","s3:PutObject","s3:List*"],
                "Resource":["arn:aws:s3:::photos/team{i}/*","arn:aws:s3:::photos"],
                "Condition":{{"IpAddress":{{"aws:SourceIp":["10.{i}.0.0/16","192.0.2.0/24"]}},
                              "StringLike":{{"aws:Referer":"https://www.example.com/*"}},
                              "DateLessThan":{{"aws:CurrentTime":"2099-01-01T00:00:00Z"}}}}}}"#,
            effect = if i % 4 == 0 { "Deny" } else { "Allow" },
            acct = 100 + i
        ));
    }
    statements.push(
        r#"{"Sid":"readers","Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::photos/public/*",
            "Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","198.51.100.0/24"]},
                         "Bool":{"aws:SecureTransport":"false"},
                         "StringNotEquals":{"s3:x-amz-content-sha256":"STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
                         "StringLike":{"aws:UserAgent":"aws-sdk-*"}}}"#
            .to_string(),
    );
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn bench_access(c: &mut Criterion) {
    let owner = derive_canonical_id(2);
    let reader = UserIdentity {
        credential_id: 3,
        canonical_id: derive_canonical_id(3),
        user_name: "reader".into(),
        access_key: "READERKEY".into(),
        is_root: false,
    };
    let owner_identity = UserIdentity {
        credential_id: 2,
        canonical_id: owner.clone(),
        user_name: "owner".into(),
        access_key: "OWNERKEY".into(),
        is_root: false,
    };
    let policy = Policy::compile(&twenty_statements(), "photos").expect("policy");
    assert_eq!(policy.statements.len(), 20);
    let facts = Facts;
    let context = RequestContext {
        source_ip: Some("192.0.2.10".parse().expect("ip")),
        secure_transport: false,
        now_millis: 1_704_067_200_000,
        auth_type: AuthType::Header,
        signature_version: Some("AWS4-HMAC-SHA256"),
        signature_age_millis: Some(20),
        facts: &facts,
    };
    let bucket = |policy: Option<&'static Policy>| BucketAccess {
        name: "photos",
        owner_account: 2,
        owner_canonical: Box::leak(owner.clone().into_boxed_str()),
        policy,
        grants: &[],
        ownership: ObjectOwnership::ObjectWriter,
        block: PublicAccessBlock::default(),
    };
    let policy: &'static Policy = Box::leak(Box::new(policy));
    let mut g = c.benchmark_group("access");
    let plain = bucket(None);
    g.bench_function("owner_no_policy", |b| {
        b.iter(|| {
            let req = AccessRequest {
                requester: Requester::User(&owner_identity),
                action: Action::GetObject,
                key: Some(black_box("public/cat.jpg")),
                object_acl: None,
                context: &context,
            };
            black_box(decide(black_box(&plain), &req))
        })
    });
    let with_policy = bucket(Some(policy));
    g.bench_function("policy_20_statements_allow_last", |b| {
        b.iter(|| {
            let req = AccessRequest {
                requester: Requester::User(&reader),
                action: Action::GetObject,
                key: Some(black_box("public/cat.jpg")),
                object_acl: None,
                context: &context,
            };
            let d = decide(black_box(&with_policy), &req);
            debug_assert!(d.allowed());
            black_box(d)
        })
    });
    g.bench_function("policy_20_statements_no_match", |b| {
        b.iter(|| {
            let req = AccessRequest {
                requester: Requester::User(&reader),
                action: Action::PutObject,
                key: Some(black_box("private/cat.jpg")),
                object_acl: None,
                context: &context,
            };
            black_box(decide(black_box(&with_policy), &req))
        })
    });
    g.finish();
    c.bench_function("access/compile_20_statements", |b| {
        let text = twenty_statements();
        b.iter(|| Policy::compile(black_box(&text), "photos").expect("policy"))
    });
}

criterion_group!(benches, bench_access);
criterion_main!(benches);
