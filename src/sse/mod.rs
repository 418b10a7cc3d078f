//! Server-side encryption: SSE-S3 (a master key that stays on the host)
//! and SSE-C (the client's key, sent with every request and never stored).
//!
//! Every encrypted object gets a random 32-byte seed; its data key is
//! HKDF-SHA256 of the master key (SSE-S3) or the customer key (SSE-C)
//! with that seed, so no two objects share a key and nothing secret is
//! stored beside the data. The object is then AES-256-GCM chunks
//! (`chunks.rs`, `layout.rs`). For SSE-C the store keeps only the key's
//! MD5 — what S3 echoes and what a later request's key is checked against.
//! SSE-KMS (`kms.rs`) wraps a random data key per object under a key of the
//! built-in key service and stores the wrapped key with the object.

pub mod chunks;
pub mod kms;
pub mod layout;

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::store::{SseInfo, SseKind};
use base64::Engine;
use md5::{Digest, Md5};
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

/// The only algorithm S3's SSE headers name that ringstore serves.
pub const AES256: &str = "AES256";
/// The three headers that carry an SSE-C key (names as S3 spells them; the
/// lookup is case-insensitive). Constant, so a request without SSE costs
/// three header lookups and no allocation.
#[derive(Debug, Clone, Copy)]
pub struct CustomerHeaders {
    pub algorithm: &'static str,
    pub key: &'static str,
    pub key_md5: &'static str,
}

/// `x-amz-server-side-encryption-customer-…` (a read or write's own key).
pub const CUSTOMER_HEADERS: CustomerHeaders = CustomerHeaders {
    algorithm: "x-amz-server-side-encryption-customer-algorithm",
    key: "x-amz-server-side-encryption-customer-key",
    key_md5: "x-amz-server-side-encryption-customer-key-MD5",
};
/// `x-amz-copy-source-server-side-encryption-customer-…` (a copy source's key).
pub const COPY_SOURCE_HEADERS: CustomerHeaders = CustomerHeaders {
    algorithm: "x-amz-copy-source-server-side-encryption-customer-algorithm",
    key: "x-amz-copy-source-server-side-encryption-customer-key",
    key_md5: "x-amz-copy-source-server-side-encryption-customer-key-MD5",
};
/// File in the data dir holding the SSE-S3 master key (mode 0600).
pub const MASTER_KEY_FILE: &str = "sse-master.key";

/// The host's SSE-S3 master key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(b: [u8; 32]) -> MasterKey {
        MasterKey(b)
    }
}

/// Loads the master key from the data dir, creating it on first start.
pub fn open_master_key(dir: &Path) -> Result<MasterKey, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(MASTER_KEY_FILE);
    match std::fs::read(&path) {
        Ok(b) => {
            let key: [u8; 32] = b
                .as_slice()
                .try_into()
                .map_err(|_| format!("{}: expected 32 bytes, found {}", path.display(), b.len()))?;
            return Ok(MasterKey(key));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    }
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| "the OS random source failed".to_string())?;
    // Written to a temporary name, synced, then renamed: a crash never
    // leaves a short key that would make encrypted objects unreadable.
    let tmp = dir.join(format!("{MASTER_KEY_FILE}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(crate::server::datadir::SECRET_FILE_MODE)
        .open(&tmp)
        .map_err(|e| format!("create {}: {e}", tmp.display()))?;
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("rename to {}: {e}", path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("sync {}: {e}", dir.display()))?;
    Ok(MasterKey(key))
}

/// A customer key from SSE-C headers, its MD5 checked.
#[derive(Clone)]
pub struct CustomerKey {
    key: [u8; 32],
    md5: [u8; 16],
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

impl CustomerKey {
    pub fn md5(&self) -> [u8; 16] {
        self.md5
    }
}

/// How a write asks for its object to be encrypted.
#[derive(Debug, Clone)]
pub enum Encryption {
    S3,
    Customer(CustomerKey),
    Kms(kms::KmsRequest),
}

/// A bucket's default encryption as writes see it.
#[derive(Debug, Clone, Copy)]
pub enum BucketDefault<'a> {
    S3,
    /// aws:kms (or aws:kms:dsse) with the key configured, if any.
    Kms {
        key: Option<&'a str>,
        dsse: bool,
        bucket_key_enabled: bool,
    },
}

/// The SSE-KMS request headers.
pub const KMS_KEY_ID_HEADER: &str = "x-amz-server-side-encryption-aws-kms-key-id";
pub const KMS_CONTEXT_HEADER: &str = "x-amz-server-side-encryption-context";
pub const BUCKET_KEY_HEADER: &str = "x-amz-server-side-encryption-bucket-key-enabled";
/// `x-amz-server-side-encryption` values for SSE-KMS.
pub const AWS_KMS: &str = "aws:kms";
pub const AWS_KMS_DSSE: &str = "aws:kms:dsse";
/// Longest key id header accepted (an alias ARN at AWS's limits fits).
pub const MAX_KMS_KEY_ID_BYTES: usize = 2048;

fn invalid_argument(message: &str, name: &str, value: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument)
        .with_message(message)
        .with("ArgumentName", name.to_string())
        .with("ArgumentValue", value.to_string())
}

/// The SSE-C headers `names`, if any. S3's answers for each way they
/// can be wrong: an algorithm other than AES256, a missing or malformed key,
/// a key whose MD5 is not the one sent.
pub fn customer_key<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    names: CustomerHeaders,
) -> Result<Option<CustomerKey>, S3Error> {
    let algorithm = header(names.algorithm);
    let key = header(names.key);
    let md5 = header(names.key_md5);
    let Some(algorithm) = algorithm else {
        if key.is_some() || md5.is_some() {
            return Err(invalid_argument(
                "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
                names.algorithm,
                "null",
            ));
        }
        return Ok(None);
    };
    if algorithm.trim() != AES256 {
        return Err(S3Error::new(S3ErrorCode::InvalidEncryptionAlgorithmError)
            .with("ArgumentName", names.algorithm.to_string())
            .with("ArgumentValue", algorithm.to_string()));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some(key) = key else {
        return Err(invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            names.key,
            "null",
        ));
    };
    let key: [u8; 32] = b64
        .decode(key.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| {
            invalid_argument(
                "The secret key was invalid for the specified algorithm.",
                names.key,
                "",
            )
        })?;
    let actual: [u8; 16] = Md5::digest(key).into();
    if let Some(sent) = md5 {
        if b64.decode(sent.trim()).ok().as_deref() != Some(&actual[..]) {
            return Err(invalid_argument(
                "The calculated MD5 hash of the key did not match the hash that was provided.",
                names.key_md5,
                "",
            ));
        }
    }
    Ok(Some(CustomerKey { key, md5: actual }))
}

/// What a write asks for: `x-amz-server-side-encryption` (with the KMS
/// headers for aws:kms) or SSE-C headers (not both), else the bucket's
/// default. A header asking for protection that is not served is refused,
/// never ignored.
pub fn requested<'a>(
    header: impl Fn(&str) -> Option<&'a str> + Copy,
    bucket_default: Option<BucketDefault<'_>>,
) -> Result<Option<Encryption>, S3Error> {
    let customer = customer_key(header, CUSTOMER_HEADERS)?;
    let kms_only = header(KMS_KEY_ID_HEADER).is_some() || header(KMS_CONTEXT_HEADER).is_some();
    let bucket_key = bucket_key_header(header)?;
    match (header("x-amz-server-side-encryption"), customer) {
        (Some(_), Some(_)) => Err(invalid_argument(
            "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            "x-amz-server-side-encryption",
            "",
        )),
        (None, Some(_)) if kms_only => Err(kms_needs_header()),
        (None, Some(k)) => Ok(Some(Encryption::Customer(k))),
        (Some(v), None) if v.trim() == AES256 && kms_only => Err(kms_needs_header()),
        (Some(v), None) if v.trim() == AES256 => Ok(Some(Encryption::S3)),
        (Some(v), None) if v.trim() == AWS_KMS || v.trim() == AWS_KMS_DSSE => {
            Ok(Some(Encryption::Kms(kms::KmsRequest {
                key: kms_key_header(header)?,
                context: context_header(header)?,
                bucket_key_enabled: bucket_key.unwrap_or(false),
                dsse: v.trim() == AWS_KMS_DSSE,
            })))
        }
        (Some(v), None) => Err(invalid_argument(
            "The encryption method specified is not supported",
            "x-amz-server-side-encryption",
            v,
        )),
        (None, None) if kms_only => Err(kms_needs_header()),
        (None, None) => Ok(bucket_default.map(|d| from_default(d, bucket_key))),
    }
}

/// What a bucket default asks of a write that names no encryption
/// (`bucket_key`: the write's bucket-key header, if sent).
pub fn from_default(d: BucketDefault<'_>, bucket_key: Option<bool>) -> Encryption {
    match d {
        BucketDefault::S3 => Encryption::S3,
        BucketDefault::Kms {
            key,
            dsse,
            bucket_key_enabled,
        } => Encryption::Kms(kms::KmsRequest {
            key: key.map(str::to_string),
            context: None,
            bucket_key_enabled: bucket_key.unwrap_or(bucket_key_enabled),
            dsse,
        }),
    }
}

/// S3's answer to KMS headers without `x-amz-server-side-encryption: aws:kms`.
pub fn kms_needs_header() -> S3Error {
    invalid_argument(
        "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        "x-amz-server-side-encryption",
        "null",
    )
}

fn bucket_key_header<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<bool>, S3Error> {
    match header(BUCKET_KEY_HEADER).map(str::trim) {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(invalid_argument(
            "The value of x-amz-server-side-encryption-bucket-key-enabled must be true or false",
            BUCKET_KEY_HEADER,
            v,
        )),
    }
}

fn kms_key_header<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Option<String>, S3Error> {
    match header(KMS_KEY_ID_HEADER).map(str::trim) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > MAX_KMS_KEY_ID_BYTES => {
            Err(invalid_argument("Invalid keyId", KMS_KEY_ID_HEADER, v))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// The encryption context: base64 of a JSON object of strings, returned
/// as its JSON text (what is bound to the data key and answered back).
fn context_header<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Result<Option<String>, S3Error> {
    let Some(v) = header(KMS_CONTEXT_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        invalid_argument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
            KMS_CONTEXT_HEADER,
            "",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|_| bad())?;
    if bytes.len() > crate::store::record::MAX_KMS_CONTEXT_BYTES {
        return Err(bad());
    }
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    serde_json::from_str::<std::collections::BTreeMap<String, String>>(&text).map_err(|_| bad())?;
    Ok(Some(text))
}

/// New per-object encryption parameters: a fresh random seed.
pub fn new_info(enc: &Encryption) -> Result<SseInfo, S3Error> {
    let mut seed = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    Ok(match enc {
        Encryption::S3 => SseInfo {
            kind: SseKind::S3,
            seed,
            key_md5: [0; 16],
            kms: None,
        },
        Encryption::Customer(k) => SseInfo {
            kind: SseKind::Customer,
            seed,
            key_md5: k.md5,
            kms: None,
        },
        // The envelope is the caller's to add (it needs the key service).
        Encryption::Kms(_) => SseInfo {
            kind: SseKind::Kms,
            seed,
            key_md5: [0; 16],
            kms: None,
        },
    })
}

/// The keys of one encrypted object: the data key and, for SSE-C, the
/// key that turns plaintext MD5s into ETags. Cloning copies key
/// schedules, no key derivation (what `server::kms`'s cache hands out).
#[derive(Clone)]
pub struct ObjectKeys {
    pub data: LessSafeKey,
    etag: Option<ring::hmac::Key>,
}

/// HKDF output length: one AES-256 / HMAC-SHA256 key.
struct KeyBytes;

impl hkdf::KeyType for KeyBytes {
    fn len(&self) -> usize {
        32
    }
}

fn derive(ikm: &[u8; 32], seed: &[u8; 32], info: &'static [u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, seed).extract(ikm);
    let info_parts = [info];
    // expand/fill fail only for outputs longer than 255 hash blocks.
    prk.expand(&info_parts, KeyBytes)
        .and_then(|o| o.fill(&mut out))
        .expect("HKDF of a 32-byte output");
    out
}

impl ObjectKeys {
    /// The keys for `info`: from the master key (SSE-S3) or `customer`,
    /// which must be the key the object was written with (checked by MD5).
    pub fn for_object(
        info: &SseInfo,
        master: &MasterKey,
        customer: Option<&CustomerKey>,
    ) -> Result<ObjectKeys, S3Error> {
        let (ikm, label, etag_label): (&[u8; 32], &'static [u8], Option<&'static [u8]>) = match info
            .kind
        {
            SseKind::S3 => (&master.0, b"ringstore sse-s3 data v1", None),
            SseKind::Customer => {
                let k = customer.ok_or_else(missing_customer_key)?;
                if k.md5 != info.key_md5 {
                    return Err(S3Error::new(S3ErrorCode::AccessDenied).with_message(
                        "The SSE-C key provided does not match the key the object was encrypted with.",
                    ));
                }
                (
                    &k.key,
                    b"ringstore sse-c data v1",
                    Some(&b"ringstore sse-c etag v1"[..]),
                )
            }
            SseKind::Kms => {
                return Err(S3Error::new(S3ErrorCode::InternalError)
                    .with_message("an SSE-KMS object's keys come from its data key"))
            }
        };
        let data = derive(ikm, &info.seed, label);
        let data =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &data).expect("a 32-byte AES-256 key"));
        let etag = etag_label.map(|label| {
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &derive(ikm, &info.seed, label))
        });
        Ok(ObjectKeys { data, etag })
    }

    /// The keys of an SSE-KMS object whose data key (opened from its
    /// envelope) is `data_key`. Its ETag is keyed as SSE-C's is: S3's ETag
    /// of a KMS object is not the MD5 of its content either.
    pub fn for_kms(info: &SseInfo, data_key: &[u8; 32]) -> ObjectKeys {
        debug_assert_eq!(info.kind, SseKind::Kms);
        let data = derive(data_key, &info.seed, b"ringstore sse-kms data v1");
        ObjectKeys {
            data: LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &data).expect("a 32-byte AES-256 key"),
            ),
            etag: Some(ring::hmac::Key::new(
                ring::hmac::HMAC_SHA256,
                &derive(data_key, &info.seed, b"ringstore sse-kms etag v1"),
            )),
        }
    }

    /// The ETag of a plaintext with this `md5`: the MD5 itself (as S3 does
    /// for SSE-S3), or for SSE-C a keyed digest of it, so the ETag tells
    /// nothing about the plaintext to whoever lacks the key.
    pub fn etag_digest(&self, md5: [u8; 16]) -> [u8; 16] {
        match &self.etag {
            None => md5,
            Some(k) => {
                let tag = ring::hmac::sign(k, &md5);
                let mut out = [0u8; 16];
                out.copy_from_slice(&tag.as_ref()[..16]);
                out
            }
        }
    }
}

/// A read of an SSE-C object without its key.
pub fn missing_customer_key() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest).with_message(
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
    )
}

/// SSE-C headers on a read of an object that is not SSE-C.
pub fn key_not_applicable() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest)
        .with_message("The encryption parameters are not applicable to this object.")
}

/// SSE-C over plain HTTP (S3 refuses it: the key would travel in clear).
pub fn needs_tls() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest).with_message(
        "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
    )
}

/// The response headers that describe an object's encryption.
pub fn response_headers(info: &SseInfo) -> Vec<(&'static str, String)> {
    match info.kind {
        SseKind::S3 => vec![("x-amz-server-side-encryption", AES256.to_string())],
        SseKind::Customer => vec![
            (
                "x-amz-server-side-encryption-customer-algorithm",
                AES256.to_string(),
            ),
            (
                "x-amz-server-side-encryption-customer-key-MD5",
                base64::engine::general_purpose::STANDARD.encode(info.key_md5),
            ),
        ],
        SseKind::Kms => {
            let Some(k) = info.kms.as_deref() else {
                return Vec::new();
            };
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut h = vec![
                (
                    "x-amz-server-side-encryption",
                    if k.dsse { AWS_KMS_DSSE } else { AWS_KMS }.to_string(),
                ),
                (KMS_KEY_ID_HEADER, k.key_arn.clone()),
            ];
            if let Some(c) = &k.context {
                h.push((KMS_CONTEXT_HEADER, b64.encode(c)));
            }
            if k.bucket_key_enabled {
                h.push((BUCKET_KEY_HEADER, "true".to_string()));
            }
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<&'a str> + Copy {
        move |n: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        }
    }

    fn sse_c(key: &[u8; 32]) -> Vec<(&'static str, String)> {
        let b64 = base64::engine::general_purpose::STANDARD;
        vec![
            (
                "x-amz-server-side-encryption-customer-algorithm",
                "AES256".into(),
            ),
            ("x-amz-server-side-encryption-customer-key", b64.encode(key)),
            (
                "x-amz-server-side-encryption-customer-key-md5",
                b64.encode(Md5::digest(key)),
            ),
        ]
    }

    #[test]
    fn parses_what_writes_ask_for() {
        assert!(requested(headers(&[]), None).expect("none").is_none());
        assert!(matches!(
            requested(headers(&[]), Some(BucketDefault::S3)).expect("default"),
            Some(Encryption::S3)
        ));
        let s3 = [("x-amz-server-side-encryption", "AES256".to_string())];
        assert!(matches!(
            requested(headers(&s3), None),
            Ok(Some(Encryption::S3))
        ));
        let c = sse_c(&[9; 32]);
        assert!(matches!(
            requested(headers(&c), None),
            Ok(Some(Encryption::Customer(_)))
        ));
        let both = [c.clone(), s3.to_vec()].concat();
        assert_eq!(
            requested(headers(&both), None)
                .map(|_| ())
                .unwrap_err()
                .code,
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn parses_kms_requests_and_refuses_what_s3_refuses() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let sse = |v: &str| ("x-amz-server-side-encryption", v.to_string());
        let id = (KMS_KEY_ID_HEADER, "alias/app".to_string());
        let ctx = (KMS_CONTEXT_HEADER, b64.encode(r#"{"dept":"a"}"#));
        let bk = (BUCKET_KEY_HEADER, "true".to_string());
        let all = [sse("aws:kms"), id.clone(), ctx.clone(), bk.clone()];
        let Ok(Some(Encryption::Kms(r))) = requested(headers(&all), None) else {
            panic!("aws:kms with key, context and bucket key");
        };
        assert_eq!(r.key.as_deref(), Some("alias/app"));
        assert_eq!(r.context.as_deref(), Some(r#"{"dept":"a"}"#));
        assert!(r.bucket_key_enabled && !r.dsse);
        let Ok(Some(Encryption::Kms(r))) = requested(headers(&[sse("aws:kms:dsse")]), None) else {
            panic!("dsse");
        };
        assert!(r.dsse && r.key.is_none());
        // Bucket default aws:kms with its key; explicit AES256 wins over it.
        let d = BucketDefault::Kms {
            key: Some("k1"),
            dsse: false,
            bucket_key_enabled: true,
        };
        let Ok(Some(Encryption::Kms(r))) = requested(headers(&[]), Some(d)) else {
            panic!("bucket default");
        };
        assert_eq!((r.key.as_deref(), r.bucket_key_enabled), (Some("k1"), true));
        assert!(matches!(
            requested(headers(&[sse("AES256")]), Some(d)),
            Ok(Some(Encryption::S3))
        ));
        let bad_ctx = (KMS_CONTEXT_HEADER, b64.encode("[1,2]"));
        let not_b64 = (KMS_CONTEXT_HEADER, "%%%".to_string());
        let bad_bk = (BUCKET_KEY_HEADER, "yes".to_string());
        for case in [
            vec![id.clone()],
            vec![ctx.clone()],
            vec![sse("AES256"), id.clone()],
            vec![sse("AES256"), ctx.clone()],
            [sse_c(&[1; 32]), vec![id.clone()]].concat(),
            vec![sse("aws:kms"), bad_ctx],
            vec![sse("aws:kms"), not_b64],
            vec![sse("aws:kms"), bad_bk],
            vec![sse("aws:kms"), (KMS_KEY_ID_HEADER, String::new())],
            vec![sse("aws:kms:other")],
        ] {
            let e = requested(headers(&case), None).map(|_| ()).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{case:?}");
        }
    }

    #[test]
    fn kms_objects_answer_their_key_and_context() {
        let info = SseInfo {
            kind: SseKind::Kms,
            seed: [1; 32],
            key_md5: [0; 16],
            kms: Some(Box::new(crate::store::KmsEnvelope {
                key_arn: "arn:aws:kms:us-east-1:000000000001:key/k".into(),
                key_version: 1,
                wrapped_data_key: [0; crate::store::WRAPPED_DATA_KEY_BYTES],
                context: Some("{}".into()),
                bucket_key_enabled: true,
                dsse: false,
            })),
        };
        let h = response_headers(&info);
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-server-side-encryption"), Some("aws:kms"));
        assert_eq!(
            get(KMS_KEY_ID_HEADER),
            Some("arn:aws:kms:us-east-1:000000000001:key/k")
        );
        assert_eq!(get(KMS_CONTEXT_HEADER), Some("e30="));
        assert_eq!(get(BUCKET_KEY_HEADER), Some("true"));
        let keys = ObjectKeys::for_kms(&info, &[9; 32]);
        assert_ne!(
            keys.etag_digest([1; 16]),
            [1; 16],
            "KMS ETags are not the MD5"
        );
    }

    #[test]
    fn refuses_bad_customer_keys() {
        let mut bad_md5 = sse_c(&[1; 32]);
        bad_md5[2].1 = base64::engine::general_purpose::STANDARD.encode([0u8; 16]);
        let mut short = sse_c(&[1; 32]);
        short[1].1 = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let mut des = sse_c(&[1; 32]);
        des[0].1 = "DES".into();
        let no_key = vec![sse_c(&[1; 32])[0].clone()];
        for (case, code) in [
            (bad_md5, S3ErrorCode::InvalidArgument),
            (short, S3ErrorCode::InvalidArgument),
            (des, S3ErrorCode::InvalidEncryptionAlgorithmError),
            (no_key, S3ErrorCode::InvalidArgument),
        ] {
            let e = customer_key(headers(&case), CUSTOMER_HEADERS).unwrap_err();
            assert_eq!(e.code, code);
        }
    }

    #[test]
    fn keys_are_per_object_and_customer_checked() {
        let master = MasterKey([3; 32]);
        let a = new_info(&Encryption::S3).expect("info");
        let b = new_info(&Encryption::S3).expect("info");
        assert_ne!(a.seed, b.seed);
        let ka = derive(&master.0, &a.seed, b"ringstore sse-s3 data v1");
        let kb = derive(&master.0, &b.seed, b"ringstore sse-s3 data v1");
        assert_ne!(ka, kb);
        let c = sse_c(&[5; 32]);
        let key = customer_key(headers(&c), CUSTOMER_HEADERS)
            .expect("key")
            .expect("some");
        let info = new_info(&Encryption::Customer(key.clone())).expect("info");
        assert!(ObjectKeys::for_object(&info, &master, Some(&key)).is_ok());
        assert_eq!(
            ObjectKeys::for_object(&info, &master, None)
                .err()
                .map(|e| e.code),
            Some(S3ErrorCode::InvalidRequest)
        );
        let other = customer_key(headers(&sse_c(&[6; 32])), CUSTOMER_HEADERS)
            .expect("key")
            .expect("some");
        assert_eq!(
            ObjectKeys::for_object(&info, &master, Some(&other))
                .err()
                .map(|e| e.code),
            Some(S3ErrorCode::AccessDenied)
        );
        let keys = ObjectKeys::for_object(&info, &master, Some(&key)).expect("keys");
        assert_ne!(keys.etag_digest([1; 16]), [1; 16], "SSE-C ETags are keyed");
    }

    proptest::proptest! {
        /// Any header values: an answer (Ok or an S3 error), never a panic,
        /// and never a key unless it decodes to 32 bytes with a matching MD5.
        #[test]
        fn header_parsing_never_panics(
            alg in "\\PC{0,12}",
            key in "[A-Za-z0-9+/=]{0,60}",
            md5 in "[A-Za-z0-9+/=]{0,30}",
            sse in proptest::option::of("\\PC{0,12}"),
        ) {
            let mut pairs = vec![
                ("x-amz-server-side-encryption-customer-algorithm", alg),
                ("x-amz-server-side-encryption-customer-key", key),
                ("x-amz-server-side-encryption-customer-key-md5", md5),
            ];
            if let Some(v) = sse {
                pairs.push(("x-amz-server-side-encryption", v));
            }
            let h = headers(&pairs);
            if let Ok(Some(Encryption::Customer(k))) = requested(h, None) {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(h(CUSTOMER_HEADERS.key).unwrap_or("").trim())
                    .unwrap_or_default();
                proptest::prop_assert_eq!(raw.len(), 32);
                proptest::prop_assert_eq!(k.md5(), <[u8; 16]>::from(Md5::digest(&raw)));
            }
        }
    }

    #[test]
    fn a_damaged_master_key_stops_the_start() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(MASTER_KEY_FILE), b"short").expect("write");
        let e = open_master_key(dir.path()).expect_err("short key");
        assert!(e.contains("expected 32 bytes"), "{e}");
    }

    #[test]
    fn master_key_is_created_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = open_master_key(dir.path()).expect("create");
        let b = open_master_key(dir.path()).expect("reopen");
        assert_eq!(a.0, b.0);
        let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
            .expect("meta")
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
    }
}
