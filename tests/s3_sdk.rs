//! aws-sdk-s3 (Rust) against a real ringstore over TCP, default SDK config
//! (so uploads use the SDK's default checksum behaviour), real SigV4.

mod common;

use common::rt;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::{pattern, s3_client, s3_client_with, Server};

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_string()
}

fn bucket_lifecycle_and_errors() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("alpha")
            .send()
            .await
            .expect("create");
        // S3's legacy answer in us-east-1 to re-creating a bucket you own
        // is 200 (BucketAlreadyOwnedByYou elsewhere: test_s3_answers.py).
        s3.create_bucket()
            .bucket("alpha")
            .send()
            .await
            .expect("re-create in us-east-1");
        let e = s3
            .create_bucket()
            .bucket("Bad_Name")
            .send()
            .await
            .expect_err("bad name");
        assert_eq!(code_of(&e.into_service_error()), "InvalidBucketName");
        s3.head_bucket().bucket("alpha").send().await.expect("head");
        let e = s3
            .head_bucket()
            .bucket("missing-bucket")
            .send()
            .await
            .expect_err("missing");
        assert!(e.into_service_error().is_not_found());
        let loc = s3
            .get_bucket_location()
            .bucket("alpha")
            .send()
            .await
            .expect("location");
        assert!(loc
            .location_constraint()
            .is_none_or(|c| c.as_str().is_empty()));
        let list = s3.list_buckets().send().await.expect("list");
        let names: Vec<_> = list.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["alpha"]);
        assert!(list.buckets()[0].creation_date().is_some());
        s3.put_object()
            .bucket("alpha")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
        let e = s3
            .delete_bucket()
            .bucket("alpha")
            .send()
            .await
            .expect_err("not empty");
        assert_eq!(code_of(&e.into_service_error()), "BucketNotEmpty");
        s3.delete_object()
            .bucket("alpha")
            .key("k")
            .send()
            .await
            .expect("delete");
        s3.delete_bucket()
            .bucket("alpha")
            .send()
            .await
            .expect("delete bucket");
        let e = s3
            .head_bucket()
            .bucket("alpha")
            .send()
            .await
            .expect_err("gone");
        assert!(e.into_service_error().is_not_found());
    });
}

fn object_round_trips_with_metadata_and_ranges() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("objs")
            .send()
            .await
            .expect("create");
        for (i, size) in [0usize, 1, 4096, 65_537, 1 << 20, 3 * (1 << 20) + 5]
            .into_iter()
            .enumerate()
        {
            let key = format!("dir/obj-{i}");
            let data = pattern(size, i as u64);
            let put = s3
                .put_object()
                .bucket("objs")
                .key(&key)
                .body(ByteStream::from(data.clone()))
                .content_type("application/x-test")
                .cache_control("max-age=60")
                .content_disposition("attachment; filename=\"a.bin\"")
                .content_language("en")
                .metadata("color", "blue")
                .metadata("owner-id", "42")
                .send()
                .await
                .expect("put");
            let md5 = format!("\"{}\"", ringstore::util::hex::encode(&md5_of(&data)));
            assert_eq!(put.e_tag(), Some(md5.as_str()), "ETag is the MD5");
            let got = s3
                .get_object()
                .bucket("objs")
                .key(&key)
                .send()
                .await
                .expect("get");
            assert_eq!(got.e_tag(), Some(md5.as_str()));
            assert_eq!(got.content_type(), Some("application/x-test"));
            assert_eq!(got.cache_control(), Some("max-age=60"));
            assert_eq!(
                got.content_disposition(),
                Some("attachment; filename=\"a.bin\"")
            );
            assert_eq!(got.content_language(), Some("en"));
            assert_eq!(
                got.metadata()
                    .and_then(|m| m.get("color"))
                    .map(String::as_str),
                Some("blue")
            );
            assert_eq!(
                got.metadata()
                    .and_then(|m| m.get("owner-id"))
                    .map(String::as_str),
                Some("42")
            );
            assert_eq!(got.content_length(), Some(size as i64));
            assert_eq!(
                body_of(got).await,
                data,
                "byte-identical read-back of {size} bytes"
            );
            let head = s3
                .head_object()
                .bucket("objs")
                .key(&key)
                .send()
                .await
                .expect("head");
            assert_eq!(head.content_length(), Some(size as i64));
            if size > 10 {
                let r = s3
                    .get_object()
                    .bucket("objs")
                    .key(&key)
                    .range("bytes=3-9")
                    .send()
                    .await
                    .expect("range");
                assert_eq!(
                    r.content_range(),
                    Some(format!("bytes 3-9/{size}").as_str())
                );
                assert_eq!(body_of(r).await, &data[3..10]);
                let r = s3
                    .get_object()
                    .bucket("objs")
                    .key(&key)
                    .range("bytes=-4")
                    .send()
                    .await
                    .expect("suffix");
                assert_eq!(body_of(r).await, &data[size - 4..]);
                let e = s3
                    .get_object()
                    .bucket("objs")
                    .key(&key)
                    .range(format!("bytes={size}-"))
                    .send()
                    .await
                    .expect_err("416");
                assert_eq!(code_of(&e.into_service_error()), "InvalidRange");
            }
        }
        let e = s3
            .get_object()
            .bucket("objs")
            .key("nope")
            .send()
            .await
            .expect_err("missing");
        assert!(e.into_service_error().is_no_such_key());
        let e = s3
            .get_object()
            .bucket("no-such-bucket")
            .key("k")
            .send()
            .await
            .expect_err("no bucket");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchBucket");
        // Overwrite replaces; delete of an absent key still answers 204.
        s3.put_object()
            .bucket("objs")
            .key("dir/obj-1")
            .body(ByteStream::from_static(b"new"))
            .send()
            .await
            .expect("overwrite");
        let got = s3
            .get_object()
            .bucket("objs")
            .key("dir/obj-1")
            .send()
            .await
            .expect("get");
        assert_eq!(body_of(got).await, b"new");
        s3.delete_object()
            .bucket("objs")
            .key("never-existed")
            .send()
            .await
            .expect("delete absent");
    });
}

fn md5_of(data: &[u8]) -> [u8; 16] {
    use md5::{Digest, Md5};
    Md5::digest(data).into()
}

#[test]
fn listing_merges_both_shards_with_delimiters_and_pages() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("list")
            .send()
            .await
            .expect("create");
        let mut keys: Vec<String> = Vec::new();
        for d in ["a", "b", "c/d", "é"] {
            for i in 0..15 {
                keys.push(format!("{d}/{i:02}"));
            }
        }
        keys.push("top-level".into());
        for k in &keys {
            s3.put_object()
                .bucket("list")
                .key(k)
                .body(ByteStream::from(k.as_bytes().to_vec()))
                .send()
                .await
                .expect("put");
        }
        keys.sort();
        // Flat listing, paged by 7: every key exactly once, in order.
        let mut seen = Vec::new();
        let mut pages = s3
            .list_objects_v2()
            .bucket("list")
            .max_keys(7)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.expect("page");
            assert!(page.key_count().unwrap_or(0) <= 7);
            seen.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        assert_eq!(seen, keys);
        // Delimiter: four common prefixes and one key.
        let out = s3
            .list_objects_v2()
            .bucket("list")
            .delimiter("/")
            .send()
            .await
            .expect("delim");
        let prefixes: Vec<_> = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(prefixes, ["a/", "b/", "c/", "é/"]);
        let top: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(top, ["top-level"]);
        // Prefix + delimiter + start-after.
        let out = s3
            .list_objects_v2()
            .bucket("list")
            .prefix("c/")
            .delimiter("/")
            .send()
            .await
            .expect("c/");
        let prefixes: Vec<_> = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(prefixes, ["c/d/"]);
        let out = s3
            .list_objects_v2()
            .bucket("list")
            .prefix("a/")
            .start_after("a/10")
            .send()
            .await
            .expect("start-after");
        let got: Vec<_> = out.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(got, ["a/11", "a/12", "a/13", "a/14"]);
        // Paging over common prefixes counts them toward max-keys.
        let out = s3
            .list_objects_v2()
            .bucket("list")
            .delimiter("/")
            .max_keys(2)
            .send()
            .await
            .expect("page 1");
        assert!(out.is_truncated().unwrap_or(false));
        assert_eq!(out.common_prefixes().len(), 2);
        let out2 = s3
            .list_objects_v2()
            .bucket("list")
            .delimiter("/")
            .max_keys(10)
            .continuation_token(out.next_continuation_token().expect("token"))
            .send()
            .await
            .expect("page 2");
        let rest: Vec<_> = out2
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(rest, ["c/", "é/"]);
        // v1 with marker.
        let v1 = s3
            .list_objects()
            .bucket("list")
            .prefix("b/")
            .marker("b/12")
            .send()
            .await
            .expect("v1");
        let got: Vec<_> = v1.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(got, ["b/13", "b/14"]);
    });
    // Both shards own objects, exactly those placement assigns them: open
    // each shard's log offline (server stopped) and count what it holds.
    let log = server.log();
    for shard in 0..2 {
        assert!(
            log.contains(&format!("shard thread pinned shard={shard}")),
            "shard {shard} pinned; log:\n{log}"
        );
    }
    let mut server = server;
    server.stop();
    let counts: Vec<u64> = (0..2u32)
        .map(|s| shard_objects(&server.data_dir, s))
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 61);
    assert!(
        counts.iter().all(|&c| c > 0),
        "both shards hold objects: {counts:?}"
    );
    let format: serde_json::Value = serde_json::from_slice(
        &std::fs::read(server.data_dir.join("format.json")).expect("format.json"),
    )
    .expect("json");
    let seed = format["placement_seed"].as_u64().expect("seed");
    let placement = ringstore::shard::Placement::new(seed, 2);
    let mut keys: Vec<String> = ["a", "b", "c/d", "é"]
        .iter()
        .flat_map(|d| (0..15).map(move |i| format!("{d}/{i:02}")))
        .collect();
    keys.push("top-level".into());
    let on_zero = keys
        .iter()
        .filter(|k| placement.owner("list", k) == 0)
        .count() as u64;
    assert_eq!(
        counts[0], on_zero,
        "shard 0 holds exactly the keys placement gives it"
    );
}

/// Objects in one shard's log, read offline with the store itself.
fn shard_objects(data_dir: &std::path::Path, shard: u32) -> u64 {
    let dir = data_dir.join(format!("shard-{shard:03}"));
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut cfg = ringstore::store::StoreConfig::new(dir, shard);
        cfg.shard_count = 2;
        let store = ringstore::store::Store::open(cfg)
            .await
            .expect("open shard log");
        store.stats().objects
    })
}

fn delete_objects_batch_and_quiet() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("batch")
            .send()
            .await
            .expect("create");
        for i in 0..20 {
            s3.put_object()
                .bucket("batch")
                .key(format!("k{i}"))
                .body(ByteStream::from_static(b"v"))
                .send()
                .await
                .expect("put");
        }
        let ids: Vec<ObjectIdentifier> = (0..25)
            .map(|i| {
                ObjectIdentifier::builder()
                    .key(format!("k{i}"))
                    .build()
                    .expect("id")
            })
            .collect();
        let out = s3
            .delete_objects()
            .bucket("batch")
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .build()
                    .expect("delete"),
            )
            .send()
            .await
            .expect("delete_objects");
        assert_eq!(
            out.deleted().len(),
            25,
            "absent keys count as deleted, as in S3"
        );
        assert!(out.errors().is_empty());
        let left = s3
            .list_objects_v2()
            .bucket("batch")
            .send()
            .await
            .expect("list");
        assert_eq!(left.key_count(), Some(0));
    });
}

fn authentication_errors() {
    let server = Server::start(1);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("auth")
            .send()
            .await
            .expect("create");
        let bad_key = s3_client_with(&server, "NOSUCHKEY0000000000", "whatever-secret-0000").await;
        let e = bad_key
            .list_buckets()
            .send()
            .await
            .expect_err("unknown key");
        assert_eq!(code_of(&e.into_service_error()), "InvalidAccessKeyId");
        let bad_secret =
            s3_client_with(&server, common::ACCESS_KEY, "wrong-secret-0000000000").await;
        let e = bad_secret
            .list_buckets()
            .send()
            .await
            .expect_err("bad secret");
        assert_eq!(code_of(&e.into_service_error()), "SignatureDoesNotMatch");
        let e = bad_secret
            .put_object()
            .bucket("auth")
            .key("k")
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .expect_err("bad secret put");
        assert_eq!(code_of(&e.into_service_error()), "SignatureDoesNotMatch");
        let e = s3
            .get_object()
            .bucket("auth")
            .key("k")
            .send()
            .await
            .expect_err("nothing stored");
        assert!(e.into_service_error().is_no_such_key());
    });
}

// Each on the log store and on `serve --memory`.
crate::on_both_backends!(
    bucket_lifecycle_and_errors,
    object_round_trips_with_metadata_and_ranges,
    delete_objects_batch_and_quiet,
    authentication_errors,
);
