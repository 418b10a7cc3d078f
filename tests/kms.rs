//! SSE-KMS with the built-in key service, through the admin API and
//! aws-sdk-s3: keys created, described, rotated, disabled and deleted;
//! objects of every size and multipart written under a key, read back,
//! copied between every pair of encryption kinds; bucket defaults; the
//! errors S3 answers; and keys and objects surviving kill -9.

mod common;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine;
use common::{admin_call, pattern, rt, s3_client, Server};
use md5::{Digest, Md5};
use serde_json::Value;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A body whose every 4 KiB holds a marker, so finding it on disk means
/// plaintext leaked.
fn marker_body(len: usize, seed: u64) -> Vec<u8> {
    let mut b = pattern(len, seed);
    for (i, chunk) in b.chunks_mut(4096).enumerate() {
        let tag = format!("KMS-PLAINTEXT-{seed}-{i:08}");
        let n = tag.len().min(chunk.len());
        chunk[..n].copy_from_slice(&tag.as_bytes()[..n]);
    }
    b
}

fn data_dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    let finder = memchr::memmem::Finder::new(needle);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if finder.find(&bytes).is_some() {
                    return true;
                }
            }
        }
    }
    false
}

/// `alias/x` as a path segment.
fn seg(key: &str) -> String {
    key.replace('/', "%2F")
}

fn kms(server: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    admin_call(server, method, &format!("kms/keys{path}"), &body)
}

/// Creates a key with `alias`; returns (id, arn).
fn create_key(server: &Server, alias: &str) -> (String, String) {
    let (status, v) = kms(server, "POST", "", serde_json::json!({ "alias": alias }));
    assert_eq!(status, 201, "{v}");
    (
        v["id"].as_str().expect("id").to_string(),
        v["arn"].as_str().expect("arn").to_string(),
    )
}

fn key_action(server: &Server, key: &str, action: &str, body: Value) -> (u16, Value) {
    kms(server, "POST", &format!("/{}/{action}", seg(key)), body)
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(o.body.collect().await.expect("body").into_bytes().to_vec()),
        Err(e) => Err(e.into_service_error().code().unwrap_or("?").to_string()),
    }
}

async fn make_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
}

fn keys_are_managed_through_the_admin_api() {
    let server = Server::start_with(2, &["--kms-min-deletion-wait-secs", "60"]);
    let (id, arn) = create_key(&server, "billing");
    assert_eq!(id.len(), 36);
    assert!(arn.starts_with("arn:aws:kms:us-east-1:") && arn.ends_with(&format!(":key/{id}")));
    // Named by id, ARN or alias; never with material.
    for name in [id.as_str(), arn.as_str(), "alias/billing"] {
        let (status, v) = kms(&server, "GET", &format!("/{}", seg(name)), Value::Null);
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["alias"], "alias/billing");
        assert_eq!(v["state"], "Enabled");
        assert!(!v.to_string().contains("material"), "{v}");
    }
    let (status, _) = kms(&server, "GET", "/alias%2Fnope", Value::Null);
    assert_eq!(status, 404);
    let (status, v) = kms(
        &server,
        "POST",
        "",
        serde_json::json!({ "alias": "billing" }),
    );
    assert_eq!(status, 409, "alias taken: {v}");
    let (status, v) = kms(
        &server,
        "POST",
        "",
        serde_json::json!({ "alias": "bad name" }),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = key_action(&server, &id, "rotate", Value::Null);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["current_version"], 2);
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(2));
    let (status, v) = key_action(&server, "alias/billing", "disable", Value::Null);
    assert_eq!((status, v["state"].as_str()), (200, Some("Disabled")));
    let (status, _) = key_action(&server, "alias/billing", "rotate", Value::Null);
    assert_eq!(status, 409, "a disabled key does not rotate");
    let (status, v) = key_action(&server, &id, "enable", Value::Null);
    assert_eq!((status, v["state"].as_str()), (200, Some("Enabled")));
    // Waiting periods below the server's minimum or above 30 days are refused.
    for body in [
        serde_json::json!({ "pending_window_secs": 59 }),
        serde_json::json!({ "pending_window_days": 31 }),
        serde_json::json!({ "pending_window_days": 7, "pending_window_secs": 60 }),
    ] {
        let (status, v) = key_action(&server, &id, "schedule-deletion", body.clone());
        assert_eq!(status, 400, "{body}: {v}");
    }
    let (status, v) = key_action(&server, &id, "schedule-deletion", Value::Null);
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("PendingDeletion"))
    );
    assert!(v["deletion_date"].is_string(), "{v}");
    let (status, _) = key_action(&server, &id, "enable", Value::Null);
    assert_eq!(status, 409, "a key pending deletion is not enabled");
    let (status, v) = key_action(&server, &id, "cancel-deletion", Value::Null);
    assert_eq!((status, v["state"].as_str()), (200, Some("Disabled")));
    let (status, v) = kms(&server, "GET", "", Value::Null);
    assert_eq!(status, 200);
    assert_eq!(v["keys"].as_array().map(Vec::len), Some(1), "{v}");
    // The key store is the catalog: private, and holding wrapped material only.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(server.data_dir.join("catalog.json")).expect("catalog");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

fn kms_objects_of_every_size_round_trip_with_their_headers() {
    let server = Server::start(2);
    let (_, arn) = create_key(&server, "app");
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        make_bucket(&s3, "kms").await;
        let context = r#"{"tenant":"a","purpose":"test"}"#;
        let sizes = [
            1usize,
            100,
            64 * 1024,
            64 * 1024 + 1,
            (1 << 20) + 3,
            8 << 20,
        ];
        for (i, &n) in sizes.iter().enumerate() {
            let body = marker_body(n, i as u64);
            let key = format!("obj-{i}");
            let put = s3
                .put_object()
                .bucket("kms")
                .key(&key)
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id("alias/app")
                .ssekms_encryption_context(b64(context.as_bytes()))
                .bucket_key_enabled(true)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .expect("put");
            assert_eq!(
                put.server_side_encryption(),
                Some(&ServerSideEncryption::AwsKms)
            );
            assert_eq!(put.ssekms_key_id(), Some(arn.as_str()));
            assert_eq!(
                put.ssekms_encryption_context(),
                Some(b64(context.as_bytes()).as_str())
            );
            assert_eq!(put.bucket_key_enabled(), Some(true));
            let md5: String = Md5::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_ne!(
                put.e_tag(),
                Some(format!("\"{md5}\"").as_str()),
                "not the MD5, as S3"
            );
            let got = s3
                .get_object()
                .bucket("kms")
                .key(&key)
                .send()
                .await
                .expect("get");
            assert_eq!(
                got.server_side_encryption(),
                Some(&ServerSideEncryption::AwsKms)
            );
            assert_eq!(got.ssekms_key_id(), Some(arn.as_str()));
            assert_eq!(got.e_tag(), put.e_tag());
            let bytes = got.body.collect().await.expect("body").into_bytes();
            assert!(bytes == body, "size {n}");
            let head = s3
                .head_object()
                .bucket("kms")
                .key(&key)
                .send()
                .await
                .expect("head");
            assert_eq!(head.content_length(), Some(n as i64));
            assert_eq!(head.ssekms_key_id(), Some(arn.as_str()));
            if n > 70_000 {
                let r = s3
                    .get_object()
                    .bucket("kms")
                    .key(&key)
                    .range("bytes=65530-65545")
                    .send()
                    .await
                    .expect("range");
                let part = r.body.collect().await.expect("body").into_bytes();
                assert!(part == body[65530..=65545]);
            }
        }
        // aws:kms without a key: the server's default key (alias/aws/s3).
        let put = s3
            .put_object()
            .bucket("kms")
            .key("default-key")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .body(ByteStream::from_static(b"default key"))
            .send()
            .await
            .expect("put default");
        let (status, v) = kms(&server, "GET", "/alias%2Faws%2Fs3", Value::Null);
        assert_eq!(status, 200, "{v}");
        assert_eq!(put.ssekms_key_id(), v["arn"].as_str());
        assert_eq!(
            get(&s3, "kms", "default-key").await.as_deref(),
            Ok(&b"default key"[..])
        );
        // aws:kms:dsse is accepted as KMS and answered as such.
        let put = s3
            .put_object()
            .bucket("kms")
            .key("dsse")
            .server_side_encryption(ServerSideEncryption::AwsKmsDsse)
            .ssekms_key_id(&arn)
            .body(ByteStream::from_static(b"dsse"))
            .send()
            .await
            .expect("put dsse");
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKmsDsse)
        );
        assert_eq!(get(&s3, "kms", "dsse").await.as_deref(), Ok(&b"dsse"[..]));
    });
    for i in 0..6u64 {
        let marker = format!("KMS-PLAINTEXT-{i}-00000000");
        assert!(
            !data_dir_contains(&server.data_dir, marker.as_bytes()),
            "plaintext of obj-{i} on disk"
        );
    }
}

/// Multipart under a key, and copies between every pair of none, SSE-S3,
/// SSE-C and SSE-KMS.
fn kms_multipart_and_every_copy_combination() {
    let server = Server::start_with(2, &["--allow-sse-c-over-http"]);
    let (_, arn) = create_key(&server, "mp");
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        make_bucket(&s3, "mpb").await;
        let body = marker_body((5 << 20) + (1 << 20) + 7, 40);
        let up = s3
            .create_multipart_upload()
            .bucket("mpb")
            .key("big")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("alias/mp")
            .send()
            .await
            .expect("create upload");
        assert_eq!(up.ssekms_key_id(), Some(arn.as_str()));
        let id = up.upload_id().expect("id");
        let mut parts = Vec::new();
        for (n, piece) in body.chunks(5 << 20).enumerate() {
            let p = s3
                .upload_part()
                .bucket("mpb")
                .key("big")
                .upload_id(id)
                .part_number(n as i32 + 1)
                .body(ByteStream::from(piece.to_vec()))
                .send()
                .await
                .expect("part");
            assert_eq!(p.ssekms_key_id(), Some(arn.as_str()));
            parts.push(
                CompletedPart::builder()
                    .part_number(n as i32 + 1)
                    .set_e_tag(p.e_tag().map(str::to_string))
                    .build(),
            );
        }
        let done = s3
            .complete_multipart_upload()
            .bucket("mpb")
            .key("big")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .expect("complete");
        assert_eq!(
            done.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(done.ssekms_key_id(), Some(arn.as_str()));
        assert!(get(&s3, "mpb", "big").await.expect("get") == body);

        // Every source kind to every destination kind.
        let c_key = [3u8; 32];
        let c = (b64(&c_key), b64(&Md5::digest(c_key)));
        let kinds = ["none", "s3", "c", "kms"];
        let small = marker_body(70_000, 41);
        for src in kinds {
            let mut put = s3.put_object().bucket("mpb").key(format!("src-{src}"));
            put = match src {
                "s3" => put.server_side_encryption(ServerSideEncryption::Aes256),
                "c" => put
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(&c.0)
                    .sse_customer_key_md5(&c.1),
                "kms" => put
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(&arn),
                _ => put,
            };
            put.body(ByteStream::from(small.clone()))
                .send()
                .await
                .expect("put src");
            for dst in kinds {
                let dst_key = format!("copy-{src}-{dst}");
                let mut cp = s3
                    .copy_object()
                    .bucket("mpb")
                    .key(&dst_key)
                    .copy_source(format!("mpb/src-{src}"));
                if src == "c" {
                    cp = cp
                        .copy_source_sse_customer_algorithm("AES256")
                        .copy_source_sse_customer_key(&c.0)
                        .copy_source_sse_customer_key_md5(&c.1);
                }
                cp = match dst {
                    "s3" => cp.server_side_encryption(ServerSideEncryption::Aes256),
                    "c" => cp
                        .sse_customer_algorithm("AES256")
                        .sse_customer_key(&c.0)
                        .sse_customer_key_md5(&c.1),
                    "kms" => cp
                        .server_side_encryption(ServerSideEncryption::AwsKms)
                        .ssekms_key_id("alias/mp"),
                    _ => cp,
                };
                let out = cp.send().await.unwrap_or_else(|e| {
                    panic!("copy {src} -> {dst}: {:?}", e.into_service_error().code())
                });
                let expect_sse = match dst {
                    "s3" => Some(&ServerSideEncryption::Aes256),
                    "kms" => Some(&ServerSideEncryption::AwsKms),
                    _ => None,
                };
                assert_eq!(out.server_side_encryption(), expect_sse, "{src} -> {dst}");
                assert_eq!(
                    out.ssekms_key_id(),
                    (dst == "kms").then_some(arn.as_str()),
                    "{src} -> {dst}"
                );
                let mut g = s3.get_object().bucket("mpb").key(&dst_key);
                if dst == "c" {
                    g = g
                        .sse_customer_algorithm("AES256")
                        .sse_customer_key(&c.0)
                        .sse_customer_key_md5(&c.1);
                }
                let got = g.send().await.expect("get copy");
                let bytes = got.body.collect().await.expect("body").into_bytes();
                assert!(bytes == small, "{src} -> {dst}");
            }
        }
    });
    assert!(!data_dir_contains(
        &server.data_dir,
        b"KMS-PLAINTEXT-40-00000001"
    ));
}

fn bucket_default_kms_applies_to_writes_without_headers() {
    let server = Server::start(1);
    let (_, arn) = create_key(&server, "dflt");
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        make_bucket(&s3, "dflt").await;
        let config = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(ServerSideEncryption::AwsKms)
                            .kms_master_key_id("alias/dflt")
                            .build()
                            .expect("default"),
                    )
                    .bucket_key_enabled(true)
                    .build(),
            )
            .build()
            .expect("config");
        s3.put_bucket_encryption()
            .bucket("dflt")
            .server_side_encryption_configuration(config)
            .send()
            .await
            .expect("put default");
        let got = s3
            .get_bucket_encryption()
            .bucket("dflt")
            .send()
            .await
            .expect("get");
        let rule = &got
            .server_side_encryption_configuration()
            .expect("config")
            .rules()[0];
        let d = rule
            .apply_server_side_encryption_by_default()
            .expect("default");
        assert_eq!(d.sse_algorithm(), &ServerSideEncryption::AwsKms);
        assert_eq!(d.kms_master_key_id(), Some("alias/dflt"));
        let put = s3
            .put_object()
            .bucket("dflt")
            .key("plain-request")
            .body(ByteStream::from_static(b"by default"))
            .send()
            .await
            .expect("put");
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::AwsKms)
        );
        assert_eq!(put.ssekms_key_id(), Some(arn.as_str()));
        assert_eq!(put.bucket_key_enabled(), Some(true));
        let up = s3
            .create_multipart_upload()
            .bucket("dflt")
            .key("mp")
            .send()
            .await
            .expect("upload");
        assert_eq!(up.ssekms_key_id(), Some(arn.as_str()));
        let cp = s3
            .copy_object()
            .bucket("dflt")
            .key("copied")
            .copy_source("dflt/plain-request")
            .send()
            .await
            .expect("copy");
        assert_eq!(cp.ssekms_key_id(), Some(arn.as_str()));
        assert_eq!(
            get(&s3, "dflt", "copied").await.as_deref(),
            Ok(&b"by default"[..])
        );
        // An explicit AES256 still wins over the default.
        let put = s3
            .put_object()
            .bucket("dflt")
            .key("sse-s3")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
    });
}

fn kms_requests_s3_refuses_are_refused() {
    let server = Server::start(1);
    let (_, arn) = create_key(&server, "e");
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        make_bucket(&s3, "err").await;
        let put = |key: &str| {
            s3.put_object()
                .bucket("err")
                .key(key.to_string())
                .body(ByteStream::from_static(b"x"))
        };
        let code = |r: Result<
            _,
            aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::put_object::PutObjectError, _>,
        >| {
            r.map(|_| ())
                .map_err(|e| e.into_service_error().code().unwrap_or("?").to_string())
        };
        let unknown = put("a")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("alias/none")
            .send()
            .await;
        assert_eq!(code(unknown), Err("KMS.NotFoundException".to_string()));
        let no_sse = put("b").ssekms_key_id(&arn).send().await;
        assert_eq!(code(no_sse), Err("InvalidArgument".to_string()));
        let aes = put("c")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .ssekms_key_id(&arn)
            .send()
            .await;
        assert_eq!(code(aes), Err("InvalidArgument".to_string()));
        let bad_context = put("d")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_encryption_context(b64(b"not json"))
            .send()
            .await;
        assert_eq!(code(bad_context), Err("InvalidArgument".to_string()));
        for key in ["a", "b", "c", "d"] {
            assert_eq!(
                get(&s3, "err", key).await,
                Err("NoSuchKey".to_string()),
                "{key} stored"
            );
        }
        // A read names no encryption.
        put("ok")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&arn)
            .send()
            .await
            .expect("put");
        let r = s3
            .get_object()
            .bucket("err")
            .key("ok")
            .customize()
            .mutate_request(|r| {
                r.headers_mut()
                    .insert("x-amz-server-side-encryption", "aws:kms");
            })
            .send()
            .await;
        assert_eq!(
            r.map(|_| ())
                .map_err(|e| e.into_service_error().code().map(str::to_string)),
            Err(Some("InvalidArgument".to_string()))
        );
        // An SSE-C key on a read of a KMS object.
        let k = [1u8; 32];
        let r = s3
            .get_object()
            .bucket("err")
            .key("ok")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(b64(&k))
            .sse_customer_key_md5(b64(&Md5::digest(k)))
            .send()
            .await;
        assert!(r.is_err());
    });
}

fn key_states_rotation_and_deletion_gate_objects() {
    let server = Server::start_with(2, &["--kms-min-deletion-wait-secs", "2"]);
    let (id, arn) = create_key(&server, "life");
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        make_bucket(&s3, "life").await;
        let put = |key: &'static str| {
            s3.put_object()
                .bucket("life")
                .key(key)
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id("alias/life")
                .body(ByteStream::from(key.as_bytes().to_vec()))
                .send()
        };
        put("v1").await.expect("put v1");
        // Read once, so its shard holds the opened data key.
        assert_eq!(get(&s3, "life", "v1").await.as_deref(), Ok(&b"v1"[..]));
        // Disabled: reads and writes refused; metadata still answers.
        assert_eq!(key_action(&server, &id, "disable", Value::Null).0, 200);
        assert_eq!(
            get(&s3, "life", "v1").await,
            Err("KMS.DisabledException".into())
        );
        let e = put("x").await.expect_err("put under a disabled key");
        assert_eq!(e.into_service_error().code(), Some("KMS.DisabledException"));
        s3.head_object()
            .bucket("life")
            .key("v1")
            .send()
            .await
            .expect("head");
        assert_eq!(key_action(&server, &id, "enable", Value::Null).0, 200);
        assert_eq!(get(&s3, "life", "v1").await.as_deref(), Ok(&b"v1"[..]));
        // Rotation: new objects under version 2, old ones still open.
        assert_eq!(key_action(&server, &id, "rotate", Value::Null).0, 200);
        put("v2").await.expect("put v2");
        assert_eq!(get(&s3, "life", "v1").await.as_deref(), Ok(&b"v1"[..]));
        assert_eq!(get(&s3, "life", "v2").await.as_deref(), Ok(&b"v2"[..]));
        // Deletion: refused at once, destroyed after the waiting period.
        let body = serde_json::json!({ "pending_window_secs": 2 });
        assert_eq!(key_action(&server, &id, "schedule-deletion", body).0, 200);
        assert_eq!(
            get(&s3, "life", "v1").await,
            Err("KMS.KMSInvalidStateException".into())
        );
        let e = put("y")
            .await
            .expect_err("put under a key pending deletion");
        assert_eq!(
            e.into_service_error().code(),
            Some("KMS.KMSInvalidStateException")
        );
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        assert_eq!(
            get(&s3, "life", "v2").await,
            Err("KMS.NotFoundException".into())
        );
        // Shard 0 drops it from the key store.
        let mut gone = false;
        for _ in 0..50 {
            let catalog =
                std::fs::read_to_string(server.data_dir.join("catalog.json")).expect("catalog");
            if !catalog.contains(&id) {
                gone = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(gone, "key {arn} still in the key store");
        assert_eq!(kms(&server, "GET", &format!("/{id}"), Value::Null).0, 404);
        assert_eq!(
            get(&s3, "life", "v1").await,
            Err("KMS.NotFoundException".into())
        );
    });
}

#[test]
fn keys_and_kms_objects_survive_kill_9() {
    let mut server = Server::start(2);
    let (id, _) = create_key(&server, "durable");
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|i| marker_body(1000 + i * 70_000, 60 + i as u64))
        .collect();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        make_bucket(&s3, "dur").await;
        for (i, b) in bodies.iter().enumerate() {
            if i == 2 {
                assert_eq!(key_action(&server, &id, "rotate", Value::Null).0, 200);
            }
            s3.put_object()
                .bucket("dur")
                .key(format!("k{i}"))
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(&id)
                .ssekms_encryption_context(b64(br#"{"i":"x"}"#))
                .body(ByteStream::from(b.clone()))
                .send()
                .await
                .expect("put");
        }
    });
    assert_eq!(key_action(&server, &id, "disable", Value::Null).0, 200);
    server.restart();
    let (status, v) = kms(&server, "GET", &format!("/{id}"), Value::Null);
    assert_eq!(
        (status, v["state"].as_str()),
        (200, Some("Disabled")),
        "{v}"
    );
    assert_eq!(v["current_version"], 2);
    assert_eq!(key_action(&server, &id, "enable", Value::Null).0, 200);
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        for (i, b) in bodies.iter().enumerate() {
            let got = s3
                .get_object()
                .bucket("dur")
                .key(format!("k{i}"))
                .send()
                .await
                .expect("get");
            assert_eq!(
                got.server_side_encryption(),
                Some(&ServerSideEncryption::AwsKms)
            );
            let bytes = got.body.collect().await.expect("body").into_bytes();
            assert!(bytes == *b, "k{i}");
        }
    });
}

/// boto3 and the aws CLI (tests/python/test_kms.py) against a key made here.
#[test]
fn boto3_and_aws_cli_use_kms_keys() {
    let server = Server::start(2);
    let (_, arn) = create_key(&server, "py");
    let api_key = common::admin_api_key(&server);
    // Bucket policies bind every credential but the root one.
    let tenant = common::create_credential(&server, "tenant");
    common::run_pytest(
        &server,
        "test_kms.py",
        &[
            ("KMS_KEY_ARN", arn.as_str()),
            ("ADMIN_API_KEY", api_key.as_str()),
            ("TENANT_ACCESS_KEY", tenant.access_key.as_str()),
            ("TENANT_SECRET_KEY", tenant.secret_key.as_str()),
        ],
    );
}

// Each on the log store and on `serve --memory` (whose key service is the
// same catalog, in its throw-away catalog dir).
crate::on_both_backends!(
    keys_are_managed_through_the_admin_api,
    kms_objects_of_every_size_round_trip_with_their_headers,
    kms_multipart_and_every_copy_combination,
    bucket_default_kms_applies_to_writes_without_headers,
    kms_requests_s3_refuses_are_refused,
    key_states_rotation_and_deletion_gate_objects,
);
