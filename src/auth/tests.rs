//! Golden vectors from the AWS SigV4 documentation (S3 examples, presigned
//! URL, chunked upload, chunked upload with trailer), plus the error paths
//! and property tests of the aws-chunked decoder.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use proptest::prelude::*;

use super::checksum::*;
use super::sigv4::*;
use super::streaming::*;
use super::verify::*;
use super::AuthError;
use crate::types::ChecksumAlgorithm;
use crate::util::hex;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 20130524T000000Z, the instant of every documentation example.
const T0: i64 = 1_369_353_600;
const EMPTY: &str = EMPTY_SHA256_HEX;
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

struct Keys;

impl SecretLookup for Keys {
    fn lookup(&self, access_key: &str) -> Option<(&str, bool)> {
        match access_key {
            AK => Some((SECRET, true)),
            "AKIAINACTIVE" => Some((SECRET, false)),
            _ => None,
        }
    }
}

fn cfg(now: i64) -> AuthConfig<'static> {
    AuthConfig {
        region: "us-east-1",
        now,
        max_skew_secs: 900,
        allow_sigv2: false,
    }
}

fn auth(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &[u8])],
    now: i64,
) -> Result<Authenticated, AuthError> {
    let req = AuthRequest {
        method,
        raw_path: path,
        raw_query: query,
        headers,
        virtual_host_bucket: None,
    };
    authenticate(&req, &Keys, &cfg(now), &mut SigningKeyCache::new())
}

fn unhex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    assert!(hex::decode_into(s.as_bytes(), &mut out), "{s}");
    out
}

fn authorization(signed: &str, sig: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={AK}/{SCOPE}, SignedHeaders={signed}, Signature={sig}")
}

/// Checks canonical request, string to sign and signature of a doc example.
/// One argument per column of the documentation's example tables.
#[allow(clippy::too_many_arguments)]
fn golden(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &[u8])],
    signed: &str,
    payload_hash: &str,
    expect_creq: &str,
    expect_sts_hash: &str,
    expect_sig: &str,
) {
    let signed_list = parse_signed_headers(signed).unwrap();
    let creq = canonical_request(
        method,
        &canonical_uri(path).unwrap(),
        &canonical_query(query, true).unwrap(),
        headers,
        &signed_list,
        payload_hash,
    )
    .unwrap();
    assert_eq!(String::from_utf8(creq.clone()).unwrap(), expect_creq);
    let sts = string_to_sign("20130524T000000Z", SCOPE, &creq);
    assert_eq!(
        sts,
        format!("AWS4-HMAC-SHA256\n20130524T000000Z\n{SCOPE}\n{expect_sts_hash}")
    );
    let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
    assert_eq!(hmac_hex(&key, sts.as_bytes()), expect_sig);
}

// ---------------------------------------------------------------- golden

const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

fn get_object_headers(auth: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("Host", b"examplebucket.s3.amazonaws.com".to_vec()),
        ("Authorization", auth.as_bytes().to_vec()),
        ("Range", b"bytes=0-9".to_vec()),
        ("x-amz-content-sha256", EMPTY.as_bytes().to_vec()),
        ("x-amz-date", b"20130524T000000Z".to_vec()),
    ]
}

fn borrow<'a>(h: &'a [(&'a str, Vec<u8>)]) -> Vec<(&'a str, &'a [u8])> {
    h.iter().map(|(n, v)| (*n, v.as_slice())).collect()
}

#[test]
fn doc_get_object_with_range() {
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let owned = get_object_headers(&authorization(signed, GET_OBJECT_SIG));
    let headers = borrow(&owned);
    golden(
        "GET",
        "/test.txt",
        "",
        &headers,
        signed,
        EMPTY,
        &format!(
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n{signed}\n{EMPTY}"
        ),
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
        GET_OBJECT_SIG,
    );
    let ok = auth("GET", "/test.txt", "", &headers, T0).unwrap();
    assert_eq!(ok.access_key, AK);
    assert!(!ok.presigned);
    assert_eq!(ok.payload, PayloadMode::Sha256(unhex32(EMPTY)));
    assert_eq!(ok.streaming, None);
}

#[test]
fn doc_put_object() {
    let signed = "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class";
    let sig = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
    let body_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    let a = authorization(signed, sig);
    let headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"examplebucket.s3.amazonaws.com"),
        ("Date", b"Fri, 24 May 2013 00:00:00 GMT"),
        ("Authorization", a.as_bytes()),
        ("x-amz-date", b"20130524T000000Z"),
        ("x-amz-storage-class", b"REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", body_hash.as_bytes()),
    ];
    golden(
        "PUT",
        "/test%24file.text",
        "",
        &headers,
        signed,
        body_hash,
        &format!(
            "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n\
             host:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:{body_hash}\n\
             x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n{signed}\n{body_hash}"
        ),
        "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
        sig,
    );
    // `$` may arrive raw too: it decodes and re-encodes to the same URI.
    for path in ["/test%24file.text", "/test$file.text"] {
        let ok = auth("PUT", path, "", &headers, T0).unwrap();
        assert_eq!(ok.payload, PayloadMode::Sha256(unhex32(body_hash)));
        let mut d = BodyDigests::new(&ok.payload, None, None).unwrap();
        d.update(b"Welcome to Amazon S3.");
        d.finish().unwrap();
        let mut d = BodyDigests::new(&ok.payload, None, None).unwrap();
        d.update(b"Welcome to Amazon S3!");
        assert_eq!(d.finish(), Err(AuthError::ContentSha256Mismatch));
    }
}

#[test]
fn doc_get_bucket_lifecycle() {
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let sig = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
    let a = authorization(signed, sig);
    let headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"examplebucket.s3.amazonaws.com"),
        ("Authorization", a.as_bytes()),
        ("x-amz-date", b"20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY.as_bytes()),
    ];
    golden(
        "GET",
        "/",
        "lifecycle",
        &headers,
        signed,
        EMPTY,
        &format!(
            "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n\
             x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n{signed}\n{EMPTY}"
        ),
        "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
        sig,
    );
    auth("GET", "/", "lifecycle", &headers, T0).unwrap();
    // The empty-value form signs identically.
    auth("GET", "/", "lifecycle=", &headers, T0).unwrap();
}

#[test]
fn doc_get_list_objects() {
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let sig = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
    let a = authorization(signed, sig);
    let headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"examplebucket.s3.amazonaws.com"),
        ("Authorization", a.as_bytes()),
        ("x-amz-date", b"20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY.as_bytes()),
    ];
    golden(
        "GET",
        "/",
        "max-keys=2&prefix=J",
        &headers,
        signed,
        EMPTY,
        &format!(
            "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n\
             x-amz-content-sha256:{EMPTY}\nx-amz-date:20130524T000000Z\n\n{signed}\n{EMPTY}"
        ),
        "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
        sig,
    );
    // Parameter order on the wire does not matter.
    auth("GET", "/", "prefix=J&max-keys=2", &headers, T0).unwrap();
    let err = auth("GET", "/", "max-keys=3&prefix=J", &headers, T0).unwrap_err();
    assert!(matches!(err, AuthError::SignatureDoesNotMatch { .. }));
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host";
const PRESIGNED_SIG: &str = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
const EXAMPLE_HOST: &[(&str, &[u8])] = &[("host", b"examplebucket.s3.amazonaws.com")];

fn presigned_query(expires: &str, sig: &str) -> String {
    PRESIGNED_QUERY.replace("Expires=86400", &format!("Expires={expires}"))
        + "&X-Amz-Signature="
        + sig
}

#[test]
fn doc_presigned_url() {
    golden(
        "GET",
        "/test.txt",
        PRESIGNED_QUERY,
        EXAMPLE_HOST,
        "host",
        UNSIGNED_PAYLOAD,
        &format!(
            "GET\n/test.txt\n{}\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD",
            PRESIGNED_QUERY
        ),
        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04",
        PRESIGNED_SIG,
    );
    let q = presigned_query("86400", PRESIGNED_SIG);
    let ok = auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0 + 3600).unwrap();
    assert!(ok.presigned);
    assert_eq!(ok.access_key, AK);
    assert_eq!(ok.payload, PayloadMode::Unsigned);
    // Long after the skew window but inside Expires: still valid.
    auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0 + 86_400).unwrap();
    assert_eq!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0 + 86_401),
        Err(AuthError::RequestExpired)
    );
    // Signed for the future beyond the skew: refused; within it: fine.
    auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0 - 900).unwrap();
    assert!(matches!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0 - 901),
        Err(AuthError::RequestTimeTooSkewed { .. })
    ));
    let other = presigned_query("86400", GET_OBJECT_SIG);
    assert!(matches!(
        auth("GET", "/test.txt", &other, EXAMPLE_HOST, T0),
        Err(AuthError::SignatureDoesNotMatch { .. })
    ));
    let wrong_path = auth("GET", "/test2.txt", &q, EXAMPLE_HOST, T0);
    assert!(matches!(
        wrong_path,
        Err(AuthError::SignatureDoesNotMatch { .. })
    ));
}

#[test]
fn presigned_expires_bounds_and_missing_params() {
    for (bad, err) in [
        ("604801", AuthError::ExpiresOutOfRange),
        ("-1", AuthError::ExpiresNegative),
        ("-604800", AuthError::ExpiresNegative),
    ] {
        let q = presigned_query(bad, PRESIGNED_SIG);
        assert_eq!(
            auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0),
            Err(err),
            "{bad}"
        );
    }
    // 0 is in range: the URL expired the second it was signed.
    let q = presigned_query("0", PRESIGNED_SIG);
    assert_eq!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0 + 1),
        Err(AuthError::RequestExpired)
    );
    let q = presigned_query("abc", PRESIGNED_SIG);
    assert!(matches!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0),
        Err(AuthError::AuthorizationQueryParametersError(_))
    ));
    // 604800 is accepted (then fails only on the signature).
    let q = presigned_query("604800", PRESIGNED_SIG);
    assert!(matches!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0),
        Err(AuthError::SignatureDoesNotMatch { .. })
    ));
    assert!(matches!(
        auth("GET", "/test.txt", PRESIGNED_QUERY, EXAMPLE_HOST, T0),
        Err(AuthError::AuthorizationQueryParametersError(_))
    ));
    let q = presigned_query("86400", PRESIGNED_SIG).replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512");
    assert_eq!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0),
        Err(AuthError::UnsupportedAlgorithm)
    );
    let q = presigned_query("86400", PRESIGNED_SIG).replace("us-east-1", "eu-west-1");
    assert!(matches!(
        auth("GET", "/test.txt", &q, EXAMPLE_HOST, T0),
        Err(AuthError::WrongRegion { .. })
    ));
}

// ------------------------------------------------------------- chunked

const CHUNK_SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
const TRAILER_CHUNK_SIGS: [&str; 3] = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
];
const TRAILER_SIG: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";
const DOC_PAYLOAD_LEN: usize = 65_536 + 1024;

/// The documented body: 64 KiB and 1 KiB of 'a', then the final chunk.
fn doc_chunked_body(sigs: [&str; 3], trailer: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(format!("10000;chunk-signature={}\r\n", sigs[0]).as_bytes());
    b.extend_from_slice(&[b'a'; 65_536]);
    b.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
    b.extend_from_slice(&[b'a'; 1024]);
    b.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n", sigs[2]).as_bytes());
    b.extend_from_slice(trailer.as_bytes());
    b.extend_from_slice(b"\r\n");
    b
}

fn chunked_request(trailer: bool) -> Result<Authenticated, AuthError> {
    let (mode, signed, seed) = if trailer {
        (
            STREAMING_SIGNED_TRAILER,
            "content-encoding;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
            TRAILER_SEED,
        )
    } else {
        (
            STREAMING_SIGNED,
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class",
            CHUNK_SEED,
        )
    };
    let a =
        format!("AWS4-HMAC-SHA256 Credential={AK}/{SCOPE},SignedHeaders={signed},Signature={seed}");
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"s3.amazonaws.com"),
        ("x-amz-date", b"20130524T000000Z"),
        ("x-amz-storage-class", b"REDUCED_REDUNDANCY"),
        ("Authorization", a.as_bytes()),
        ("x-amz-content-sha256", mode.as_bytes()),
        ("Content-Encoding", b"aws-chunked"),
        ("x-amz-decoded-content-length", b"66560"),
        ("Content-Length", b"66824"),
    ];
    if trailer {
        headers.push(("x-amz-trailer", b"x-amz-checksum-crc32c"));
    }
    auth("PUT", "/examplebucket/chunkObject.txt", "", &headers, T0)
}

/// Feeds `body` in pieces of the given sizes (cycled), like a socket would,
/// keeping unconsumed bytes. Returns the payload and whether it finished.
fn feed(
    dec: &mut AwsChunkedDecoder,
    body: &[u8],
    pieces: &[usize],
) -> Result<(Vec<u8>, bool), AuthError> {
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < body.len() || !buf.is_empty() {
        let n = pieces[i % pieces.len()].max(1).min(body.len() - at);
        i += 1;
        buf.extend_from_slice(&body[at..at + n]);
        at += n;
        loop {
            let d = dec.decode(&buf)?;
            assert!(d.consumed <= buf.len());
            if let Some(r) = d.data.clone() {
                assert!(r.end <= d.consumed && r.start <= r.end);
                out.extend_from_slice(&buf[r]);
            }
            buf.drain(..d.consumed);
            if d.done {
                return Ok((out, buf.is_empty() && at == body.len()));
            }
            if d.consumed == 0 {
                break;
            }
        }
        if at == body.len() && !buf.is_empty() {
            break;
        }
    }
    Ok((out, false))
}

#[test]
fn doc_chunked_upload_seed_and_chunks() {
    let ok = chunked_request(false).unwrap();
    assert_eq!(ok.payload, PayloadMode::StreamingSigned);
    assert_eq!(ok.decoded_content_length, Some(66_560));
    let ctx = ok.streaming.clone().unwrap();
    assert_eq!(ctx.seed_signature, unhex32(CHUNK_SEED));
    assert_eq!(ctx.scope, SCOPE);
    assert_eq!(ctx.amz_date, "20130524T000000Z");
    // The documented first chunk string to sign, reproduced by hand.
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n{SCOPE}\n{CHUNK_SEED}\n{EMPTY}\n\
         bf718b6f653bebc184e1479f1935b8da974d701b893afcf49e701f3e2f9f9c5a"
    );
    assert_eq!(sha256_hex(&[b'a'; 65_536]), &sts[sts.len() - 64..]);
    assert_eq!(hmac_hex(&ctx.signing_key, sts.as_bytes()), CHUNK_SIGS[0]);

    let body = doc_chunked_body(CHUNK_SIGS, "");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let random: Vec<usize> = (0..64)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % 9000) as usize + 1
        })
        .collect();
    for pieces in [vec![body.len()], vec![1], vec![7, 100, 3], random] {
        let mut dec =
            AwsChunkedDecoder::new(ok.payload, Some(ctx.clone()), None).with_decoded_length(66_560);
        let (data, done) = feed(&mut dec, &body, &pieces).unwrap();
        assert!(done);
        assert_eq!(data, vec![b'a'; DOC_PAYLOAD_LEN]);
        assert_eq!(dec.decoded_len(), 66_560);
        assert!(dec.trailers().is_empty());
    }
}

#[test]
fn doc_chunked_upload_tampering_fails() {
    let ctx = chunked_request(false).unwrap().streaming.unwrap();
    let body = doc_chunked_body(CHUNK_SIGS, "");
    // One payload byte in each chunk; one byte of each signature.
    let header0 = 88; // len("10000;chunk-signature=<64>\r\n")
    for at in [
        header0,
        header0 + 65_535,
        body.len() - 1000,
        30,
        body.len() - 10,
    ] {
        let mut bad = body.clone();
        bad[at] ^= if bad[at].is_ascii_digit() { 0x01 } else { 0x02 };
        let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingSigned, Some(ctx.clone()), None);
        let r = feed(&mut dec, &bad, &[4096]);
        assert_eq!(r, Err(AuthError::ChunkSignatureDoesNotMatch), "byte {at}");
        // Errors are sticky.
        assert_eq!(dec.decode(b"0"), Err(AuthError::ChunkSignatureDoesNotMatch));
    }
    // Chunks in the wrong order break the chain.
    let swapped = doc_chunked_body([CHUNK_SIGS[1], CHUNK_SIGS[0], CHUNK_SIGS[2]], "");
    let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingSigned, Some(ctx), None);
    assert_eq!(
        feed(&mut dec, &swapped, &[100_000]),
        Err(AuthError::ChunkSignatureDoesNotMatch)
    );
}

#[test]
fn doc_chunked_upload_with_trailer() {
    let ok = chunked_request(true).unwrap();
    assert_eq!(ok.payload, PayloadMode::StreamingSignedTrailer);
    assert_eq!(ok.trailer, Some(ChecksumAlgorithm::Crc32c));
    let ctx = ok.streaming.clone().unwrap();
    assert_eq!(ctx.seed_signature, unhex32(TRAILER_SEED));
    // The documented trailer string to sign.
    let sts = format!(
        "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n{SCOPE}\n{}\n\
         1e376db7e1a34a8ef1c4bcee131a2d60a1cb62503747488624e10995f448d774",
        TRAILER_CHUNK_SIGS[2]
    );
    assert_eq!(
        sha256_hex(b"x-amz-checksum-crc32c:sOO8/Q==\n"),
        &sts[sts.len() - 64..]
    );
    assert_eq!(hmac_hex(&ctx.signing_key, sts.as_bytes()), TRAILER_SIG);

    let trailer =
        format!("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n");
    let body = doc_chunked_body(TRAILER_CHUNK_SIGS, &trailer);
    for pieces in [vec![body.len()], vec![1], vec![5000, 13]] {
        let mut dec = AwsChunkedDecoder::new(ok.payload, Some(ctx.clone()), ok.trailer)
            .with_decoded_length(66_560);
        let (data, done) = feed(&mut dec, &body, &pieces).unwrap();
        assert!(done);
        assert_eq!(data.len(), DOC_PAYLOAD_LEN);
        assert_eq!(
            dec.trailers(),
            &[("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())]
        );
        // The trailer checksum is the body's CRC32C.
        let mut digests =
            BodyDigests::new(&ok.payload, None, Some((ChecksumAlgorithm::Crc32c, None))).unwrap();
        digests.update(&data);
        digests
            .expect_checksum(
                ChecksumAlgorithm::Crc32c,
                dec.trailer("x-amz-checksum-crc32c").unwrap().as_bytes(),
            )
            .unwrap();
        let r = digests.finish().unwrap();
        assert_eq!(
            r.checksum,
            Some((ChecksumAlgorithm::Crc32c, vec![0xb0, 0xe3, 0xbc, 0xfd]))
        );
    }
    // A changed trailer value breaks the trailer signature.
    let forged = body_with_trailer_value("sOO8/Q==", "AAAAAA==", &body);
    let mut dec = AwsChunkedDecoder::new(ok.payload, Some(ctx.clone()), ok.trailer);
    assert_eq!(
        feed(&mut dec, &forged, &[1 << 20]),
        Err(AuthError::ChunkSignatureDoesNotMatch)
    );
    // Without the trailer signature: refused.
    let unsigned = doc_chunked_body(TRAILER_CHUNK_SIGS, "x-amz-checksum-crc32c:sOO8/Q==\r\n");
    let mut dec = AwsChunkedDecoder::new(ok.payload, Some(ctx), ok.trailer);
    assert!(matches!(
        feed(&mut dec, &unsigned, &[1 << 20]),
        Err(AuthError::MalformedChunk(_))
    ));
}

fn body_with_trailer_value(from: &str, to: &str, body: &[u8]) -> Vec<u8> {
    let tail = body.len() - 200;
    let mut out = body[..tail].to_vec();
    let s = String::from_utf8(body[tail..].to_vec()).unwrap();
    assert!(s.contains(from));
    out.extend_from_slice(s.replace(from, to).as_bytes());
    out
}

// ------------------------------------------------- test-side encoder

/// Frames `payload` as aws-chunked, independently of the decoder: signatures
/// come from `hmac_hex` over hand-built strings to sign.
fn encode(
    payload: &[u8],
    chunk: usize,
    ctx: Option<&StreamingContext>,
    trailers: Option<&[(&str, &str)]>,
) -> Vec<u8> {
    let mut prev = ctx.map(|c| hex::encode(&c.seed_signature));
    let mut out = Vec::new();
    let mut sign = |data: &[u8], out: &mut Vec<u8>| match (ctx, prev.as_mut()) {
        (Some(c), Some(p)) => {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{p}\n{EMPTY}\n{}",
                c.amz_date,
                c.scope,
                sha256_hex(data)
            );
            *p = hmac_hex(&c.signing_key, sts.as_bytes());
            out.extend_from_slice(format!("{:x};chunk-signature={p}\r\n", data.len()).as_bytes());
        }
        _ => out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes()),
    };
    for piece in payload.chunks(chunk.max(1)) {
        sign(piece, &mut out);
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    sign(b"", &mut out);
    if let Some(trailers) = trailers {
        let mut canon = String::new();
        for (n, v) in trailers {
            out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
            canon.push_str(&format!("{n}:{v}\n"));
        }
        if let (Some(c), Some(p)) = (ctx, prev.as_ref()) {
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{p}\n{}",
                c.amz_date,
                c.scope,
                sha256_hex(canon.as_bytes())
            );
            let sig = hmac_hex(&c.signing_key, sts.as_bytes());
            out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn test_ctx() -> StreamingContext {
    StreamingContext {
        signing_key: signing_key(SECRET, "20130524", "us-east-1", "s3"),
        amz_date: "20130524T000000Z".to_owned(),
        scope: SCOPE.to_owned(),
        seed_signature: unhex32(CHUNK_SEED),
    }
}

fn crc32_b64(data: &[u8]) -> String {
    BASE64.encode(checksum(ChecksumAlgorithm::Crc32, data))
}

#[test]
fn unsigned_trailer_decodes() {
    let payload = b"hello aws-chunked world".repeat(100);
    let c = crc32_b64(&payload);
    let body = encode(&payload, 1000, None, Some(&[("x-amz-checksum-crc32", &c)]));
    assert!(body.starts_with(b"3e8\r\n"));
    let mut dec = AwsChunkedDecoder::new(
        PayloadMode::StreamingUnsignedTrailer,
        None,
        Some(ChecksumAlgorithm::Crc32),
    )
    .with_decoded_length(payload.len() as u64);
    let (data, done) = feed(&mut dec, &body, &[3]).unwrap();
    assert!(done);
    assert_eq!(data, payload);
    assert_eq!(dec.trailer("x-amz-checksum-crc32"), Some(c.as_str()));
}

fn decode_all(
    mode: PayloadMode,
    expect: Option<ChecksumAlgorithm>,
    body: &[u8],
) -> Result<(Vec<u8>, bool), AuthError> {
    let ctx = mode.is_signed_streaming().then(test_ctx);
    let mut dec = AwsChunkedDecoder::new(mode, ctx, expect);
    feed(&mut dec, body, &[1])
}

#[test]
fn malformed_framings() {
    use PayloadMode::StreamingUnsignedTrailer as U;
    let m = |s: &str| -> Result<(Vec<u8>, bool), AuthError> { decode_all(U, None, s.as_bytes()) };
    let malformed =
        |r: Result<(Vec<u8>, bool), AuthError>| matches!(r, Err(AuthError::MalformedChunk(_)));
    assert_eq!(m("3\r\nabc\r\n0\r\n\r\n").unwrap(), (b"abc".to_vec(), true));
    assert!(malformed(m("zz\r\nabc\r\n0\r\n\r\n")), "bad hex");
    assert!(malformed(m("\r\n")), "empty size");
    assert!(
        malformed(m("3\r\nabcX\r\n0\r\n\r\n")),
        "missing CRLF after data"
    );
    assert!(malformed(m("3\nabc\r\n0\r\n\r\n")), "LF only");
    assert!(
        malformed(m("11111111111111111\r\n")),
        "17 hex digits overflow u64"
    );
    assert!(
        malformed(m("3;ext=1\r\nabc\r\n0\r\n\r\n")),
        "extension in unsigned mode"
    );
    assert!(
        malformed(m("0\r\nno-colon\r\n\r\n")),
        "trailer without colon"
    );
    assert!(
        malformed(m(&"f".repeat(MAX_CHUNK_HEADER_BYTES + 1))),
        "oversize header"
    );
    let big_trailer = format!(
        "0\r\n{}\r\n",
        "x-amz-meta-a:b\r\n".repeat(MAX_TRAILER_BYTES / 16 + 1)
    );
    assert!(malformed(m(&big_trailer)), "oversize trailer");
    // Announced trailer missing.
    let r = decode_all(U, Some(ChecksumAlgorithm::Crc32), b"0\r\n\r\n");
    assert!(malformed(r));
    // Signed mode: header without signature, or with a short one.
    let s = PayloadMode::StreamingSigned;
    assert!(malformed(decode_all(s, None, b"3\r\nabc\r\n")));
    assert!(malformed(decode_all(
        s,
        None,
        b"3;chunk-signature=abcd\r\nabc\r\n"
    )));
    // Truncated body: never done.
    assert_eq!(m("3\r\nab").unwrap(), (b"ab".to_vec(), false));
    // Non-trailer mode must end with CRLF after the final chunk.
    let body = encode(b"abc", 2, Some(&test_ctx()), None);
    let mut bad = body.clone();
    let n = bad.len();
    bad[n - 2] = b'x';
    assert!(malformed(decode_all(s, None, &bad)));
    assert_eq!(decode_all(s, None, &body).unwrap(), (b"abc".to_vec(), true));
}

#[test]
fn decoded_length_is_enforced() {
    let body = encode(b"abcdef", 4, None, Some(&[]));
    for (expect, ok) in [(6, true), (5, false), (7, false)] {
        let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingUnsignedTrailer, None, None)
            .with_decoded_length(expect);
        let r = feed(&mut dec, &body, &[2]);
        if ok {
            assert!(r.unwrap().1);
        } else {
            assert_eq!(r, Err(AuthError::DecodedLengthMismatch), "{expect}");
        }
    }
}

#[test]
fn bytes_after_done_are_left_alone() {
    let mut body = encode(b"abc", 8, None, Some(&[]));
    let len = body.len();
    body.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingUnsignedTrailer, None, None);
    let mut at = 0;
    loop {
        let d = dec.decode(&body[at..]).unwrap();
        at += d.consumed;
        if d.done {
            break;
        }
    }
    assert_eq!(at, len);
    assert_eq!(
        dec.decode(&body[at..]).unwrap(),
        Decoded {
            consumed: 0,
            data: None,
            done: true
        }
    );
}

#[test]
fn decoder_misuse_is_an_error_not_a_panic() {
    let mut dec = AwsChunkedDecoder::new(PayloadMode::Unsigned, None, None);
    assert!(matches!(
        dec.decode(b"0\r\n\r\n"),
        Err(AuthError::MalformedChunk(_))
    ));
    let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingSigned, None, None);
    assert!(matches!(
        dec.decode(b"0\r\n\r\n"),
        Err(AuthError::MalformedChunk(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn unsigned_trailer_round_trips(
        payload in proptest::collection::vec(any::<u8>(), 0..4000),
        chunk in 1usize..1500,
        pieces in proptest::collection::vec(1usize..700, 1..8),
    ) {
        let c = crc32_b64(&payload);
        let body = encode(&payload, chunk, None, Some(&[("x-amz-checksum-crc32", &c)]));
        let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingUnsignedTrailer, None, Some(ChecksumAlgorithm::Crc32))
            .with_decoded_length(payload.len() as u64);
        let (data, done) = feed(&mut dec, &body, &pieces).unwrap();
        prop_assert!(done);
        prop_assert_eq!(data, payload);
        prop_assert_eq!(dec.trailer("x-amz-checksum-crc32"), Some(c.as_str()));
    }

    #[test]
    fn signed_round_trips(
        payload in proptest::collection::vec(any::<u8>(), 0..4000),
        chunk in 1usize..1500,
        pieces in proptest::collection::vec(1usize..700, 1..8),
        with_trailer in any::<bool>(),
    ) {
        let ctx = test_ctx();
        let c = crc32_b64(&payload);
        let list = [("x-amz-checksum-crc32", c.as_str())];
        let (mode, trailers, expect) = if with_trailer {
            (PayloadMode::StreamingSignedTrailer, Some(&list[..]), Some(ChecksumAlgorithm::Crc32))
        } else {
            (PayloadMode::StreamingSigned, None, None)
        };
        let body = encode(&payload, chunk, Some(&ctx), trailers);
        let mut dec = AwsChunkedDecoder::new(mode, Some(ctx.clone()), expect);
        let (data, done) = feed(&mut dec, &body, &pieces).unwrap();
        prop_assert!(done);
        prop_assert_eq!(&data, &payload);
        // Any flipped payload byte is caught by its chunk signature.
        if !payload.is_empty() {
            let pos = body.len() / 2;
            let mut bad = body.clone();
            bad[pos] ^= 0x80; // never a valid hex/ASCII framing byte
            let mut dec = AwsChunkedDecoder::new(mode, Some(ctx), expect);
            prop_assert!(feed(&mut dec, &bad, &pieces).is_err());
        }
    }

    #[test]
    fn garbage_never_panics(
        garbage in proptest::collection::vec(any::<u8>(), 0..600),
        pieces in proptest::collection::vec(1usize..50, 1..5),
        mode_ix in 0usize..3,
    ) {
        let mode = [PayloadMode::StreamingSigned, PayloadMode::StreamingSignedTrailer, PayloadMode::StreamingUnsignedTrailer][mode_ix];
        let mut dec = AwsChunkedDecoder::new(mode, Some(test_ctx()), None);
        let _ = feed(&mut dec, &garbage, &pieces);
        // Also garbage after a valid prefix.
        let mut body = b"5\r\nhello\r\n".to_vec();
        body.extend_from_slice(&garbage);
        let mut dec = AwsChunkedDecoder::new(PayloadMode::StreamingUnsignedTrailer, None, None);
        let _ = feed(&mut dec, &body, &pieces);
    }
}

/// The slow path of `canonical_uri`: decode once, re-encode every byte.
fn canonical_uri_reference(raw: &str) -> Option<String> {
    let decoded = percent_decode(raw)?;
    if decoded.is_empty() {
        return Some("/".into());
    }
    let mut out = String::new();
    uri_encode(&decoded, false, &mut out);
    Some(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The no-allocation fast path for plain paths answers exactly what
    /// decoding and re-encoding does, for any path.
    #[test]
    fn canonical_uri_matches_the_reference(raw in "[a-zA-Z0-9/._~%+ !*()'-]{0,40}|(/[a-z0-9._~-]{0,12}){0,5}") {
        match (canonical_uri(&raw), canonical_uri_reference(&raw)) {
            (Ok(fast), Some(slow)) => prop_assert_eq!(fast.as_ref(), slow.as_str()),
            (Err(_), None) => {}
            (fast, slow) => prop_assert!(false, "{raw:?}: {fast:?} vs {slow:?}"),
        }
    }

    /// Any Authorization value — components in any order, separators,
    /// slashes and '=' anywhere — is answered with an error or a success,
    /// never a panic; only the one right signature succeeds.
    #[test]
    fn authorization_garbage_never_panics(value in "[A-Za-z0-9=,;/ \t-]{0,160}") {
        let signed = "host;range;x-amz-content-sha256;x-amz-date";
        let owned = get_object_headers(&format!("AWS4-HMAC-SHA256 {value}"));
        prop_assert!(auth("GET", "/test.txt", "", &borrow(&owned), T0).is_err());
        let owned = get_object_headers(&value);
        prop_assert!(auth("GET", "/test.txt", "", &borrow(&owned), T0).is_err());
        // The right header with the value's separators between components.
        let seps: String = value.chars().filter(|c| matches!(c, ',' | ' ' | '\t')).collect();
        let sep = if seps.is_empty() { ", ".to_string() } else { seps };
        let good = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/{SCOPE}{sep}SignedHeaders={signed}{sep}Signature={GET_OBJECT_SIG}"
        );
        let owned = get_object_headers(&good);
        prop_assert!(auth("GET", "/test.txt", "", &borrow(&owned), T0).is_ok(), "{good:?}");
    }
}

// ----------------------------------------------------- verify paths

#[test]
fn header_auth_time_checks() {
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let owned = get_object_headers(&authorization(signed, GET_OBJECT_SIG));
    let h = borrow(&owned);
    auth("GET", "/test.txt", "", &h, T0 + 900).unwrap();
    auth("GET", "/test.txt", "", &h, T0 - 900).unwrap();
    for now in [T0 + 901, T0 - 901] {
        assert_eq!(
            auth("GET", "/test.txt", "", &h, now),
            Err(AuthError::RequestTimeTooSkewed {
                request_time: T0,
                server_time: now
            })
        );
    }
    let no_date: Vec<_> = h
        .iter()
        .copied()
        .filter(|(n, _)| *n != "x-amz-date")
        .collect();
    assert_eq!(
        auth("GET", "/test.txt", "", &no_date, T0),
        Err(AuthError::MissingDate)
    );
    let mut bad_date = no_date.clone();
    bad_date.push(("X-Amz-Date", b"2013-05-24"));
    assert_eq!(
        auth("GET", "/test.txt", "", &bad_date, T0),
        Err(AuthError::MissingDate)
    );
}

#[test]
fn date_header_fallback() {
    // Signed here (no doc vector uses Date alone) to exercise the Date path.
    let signed = ["date", "host", "x-amz-content-sha256"];
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"examplebucket.s3.amazonaws.com"),
        ("Date", b"Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-content-sha256", EMPTY.as_bytes()),
    ];
    let creq = canonical_request("GET", "/k", "", &headers, &signed, EMPTY).unwrap();
    let sts = string_to_sign("20130524T000000Z", SCOPE, &creq);
    let sig = hmac_hex(
        &signing_key(SECRET, "20130524", "us-east-1", "s3"),
        sts.as_bytes(),
    );
    let a = authorization(&signed.join(";"), &sig);
    headers.push(("authorization", a.as_bytes()));
    auth("GET", "/k", "", &headers, T0 + 60).unwrap();
    assert!(matches!(
        auth("GET", "/k", "", &headers, T0 + 3600),
        Err(AuthError::RequestTimeTooSkewed { .. })
    ));
}

#[test]
fn header_auth_credential_failures() {
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let cases: [(&str, AuthError); 3] = [
        (
            AK,
            AuthError::WrongRegion {
                expected: "eu-west-1".into(),
                got: "us-east-1".into(),
            },
        ),
        ("AKIAUNKNOWN", AuthError::InvalidAccessKeyId),
        ("AKIAINACTIVE", AuthError::InactiveAccessKey),
    ];
    for (i, (key, want)) in cases.into_iter().enumerate() {
        let a = authorization(signed, GET_OBJECT_SIG).replace(AK, key);
        let owned = get_object_headers(&a);
        let h = borrow(&owned);
        let req = AuthRequest {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: "",
            headers: &h,
            virtual_host_bucket: None,
        };
        let region = if i == 0 { "eu-west-1" } else { "us-east-1" };
        let c = AuthConfig {
            region,
            now: T0,
            max_skew_secs: 900,
            allow_sigv2: false,
        };
        assert_eq!(
            authenticate(&req, &Keys, &c, &mut SigningKeyCache::new()),
            Err(want)
        );
    }
}

#[test]
fn header_auth_malformed_and_mismatch() {
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let run = |a: &str| {
        let owned = get_object_headers(a);
        auth("GET", "/test.txt", "", &borrow(&owned), T0)
    };
    // SDK variants: no spaces after commas; extra spaces.
    run(&format!("AWS4-HMAC-SHA256 Credential={AK}/{SCOPE},SignedHeaders={signed},Signature={GET_OBJECT_SIG}")).unwrap();
    run(&format!("AWS4-HMAC-SHA256  Credential={AK}/{SCOPE} ,  SignedHeaders={signed},\tSignature={GET_OBJECT_SIG}")).unwrap();
    assert_eq!(
        run("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
        Err(AuthError::SignatureV2NotSupported)
    );
    assert_eq!(
        run("AWS4-HMAC-SHA512 Credential=x"),
        Err(AuthError::UnsupportedAlgorithm)
    );
    let malformed = |r: Result<Authenticated, AuthError>| {
        matches!(r, Err(AuthError::AuthorizationHeaderMalformed(_)))
    };
    assert!(
        malformed(run(&authorization(signed, "abc"))),
        "short signature"
    );
    assert!(
        malformed(run(&authorization("range;x-amz-date", GET_OBJECT_SIG))),
        "no host"
    );
    assert!(
        malformed(run(&authorization("range;host;x-amz-date", GET_OBJECT_SIG))),
        "unsorted"
    );
    assert!(malformed(run(&format!(
        "AWS4-HMAC-SHA256 Credential={AK}/{SCOPE}, Signature={GET_OBJECT_SIG}"
    ))));
    assert!(malformed(run(
        &authorization(signed, GET_OBJECT_SIG).replace("/s3/", "/ec2/")
    )));
    assert!(malformed(run(
        &authorization(signed, GET_OBJECT_SIG).replace("20130524/", "20130525/")
    )));
    // Credential shapes: no key, an empty key, a missing component.
    for cred in [
        SCOPE.to_string(),
        format!("/{SCOPE}"),
        format!("{AK}/us-east-1/s3/aws4_request"),
    ] {
        let a = authorization(signed, GET_OBJECT_SIG).replace(&format!("{AK}/{SCOPE}"), &cred);
        assert!(malformed(run(&a)), "credential {cred}");
    }
    // A key with a slash is the part before the last four components.
    assert_eq!(
        run(&authorization(signed, GET_OBJECT_SIG).replace(AK, "AK/EXTRA")),
        Err(AuthError::InvalidAccessKeyId)
    );
    // Components without '=' or unknown ones.
    assert!(malformed(run(
        &authorization(signed, GET_OBJECT_SIG).replace("Signature=", "Signature")
    )));
    assert!(malformed(run(&format!(
        "{}, Extra=1",
        authorization(signed, GET_OBJECT_SIG)
    ))));
    // A signed header the request lacks.
    let r = run(&authorization(
        "host;range;x-amz-content-sha256;x-amz-date;x-amz-meta-a",
        GET_OBJECT_SIG,
    ));
    assert!(matches!(r, Err(AuthError::SignatureDoesNotMatch { .. })));
    // Wrong signature: the error carries the canonical request for debugging.
    let other = "0".repeat(64);
    match run(&authorization(signed, &other)) {
        Err(AuthError::SignatureDoesNotMatch {
            canonical_request,
            string_to_sign,
        }) => {
            assert!(canonical_request.starts_with("GET\n/test.txt\n\nhost:examplebucket"));
            assert!(string_to_sign
                .ends_with("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"));
        }
        r => panic!("{r:?}"),
    }
}

#[test]
fn payload_hash_header_rules() {
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let a = authorization(signed, GET_OBJECT_SIG);
    let owned = get_object_headers(&a);
    let h: Vec<_> = borrow(&owned)
        .into_iter()
        .filter(|(n, _)| *n != "x-amz-content-sha256")
        .collect();
    assert_eq!(
        auth("GET", "/test.txt", "", &h, T0),
        Err(AuthError::MissingHeader("x-amz-content-sha256"))
    );
    let mut bad = h.clone();
    bad.push(("x-amz-content-sha256", b"not-a-hash"));
    assert_eq!(
        auth("GET", "/test.txt", "", &bad, T0),
        Err(AuthError::InvalidContentSha256)
    );
    assert_eq!(
        PayloadMode::parse(UNSIGNED_PAYLOAD),
        Ok(PayloadMode::Unsigned)
    );
    assert_eq!(
        PayloadMode::parse(STREAMING_UNSIGNED_TRAILER),
        Ok(PayloadMode::StreamingUnsignedTrailer)
    );
    assert_eq!(
        PayloadMode::parse(&EMPTY[..63]),
        Err(AuthError::InvalidContentSha256)
    );
}

#[test]
fn streaming_requires_decoded_length() {
    // The documented chunked request minus x-amz-decoded-content-length
    // would fail its signature first, so sign a minimal one here.
    let signed = ["host", "x-amz-content-sha256", "x-amz-date"];
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("host", b"h"),
        (
            "x-amz-content-sha256",
            STREAMING_UNSIGNED_TRAILER.as_bytes(),
        ),
        ("x-amz-date", b"20130524T000000Z"),
    ];
    let creq = canonical_request(
        "PUT",
        "/b/k",
        "",
        &headers,
        &signed,
        STREAMING_UNSIGNED_TRAILER,
    )
    .unwrap();
    let sts = string_to_sign("20130524T000000Z", SCOPE, &creq);
    let sig = hmac_hex(
        &signing_key(SECRET, "20130524", "us-east-1", "s3"),
        sts.as_bytes(),
    );
    let a = authorization(&signed.join(";"), &sig);
    headers.push(("authorization", a.as_bytes()));
    assert_eq!(
        auth("PUT", "/b/k", "", &headers, T0),
        Err(AuthError::MissingHeader("x-amz-decoded-content-length"))
    );
    headers.push(("x-amz-decoded-content-length", b"12"));
    let ok = auth("PUT", "/b/k", "", &headers, T0).unwrap();
    assert_eq!(ok.payload, PayloadMode::StreamingUnsignedTrailer);
    assert_eq!(ok.decoded_content_length, Some(12));
    assert_eq!(ok.streaming, None);
}

#[test]
fn anonymous_v2_and_mixed() {
    assert_eq!(
        auth("GET", "/b/k", "", EXAMPLE_HOST, T0),
        Err(AuthError::Anonymous)
    );
    assert_eq!(
        auth("GET", "/b/k", "versionId=1", EXAMPLE_HOST, T0),
        Err(AuthError::Anonymous)
    );
    let v2 = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D";
    assert_eq!(
        auth("GET", "/b/k", v2, EXAMPLE_HOST, T0),
        Err(AuthError::SignatureV2NotSupported)
    );
    let signed = "host;range;x-amz-content-sha256;x-amz-date";
    let owned = get_object_headers(&authorization(signed, GET_OBJECT_SIG));
    let q = presigned_query("86400", PRESIGNED_SIG);
    assert!(matches!(
        auth("GET", "/test.txt", &q, &borrow(&owned), T0),
        Err(AuthError::AuthorizationHeaderMalformed(_))
    ));
}

// ----------------------------------------------------- canonical forms

fn enc(s: &[u8], slash: bool) -> String {
    let mut out = String::new();
    uri_encode(s, slash, &mut out);
    out
}

#[test]
fn uri_encoding() {
    assert_eq!(enc(b"AZaz09-._~", true), "AZaz09-._~");
    assert_eq!(enc(b"a b/c+d*e", false), "a%20b/c%2Bd%2Ae");
    assert_eq!(enc(b"a/b", true), "a%2Fb");
    assert_eq!(enc("é".as_bytes(), true), "%C3%A9");
    assert_eq!(percent_decode("a%2fb+c%41"), Some(b"a/b+cA".to_vec()));
    assert_eq!(percent_decode("%zz"), None);
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("abc%"), None);
}

#[test]
fn canonical_uri_is_not_normalised() {
    assert_eq!(canonical_uri("").unwrap(), "/");
    assert_eq!(canonical_uri("/").unwrap(), "/");
    assert_eq!(canonical_uri("//a/./b/../c//").unwrap(), "//a/./b/../c//");
    assert_eq!(canonical_uri("/b/a%20b+c").unwrap(), "/b/a%20b%2Bc");
    assert_eq!(canonical_uri("/b/%E2%82%AC").unwrap(), "/b/%E2%82%AC");
    assert_eq!(canonical_uri("/b/%e2%82%ac").unwrap(), "/b/%E2%82%AC");
    assert!(matches!(
        canonical_uri("/b/%G1"),
        Err(AuthError::AuthorizationHeaderMalformed(_))
    ));
}

#[test]
fn canonical_query_rules() {
    let c = |q: &str| canonical_query(q, false).unwrap().into_owned();
    assert_eq!(c(""), "");
    assert_eq!(c("b=2&a=1&a=0"), "a=0&a=1&b=2");
    assert_eq!(c("acl"), "acl=");
    assert_eq!(c("uploads&prefix="), "prefix=&uploads=");
    assert_eq!(c("x=a+b"), "x=a%2Bb");
    assert_eq!(c("x=a%20b&y=%2F&z=~"), "x=a%20b&y=%2F&z=~");
    assert_eq!(c("X-Amz-Signature=ab&k=v"), "X-Amz-Signature=ab&k=v");
    assert_eq!(
        canonical_query("X-Amz-Signature=ab&k=v", true).unwrap(),
        "k=v"
    );
    // Sorted by encoded name: uppercase before lowercase.
    assert_eq!(c("a=1&B=2"), "B=2&a=1");
    assert!(canonical_query("k=%G0", false).is_err());
}

#[test]
fn canonical_header_values() {
    let h: Vec<(&str, &[u8])> = vec![
        ("Host", b"h"),
        ("X-Amz-Meta-A", b"  one   two  \t three "),
        ("x-amz-meta-b", b"1"),
        ("X-AMZ-META-B", b" 2 "),
    ];
    let mut out = Vec::new();
    canonical_headers(&h, &["host", "x-amz-meta-a", "x-amz-meta-b"], &mut out).unwrap();
    assert_eq!(
        out,
        b"host:h\nx-amz-meta-a:one two three\nx-amz-meta-b:1,2\n"
    );
}

#[test]
fn signing_key_cache_is_bounded_and_keyed() {
    let mut cache = SigningKeyCache::with_capacity(2);
    let k = cache.get(AK, SECRET, "20130524", "us-east-1", "s3").raw;
    assert_eq!(k, signing_key(SECRET, "20130524", "us-east-1", "s3"));
    assert_eq!(cache.get(AK, SECRET, "20130524", "us-east-1", "s3").raw, k);
    let rotated = cache.get(AK, "other", "20130524", "us-east-1", "s3").raw;
    assert_ne!(rotated, k);
    assert_eq!(cache.len(), 1);
    cache.get("K2", SECRET, "20130524", "us-east-1", "s3");
    cache.get("K3", SECRET, "20130524", "us-east-1", "s3");
    assert_eq!(cache.len(), 2);
    assert_eq!(
        cache.get("K3", SECRET, "20130525", "us-east-1", "s3").raw,
        signing_key(SECRET, "20130525", "us-east-1", "s3")
    );
}

// ------------------------------------------------------------ checksums

#[test]
fn checksum_check_values() {
    let v = b"123456789";
    let hx = |a| hex::encode(&checksum(a, v));
    assert_eq!(hx(ChecksumAlgorithm::Crc32), "cbf43926");
    assert_eq!(hx(ChecksumAlgorithm::Crc32c), "e3069283");
    assert_eq!(hx(ChecksumAlgorithm::Crc64Nvme), "ae8b14860a799888");
    assert_eq!(
        hex::encode(&checksum(ChecksumAlgorithm::Sha1, b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        hex::encode(&checksum(ChecksumAlgorithm::Sha256, b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // Incremental equals one-shot for every algorithm.
    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let mut h = ChecksumHasher::new(alg);
        h.update(b"1234");
        h.update(b"");
        h.update(b"56789");
        assert_eq!(h.finish(), checksum(alg, v));
        assert_eq!(checksum(alg, v).len(), digest_len(alg));
        assert_eq!(
            algorithm_from_name(&algorithm_name(alg).to_lowercase()),
            Some(alg)
        );
        assert_eq!(
            algorithm_from_header_name(&header_name(alg).to_uppercase()),
            Some(alg)
        );
    }
    assert_eq!(algorithm_from_name("MD5"), None);
    let parts = vec![
        checksum(ChecksumAlgorithm::Crc32c, b"a"),
        checksum(ChecksumAlgorithm::Crc32c, b"b"),
    ];
    let mut cat = parts[0].clone();
    cat.extend_from_slice(&parts[1]);
    assert_eq!(
        composite(ChecksumAlgorithm::Crc32c, &parts),
        checksum(ChecksumAlgorithm::Crc32c, &cat)
    );
}

#[test]
fn requested_checksum_rules() {
    let crc = BASE64.encode(checksum(ChecksumAlgorithm::Crc32, b"x"));
    let h = |v: Vec<(&'static str, &'static [u8])>| requested_checksum(&v);
    assert_eq!(h(vec![("host", b"h")]), Ok(None));
    let leaked: &'static [u8] = Box::leak(crc.clone().into_bytes().into_boxed_slice());
    assert_eq!(
        h(vec![("X-Amz-Checksum-CRC32", leaked)]),
        Ok(Some((
            ChecksumAlgorithm::Crc32,
            Some(checksum(ChecksumAlgorithm::Crc32, b"x"))
        )))
    );
    assert_eq!(
        h(vec![
            ("x-amz-sdk-checksum-algorithm", b"crc64nvme"),
            ("x-amz-trailer", b"x-amz-checksum-crc64nvme")
        ]),
        Ok(Some((ChecksumAlgorithm::Crc64Nvme, None)))
    );
    let invalid = |r: Result<_, AuthError>| matches!(r, Err(AuthError::InvalidChecksum(_)));
    assert!(invalid(h(vec![
        ("x-amz-checksum-crc32", leaked),
        ("x-amz-checksum-sha1", b"AAAA")
    ])));
    assert!(invalid(h(vec![("x-amz-checksum-md5", b"AAAA")])));
    assert!(invalid(h(vec![("x-amz-checksum-crc32", b"!!!")])));
    assert!(
        invalid(h(vec![("x-amz-checksum-sha256", leaked)])),
        "wrong length"
    );
    assert!(invalid(h(vec![
        ("x-amz-sdk-checksum-algorithm", b"SHA1"),
        ("x-amz-checksum-crc32", leaked)
    ])));
    assert!(invalid(h(vec![(
        "x-amz-sdk-checksum-algorithm",
        b"BLAKE3"
    )])));
    // Descriptive headers carry no value and are ignored.
    assert_eq!(h(vec![("x-amz-checksum-type", b"FULL_OBJECT")]), Ok(None));
}

#[test]
fn body_digests() {
    let body = b"Welcome to Amazon S3.";
    let md5_b64 = BASE64.encode(md5_of(body));
    let sha = PayloadMode::Sha256(sigv4_sha(body));
    let mut d = BodyDigests::new(
        &sha,
        Some(md5_b64.as_bytes()),
        Some((
            ChecksumAlgorithm::Sha1,
            Some(checksum(ChecksumAlgorithm::Sha1, body)),
        )),
    )
    .unwrap();
    d.update(&body[..5]);
    d.update(&body[5..]);
    let r = d.finish().unwrap();
    assert_eq!(r.md5, md5_of(body));
    assert_eq!(
        r.checksum,
        Some((
            ChecksumAlgorithm::Sha1,
            checksum(ChecksumAlgorithm::Sha1, body)
        ))
    );
    // ETag of the empty body.
    let d = BodyDigests::new(&PayloadMode::Unsigned, None, None).unwrap();
    assert_eq!(
        hex::encode(&d.finish().unwrap().md5),
        "d41d8cd98f00b204e9800998ecf8427e"
    );

    let run = |md5: Option<&[u8]>, ck: Option<(ChecksumAlgorithm, Option<Vec<u8>>)>| {
        let mut d = BodyDigests::new(&PayloadMode::Unsigned, md5, ck)?;
        d.update(body);
        d.finish()
    };
    // Malformed (not base64, short, empty): InvalidDigest; wrong: BadDigest.
    for bad in [&b"not base64!"[..], b"AAAA", b"", b"  "] {
        assert_eq!(run(Some(bad), None), Err(AuthError::InvalidContentMd5));
    }
    assert_eq!(
        decode_checksum(ChecksumAlgorithm::Sha256, b"AAAA"),
        Err(AuthError::InvalidChecksum(
            "Value for x-amz-checksum-sha256 header is invalid.".into()
        ))
    );
    assert_eq!(
        run(Some(BASE64.encode([0u8; 16]).as_bytes()), None),
        Err(AuthError::BadDigest("Content-MD5"))
    );
    assert_eq!(
        run(
            None,
            Some((ChecksumAlgorithm::Crc32, Some(vec![0, 0, 0, 0])))
        ),
        Err(AuthError::BadDigest("x-amz-checksum-crc32"))
    );
    // A trailer value for an algorithm that was not announced.
    let mut d = BodyDigests::new(
        &PayloadMode::Unsigned,
        None,
        Some((ChecksumAlgorithm::Crc32, None)),
    )
    .unwrap();
    assert!(matches!(
        d.expect_checksum(ChecksumAlgorithm::Sha256, b"AAAA"),
        Err(AuthError::InvalidChecksum(_))
    ));
    d.expect_checksum(ChecksumAlgorithm::Crc32, b"AAAAAA==")
        .unwrap();
    d.update(body);
    assert_eq!(
        d.finish(),
        Err(AuthError::BadDigest("x-amz-checksum-crc32"))
    );
}

fn md5_of(b: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(b).into()
}

fn sigv4_sha(b: &[u8]) -> [u8; 32] {
    super::sigv4::sha256(b)
}
