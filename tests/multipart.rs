//! Multipart upload and server-side copy with aws-sdk-s3 against a real
//! ringstore process (3 shards, so requests cross shards).

mod common;

use common::rt;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use aws_sdk_s3::Client;
use common::{pattern, s3_client, Server};
use md5::{Digest, Md5};

const MIB: usize = 1024 * 1024;

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// S3's multipart ETag: MD5 of the concatenated part MD5s, then `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex(&h.finalize()), parts.len())
}

async fn get_bytes(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get");
    out.body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

async fn create(s3: &Client, bucket: &str, key: &str) -> String {
    let out = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-test")
        .metadata("color", "blue")
        .send()
        .await
        .expect("create upload");
    out.upload_id().expect("upload id").to_string()
}

async fn part(s3: &Client, bucket: &str, key: &str, id: &str, n: i32, data: &[u8]) -> String {
    let out = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .expect("upload part");
    out.e_tag().expect("part etag").to_string()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    let parts = parts
        .iter()
        .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
        .collect();
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build()
}

async fn complete(
    s3: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> Result<String, String> {
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
        .map(|o| o.e_tag().unwrap_or_default().to_string())
        .map_err(|e| code_of(&e.into_service_error()))
}

fn upload_list_complete_and_read_parts() {
    let server = Server::start(3);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("mpu")
            .send()
            .await
            .expect("bucket");
        let (p1, p2, p3) = (
            pattern(5 * MIB, 1),
            pattern(5 * MIB + 17, 2),
            pattern(MIB / 3, 3),
        );
        let id = create(&s3, "mpu", "big/object.bin").await;
        let other = create(&s3, "mpu", "big/other.bin").await;
        // Parts in parallel, last part first.
        let (e3, e1, e2) = tokio::join!(
            part(&s3, "mpu", "big/object.bin", &id, 3, &p3),
            part(&s3, "mpu", "big/object.bin", &id, 1, &p1),
            part(&s3, "mpu", "big/object.bin", &id, 2, &p2),
        );
        assert_eq!(e1, format!("\"{}\"", hex(&Md5::digest(&p1))));

        let lp = s3
            .list_parts()
            .bucket("mpu")
            .key("big/object.bin")
            .upload_id(&id)
            .max_parts(2)
            .send()
            .await
            .expect("list parts");
        let nums: Vec<i32> = lp.parts().iter().filter_map(|p| p.part_number()).collect();
        assert_eq!(nums, [1, 2]);
        assert_eq!(lp.is_truncated(), Some(true));
        assert_eq!(lp.parts()[1].size(), Some(p2.len() as i64));
        let marker = lp.next_part_number_marker().expect("marker").to_string();
        let lp2 = s3
            .list_parts()
            .bucket("mpu")
            .key("big/object.bin")
            .upload_id(&id)
            .part_number_marker(marker)
            .send()
            .await
            .expect("list parts 2");
        assert_eq!(lp2.parts().len(), 1);
        assert_eq!(lp2.parts()[0].e_tag(), Some(e3.as_str()));

        let lu = s3
            .list_multipart_uploads()
            .bucket("mpu")
            .send()
            .await
            .expect("list uploads");
        let mut ids: Vec<&str> = lu.uploads().iter().filter_map(|u| u.upload_id()).collect();
        ids.sort();
        let mut want = vec![id.as_str(), other.as_str()];
        want.sort();
        assert_eq!(ids, want);
        let lu = s3
            .list_multipart_uploads()
            .bucket("mpu")
            .delimiter("/")
            .prefix("")
            .send()
            .await
            .expect("rolled");
        assert_eq!(lu.common_prefixes().len(), 1);
        let lu = s3
            .list_multipart_uploads()
            .bucket("mpu")
            .max_uploads(1)
            .send()
            .await
            .expect("paged");
        assert_eq!((lu.uploads().len(), lu.is_truncated()), (1, Some(true)));
        let lu2 = s3
            .list_multipart_uploads()
            .bucket("mpu")
            .key_marker(lu.next_key_marker().expect("next key"))
            .upload_id_marker(lu.next_upload_id_marker().expect("next id"))
            .send()
            .await
            .expect("page 2");
        assert_eq!(lu2.uploads().len(), 1);
        assert_ne!(lu2.uploads()[0].upload_id(), lu.uploads()[0].upload_id());

        let etag = complete(
            &s3,
            "mpu",
            "big/object.bin",
            &id,
            &[(1, &e1), (2, &e2), (3, &e3)],
        )
        .await
        .expect("complete");
        assert_eq!(etag, multipart_etag(&[&p1, &p2, &p3]));
        assert!(etag.ends_with("-3\""), "{etag}");
        let whole = [p1.clone(), p2.clone(), p3.clone()].concat();
        assert!(
            get_bytes(&s3, "mpu", "big/object.bin").await == whole,
            "read-back differs"
        );
        let head = s3
            .head_object()
            .bucket("mpu")
            .key("big/object.bin")
            .send()
            .await
            .expect("head");
        assert_eq!(head.e_tag(), Some(etag.as_str()));
        assert_eq!(head.content_type(), Some("application/x-test"));
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get("color"))
                .map(String::as_str),
            Some("blue")
        );

        let g2 = s3
            .get_object()
            .bucket("mpu")
            .key("big/object.bin")
            .part_number(2)
            .send()
            .await
            .expect("part 2");
        assert_eq!(g2.parts_count(), Some(3));
        assert_eq!(g2.content_length(), Some(p2.len() as i64));
        let body = g2.body.collect().await.expect("body").into_bytes();
        assert!(body.as_ref() == p2.as_slice(), "part 2 bytes differ");
        let h3 = s3
            .head_object()
            .bucket("mpu")
            .key("big/object.bin")
            .part_number(3)
            .send()
            .await
            .expect("head part 3");
        assert_eq!(h3.content_length(), Some(p3.len() as i64));

        let e = s3
            .list_parts()
            .bucket("mpu")
            .key("big/object.bin")
            .upload_id(&id)
            .send()
            .await
            .expect_err("completed");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");
        s3.abort_multipart_upload()
            .bucket("mpu")
            .key("big/other.bin")
            .upload_id(&other)
            .send()
            .await
            .expect("abort");
        let lu = s3
            .list_multipart_uploads()
            .bucket("mpu")
            .send()
            .await
            .expect("list uploads");
        assert!(lu.uploads().is_empty());
    });
}

fn multipart_errors() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("errs")
            .send()
            .await
            .expect("bucket");
        let bogus = "0123456789abcdef0123456789abcdef";
        let e = s3
            .upload_part()
            .bucket("errs")
            .key("k")
            .upload_id(bogus)
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("no upload");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");
        let e = s3
            .upload_part()
            .bucket("errs")
            .key("k")
            .upload_id("not-an-id")
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("junk id");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");
        assert_eq!(
            complete(&s3, "errs", "k", bogus, &[(1, "\"x\"")]).await,
            Err("NoSuchUpload".into())
        );
        let e = s3
            .abort_multipart_upload()
            .bucket("errs")
            .key("k")
            .upload_id(bogus)
            .send()
            .await
            .expect_err("abort");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");

        let id = create(&s3, "errs", "k").await;
        // The upload belongs to its key.
        let e = s3
            .list_parts()
            .bucket("errs")
            .key("other")
            .upload_id(&id)
            .send()
            .await
            .expect_err("wrong key");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");
        for n in [0, 10_001] {
            let e = s3
                .upload_part()
                .bucket("errs")
                .key("k")
                .upload_id(&id)
                .part_number(n)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect_err("part number");
            assert_eq!(
                code_of(&e.into_service_error()),
                "InvalidArgument",
                "part {n}"
            );
        }
        let small = pattern(1000, 5);
        let big = pattern(5 * MIB, 6);
        let e1 = part(&s3, "errs", "k", &id, 1, &small).await;
        let e2 = part(&s3, "errs", "k", &id, 2, &small).await;
        assert_eq!(
            complete(&s3, "errs", "k", &id, &[(1, &e1), (2, &e2)]).await,
            Err("EntityTooSmall".into())
        );
        assert_eq!(
            complete(&s3, "errs", "k", &id, &[(2, &e2), (1, &e1)]).await,
            Err("InvalidPartOrder".into())
        );
        assert_eq!(
            complete(&s3, "errs", "k", &id, &[(1, &e1), (1, &e1)]).await,
            Err("InvalidPartOrder".into())
        );
        assert_eq!(
            complete(&s3, "errs", "k", &id, &[(1, "\"0000\"")]).await,
            Err("InvalidPart".into())
        );
        assert_eq!(
            complete(&s3, "errs", "k", &id, &[(7, &e1)]).await,
            Err("InvalidPart".into())
        );
        // Re-uploading part 1 replaces it: the old ETag no longer completes.
        let e1b = part(&s3, "errs", "k", &id, 1, &big).await;
        let lp = s3
            .list_parts()
            .bucket("errs")
            .key("k")
            .upload_id(&id)
            .send()
            .await
            .expect("parts");
        assert_eq!(lp.parts().len(), 2);
        assert_eq!(lp.parts()[0].e_tag(), Some(e1b.as_str()));
        assert_eq!(lp.parts()[0].size(), Some(big.len() as i64));
        assert_eq!(
            complete(&s3, "errs", "k", &id, &[(1, &e1), (2, &e2)]).await,
            Err("InvalidPart".into())
        );
        // Malformed completion body (raw request: the SDK cannot send one).
        let raw = raw_post(
            &server,
            &format!("uploadId={id}"),
            b"<CompleteMultipartUpload><Part>",
        )
        .await;
        assert!(raw.contains("MalformedXML"), "{raw}");
        // A subset of parts completes; the unused part is dropped.
        let etag = complete(&s3, "errs", "k", &id, &[(1, &e1b)])
            .await
            .expect("complete subset");
        assert_eq!(etag, multipart_etag(&[&big]));
        assert!(get_bytes(&s3, "errs", "k").await == big);

        let id = create(&s3, "errs", "k2").await;
        part(&s3, "errs", "k2", &id, 1, &small).await;
        s3.abort_multipart_upload()
            .bucket("errs")
            .key("k2")
            .upload_id(&id)
            .send()
            .await
            .expect("abort");
        let e = s3
            .list_parts()
            .bucket("errs")
            .key("k2")
            .upload_id(&id)
            .send()
            .await
            .expect_err("aborted");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");
        let e = s3
            .upload_part()
            .bucket("errs")
            .key("k2")
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("aborted part");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchUpload");
        assert_eq!(
            complete(&s3, "errs", "k2", &id, &[(1, "\"x\"")]).await,
            Err("NoSuchUpload".into())
        );
        let e = s3
            .head_object()
            .bucket("errs")
            .key("k2")
            .send()
            .await
            .expect_err("never completed");
        assert!(e.into_service_error().is_not_found());
    });
}

/// POST /errs/k?<query> with `body`, signed; returns status line and body text.
async fn raw_post(server: &Server, query: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = format!("127.0.0.1:{}", server.port);
    let now = ringstore::util::time::unix_now();
    let req = common::signed_request("POST", "/errs/k", query, &host, body, now, &[]);
    let mut s = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    s.write_all(&req).await.expect("send");
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

fn copy_object_and_upload_part_copy() {
    let server = Server::start(3);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        for b in ["src", "dst"] {
            s3.create_bucket().bucket(b).send().await.expect("bucket");
        }
        let data = pattern(6 * MIB + 123, 9);
        let src_key = "dir/a b+ü.bin";
        s3.put_object()
            .bucket("src")
            .key(src_key)
            .content_type("text/x-src")
            .metadata("m", "1")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .expect("put src");
        let encoded = "src/dir/a%20b%2B%C3%BC.bin";
        let src_etag = format!("\"{}\"", hex(&Md5::digest(&data)));

        // COPY (default): data and metadata, across buckets.
        let out = s3
            .copy_object()
            .bucket("dst")
            .key("copy1")
            .copy_source(encoded)
            .send()
            .await
            .expect("copy");
        assert_eq!(
            out.copy_object_result().and_then(|r| r.e_tag()),
            Some(src_etag.as_str())
        );
        assert!(get_bytes(&s3, "dst", "copy1").await == data);
        let h = s3
            .head_object()
            .bucket("dst")
            .key("copy1")
            .send()
            .await
            .expect("head");
        assert_eq!(h.content_type(), Some("text/x-src"));
        assert_eq!(
            h.metadata().and_then(|m| m.get("m")).map(String::as_str),
            Some("1")
        );

        // REPLACE: new metadata.
        s3.copy_object()
            .bucket("src")
            .key("copy2")
            .copy_source(encoded)
            .metadata_directive(MetadataDirective::Replace)
            .content_type("text/x-new")
            .metadata("n", "2")
            .send()
            .await
            .expect("copy replace");
        let h = s3
            .head_object()
            .bucket("src")
            .key("copy2")
            .send()
            .await
            .expect("head");
        assert_eq!(h.content_type(), Some("text/x-new"));
        assert!(h
            .metadata()
            .is_some_and(|m| m.get("m").is_none() && m.get("n").map(String::as_str) == Some("2")));

        // Onto itself: refused without REPLACE, allowed with it.
        let e = s3
            .copy_object()
            .bucket("src")
            .key(src_key)
            .copy_source(encoded)
            .send()
            .await
            .expect_err("self copy");
        assert_eq!(code_of(&e.into_service_error()), "InvalidRequest");
        s3.copy_object()
            .bucket("src")
            .key(src_key)
            .copy_source(encoded)
            .metadata_directive(MetadataDirective::Replace)
            .metadata("m", "3")
            .send()
            .await
            .expect("self replace");
        let h = s3
            .head_object()
            .bucket("src")
            .key(src_key)
            .send()
            .await
            .expect("head");
        assert_eq!(
            h.metadata().and_then(|m| m.get("m")).map(String::as_str),
            Some("3")
        );
        assert!(get_bytes(&s3, "src", src_key).await == data);

        // Copy-source conditionals: each failure is 412.
        let past = aws_sdk_s3::primitives::DateTime::from_secs(1_000_000_000);
        let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
        let attempts = [
            s3.copy_object()
                .bucket("dst")
                .key("c")
                .copy_source(encoded)
                .copy_source_if_match("\"nope\""),
            s3.copy_object()
                .bucket("dst")
                .key("c")
                .copy_source(encoded)
                .copy_source_if_none_match(&src_etag),
            s3.copy_object()
                .bucket("dst")
                .key("c")
                .copy_source(encoded)
                .copy_source_if_unmodified_since(past),
            s3.copy_object()
                .bucket("dst")
                .key("c")
                .copy_source(encoded)
                .copy_source_if_modified_since(future),
        ];
        for (i, a) in attempts.into_iter().enumerate() {
            let e = a.send().await.expect_err("condition");
            let raw = e.raw_response().map(|r| r.status().as_u16());
            assert_eq!(raw, Some(412), "conditional #{i}");
        }
        s3.copy_object()
            .bucket("dst")
            .key("c")
            .copy_source(encoded)
            .copy_source_if_match(&src_etag)
            .send()
            .await
            .expect("if-match holds");
        let e = s3
            .copy_object()
            .bucket("dst")
            .key("c")
            .copy_source("src/missing")
            .send()
            .await
            .expect_err("missing");
        assert_eq!(code_of(&e.into_service_error()), "NoSuchKey");

        // UploadPartCopy with a range, then a regular last part.
        let id = create(&s3, "dst", "assembled").await;
        let r1 = s3
            .upload_part_copy()
            .bucket("dst")
            .key("assembled")
            .upload_id(&id)
            .part_number(1)
            .copy_source(encoded)
            .copy_source_range(format!("bytes=100-{}", 100 + 5 * MIB - 1))
            .send()
            .await
            .expect("part copy");
        let e1 = r1
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .expect("etag")
            .to_string();
        let tail = pattern(1000, 10);
        let e2 = part(&s3, "dst", "assembled", &id, 2, &tail).await;
        let e = s3
            .upload_part_copy()
            .bucket("dst")
            .key("assembled")
            .upload_id(&id)
            .part_number(3)
            .copy_source(encoded)
            .copy_source_range(format!("bytes=0-{}", data.len()))
            .send()
            .await
            .expect_err("range past end");
        assert_eq!(code_of(&e.into_service_error()), "InvalidRange");
        complete(&s3, "dst", "assembled", &id, &[(1, &e1), (2, &e2)])
            .await
            .expect("complete");
        let want = [&data[100..100 + 5 * MIB], &tail[..]].concat();
        assert!(
            get_bytes(&s3, "dst", "assembled").await == want,
            "assembled bytes differ"
        );
    });
}

/// kill -9 while uploads run: every acknowledged part is listed after
/// restart, every upload can be completed (whole) or aborted.
#[test]
fn crash_during_concurrent_multipart_uploads() {
    let mut server = Server::start(2);
    let part_len = 5 * MIB;
    let acked: std::sync::Arc<std::sync::Mutex<Vec<(usize, i32, String)>>> = Default::default();
    let ids = rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("crash")
            .send()
            .await
            .expect("bucket");
        let mut ids = Vec::new();
        for u in 0..6 {
            ids.push(create(&s3, "crash", &format!("u{u}")).await);
        }
        for (u, id) in ids.iter().enumerate() {
            let (s3, id, acked) = (s3.clone(), id.clone(), acked.clone());
            tokio::spawn(async move {
                for n in 1..=6 {
                    let data = pattern(part_len, (u * 100 + n) as u64);
                    let r = s3
                        .upload_part()
                        .bucket("crash")
                        .key(format!("u{u}"))
                        .upload_id(&id)
                        .part_number(n as i32)
                        .body(ByteStream::from(data))
                        .send()
                        .await;
                    match r {
                        Ok(o) => acked.lock().expect("lock").push((
                            u,
                            n as i32,
                            o.e_tag().unwrap_or_default().to_string(),
                        )),
                        Err(_) => return,
                    }
                }
            });
        }
        while acked.lock().expect("lock").len() < 8 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        ids
    });
    server.kill9();
    let acked = acked.lock().expect("lock").clone();
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        for (u, id) in ids.iter().enumerate() {
            let key = format!("u{u}");
            let lp = s3
                .list_parts()
                .bucket("crash")
                .key(&key)
                .upload_id(id)
                .send()
                .await
                .expect("list parts after restart");
            let listed: Vec<(i32, String)> = lp
                .parts()
                .iter()
                .map(|p| {
                    (
                        p.part_number().unwrap_or(0),
                        p.e_tag().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            for (au, n, etag) in acked.iter().filter(|a| a.0 == u) {
                assert!(
                    listed.contains(&(*n, etag.clone())),
                    "upload {au}: acknowledged part {n} lost"
                );
            }
            if u == 5 {
                s3.abort_multipart_upload()
                    .bucket("crash")
                    .key(&key)
                    .upload_id(id)
                    .send()
                    .await
                    .expect("abort");
                continue;
            }
            // Complete with a prefix run of parts (all but the last ≥ 5 MiB holds: every part is 5 MiB).
            let run: Vec<(i32, String)> = listed
                .iter()
                .enumerate()
                .take_while(|(i, p)| p.0 == *i as i32 + 1)
                .map(|(_, p)| p.clone())
                .collect();
            if run.is_empty() {
                continue;
            }
            let refs: Vec<(i32, &str)> = run.iter().map(|(n, e)| (*n, e.as_str())).collect();
            complete(&s3, "crash", &key, id, &refs)
                .await
                .expect("complete after restart");
            let want: Vec<u8> = run
                .iter()
                .flat_map(|(n, _)| pattern(part_len, (u * 100 + *n as usize) as u64))
                .collect();
            assert!(
                get_bytes(&s3, "crash", &key).await == want,
                "upload {u} not whole"
            );
        }
    });
    // Completed objects survive another crash.
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let lu = s3
            .list_multipart_uploads()
            .bucket("crash")
            .send()
            .await
            .expect("list uploads");
        assert!(
            lu.uploads().iter().all(|u| u.key() != Some("u5")),
            "aborted upload is back"
        );
        let objs = s3
            .list_objects_v2()
            .bucket("crash")
            .send()
            .await
            .expect("list");
        for o in objs.contents() {
            let key = o.key().expect("key");
            let size = o.size().unwrap_or(0) as usize;
            assert_eq!(size % part_len, 0);
            assert_eq!(get_bytes(&s3, "crash", key).await.len(), size);
        }
    });
}

/// CompleteMultipartUpload honours If-None-Match: * and If-Match like PutObject;
/// a failed condition leaves the upload in progress.
fn conditional_complete() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = common::s3_client(&server).await;
        s3.create_bucket()
            .bucket("condmp")
            .send()
            .await
            .expect("create");
        let existing = s3
            .put_object()
            .bucket("condmp")
            .key("k")
            .body(ByteStream::from_static(b"old"))
            .send()
            .await
            .expect("put");
        let up = s3
            .create_multipart_upload()
            .bucket("condmp")
            .key("k")
            .send()
            .await
            .expect("init");
        let id = up.upload_id().expect("id").to_string();
        let part = s3
            .upload_part()
            .bucket("condmp")
            .key("k")
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from_static(b"new"))
            .send()
            .await
            .expect("part");
        let done = CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .e_tag(part.e_tag().expect("etag"))
                    .build(),
            )
            .build();
        let complete = || {
            s3.complete_multipart_upload()
                .bucket("condmp")
                .key("k")
                .upload_id(&id)
                .multipart_upload(done.clone())
        };
        let e = complete()
            .if_none_match("*")
            .send()
            .await
            .expect_err("key exists");
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
        let e = complete()
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await
            .expect_err("wrong etag");
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
        // The upload is still there, and completes when the condition holds.
        s3.list_parts()
            .bucket("condmp")
            .key("k")
            .upload_id(&id)
            .send()
            .await
            .expect("still in progress");
        complete()
            .if_match(existing.e_tag().expect("etag"))
            .send()
            .await
            .expect("right etag");
        let body = common::get_bytes(&s3, "condmp", "k").await;
        assert_eq!(body, b"new");
    });
}

/// CompleteMultipartUpload's conditions where they differ from 412:
/// `If-Match` on a key that does not exist is 404 NoSuchKey (as for PUT),
/// and a completion whose condition held when it arrived but not when it
/// committed lost a race: 409 ConditionalRequestConflict. The race is made
/// deterministic with `Expect: 100-continue`: the server checks the
/// condition, then asks for the body; the competing PUT commits in between.
/// The same completion arriving after the winner is a plain 412.
fn conditional_complete_on_a_missing_key_and_in_a_race() {
    use std::io::{BufReader, Write};
    let server = Server::start(2);
    let host = format!("127.0.0.1:{}", server.port);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("cmrace")
            .send()
            .await
            .expect("bucket");
        let id = create(&s3, "cmrace", "absent").await;
        let etag = part(&s3, "cmrace", "absent", &id, 1, b"part").await;
        let e = s3
            .complete_multipart_upload()
            .bucket("cmrace")
            .key("absent")
            .upload_id(&id)
            .multipart_upload(completed(&[(1, etag.as_str())]))
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await
            .expect_err("no such key");
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
        assert_eq!(code_of(&e.into_service_error()), "NoSuchKey");

        let id = create(&s3, "cmrace", "k").await;
        let etag = part(&s3, "cmrace", "k", &id, 1, b"from the upload").await;
        let body = format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>\
             <ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        );
        let now = ringstore::util::time::unix_now();
        let query = format!("uploadId={id}");
        let request = common::signed_request(
            "POST",
            "/cmrace/k",
            &query,
            &host,
            body.as_bytes(),
            now,
            &[("if-none-match", "*"), ("expect", "100-continue")],
        );
        let head_len = request.len() - body.len();
        let mut conn = std::net::TcpStream::connect(&host).expect("connect");
        conn.write_all(&request[..head_len]).expect("head");
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let interim = common::read_response(&mut reader, false).expect("100");
        assert_eq!(interim.status, 100, "the condition held on arrival");
        s3.put_object()
            .bucket("cmrace")
            .key("k")
            .body(ByteStream::from_static(b"the winner"))
            .send()
            .await
            .expect("competing put");
        conn.write_all(&request[head_len..]).expect("body");
        let r = common::read_response(&mut reader, false).expect("answer");
        assert_eq!(r.status, 409, "{}", r.body_text());
        assert!(
            r.body_text()
                .contains("<Code>ConditionalRequestConflict</Code>"),
            "{}",
            r.body_text()
        );
        assert_eq!(get_bytes(&s3, "cmrace", "k").await, b"the winner");
        let e = s3
            .complete_multipart_upload()
            .bucket("cmrace")
            .key("k")
            .upload_id(&id)
            .multipart_upload(completed(&[(1, etag.as_str())]))
            .if_none_match("*")
            .send()
            .await
            .expect_err("the key exists now");
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(412));
    });
}

/// The big-endian CRC S3 shows for `alg`.
fn crc_of(alg: &aws_sdk_s3::types::ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    use aws_sdk_s3::types::ChecksumAlgorithm as A;
    match alg {
        A::Crc32 => crc32fast::hash(data).to_be_bytes().to_vec(),
        A::Crc32C => crc32c::crc32c(data).to_be_bytes().to_vec(),
        _ => {
            let mut d = crc64fast_nvme::Digest::new();
            d.write(data);
            d.sum64().to_be_bytes().to_vec()
        }
    }
}

fn b64(raw: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// GET with checksum mode: the SDK validates a FULL_OBJECT checksum while
/// it reads the body (and fails on a mismatch); the answer must carry one.
async fn checked_get(s3: &Client, bucket: &str, key: &str) -> (Vec<u8>, String) {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .expect("get");
    assert_eq!(
        out.checksum_type(),
        Some(&aws_sdk_s3::types::ChecksumType::FullObject)
    );
    let value = [
        out.checksum_crc32(),
        out.checksum_crc32_c(),
        out.checksum_crc64_nvme(),
    ]
    .into_iter()
    .flatten()
    .next()
    .expect("a full-object CRC")
    .to_string();
    let body = out.body.collect().await.expect("verified body").to_vec();
    (body, value)
}

/// aws-sdk-s3 multipart uploads with FULL_OBJECT CRC32 / CRC32C /
/// CRC64NVME at 5 MiB + 1 and 64 MiB: the server combines the part CRCs
/// (never re-reading a part), checks the client's full-object value at
/// Complete (a wrong one is BadDigest and stores nothing), and the SDK
/// verifies the download. Then the SDK's plain default (no algorithm at
/// Create, its default CRC32 on every part): the object still gets a
/// whole-object CRC the download verifies.
fn full_object_checksums_verify_on_download() {
    use aws_sdk_s3::types::{ChecksumAlgorithm as A, ChecksumType};
    let server = Server::start(3);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("full")
            .send()
            .await
            .expect("bucket");
        for size in [5 * MIB + 1, 64 * MIB] {
            let data = pattern(size, size as u64);
            for alg in [A::Crc32, A::Crc32C, A::Crc64Nvme] {
                let key = format!("{alg:?}-{size}");
                let up = s3
                    .create_multipart_upload()
                    .bucket("full")
                    .key(&key)
                    .checksum_algorithm(alg.clone())
                    .checksum_type(ChecksumType::FullObject)
                    .send()
                    .await
                    .expect("create");
                assert_eq!(up.checksum_type(), Some(&ChecksumType::FullObject));
                let id = up.upload_id().expect("id").to_string();
                let mut parts = Vec::new();
                for (i, chunk) in data.chunks(8 * MIB).enumerate() {
                    let n = i as i32 + 1;
                    let r = s3
                        .upload_part()
                        .bucket("full")
                        .key(&key)
                        .upload_id(&id)
                        .part_number(n)
                        .checksum_algorithm(alg.clone())
                        .body(ByteStream::from(chunk.to_vec()))
                        .send()
                        .await
                        .expect("part");
                    parts.push(
                        CompletedPart::builder()
                            .part_number(n)
                            .e_tag(r.e_tag().expect("etag"))
                            .build(),
                    );
                }
                let whole = b64(&crc_of(&alg, &data));
                let with_value = |v: String| {
                    let b = s3
                        .complete_multipart_upload()
                        .bucket("full")
                        .key(&key)
                        .upload_id(&id)
                        .checksum_type(ChecksumType::FullObject)
                        .multipart_upload(
                            CompletedMultipartUpload::builder()
                                .set_parts(Some(parts.clone()))
                                .build(),
                        );
                    match alg {
                        A::Crc32 => b.checksum_crc32(v),
                        A::Crc32C => b.checksum_crc32_c(v),
                        _ => b.checksum_crc64_nvme(v),
                    }
                };
                let zero = b64(&vec![0u8; crc_of(&alg, b"").len()]);
                let e = with_value(zero).send().await.expect_err("wrong value");
                assert_eq!(code_of(&e.into_service_error()), "BadDigest");
                with_value(whole.clone()).send().await.expect("complete");
                let (body, value) = checked_get(&s3, "full", &key).await;
                assert!(body == data, "{key}: body differs");
                assert_eq!(value, whole, "{key}");
            }
            // The SDK's default: nothing declared, CRC32 on every part.
            let key = format!("default-{size}");
            let id = create(&s3, "full", &key).await;
            let mut done = Vec::new();
            for (i, chunk) in data.chunks(8 * MIB).enumerate() {
                let etag = part(&s3, "full", &key, &id, i as i32 + 1, chunk).await;
                done.push((i as i32 + 1, etag));
            }
            let refs: Vec<(i32, &str)> = done.iter().map(|(n, e)| (*n, e.as_str())).collect();
            complete(&s3, "full", &key, &id, &refs)
                .await
                .expect("complete");
            let (body, value) = checked_get(&s3, "full", &key).await;
            assert!(body == data, "{key}: body differs");
            assert_eq!(value, b64(&crc_of(&A::Crc32, &data)), "{key}");
        }
    });
}

/// A completion in a versioning-Suspended bucket names no version (S3
/// sends no x-amz-version-id there); in an Enabled one it does.
fn suspended_completion_names_no_version() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("susp")
            .send()
            .await
            .expect("bucket");
        for (status, named) in [
            (BucketVersioningStatus::Enabled, true),
            (BucketVersioningStatus::Suspended, false),
        ] {
            s3.put_bucket_versioning()
                .bucket("susp")
                .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                .send()
                .await
                .expect("versioning");
            let id = create(&s3, "susp", "k").await;
            let etag = part(&s3, "susp", "k", &id, 1, b"abc").await;
            let done = s3
                .complete_multipart_upload()
                .bucket("susp")
                .key("k")
                .upload_id(&id)
                .multipart_upload(completed(&[(1, etag.as_str())]))
                .send()
                .await
                .expect("complete");
            assert_eq!(done.version_id().is_some(), named, "{done:?}");
        }
    });
}

// Each on the log store and on `serve --memory`.
crate::on_both_backends!(
    upload_list_complete_and_read_parts,
    multipart_errors,
    copy_object_and_upload_part_copy,
    conditional_complete,
    full_object_checksums_verify_on_download,
    suspended_completion_names_no_version,
    conditional_complete_on_a_missing_key_and_in_a_race,
);
