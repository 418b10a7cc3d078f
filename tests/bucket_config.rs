//! Bucket sub-resources through aws-sdk-s3: ACLs and the anonymous access
//! they grant, versioning state and ListObjectVersions, bucket tags, CORS
//! (rules, browser preflights, headers on answers), and the configurations
//! a bucket here never has (logging, lifecycle).

mod common;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, BucketVersioningStatus, Delete, Grant, Grantee,
    ObjectIdentifier, Owner, Permission, Tag, Tagging, Type, VersioningConfiguration,
};
use common::{read_response, rt, s3_client, Server};
use std::io::{BufReader, Write};
use std::time::Duration;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// An unsigned request (no credentials at all), with `headers`.
fn unsigned(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> common::RawResponse {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    read_response(&mut BufReader::new(s), method == "HEAD").expect("response")
}

/// An unsigned request's status and body.
fn anonymous(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let r = unsigned(port, method, path, &[], body);
    (r.status, r.body)
}

/// Creates `bucket` holding `key` with `body`.
async fn bucket_with_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create");
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .expect("put");
}

fn error_code<E: ProvideErrorMetadata>(e: &aws_sdk_s3::error::SdkError<E>) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<no service error>")
        .to_string()
}

/// The bucket ACL's grants as (group URI or "owner", permission), sorted.
async fn grants_of(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String)> {
    let acl = s3
        .get_bucket_acl()
        .bucket(bucket)
        .send()
        .await
        .expect("get acl");
    let owner_id = acl
        .owner()
        .and_then(|o| o.id())
        .expect("owner id")
        .to_string();
    let mut grants: Vec<(String, String)> = acl
        .grants()
        .iter()
        .map(|g| {
            let grantee = g.grantee().expect("grantee");
            let who = match (grantee.uri(), grantee.id()) {
                (Some(uri), None) => uri.to_string(),
                (None, Some(id)) if id == owner_id => "owner".to_string(),
                other => panic!("unexpected grantee {other:?}"),
            };
            let permission = g.permission().expect("permission").as_str().to_string();
            (who, permission)
        })
        .collect();
    grants.sort();
    grants
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn bucket_acls_grant_what_they_say_and_survive_restart() {
    let mut server = Server::start(2);
    let port = server.port;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        // New buckets have ACLs disabled (BucketOwnerEnforced, S3's default):
        // a bucket ACL granting others is refused, at creation or after.
        let refused = s3
            .create_bucket()
            .bucket("enforced")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .expect_err("public-read with ACLs disabled");
        assert_eq!(error_code(&refused), "InvalidBucketAclWithObjectOwnership");
        bucket_with_object(&s3, "enforced", "k", b"x").await;
        let refused = s3
            .put_bucket_acl()
            .bucket("enforced")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .expect_err("public-read with ACLs disabled");
        assert_eq!(error_code(&refused), "AccessControlListNotSupported");
        assert_eq!(anonymous(port, "GET", "/enforced?list-type=2", b"").0, 403);
        // A missing bucket is NoSuchBucket, to anonymous requests too.
        assert_eq!(anonymous(port, "GET", "/no-such-bucket/k", b"").0, 404);
        s3.create_bucket()
            .bucket("acl")
            .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
            .send()
            .await
            .expect("create with ACLs enabled");
        s3.put_object()
            .bucket("acl")
            .key("k")
            .body(ByteStream::from_static(b"public bytes"))
            .send()
            .await
            .expect("put");
        // Private: only the owner.
        assert_eq!(
            grants_of(&s3, "acl").await,
            pairs(&[("owner", "FULL_CONTROL")])
        );
        assert_eq!(anonymous(port, "GET", "/acl/k", b"").0, 403);
        // Policy status is about the bucket policy, and there is none.
        let status = s3
            .get_bucket_policy_status()
            .bucket("acl")
            .send()
            .await
            .expect_err("no policy");
        assert_eq!(error_code(&status), "NoSuchBucketPolicy");

        // public-read: anyone lists, nobody anonymous writes.
        s3.put_bucket_acl()
            .bucket("acl")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .expect("public-read");
        assert_eq!(
            grants_of(&s3, "acl").await,
            pairs(&[("owner", "FULL_CONTROL"), (ALL_USERS, "READ")])
        );
        // The bucket is public-read: anyone lists it, but the object keeps
        // its own (private) ACL.
        assert_eq!(anonymous(port, "GET", "/acl?list-type=2", b"").0, 200);
        assert_eq!(anonymous(port, "GET", "/acl/k", b"").0, 403);
        assert_eq!(anonymous(port, "PUT", "/acl/anon", b"x").0, 403);
        let object_acl = s3
            .get_object_acl()
            .bucket("acl")
            .key("k")
            .send()
            .await
            .expect("object acl");
        assert_eq!(object_acl.grants().len(), 1);
        let missing = s3
            .get_object_acl()
            .bucket("acl")
            .key("missing")
            .send()
            .await
            .expect_err("no such object");
        assert_eq!(error_code(&missing), "NoSuchKey");

        // public-read-write: anonymous writes land.
        s3.put_bucket_acl()
            .bucket("acl")
            .acl(BucketCannedAcl::PublicReadWrite)
            .send()
            .await
            .expect("public-read-write");
        assert_eq!(anonymous(port, "PUT", "/acl/anon", b"from anyone").0, 200);
        assert_eq!(common::get_bytes(&s3, "acl", "anon").await, b"from anyone");

        // An AccessControlPolicy body equal to a canned ACL is that ACL.
        let owner_id = s3
            .get_bucket_acl()
            .bucket("acl")
            .send()
            .await
            .expect("acl")
            .owner()
            .and_then(|o| o.id())
            .expect("owner id")
            .to_string();
        let grant = |grantee: Grantee, permission: Permission| {
            Grant::builder()
                .grantee(grantee)
                .permission(permission)
                .build()
        };
        let owner_grant = grant(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(&owner_id)
                .build()
                .expect("grantee"),
            Permission::FullControl,
        );
        let authenticated = grant(
            Grantee::builder()
                .r#type(Type::Group)
                .uri(AUTHENTICATED_USERS)
                .build()
                .expect("grantee"),
            Permission::Read,
        );
        let policy = |grants: Vec<Grant>| {
            AccessControlPolicy::builder()
                .owner(Owner::builder().id(&owner_id).build())
                .set_grants(Some(grants))
                .build()
        };
        s3.put_bucket_acl()
            .bucket("acl")
            .access_control_policy(policy(vec![owner_grant.clone(), authenticated]))
            .send()
            .await
            .expect("authenticated-read by grants");
        assert_eq!(
            grants_of(&s3, "acl").await,
            pairs(&[("owner", "FULL_CONTROL"), (AUTHENTICATED_USERS, "READ")])
        );
        assert_eq!(anonymous(port, "GET", "/acl/k", b"").0, 403);

        // A grant to an id no credential has is refused, and changes nothing.
        let stranger = grant(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id("0123456789abcdef".repeat(4))
                .build()
                .expect("grantee"),
            Permission::Read,
        );
        let refused = s3
            .put_bucket_acl()
            .bucket("acl")
            .access_control_policy(policy(vec![owner_grant, stranger]))
            .send()
            .await
            .expect_err("a grant to nobody");
        assert_eq!(error_code(&refused), "InvalidArgument");
        assert_eq!(
            grants_of(&s3, "acl").await,
            pairs(&[("owner", "FULL_CONTROL"), (AUTHENTICATED_USERS, "READ")]),
            "a refused change leaves the ACL as it was"
        );
        // Grant headers set exactly the grants they name.
        s3.put_bucket_acl()
            .bucket("acl")
            .grant_read(format!("uri=\"{ALL_USERS}\""))
            .grant_full_control(format!("id=\"{owner_id}\""))
            .send()
            .await
            .expect("grant headers");
        assert_eq!(
            grants_of(&s3, "acl").await,
            pairs(&[("owner", "FULL_CONTROL"), (ALL_USERS, "READ")])
        );
        // Objects have no ACL of their own yet: a public one is refused
        // (never stored and ignored), and the object stays private.
        let refused = s3
            .put_object_acl()
            .bucket("acl")
            .key("k")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .send()
            .await
            .expect_err("object ACLs are not stored");
        assert_eq!(error_code(&refused), "NotImplemented");
        assert_eq!(anonymous(port, "GET", "/acl/k", b"").0, 403);
        let missing = s3
            .put_object_acl()
            .bucket("acl")
            .key("no-such-key")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::AuthenticatedRead)
            .send()
            .await
            .expect_err("no such key");
        assert_eq!(error_code(&missing), "NoSuchKey");
        s3.put_bucket_acl()
            .bucket("acl")
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await
            .expect("public-read again");
    });
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        assert_eq!(
            grants_of(&s3, "acl").await,
            pairs(&[("owner", "FULL_CONTROL"), (ALL_USERS, "READ")]),
            "the ACL is in the catalog"
        );
        assert_eq!(
            anonymous(server.port, "GET", "/acl?list-type=2", b"").0,
            200
        );
        assert_eq!(anonymous(server.port, "GET", "/acl/k", b"").0, 403);
        // Only the owner reads or changes an ACL.
        assert_eq!(anonymous(server.port, "GET", "/acl?acl", b"").0, 403);
    });
}

#[test]
fn versioning_state_and_object_versions() {
    let mut server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("ver")
            .send()
            .await
            .expect("create");
        let v = s3
            .get_bucket_versioning()
            .bucket("ver")
            .send()
            .await
            .expect("versioning");
        assert_eq!(v.status(), None, "never configured");
        let set = |status: BucketVersioningStatus| {
            s3.put_bucket_versioning()
                .bucket("ver")
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
        };
        set(BucketVersioningStatus::Suspended)
            .await
            .expect("suspend");
        let v = s3
            .get_bucket_versioning()
            .bucket("ver")
            .send()
            .await
            .expect("versioning");
        assert_eq!(v.status(), Some(&BucketVersioningStatus::Suspended));

        let keys = ["a", "b", "d/1", "d/2", "e"];
        for k in keys {
            let put = s3
                .put_object()
                .bucket("ver")
                .key(k)
                .body(ByteStream::from(k.as_bytes().to_vec()))
                .send()
                .await
                .expect("put");
            // Suspended: every write is its key's null version, and S3
            // names no version in the answer.
            assert_eq!(put.version_id(), None);
        }
        // Paged two at a time: every key once, each its only (null, latest) version.
        let mut seen = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = s3
                .list_object_versions()
                .bucket("ver")
                .max_keys(2)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .expect("list versions");
            for v in page.versions() {
                assert_eq!(v.version_id(), Some("null"));
                assert_eq!(v.is_latest(), Some(true));
                assert_eq!(v.size(), Some(v.key().expect("key").len() as i64));
                assert!(v.owner().and_then(|o| o.id()).is_some());
                seen.push(v.key().expect("key").to_string());
            }
            assert!(page.delete_markers().is_empty());
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            assert_eq!(version_marker.as_deref(), Some("null"));
        }
        assert_eq!(seen, keys);
        let rolled = s3
            .list_object_versions()
            .bucket("ver")
            .delimiter("/")
            .send()
            .await
            .expect("with delimiter");
        let listed: Vec<&str> = rolled.versions().iter().filter_map(|v| v.key()).collect();
        assert_eq!(listed, ["a", "b", "e"]);
        let prefixes: Vec<&str> = rolled
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(prefixes, ["d/"]);
        let bad = s3
            .list_object_versions()
            .bucket("ver")
            .version_id_marker("null")
            .send()
            .await
            .expect_err("version marker without key marker");
        assert_eq!(error_code(&bad), "InvalidArgument");

        // The null version is the object; no other version id exists.
        let got = s3
            .get_object()
            .bucket("ver")
            .key("a")
            .version_id("null")
            .send()
            .await
            .expect("get null version");
        assert_eq!(got.version_id(), Some("null"));
        assert_eq!(
            got.body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .as_ref(),
            b"a"
        );
        let bad = s3
            .get_object()
            .bucket("ver")
            .key("a")
            .version_id("3HL4kqtJlcpXroDTDmJ")
            .send()
            .await
            .expect_err("unknown version");
        assert_eq!(error_code(&bad), "InvalidArgument");
        let deleted = s3
            .delete_object()
            .bucket("ver")
            .key("a")
            .version_id("null")
            .send()
            .await
            .expect("delete null version");
        assert_eq!(deleted.version_id(), Some("null"));
        // DeleteObjects with version ids, as tools that empty a bucket send them.
        let id = |k: &str, v: &str| {
            ObjectIdentifier::builder()
                .key(k)
                .version_id(v)
                .build()
                .expect("id")
        };
        let out = s3
            .delete_objects()
            .bucket("ver")
            .delete(
                Delete::builder()
                    .objects(id("b", "null"))
                    .objects(id("e", "not-a-version"))
                    .build()
                    .expect("delete"),
            )
            .send()
            .await
            .expect("delete objects");
        let deleted: Vec<(Option<&str>, Option<&str>)> = out
            .deleted()
            .iter()
            .map(|d| (d.key(), d.version_id()))
            .collect();
        assert_eq!(deleted, [(Some("b"), Some("null"))]);
        let errors: Vec<(Option<&str>, Option<&str>)> =
            out.errors().iter().map(|e| (e.key(), e.code())).collect();
        assert_eq!(errors, [(Some("e"), Some("InvalidArgument"))]);
        let left: Vec<String> = s3
            .list_object_versions()
            .bucket("ver")
            .send()
            .await
            .expect("list")
            .versions()
            .iter()
            .filter_map(|v| v.key().map(str::to_string))
            .collect();
        assert_eq!(left, ["d/1", "d/2", "e"]);
    });
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let v = s3
            .get_bucket_versioning()
            .bucket("ver")
            .send()
            .await
            .expect("versioning");
        assert_eq!(v.status(), Some(&BucketVersioningStatus::Suspended));
    });
}

#[test]
fn bucket_tags_and_unset_configurations() {
    let mut server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("cfg")
            .send()
            .await
            .expect("create");
        let none = s3
            .get_bucket_tagging()
            .bucket("cfg")
            .send()
            .await
            .expect_err("no tags yet");
        assert_eq!(error_code(&none), "NoSuchTagSet");
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().expect("tag");
        s3.put_bucket_tagging()
            .bucket("cfg")
            .tagging(
                Tagging::builder()
                    .tag_set(tag("team", "storage"))
                    .tag_set(tag("cost center", "42 & up"))
                    .build()
                    .expect("tagging"),
            )
            .send()
            .await
            .expect("put tags");
        let mut too_many = Tagging::builder();
        for i in 0..51 {
            too_many = too_many.tag_set(tag(&format!("k{i}"), "v"));
        }
        let refused = s3
            .put_bucket_tagging()
            .bucket("cfg")
            .tagging(too_many.build().expect("tagging"))
            .send()
            .await
            .expect_err("51 tags");
        assert_eq!(error_code(&refused), "InvalidTag");

        let logging = s3
            .get_bucket_logging()
            .bucket("cfg")
            .send()
            .await
            .expect("logging");
        assert!(logging.logging_enabled().is_none());
        let lifecycle = s3
            .get_bucket_lifecycle_configuration()
            .bucket("cfg")
            .send()
            .await
            .expect_err("no lifecycle");
        assert_eq!(error_code(&lifecycle), "NoSuchLifecycleConfiguration");
        s3.delete_bucket_lifecycle()
            .bucket("cfg")
            .send()
            .await
            .expect("delete lifecycle");
        let cors = s3
            .get_bucket_cors()
            .bucket("cfg")
            .send()
            .await
            .expect_err("no cors");
        assert_eq!(error_code(&cors), "NoSuchCORSConfiguration");
        s3.delete_bucket_cors()
            .bucket("cfg")
            .send()
            .await
            .expect("delete cors");
        // Configurations no bucket here can have read as S3 reads them unset.
        macro_rules! unset {
            ($call:ident, $code:literal) => {
                let e = s3
                    .$call()
                    .bucket("cfg")
                    .send()
                    .await
                    .expect_err(stringify!($call));
                assert_eq!(error_code(&e), $code, stringify!($call));
            };
        }
        unset!(get_bucket_policy, "NoSuchBucketPolicy");
        unset!(
            get_bucket_encryption,
            "ServerSideEncryptionConfigurationNotFoundError"
        );
        unset!(
            get_public_access_block,
            "NoSuchPublicAccessBlockConfiguration"
        );
        // New buckets get S3's default ownership controls, as S3's do.
        let own = s3
            .get_bucket_ownership_controls()
            .bucket("cfg")
            .send()
            .await
            .expect("ownership controls");
        let rules = own.ownership_controls().map(|c| c.rules()).unwrap_or(&[]);
        assert_eq!(
            rules.first().map(|r| r.object_ownership().as_str()),
            Some("BucketOwnerEnforced")
        );
        s3.delete_bucket_ownership_controls()
            .bucket("cfg")
            .send()
            .await
            .expect("delete ownership controls");
        unset!(
            get_bucket_ownership_controls,
            "OwnershipControlsNotFoundError"
        );
        unset!(get_bucket_website, "NoSuchWebsiteConfiguration");
        unset!(
            get_bucket_replication,
            "ReplicationConfigurationNotFoundError"
        );
        unset!(
            get_object_lock_configuration,
            "ObjectLockConfigurationNotFoundError"
        );
        let n = s3
            .get_bucket_notification_configuration()
            .bucket("cfg")
            .send()
            .await
            .expect("notifications");
        assert!(n.topic_configurations().is_empty() && n.queue_configurations().is_empty());
        let pay = s3
            .get_bucket_request_payment()
            .bucket("cfg")
            .send()
            .await
            .expect("request payment");
        assert_eq!(pay.payer().map(|p| p.as_str()), Some("BucketOwner"));
        let acc = s3
            .get_bucket_accelerate_configuration()
            .bucket("cfg")
            .send()
            .await
            .expect("accelerate");
        assert!(acc.status().is_none());
        let refused = s3
            .put_bucket_policy()
            .bucket("cfg")
            .policy("{}")
            .send()
            .await
            .expect_err("a policy without statements");
        assert_eq!(error_code(&refused), "MalformedPolicy");
        let missing = s3
            .get_bucket_tagging()
            .bucket("no-such-bucket")
            .send()
            .await
            .expect_err("no bucket");
        assert_eq!(error_code(&missing), "NoSuchBucket");
    });
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let tags = s3
            .get_bucket_tagging()
            .bucket("cfg")
            .send()
            .await
            .expect("tags after restart");
        let got: Vec<(&str, &str)> = tags
            .tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect();
        assert_eq!(got, [("team", "storage"), ("cost center", "42 & up")]);
        s3.delete_bucket_tagging()
            .bucket("cfg")
            .send()
            .await
            .expect("delete tags");
        let none = s3
            .get_bucket_tagging()
            .bucket("cfg")
            .send()
            .await
            .expect_err("tags deleted");
        assert_eq!(error_code(&none), "NoSuchTagSet");
    });
}

/// A browser's preflight for `method` with `headers` from `origin`.
fn preflight(
    port: u16,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> common::RawResponse {
    let mut h = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if !headers.is_empty() {
        h.push(("Access-Control-Request-Headers", headers));
    }
    unsigned(port, "OPTIONS", path, &h, b"")
}

#[test]
fn cors_rules_answer_preflights_and_decorate_answers() {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let mut server = Server::start(2);
    let port = server.port;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        bucket_with_object(&s3, "cors", "k", b"cross-origin").await;
        // No configuration: every preflight is refused.
        let r = preflight(port, "/cors/k", "https://app.example", "GET", "");
        assert_eq!(r.status, 403, "{}", r.body_text());
        assert!(r.body_text().contains("<Code>AccessForbidden</Code>"));

        let app = CorsRule::builder()
            .id("app")
            .allowed_origins("https://app.example")
            .allowed_methods("GET")
            .allowed_methods("PUT")
            .allowed_headers("content-type")
            .allowed_headers("x-amz-*")
            .expose_headers("ETag")
            .max_age_seconds(600)
            .build()
            .expect("rule");
        let anyone = CorsRule::builder()
            .allowed_origins("*")
            .allowed_methods("GET")
            .build()
            .expect("rule");
        s3.put_bucket_cors()
            .bucket("cors")
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(app.clone())
                    .cors_rules(anyone.clone())
                    .build()
                    .expect("config"),
            )
            .send()
            .await
            .expect("put cors");
        let got = s3
            .get_bucket_cors()
            .bucket("cors")
            .send()
            .await
            .expect("get cors");
        assert_eq!(got.cors_rules(), [app.clone(), anyone.clone()]);

        // The first rule allowing origin, method and every header answers.
        let r = preflight(
            port,
            "/cors/k",
            "https://app.example",
            "PUT",
            "content-type, x-amz-date",
        );
        assert_eq!(r.status, 200, "{}", r.body_text());
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, x-amz-date")
        );
        assert_eq!(r.header("access-control-max-age"), Some("600"));
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        let r = preflight(port, "/cors/k", "https://elsewhere.test", "GET", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("access-control-allow-credentials"), None);
        for (origin, method, headers) in [
            ("https://elsewhere.test", "PUT", ""),
            ("https://app.example", "DELETE", ""),
            ("https://app.example", "PUT", "x-custom"),
        ] {
            let r = preflight(port, "/cors/k", origin, method, headers);
            assert_eq!(r.status, 403, "{origin} {method} {headers}");
        }
        let r = unsigned(
            port,
            "OPTIONS",
            "/cors/k",
            &[("Access-Control-Request-Method", "GET")],
            b"",
        );
        assert_eq!(r.status, 400, "no Origin");
        let r = preflight(port, "/cors/k", "https://app.example", "PATCH", "");
        assert_eq!(r.status, 400, "not a CORS method");

        // Answers to cross-origin requests carry the rule's headers.
        let get = |origin: Option<&str>| {
            let mut h = Vec::new();
            if let Some(o) = origin {
                h.push(("origin", o));
            }
            let req = common::signed_request(
                "GET",
                "/cors/k",
                "",
                &format!("127.0.0.1:{port}"),
                b"",
                ringstore::util::time::unix_now(),
                &h,
            );
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(&req).expect("write");
            read_response(&mut BufReader::new(s), false).expect("response")
        };
        let r = get(Some("https://app.example"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"cross-origin");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
        let r = get(None);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("access-control-allow-origin"), None);

        // What S3 refuses in a configuration.
        for (rule, code) in [
            (
                CorsRule::builder()
                    .allowed_origins("*")
                    .allowed_methods("PATCH"),
                "InvalidRequest",
            ),
            (
                CorsRule::builder()
                    .allowed_origins("https://*.*.example")
                    .allowed_methods("GET"),
                "InvalidRequest",
            ),
        ] {
            let bad = s3
                .put_bucket_cors()
                .bucket("cors")
                .cors_configuration(
                    CorsConfiguration::builder()
                        .cors_rules(rule.build().expect("rule"))
                        .build()
                        .expect("config"),
                )
                .send()
                .await
                .expect_err("refused");
            assert_eq!(error_code(&bad), code);
        }
    });
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let r = preflight(server.port, "/cors", "https://app.example", "GET", "");
        assert_eq!(r.status, 200, "rules survive a restart");
        s3.delete_bucket_cors()
            .bucket("cors")
            .send()
            .await
            .expect("delete cors");
        let none = s3
            .get_bucket_cors()
            .bucket("cors")
            .send()
            .await
            .expect_err("deleted");
        assert_eq!(error_code(&none), "NoSuchCORSConfiguration");
        let r = preflight(server.port, "/cors/k", "https://app.example", "GET", "");
        assert_eq!(r.status, 403);
    });
}

/// What S3 answers a preflight before looking at rules, and a preflight on
/// a presigned URL: answered from the rules, never checked as a signature.
#[test]
fn cors_preflights_are_answered_before_authentication_as_s3_answers_them() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let server = Server::start(2);
    let port = server.port;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        bucket_with_object(&s3, "pre", "k", b"presigned").await;
        let body = |r: &common::RawResponse| r.body_text();
        // Before any rule: S3's answers, in S3's order.
        let r = unsigned(port, "OPTIONS", "/no-such-bucket/k", &[], b"");
        assert_eq!(r.status, 400, "Origin is checked first: {}", body(&r));
        assert!(body(&r).contains("Insufficient information. Origin request header needed."));
        let r = preflight(port, "/no-such-bucket/k", "https://app.example", "GET", "");
        assert_eq!(r.status, 403);
        assert!(body(&r).contains("<Message>CORSResponse: Bucket not found</Message>"));
        let r = unsigned(
            port,
            "OPTIONS",
            "/pre/k",
            &[("Origin", "https://app.example")],
            b"",
        );
        assert_eq!(r.status, 403, "{}", body(&r));
        assert!(body(&r).contains("CORSResponse: CORS is not enabled for this bucket."));
        assert!(body(&r).contains("<Method>OPTIONS</Method>"));
        assert!(body(&r).contains("<ResourceType>BUCKET</ResourceType>"));

        let put_url = s3
            .put_object()
            .bucket("pre")
            .key("up load.txt")
            .content_type("text/plain")
            .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).expect("cfg"))
            .await
            .expect("presign")
            .uri()
            .to_string();
        let path_and_query = &put_url[put_url.find("/pre/").expect("path")..];
        let rule = CorsRule::builder()
            .allowed_origins("https://*.example")
            .allowed_methods("PUT")
            .allowed_methods("GET")
            .allowed_headers("Content-Type")
            .expose_headers("ETag")
            .build()
            .expect("rule");
        s3.put_bucket_cors()
            .bucket("pre")
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule)
                    .build()
                    .expect("cfg"),
            )
            .send()
            .await
            .expect("put cors");
        // The preflight of the presigned PUT: allowed, not a signature check.
        let r = preflight(
            port,
            path_and_query,
            "https://app.example",
            "PUT",
            "content-type",
        );
        assert_eq!(r.status, 200, "{}", body(&r));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type")
        );
        assert_eq!(
            r.header("vary"),
            Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
        );
        let r = preflight(
            port,
            path_and_query,
            "https://evil.test",
            "PUT",
            "content-type",
        );
        assert_eq!(r.status, 403, "{}", body(&r));
        assert!(
            body(&r).contains("<Code>AccessForbidden</Code>"),
            "{}",
            body(&r)
        );
        assert!(body(&r).contains("<ResourceType>OBJECT</ResourceType>"));
        let r = unsigned(
            port,
            "OPTIONS",
            "/pre/k",
            &[("Origin", "https://app.example")],
            b"",
        );
        assert_eq!(r.status, 400, "with rules, a missing method is S3's 400");
        assert!(body(&r).contains("Invalid Access-Control-Request-Method: null"));

        // The presigned PUT itself, from the browser's origin: stored, and
        // its answer carries the rule's headers.
        let r = unsigned(
            port,
            "PUT",
            path_and_query,
            &[
                ("Origin", "https://app.example"),
                ("Content-Type", "text/plain"),
            ],
            b"from a browser",
        );
        assert_eq!(r.status, 200, "{}", body(&r));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
        assert_eq!(
            common::get_bytes(&s3, "pre", "up load.txt").await,
            b"from a browser"
        );

        // Error answers carry them too; a rule not allowing the method
        // (or the preflight method an actual request names) gives none.
        let r = unsigned(
            port,
            "GET",
            "/pre/missing",
            &[("Origin", "https://app.example")],
            b"",
        );
        assert_eq!(r.status, 403, "anonymous GET is refused");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        let r = unsigned(
            port,
            "DELETE",
            "/pre/k",
            &[("Origin", "https://app.example")],
            b"",
        );
        assert_eq!(r.header("access-control-allow-origin"), None);
        let r = unsigned(
            port,
            "GET",
            "/pre/k",
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "DELETE"),
            ],
            b"",
        );
        assert_eq!(r.header("access-control-allow-origin"), None);
        let r = unsigned(
            port,
            "GET",
            "/pre/k",
            &[("Origin", "https://other.test")],
            b"",
        );
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), None);
    });
}

/// The sum over shards of a counter in /_admin/metrics.
fn metric(port: u16, name: &str) -> u64 {
    let r = unsigned(port, "GET", "/_admin/metrics", &[], b"");
    assert_eq!(r.status, 200);
    r.body_text()
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn lifecycle_rules_expire_what_they_cover_and_nothing_else() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleAndOperator, LifecycleRuleFilter, Transition, TransitionStorageClass,
    };
    let server = Server::start_with(2, &["--lifecycle-interval-secs", "1"]);
    let port = server.port;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("life")
            .send()
            .await
            .expect("create");
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().expect("tag");
        for (key, tagging) in [
            ("logs/a", None),
            ("logs/b", Some("tmp=1")),
            ("keep/c", None),
            ("tmp/d", Some("tmp=1")),
            ("tmp/e", Some("tmp=0")),
        ] {
            s3.put_object()
                .bucket("life")
                .key(key)
                .set_tagging(tagging.map(str::to_string))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect("put");
        }
        // Long past: 2020-01-01, midnight UTC.
        let past = || {
            LifecycleExpiration::builder()
                .date(DateTime::from_secs(1_577_836_800))
                .build()
        };
        let rules = vec![
            LifecycleRule::builder()
                .id("old-logs")
                .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
                .status(ExpirationStatus::Enabled)
                .expiration(past())
                .build()
                .expect("rule"),
            LifecycleRule::builder()
                .id("tagged-tmp")
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .prefix("tmp/")
                                .tags(tag("tmp", "1"))
                                .build(),
                        )
                        .build(),
                )
                .status(ExpirationStatus::Enabled)
                .expiration(past())
                .build()
                .expect("rule"),
            LifecycleRule::builder()
                .id("off")
                .filter(LifecycleRuleFilter::builder().prefix("keep/").build())
                .status(ExpirationStatus::Disabled)
                .expiration(past())
                .build()
                .expect("rule"),
        ];
        let config = |rules: Vec<LifecycleRule>| {
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .expect("config")
        };
        s3.put_bucket_lifecycle_configuration()
            .bucket("life")
            .lifecycle_configuration(config(rules.clone()))
            .send()
            .await
            .expect("put lifecycle");
        let got = s3
            .get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await
            .expect("get lifecycle");
        assert_eq!(got.rules(), rules.as_slice());

        let keys = || async {
            s3.list_objects_v2()
                .bucket("life")
                .send()
                .await
                .expect("list")
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while keys().await.len() > 2 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(keys().await, ["keep/c", "tmp/e"]);
        assert_eq!(metric(port, "ringstore_lifecycle_expired_total"), 3);

        // Days count from the write: an object written now outlives passes.
        // ... and uploads outlive them until DaysAfterInitiation has passed.
        let days = LifecycleRule::builder()
            .id("month")
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(30).build())
            .abort_incomplete_multipart_upload(
                aws_sdk_s3::types::AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .expect("rule");
        let upload = s3
            .create_multipart_upload()
            .bucket("life")
            .key("tmp/in-progress")
            .send()
            .await
            .expect("create upload");
        s3.put_bucket_lifecycle_configuration()
            .bucket("life")
            .lifecycle_configuration(config(vec![days]))
            .send()
            .await
            .expect("put days rule");
        let passes = metric(port, "ringstore_lifecycle_passes_total");
        while metric(port, "ringstore_lifecycle_passes_total") < passes + 4 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(keys().await, ["keep/c", "tmp/e"]);
        let uploads = s3
            .list_multipart_uploads()
            .bucket("life")
            .send()
            .await
            .expect("uploads");
        assert_eq!(uploads.uploads().len(), 1, "a fresh upload is not due");
        assert_eq!(uploads.uploads()[0].upload_id(), upload.upload_id());
        assert_eq!(metric(port, "ringstore_lifecycle_aborted_uploads_total"), 0);
        let got = s3
            .get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await
            .expect("get");
        let abort = got.rules()[0].abort_incomplete_multipart_upload();
        assert_eq!(abort.and_then(|a| a.days_after_initiation()), Some(1));

        // What no rule here can do is refused, not stored.
        let transition = LifecycleRule::builder()
            .id("cold")
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .transitions(
                Transition::builder()
                    .days(30)
                    .storage_class(TransitionStorageClass::Glacier)
                    .build(),
            )
            .build()
            .expect("rule");
        let zero_days = LifecycleRule::builder()
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(0).build())
            .build()
            .expect("rule");
        let noon = LifecycleRule::builder()
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .status(ExpirationStatus::Enabled)
            .expiration(
                LifecycleExpiration::builder()
                    .date(DateTime::from_secs(1_577_880_000))
                    .build(),
            )
            .build()
            .expect("rule");
        for (rule, code) in [
            (transition, "NotImplemented"),
            (zero_days, "InvalidArgument"),
            (noon, "InvalidArgument"),
        ] {
            let refused = s3
                .put_bucket_lifecycle_configuration()
                .bucket("life")
                .lifecycle_configuration(config(vec![rule]))
                .send()
                .await
                .expect_err("refused");
            assert_eq!(error_code(&refused), code);
        }
        let kept = s3
            .get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await
            .expect("still the days rule");
        assert_eq!(kept.rules().len(), 1);
        assert_eq!(kept.rules()[0].id(), Some("month"));
        s3.delete_bucket_lifecycle()
            .bucket("life")
            .send()
            .await
            .expect("delete lifecycle");
        let none = s3
            .get_bucket_lifecycle_configuration()
            .bucket("life")
            .send()
            .await
            .expect_err("deleted");
        assert_eq!(error_code(&none), "NoSuchLifecycleConfiguration");
    });
}
