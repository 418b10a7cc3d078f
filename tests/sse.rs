//! Server-side encryption through aws-sdk-s3: SSE-S3 and SSE-C on PUT,
//! GET/HEAD (whole, ranges across chunk and part boundaries, partNumber),
//! multipart uploads, copies between encrypted and plain objects, the
//! errors S3 gives for missing, wrong or misplaced keys, and the bytes on
//! disk: no plaintext of an encrypted object is in the data dir.

mod common;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use base64::Engine;
use common::{pattern, rt, s3_client, Server};
use md5::{Digest, Md5};

const CHUNK: usize = 64 * 1024;

/// The SDK's three SSE-C setters on any request builder that has them.
trait SseC: Sized {
    fn sse_c_parts(self, key: &str, key_md5: &str) -> Self;
    fn sse_c(self, key: &(String, String)) -> Self {
        self.sse_c_parts(&key.0, &key.1)
    }
}

macro_rules! impl_sse_c {
    ($($t:ty),* $(,)?) => {$(
        impl SseC for $t {
            fn sse_c_parts(self, key: &str, key_md5: &str) -> Self {
                self.sse_customer_algorithm("AES256")
                    .sse_customer_key(key)
                    .sse_customer_key_md5(key_md5)
            }
        }
    )*};
}

use aws_sdk_s3::operation as ops;
impl_sse_c!(
    ops::put_object::builders::PutObjectFluentBuilder,
    ops::get_object::builders::GetObjectFluentBuilder,
    ops::head_object::builders::HeadObjectFluentBuilder,
    ops::upload_part::builders::UploadPartFluentBuilder,
    ops::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder,
    ops::copy_object::builders::CopyObjectFluentBuilder,
);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// An SSE-C key: (algorithm, key, key MD5) as the SDK's builders take them.
fn customer(seed: u8) -> (String, String) {
    let key = [seed; 32];
    (b64(&key), b64(&Md5::digest(key)))
}

/// A body no other test data resembles, so finding it on disk means plaintext leaked.
fn marker_body(len: usize, seed: u64) -> Vec<u8> {
    let mut b = pattern(len, seed);
    for (i, chunk) in b.chunks_mut(4096).enumerate() {
        let tag = format!("PLAINTEXT-MARKER-{seed}-{i:08}");
        let n = tag.len().min(chunk.len());
        chunk[..n].copy_from_slice(&tag.as_bytes()[..n]);
    }
    b
}

/// Whether any file under the data dir contains `needle`.
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

async fn get_range(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    range: Option<String>,
    sse_c: Option<&(String, String)>,
) -> Result<Vec<u8>, String> {
    let mut g = s3.get_object().bucket(bucket).key(key).set_range(range);
    if let Some((k, m)) = sse_c {
        g = g.sse_c_parts(k, m);
    }
    let out = g.send().await.map_err(|e| {
        let e = e.into_service_error();
        e.code().unwrap_or("?").to_string()
    })?;
    Ok(out
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec())
}

#[test]
fn sse_s3_objects_are_encrypted_at_rest_and_read_back() {
    let mut server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("enc")
            .send()
            .await
            .expect("create");
        // Sizes around the 64 KiB chunk: empty, tiny, exact, one past, several.
        let sizes = [0, 1, 4096, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 1 << 20];
        for (i, &n) in sizes.iter().enumerate() {
            let body = marker_body(n, i as u64);
            let key = format!("obj-{i}");
            let put = s3
                .put_object()
                .bucket("enc")
                .key(&key)
                .server_side_encryption(ServerSideEncryption::Aes256)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .expect("put");
            assert_eq!(
                put.server_side_encryption(),
                Some(&ServerSideEncryption::Aes256)
            );
            // SSE-S3 ETags are the plaintext's MD5, as on S3.
            assert_eq!(
                put.e_tag().map(|e| e.trim_matches('"').to_string()),
                Some(hex(&Md5::digest(&body)))
            );
            let head = s3
                .head_object()
                .bucket("enc")
                .key(&key)
                .send()
                .await
                .expect("head");
            assert_eq!(head.content_length(), Some(n as i64));
            assert_eq!(
                head.server_side_encryption(),
                Some(&ServerSideEncryption::Aes256)
            );
            assert_eq!(
                get_range(&s3, "enc", &key, None, None).await.expect("get"),
                body,
                "{n}"
            );
            if n > 10 {
                // Ranges inside a chunk, across chunk boundaries, and the tail.
                for (a, b) in [
                    (1, 9),
                    (CHUNK - 5, CHUNK + 5),
                    (n / 3, 2 * n / 3),
                    (n - 7, n - 1),
                ] {
                    if a > b || b >= n {
                        continue;
                    }
                    let got = get_range(&s3, "enc", &key, Some(format!("bytes={a}-{b}")), None)
                        .await
                        .expect("range");
                    assert_eq!(got, &body[a..=b], "{n} {a}-{b}");
                }
            }
        }
        let listed = s3
            .list_objects_v2()
            .bucket("enc")
            .send()
            .await
            .expect("list");
        let mut got: Vec<(String, i64)> = listed
            .contents()
            .iter()
            .map(|o| (o.key().unwrap_or("").to_string(), o.size().unwrap_or(-1)))
            .collect();
        got.sort();
        for (i, &n) in sizes.iter().enumerate() {
            assert!(
                got.contains(&(format!("obj-{i}"), n as i64)),
                "list sizes are plaintext: {got:?}"
            );
        }
    });
    // Nothing of the plaintext is on disk, and after a restart the objects
    // still open (the master key was kept in the data dir).
    assert!(!data_dir_contains(&server.data_dir, b"PLAINTEXT-MARKER-6-"));
    let mode = std::fs::metadata(server.data_dir.join("sse-master.key"))
        .expect("master key")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    // kill -9, then the offline checker finds every record sound.
    server.kill9();
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .arg("verify")
        .arg(&server.data_dir)
        .output()
        .expect("run verify");
    assert!(
        verify.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
    server.restart();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let got = get_range(&s3, "enc", "obj-6", None, None)
            .await
            .expect("get after restart");
        assert_eq!(got, marker_body(1 << 20, 6));
    });
}

#[test]
fn plain_objects_stay_plain() {
    // The control for the on-disk check above: an unencrypted body is found.
    let server = Server::start(1);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("plain")
            .send()
            .await
            .expect("create");
        let put = s3
            .put_object()
            .bucket("plain")
            .key("p")
            .body(ByteStream::from(marker_body(10_000, 42)))
            .send()
            .await
            .expect("put");
        assert_eq!(put.server_side_encryption(), None);
    });
    assert!(data_dir_contains(&server.data_dir, b"PLAINTEXT-MARKER-42-"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sse_c_needs_the_key_it_was_written_with() {
    let server = Server::start_with(2, &["--allow-sse-c-over-http"]);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("cust")
            .send()
            .await
            .expect("create");
        let key = customer(7);
        let body = marker_body(200_000, 77);
        let put = s3
            .put_object()
            .bucket("cust")
            .key("secret")
            .sse_c(&key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
        assert_eq!(put.sse_customer_algorithm(), Some("AES256"));
        assert_eq!(put.sse_customer_key_md5(), Some(key.1.as_str()));
        // The ETag does not give away the plaintext's MD5.
        let etag = put.e_tag().unwrap_or("").trim_matches('"').to_string();
        assert_eq!(etag.len(), 32);
        assert_ne!(etag, hex(&Md5::digest(&body)));

        assert_eq!(
            get_range(&s3, "cust", "secret", None, Some(&key))
                .await
                .expect("get"),
            body
        );
        let got = get_range(
            &s3,
            "cust",
            "secret",
            Some("bytes=65530-131100".into()),
            Some(&key),
        )
        .await
        .expect("range");
        assert_eq!(got, &body[65530..=131100]);
        // Without the key: InvalidRequest; with another key: AccessDenied.
        assert_eq!(
            get_range(&s3, "cust", "secret", None, None).await,
            Err("InvalidRequest".into())
        );
        assert_eq!(
            get_range(&s3, "cust", "secret", None, Some(&customer(8))).await,
            Err("AccessDenied".into())
        );
        let head = s3
            .head_object()
            .bucket("cust")
            .key("secret")
            .sse_c(&key)
            .send()
            .await
            .expect("head with key");
        assert_eq!(head.content_length(), Some(200_000));
        assert_eq!(head.sse_customer_key_md5(), Some(key.1.as_str()));
        let head = s3.head_object().bucket("cust").key("secret").send().await;
        assert!(head.is_err(), "HEAD without the key must fail");
        // A key sent for an object that is not SSE-C is refused.
        s3.put_object()
            .bucket("cust")
            .key("open")
            .body(ByteStream::from_static(b"open"))
            .send()
            .await
            .expect("put plain");
        assert_eq!(
            get_range(&s3, "cust", "open", None, Some(&key)).await,
            Err("InvalidRequest".into())
        );
        // A key whose MD5 is not the one sent is refused before any byte is stored.
        let bad = s3
            .put_object()
            .bucket("cust")
            .key("bad")
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key.0)
            .sse_customer_key_md5(customer(9).1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("bad md5");
        assert_eq!(bad.into_service_error().code(), Some("InvalidArgument"));
        assert!(s3
            .head_object()
            .bucket("cust")
            .key("bad")
            .send()
            .await
            .is_err());
    });
    assert!(!data_dir_contains(
        &server.data_dir,
        b"PLAINTEXT-MARKER-77-"
    ));
}

fn sse_c_is_refused_over_plain_http_by_default() {
    let server = Server::start(1);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("bkt")
            .send()
            .await
            .expect("create");
        let key = customer(1);
        let e = s3
            .put_object()
            .bucket("bkt")
            .key("k")
            .sse_c(&key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("plain http");
        let e = e.into_service_error();
        assert_eq!(e.code(), Some("InvalidRequest"));
        assert!(e.message().unwrap_or("").contains("secure connection"));
        // aws:kms naming a key the key service lacks: refused, not stored plain.
        let e = s3
            .put_object()
            .bucket("bkt")
            .key("k")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("alias/no-such-key")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("kms");
        assert_eq!(e.into_service_error().code(), Some("KMS.NotFoundException"));
    });
}

fn encrypted_multipart_uploads_and_copies() {
    let server = Server::start_with(2, &["--allow-sse-c-over-http"]);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("mpu")
            .send()
            .await
            .expect("create");
        let part1 = marker_body(5 << 20, 100);
        let part2 = marker_body(CHUNK * 3 + 5, 101);
        for (key, sse_c) in [("mp-s3", None), ("mp-c", Some(customer(3)))] {
            let mut create = s3.create_multipart_upload().bucket("mpu").key(key);
            create = match &sse_c {
                None => create.server_side_encryption(ServerSideEncryption::Aes256),
                Some((k, m)) => create.sse_c_parts(k, m),
            };
            let up = create.send().await.expect("create upload");
            let id = up.upload_id().expect("id").to_string();
            if sse_c.is_some() {
                // A part of an SSE-C upload needs the upload's key.
                let e = s3
                    .upload_part()
                    .bucket("mpu")
                    .key(key)
                    .upload_id(&id)
                    .part_number(1)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
                    .expect_err("part without key");
                assert_eq!(e.into_service_error().code(), Some("InvalidRequest"));
            }
            let mut done = Vec::new();
            for (n, body) in [(1, &part1), (2, &part2)] {
                let mut p = s3
                    .upload_part()
                    .bucket("mpu")
                    .key(key)
                    .upload_id(&id)
                    .part_number(n)
                    .body(ByteStream::from(body.clone()));
                if let Some((k, m)) = &sse_c {
                    p = p.sse_c_parts(k, m);
                }
                let out = p.send().await.expect("part");
                done.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .build(),
                );
            }
            let parts = s3
                .list_parts()
                .bucket("mpu")
                .key(key)
                .upload_id(&id)
                .send()
                .await
                .expect("list parts");
            let sizes: Vec<i64> = parts
                .parts()
                .iter()
                .map(|p| p.size().unwrap_or(-1))
                .collect();
            assert_eq!(
                sizes,
                [part1.len() as i64, part2.len() as i64],
                "ListParts sizes are plaintext"
            );
            let complete = s3
                .complete_multipart_upload()
                .bucket("mpu")
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done))
                        .build(),
                )
                .send()
                .await
                .expect("complete");
            if sse_c.is_none() {
                assert_eq!(
                    complete.server_side_encryption(),
                    Some(&ServerSideEncryption::Aes256)
                );
            }
            let whole: Vec<u8> = [part1.clone(), part2.clone()].concat();
            let got = get_range(&s3, "mpu", key, None, sse_c.as_ref())
                .await
                .expect("get");
            assert!(got == whole, "{key}: whole object differs");
            let a = part1.len() - 100;
            let got = get_range(
                &s3,
                "mpu",
                key,
                Some(format!("bytes={a}-{}", a + CHUNK + 200)),
                sse_c.as_ref(),
            )
            .await
            .expect("range across parts");
            assert!(
                got == whole[a..=a + CHUNK + 200],
                "{key}: range across the part boundary"
            );
            let mut g = s3.get_object().bucket("mpu").key(key).part_number(2);
            if let Some((k, m)) = &sse_c {
                g = g.sse_c_parts(k, m);
            }
            let p2 = g
                .send()
                .await
                .expect("part 2")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            assert!(p2.as_ref() == part2.as_slice(), "{key}: partNumber=2");
        }

        // Copies: SSE-C source → plain, plain → SSE-S3, SSE-S3 → SSE-C,
        // and re-encrypting an object in place.
        let (k, m) = customer(3);
        s3.copy_object()
            .bucket("mpu")
            .key("copy-plain")
            .copy_source("mpu/mp-c")
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(&k)
            .copy_source_sse_customer_key_md5(&m)
            .send()
            .await
            .expect("copy SSE-C to plain");
        let whole: Vec<u8> = [part1.clone(), part2.clone()].concat();
        assert!(
            get_range(&s3, "mpu", "copy-plain", None, None)
                .await
                .expect("get")
                == whole
        );
        let e = s3
            .copy_object()
            .bucket("mpu")
            .key("copy-nokey")
            .copy_source("mpu/mp-c")
            .send()
            .await
            .expect_err("SSE-C source without its key");
        assert_eq!(e.into_service_error().code(), Some("InvalidRequest"));
        let out = s3
            .copy_object()
            .bucket("mpu")
            .key("copy-s3")
            .copy_source("mpu/copy-plain")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .expect("copy plain to SSE-S3");
        assert_eq!(
            out.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        let (k2, m2) = customer(4);
        s3.copy_object()
            .bucket("mpu")
            .key("copy-c")
            .copy_source("mpu/copy-s3")
            .sse_c_parts(&k2, &m2)
            .send()
            .await
            .expect("copy SSE-S3 to SSE-C");
        assert!(
            get_range(&s3, "mpu", "copy-c", None, Some(&(k2.clone(), m2.clone())))
                .await
                .expect("get")
                == whole
        );
        // In place: a plain object becomes SSE-S3 (legal: encryption changes).
        s3.copy_object()
            .bucket("mpu")
            .key("copy-plain")
            .copy_source("mpu/copy-plain")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .expect("re-encrypt in place");
        let head = s3
            .head_object()
            .bucket("mpu")
            .key("copy-plain")
            .send()
            .await
            .expect("head");
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        // UploadPartCopy from an SSE-C source into an SSE-S3 upload.
        let up = s3
            .create_multipart_upload()
            .bucket("mpu")
            .key("upc")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .send()
            .await
            .expect("create");
        let id = up.upload_id().expect("id").to_string();
        let pc = s3
            .upload_part_copy()
            .bucket("mpu")
            .key("upc")
            .upload_id(&id)
            .part_number(1)
            .copy_source("mpu/copy-c")
            .copy_source_range("bytes=10-70009")
            .copy_source_sse_customer_algorithm("AES256")
            .copy_source_sse_customer_key(&k2)
            .copy_source_sse_customer_key_md5(&m2)
            .send()
            .await
            .expect("upload part copy");
        let etag = pc
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .map(str::to_string);
        s3.complete_multipart_upload()
            .bucket("mpu")
            .key("upc")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .set_e_tag(etag)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("complete");
        assert!(get_range(&s3, "mpu", "upc", None, None).await.expect("get") == whole[10..70010]);
    });
}

fn bucket_default_encryption_applies_to_writes_without_headers() {
    use aws_sdk_s3::types::{
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    };
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("dflt")
            .send()
            .await
            .expect("create");
        let none = s3
            .get_bucket_encryption()
            .bucket("dflt")
            .send()
            .await
            .expect_err("unset");
        assert_eq!(
            none.into_service_error().code(),
            Some("ServerSideEncryptionConfigurationNotFoundError")
        );
        let config = |alg: ServerSideEncryption| {
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(alg)
                                .build()
                                .expect("default"),
                        )
                        .bucket_key_enabled(true)
                        .build(),
                )
                .build()
                .expect("config")
        };
        s3.put_bucket_encryption()
            .bucket("dflt")
            .server_side_encryption_configuration(config(ServerSideEncryption::Aes256))
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
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .map(|d| d.sse_algorithm()),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(rule.bucket_key_enabled(), Some(true));
        // Writes without headers are now SSE-S3: PUT, multipart and copy.
        let body = marker_body(100_000, 500);
        let put = s3
            .put_object()
            .bucket("dflt")
            .key("auto")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
        assert_eq!(
            put.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        let up = s3
            .create_multipart_upload()
            .bucket("dflt")
            .key("mp")
            .send()
            .await
            .expect("mpu");
        assert_eq!(
            up.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        s3.abort_multipart_upload()
            .bucket("dflt")
            .key("mp")
            .upload_id(up.upload_id().unwrap_or(""))
            .send()
            .await
            .expect("abort");
        let copy = s3
            .copy_object()
            .bucket("dflt")
            .key("copied")
            .copy_source("dflt/auto")
            .send()
            .await
            .expect("copy");
        assert_eq!(
            copy.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(
            get_range(&s3, "dflt", "copied", None, None)
                .await
                .expect("get"),
            body
        );
        // Copying an object onto itself without changes is still refused.
        let same = s3
            .copy_object()
            .bucket("dflt")
            .key("auto")
            .copy_source("dflt/auto")
            .send()
            .await
            .expect_err("copy onto itself");
        assert_eq!(same.into_service_error().code(), Some("InvalidRequest"));
        s3.delete_bucket_encryption()
            .bucket("dflt")
            .send()
            .await
            .expect("delete default");
        let plain = s3
            .put_object()
            .bucket("dflt")
            .key("plain")
            .body(ByteStream::from_static(b"plain"))
            .send()
            .await
            .expect("put");
        assert_eq!(plain.server_side_encryption(), None);
        assert!(s3
            .get_bucket_encryption()
            .bucket("dflt")
            .send()
            .await
            .is_err());
    });
    assert!(!data_dir_contains(
        &server.data_dir,
        b"PLAINTEXT-MARKER-500-"
    ));
}

/// A presigned GET of an SSE-C object: the URL carries the signature, the
/// client sends the key headers it signed (as on S3); without them the
/// signature does not match.
fn presigned_get_of_an_sse_c_object() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use std::io::{BufReader, Write};
    let server = Server::start_with(1, &["--allow-sse-c-over-http"]);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("pres")
            .send()
            .await
            .expect("create");
        let (k, m) = customer(11);
        let body = marker_body(70_000, 900);
        s3.put_object()
            .bucket("pres")
            .key("c")
            .sse_c_parts(&k, &m)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
        let pre = s3
            .get_object()
            .bucket("pres")
            .key("c")
            .sse_c_parts(&k, &m)
            .presigned(
                PresigningConfig::expires_in(std::time::Duration::from_secs(300)).expect("cfg"),
            )
            .await
            .expect("presign");
        let path = pre
            .uri()
            .split_once("://")
            .map(|(_, r)| r[r.find('/').unwrap_or(r.len())..].to_string())
            .expect("path");
        let call = |with_headers: bool| {
            let mut req = format!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
                server.port
            );
            if with_headers {
                for (n, v) in pre.headers() {
                    if !n.eq_ignore_ascii_case("host") {
                        req.push_str(&format!("{n}: {v}\r\n"));
                    }
                }
            }
            req.push_str("\r\n");
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
            s.write_all(req.as_bytes()).expect("write");
            common::read_response(&mut BufReader::new(s), false).expect("response")
        };
        let ok = call(true);
        assert_eq!(ok.status, 200, "{}", ok.body_text());
        assert!(ok.body == body);
        let bare = call(false);
        assert_eq!(bare.status, 403, "{}", bare.body_text());
    });
}

// Each on the log store and on `serve --memory`.
crate::on_both_backends!(
    sse_c_needs_the_key_it_was_written_with,
    sse_c_is_refused_over_plain_http_by_default,
    encrypted_multipart_uploads_and_copies,
    bucket_default_encryption_applies_to_writes_without_headers,
    presigned_get_of_an_sse_c_object,
);
