//! Object versioning through aws-sdk-s3 against the real server: version
//! ids on writes, reads of any version, delete markers and what GET, HEAD
//! and listings make of them, version deletes, ListObjectVersions paging,
//! copies and tags of older versions, multipart completions, DeleteObjects,
//! the Suspended state, DeleteBucket, and all of it after kill -9.

mod common;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag,
    Tagging, VersioningConfiguration,
};
use common::{pattern, rt, s3_client, Server};

fn code<E: ProvideErrorMetadata>(e: &aws_sdk_s3::error::SdkError<E>) -> String {
    e.as_service_error()
        .and_then(|s| s.code())
        .unwrap_or("<no service error>")
        .to_string()
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

fn header<'a, E>(e: &'a aws_sdk_s3::error::SdkError<E>, name: &str) -> Option<&'a str> {
    e.raw_response().and_then(|r| r.headers().get(name))
}

async fn set_versioning(s3: &aws_sdk_s3::Client, bucket: &str, s: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(s).build())
        .send()
        .await
        .expect("put versioning");
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id()
        // S3 names no version on a write into a Suspended bucket (the
        // write is the key's null version).
        .unwrap_or("null")
        .to_string()
}

async fn get_version(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, v: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(v)
        .send()
        .await
        .expect("get version");
    assert_eq!(out.version_id(), Some(v));
    out.body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Every (key, version id, is latest, is a delete marker) row of the
/// bucket's version listing, paged `page` rows at a time.
async fn all_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    page: i32,
) -> Vec<(String, String, bool, bool)> {
    let mut rows = Vec::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(page)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("list versions");
        // The SDK parses versions and markers into two lists: merge them
        // back by key, each key's newest first (the order S3 sends).
        let mut page_rows: Vec<(String, String, bool, bool, i64)> = Vec::new();
        for v in out.versions() {
            page_rows.push((
                v.key().expect("key").into(),
                v.version_id().expect("id").into(),
                v.is_latest() == Some(true),
                false,
                v.last_modified().expect("mtime").to_millis().expect("ms"),
            ));
        }
        for m in out.delete_markers() {
            page_rows.push((
                m.key().expect("key").into(),
                m.version_id().expect("id").into(),
                m.is_latest() == Some(true),
                true,
                m.last_modified().expect("mtime").to_millis().expect("ms"),
            ));
        }
        assert!(page_rows.len() <= page as usize);
        // Newest first: the latest, then by time, then by id (ids sort by
        // creation; `null` is older than any id made in the same millisecond).
        let id = |v: &str| {
            if v == "null" {
                String::new()
            } else {
                v.to_string()
            }
        };
        page_rows.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(b.2.cmp(&a.2))
                .then(b.4.cmp(&a.4))
                .then(id(&b.1).cmp(&id(&a.1)))
        });
        rows.extend(page_rows.into_iter().map(|(k, v, l, m, _)| (k, v, l, m)));
        if out.is_truncated() != Some(true) {
            break;
        }
        key_marker = out.next_key_marker().map(str::to_string);
        version_marker = out.next_version_id_marker().map(str::to_string);
        assert!(key_marker.is_some());
    }
    rows
}

#[test]
fn versions_markers_and_version_deletes() {
    let mut server = Server::start(2);
    let (v1, v2, v3, marker) = rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("verb")
            .send()
            .await
            .expect("create");
        set_versioning(&s3, "verb", BucketVersioningStatus::Enabled).await;
        let got = s3
            .get_bucket_versioning()
            .bucket("verb")
            .send()
            .await
            .expect("get versioning");
        assert_eq!(got.status(), Some(&BucketVersioningStatus::Enabled));

        let bodies = [pattern(1000, 1), pattern(70_000, 2), pattern(5, 3)];
        let v1 = put(&s3, "verb", "k", &bodies[0]).await;
        let v2 = put(&s3, "verb", "k", &bodies[1]).await;
        let v3 = put(&s3, "verb", "k", &bodies[2]).await;
        assert!(v1 != v2 && v2 != v3 && v1 != "null", "{v1} {v2} {v3}");
        // Ids sort by creation, as S3's listing order needs them to.
        assert!(v1 < v2 && v2 < v3);
        for (v, b) in [(&v1, &bodies[0]), (&v2, &bodies[1]), (&v3, &bodies[2])] {
            assert_eq!(&get_version(&s3, "verb", "k", v).await, b);
        }
        let latest = s3
            .get_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect("get");
        assert_eq!(latest.version_id(), Some(v3.as_str()));
        let head = s3
            .head_object()
            .bucket("verb")
            .key("k")
            .version_id(&v1)
            .send()
            .await
            .expect("head v1");
        assert_eq!(head.content_length(), Some(1000));
        assert_eq!(head.version_id(), Some(v1.as_str()));
        let attrs = s3
            .get_object_attributes()
            .bucket("verb")
            .key("k")
            .version_id(&v1)
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
            .send()
            .await
            .expect("attributes of v1");
        assert_eq!(attrs.object_size(), Some(1000));
        assert_eq!(attrs.version_id(), Some(v1.as_str()));

        // A delete without a version id writes a delete marker.
        let del = s3
            .delete_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect("delete");
        assert_eq!(del.delete_marker(), Some(true));
        let marker = del.version_id().expect("marker id").to_string();
        let gone = s3
            .get_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect_err("hidden");
        assert_eq!((status(&gone), code(&gone).as_str()), (404, "NoSuchKey"));
        assert_eq!(header(&gone, "x-amz-delete-marker"), Some("true"));
        assert_eq!(header(&gone, "x-amz-version-id"), Some(marker.as_str()));
        let head = s3
            .head_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect_err("hidden");
        assert_eq!(status(&head), 404);
        let on_marker = s3
            .get_object()
            .bucket("verb")
            .key("k")
            .version_id(&marker)
            .send()
            .await
            .expect_err("a marker has no data");
        assert_eq!(
            (status(&on_marker), code(&on_marker).as_str()),
            (405, "MethodNotAllowed")
        );
        // Older versions still read; listings skip the key.
        assert_eq!(get_version(&s3, "verb", "k", &v2).await, bodies[1]);
        let listed = s3
            .list_objects_v2()
            .bucket("verb")
            .send()
            .await
            .expect("list");
        assert_eq!(listed.key_count(), Some(0));
        let unknown = s3
            .get_object()
            .bucket("verb")
            .key("k")
            .version_id("0000000000000001000000000000002a")
            .send()
            .await
            .expect_err("no such version");
        assert_eq!(
            (status(&unknown), code(&unknown).as_str()),
            (404, "NoSuchVersion")
        );

        let rows = all_versions(&s3, "verb", 1000).await;
        let want = vec![
            ("k".to_string(), marker.clone(), true, true),
            ("k".to_string(), v3.clone(), false, false),
            ("k".to_string(), v2.clone(), false, false),
            ("k".to_string(), v1.clone(), false, false),
        ];
        assert_eq!(rows, want);
        (v1, v2, v3, marker)
    });

    // kill -9: the offline checker sees one key, no current object (the
    // marker is current) and four versions; every one comes back.
    server.kill9();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .arg("verify")
        .arg(&server.data_dir)
        .output()
        .expect("run verify");
    let report = String::from_utf8_lossy(&verify.stdout).to_string();
    assert!(verify.status.success(), "verify: {report}");
    assert!(report.contains("objects:         0"), "{report}");
    assert!(report.contains("versions:        4"), "{report}");
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let rows = all_versions(&s3, "verb", 1).await;
        let ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(ids, [&marker, &v3, &v2, &v1]);
        assert_eq!(get_version(&s3, "verb", "k", &v1).await, pattern(1000, 1));

        // Removing the marker brings the newest version back.
        let un = s3
            .delete_object()
            .bucket("verb")
            .key("k")
            .version_id(&marker)
            .send()
            .await
            .expect("delete marker");
        assert_eq!(un.delete_marker(), Some(true));
        assert_eq!(un.version_id(), Some(marker.as_str()));
        let back = s3
            .get_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect("back");
        assert_eq!(back.version_id(), Some(v3.as_str()));
        // Removing the current version makes the next one current.
        s3.delete_object()
            .bucket("verb")
            .key("k")
            .version_id(&v3)
            .send()
            .await
            .expect("delete v3");
        let now = s3
            .get_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect("v2 now");
        assert_eq!(now.version_id(), Some(v2.as_str()));
        assert_eq!(now.content_length(), Some(70_000));
        // A version that is not there: 204 all the same, as S3 answers.
        s3.delete_object()
            .bucket("verb")
            .key("k")
            .version_id(&v3)
            .send()
            .await
            .expect("delete again");
        let ids: Vec<String> = all_versions(&s3, "verb", 1000)
            .await
            .into_iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(ids, [v2.clone(), v1.clone()]);

        // DeleteBucket waits for every version to go.
        let full = s3
            .delete_bucket()
            .bucket("verb")
            .send()
            .await
            .expect_err("not empty");
        assert_eq!(code(&full), "BucketNotEmpty");
        // Only noncurrent versions under a delete marker: not empty either
        // (S3 counts every version and marker).
        let marker = s3
            .delete_object()
            .bucket("verb")
            .key("k")
            .send()
            .await
            .expect("marker");
        let marker = marker.version_id().expect("marker id").to_string();
        let hidden = s3
            .delete_bucket()
            .bucket("verb")
            .send()
            .await
            .expect_err("versions under a marker count");
        assert_eq!(code(&hidden), "BucketNotEmpty");
        let out = s3
            .delete_objects()
            .bucket("verb")
            .delete(
                Delete::builder()
                    .objects(
                        ObjectIdentifier::builder()
                            .key("k")
                            .version_id(&marker)
                            .build()
                            .expect("id"),
                    )
                    .objects(
                        ObjectIdentifier::builder()
                            .key("k")
                            .version_id(&v2)
                            .build()
                            .expect("id"),
                    )
                    .objects(
                        ObjectIdentifier::builder()
                            .key("k")
                            .version_id(&v1)
                            .build()
                            .expect("id"),
                    )
                    .build()
                    .expect("delete"),
            )
            .send()
            .await
            .expect("delete objects");
        assert_eq!(out.deleted().len(), 3);
        assert!(out.errors().is_empty());
        s3.delete_bucket()
            .bucket("verb")
            .send()
            .await
            .expect("empty now");
    });
}

fn listing_pages_copies_tags_multipart_and_suspend() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("verl")
            .send()
            .await
            .expect("create");
        // Objects from before versioning are the null version (and their
        // PUT names no version: the bucket never had versioning).
        let first = s3
            .put_object()
            .bucket("verl")
            .key("old")
            .body(ByteStream::from_static(b"before"))
            .send()
            .await
            .expect("put");
        assert_eq!(first.version_id(), None);
        set_versioning(&s3, "verl", BucketVersioningStatus::Enabled).await;
        let mut want = Vec::new();
        for i in 0..7 {
            let key = format!("d/{}", i % 3);
            put(&s3, "verl", &key, &pattern(10 + i, i as u64)).await;
        }
        let after = put(&s3, "verl", "old", b"after").await;
        assert_ne!(after, "null");
        // Markers through DeleteObjects: one per key, each named.
        let out = s3
            .delete_objects()
            .bucket("verl")
            .delete(
                Delete::builder()
                    .objects(ObjectIdentifier::builder().key("d/1").build().expect("id"))
                    .objects(
                        ObjectIdentifier::builder()
                            .key("nothing")
                            .build()
                            .expect("id"),
                    )
                    .build()
                    .expect("delete"),
            )
            .send()
            .await
            .expect("delete objects");
        for d in out.deleted() {
            assert_eq!(d.delete_marker(), Some(true));
            assert!(d.delete_marker_version_id().is_some_and(|v| v.len() == 32));
        }
        assert_eq!(out.deleted().len(), 2);
        let full = all_versions(&s3, "verl", 1000).await;
        // d/0: 3 versions, d/1: marker + 2, d/2: 2, nothing: marker, old: 2.
        assert_eq!(full.len(), 3 + 3 + 2 + 1 + 2);
        for (k, _, latest, marker) in &full {
            if *latest && *marker {
                assert!(k == "d/1" || k == "nothing");
            }
        }
        assert!(full.iter().any(|r| r.0 == "old" && r.1 == "null" && !r.2));
        for page in [1, 2, 3, 5] {
            assert_eq!(all_versions(&s3, "verl", page).await, full, "page {page}");
        }
        want.extend(full.iter().map(|r| r.0.clone()));
        let rolled = s3
            .list_object_versions()
            .bucket("verl")
            .delimiter("/")
            .send()
            .await
            .expect("delimiter");
        let prefixes: Vec<&str> = rolled
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(prefixes, ["d/"]);

        // Restoring an older version: copy it onto its own key.
        let restored = s3
            .copy_object()
            .bucket("verl")
            .key("old")
            .copy_source("verl/old?versionId=null")
            .send()
            .await
            .expect("restore");
        assert_eq!(restored.copy_source_version_id(), Some("null"));
        let new_id = restored.version_id().expect("new version").to_string();
        assert!(new_id != "null" && new_id != after);
        let now = s3
            .get_object()
            .bucket("verl")
            .key("old")
            .send()
            .await
            .expect("get");
        assert_eq!(
            now.body.collect().await.expect("b").into_bytes().as_ref(),
            b"before"
        );

        // Tags belong to one version.
        s3.put_object_tagging()
            .bucket("verl")
            .key("old")
            .version_id(&after)
            .tagging(
                Tagging::builder()
                    .tag_set(Tag::builder().key("t").value("x").build().expect("tag"))
                    .build()
                    .expect("tagging"),
            )
            .send()
            .await
            .expect("tag old version");
        let tags = |v: Option<String>| {
            s3.get_object_tagging()
                .bucket("verl")
                .key("old")
                .set_version_id(v)
                .send()
        };
        assert_eq!(
            tags(Some(after.clone()))
                .await
                .expect("tags")
                .tag_set()
                .len(),
            1
        );
        assert!(tags(None).await.expect("tags").tag_set().is_empty());
        let current = s3
            .get_object()
            .bucket("verl")
            .key("old")
            .send()
            .await
            .expect("get");
        assert_eq!(
            current.version_id(),
            Some(new_id.as_str()),
            "tagging kept the order"
        );

        // A multipart completion is a new version.
        let up = s3
            .create_multipart_upload()
            .bucket("verl")
            .key("mp")
            .send()
            .await
            .expect("create mpu");
        let id = up.upload_id().expect("id");
        let part = s3
            .upload_part()
            .bucket("verl")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(pattern(1000, 9)))
            .send()
            .await
            .expect("part");
        let done = s3
            .complete_multipart_upload()
            .bucket("verl")
            .key("mp")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().expect("etag"))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("complete");
        let mp_version = done.version_id().expect("version").to_string();
        assert_eq!(
            get_version(&s3, "verl", "mp", &mp_version).await,
            pattern(1000, 9)
        );

        // Suspended: writes are the null version again, older versions stay.
        set_versioning(&s3, "verl", BucketVersioningStatus::Suspended).await;
        let suspended_put = s3
            .put_object()
            .bucket("verl")
            .key("mp")
            .body(ByteStream::from_static(b"null now"))
            .send()
            .await
            .expect("put");
        assert_eq!(
            suspended_put.version_id(),
            None,
            "S3 sends no x-amz-version-id here"
        );
        assert_eq!(put(&s3, "verl", "mp", b"null again").await, "null");
        let mp: Vec<_> = all_versions(&s3, "verl", 1000)
            .await
            .into_iter()
            .filter(|r| r.0 == "mp")
            .collect();
        assert_eq!(
            mp.len(),
            2,
            "one null version, one from when Enabled: {mp:?}"
        );
        let del = s3
            .delete_object()
            .bucket("verl")
            .key("mp")
            .send()
            .await
            .expect("delete");
        assert_eq!(
            (del.delete_marker(), del.version_id()),
            (Some(true), Some("null"))
        );
        assert_eq!(
            get_version(&s3, "verl", "mp", &mp_version).await,
            pattern(1000, 9)
        );
    });
}

/// Lifecycle rules for versioned buckets are accepted and answered back as
/// set (their enforcement is tested in server::lifecycle with a clock).
fn noncurrent_lifecycle_rules_round_trip() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
        LifecycleRuleFilter, NoncurrentVersionExpiration,
    };
    let server = Server::start(1);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("verlc")
            .send()
            .await
            .expect("create");
        set_versioning(&s3, "verlc", BucketVersioningStatus::Enabled).await;
        let rule = LifecycleRule::builder()
            .id("tidy")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(30)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .build()
            .expect("rule");
        s3.put_bucket_lifecycle_configuration()
            .bucket("verlc")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("config"),
            )
            .send()
            .await
            .expect("put lifecycle");
        let got = s3
            .get_bucket_lifecycle_configuration()
            .bucket("verlc")
            .send()
            .await
            .expect("get lifecycle");
        let r = &got.rules()[0];
        let n = r.noncurrent_version_expiration().expect("noncurrent");
        assert_eq!(
            (n.noncurrent_days(), n.newer_noncurrent_versions()),
            (Some(30), Some(2))
        );
        assert_eq!(
            r.expiration()
                .and_then(|e| e.expired_object_delete_marker()),
            Some(true)
        );
    });
}

// Each on the log store and on `serve --memory`.
crate::on_both_backends!(
    listing_pages_copies_tags_multipart_and_suspend,
    noncurrent_lifecycle_rules_round_trip,
);
