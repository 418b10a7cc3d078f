//! Flexible checksums (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256), Content-MD5
//! and the one-pass digest set a PUT computes over its body.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use md5::{Digest as _, Md5};
use ring::digest;

use super::error::AuthError;
use super::verify::PayloadMode;
use crate::types::{ChecksumAlgorithm, ChecksumType};
use crate::util::crc_combine;

/// Longest base64 checksum value accepted in a header or trailer (SHA-256 is 44).
pub const MAX_CHECKSUM_BASE64_BYTES: usize = 64;

const ALL: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

/// `CRC32`, `crc32c`, ... (case-insensitive) to the algorithm.
pub fn algorithm_from_name(name: &str) -> Option<ChecksumAlgorithm> {
    ALL.into_iter()
        .find(|a| algorithm_name(*a).eq_ignore_ascii_case(name.trim()))
}

/// `x-amz-checksum-crc32c` (any case) to the algorithm.
pub fn algorithm_from_header_name(name: &str) -> Option<ChecksumAlgorithm> {
    ALL.into_iter()
        .find(|a| header_name(*a).eq_ignore_ascii_case(name.trim()))
}

/// The name S3 uses in `x-amz-checksum-algorithm` and XML.
pub fn algorithm_name(alg: ChecksumAlgorithm) -> &'static str {
    match alg {
        ChecksumAlgorithm::Crc32 => "CRC32",
        ChecksumAlgorithm::Crc32c => "CRC32C",
        ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
        ChecksumAlgorithm::Sha1 => "SHA1",
        ChecksumAlgorithm::Sha256 => "SHA256",
    }
}

/// The algorithm as S3 names it in checksum-type mismatch messages (`crc32`).
pub fn algorithm_lower_name(alg: ChecksumAlgorithm) -> &'static str {
    match alg {
        ChecksumAlgorithm::Crc32 => "crc32",
        ChecksumAlgorithm::Crc32c => "crc32c",
        ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
        ChecksumAlgorithm::Sha1 => "sha1",
        ChecksumAlgorithm::Sha256 => "sha256",
    }
}

/// `COMPOSITE` / `FULL_OBJECT`, as in `x-amz-checksum-type` and XML.
pub fn checksum_type_name(t: ChecksumType) -> &'static str {
    match t {
        ChecksumType::Composite => "COMPOSITE",
        ChecksumType::FullObject => "FULL_OBJECT",
    }
}

/// Parses an `x-amz-checksum-type` value (S3 takes it in upper case).
pub fn checksum_type_from_name(name: &str) -> Option<ChecksumType> {
    [ChecksumType::Composite, ChecksumType::FullObject]
        .into_iter()
        .find(|t| checksum_type_name(*t) == name.trim())
}

/// The type S3 gives an upload that declared only an algorithm: CRC64NVME
/// is full-object only, every other algorithm composite.
pub fn default_checksum_type(alg: ChecksumAlgorithm) -> ChecksumType {
    match alg {
        ChecksumAlgorithm::Crc64Nvme => ChecksumType::FullObject,
        _ => ChecksumType::Composite,
    }
}

/// Whether S3 allows `alg` with checksum type `t` (full-object checksums
/// exist only for the CRCs; CRC64NVME has no composite form).
pub fn type_allowed(alg: ChecksumAlgorithm, t: ChecksumType) -> bool {
    match t {
        ChecksumType::FullObject => crc_of(alg).is_some(),
        ChecksumType::Composite => alg != ChecksumAlgorithm::Crc64Nvme,
    }
}

fn crc_of(alg: ChecksumAlgorithm) -> Option<crc_combine::Crc> {
    match alg {
        ChecksumAlgorithm::Crc32 => Some(crc_combine::CRC32),
        ChecksumAlgorithm::Crc32c => Some(crc_combine::CRC32C),
        ChecksumAlgorithm::Crc64Nvme => Some(crc_combine::CRC64NVME),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
    }
}

/// The full-object CRC of parts given as (raw big-endian CRC, length),
/// in order, combined without their bytes; None for a non-CRC algorithm
/// or a digest of the wrong length.
pub fn full_object_crc(alg: ChecksumAlgorithm, parts: &[(&[u8], u64)]) -> Option<Vec<u8>> {
    let crc = crc_of(alg)?;
    let width = digest_len(alg);
    let mut acc = 0u64; // the CRC of no bytes
    for (digest, len) in parts {
        if digest.len() != width {
            return None;
        }
        let mut be = [0u8; 8];
        be[8 - width..].copy_from_slice(digest);
        acc = crc.combine(acc, u64::from_be_bytes(be), *len);
    }
    Some(acc.to_be_bytes()[8 - width..].to_vec())
}

/// The header (and trailer) carrying the value.
pub fn header_name(alg: ChecksumAlgorithm) -> &'static str {
    match alg {
        ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
        ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
        ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
        ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
        ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
    }
}

/// Raw digest length in bytes.
pub fn digest_len(alg: ChecksumAlgorithm) -> usize {
    match alg {
        ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
        ChecksumAlgorithm::Crc64Nvme => 8,
        ChecksumAlgorithm::Sha1 => 20,
        ChecksumAlgorithm::Sha256 => 32,
    }
}

/// Decodes a base64 checksum value and checks its length for `alg`.
pub fn decode_checksum(alg: ChecksumAlgorithm, value: &[u8]) -> Result<Vec<u8>, AuthError> {
    // S3's words for a value that is not base64 of the algorithm's length.
    let bad =
        || AuthError::InvalidChecksum(format!("Value for {} header is invalid.", header_name(alg)));
    let value = value.trim_ascii();
    if value.len() > MAX_CHECKSUM_BASE64_BYTES {
        return Err(bad());
    }
    let raw = BASE64.decode(value).map_err(|_| bad())?;
    if raw.len() != digest_len(alg) {
        return Err(bad());
    }
    Ok(raw)
}

/// A running checksum of one algorithm.
#[derive(Clone)]
pub enum ChecksumHasher {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(digest::Context),
    Sha256(digest::Context),
}

impl ChecksumHasher {
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        match alg {
            ChecksumAlgorithm::Crc32 => ChecksumHasher::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => ChecksumHasher::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => {
                ChecksumHasher::Crc64Nvme(crc64fast_nvme::Digest::new())
            }
            ChecksumAlgorithm::Sha1 => {
                ChecksumHasher::Sha1(digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY))
            }
            ChecksumAlgorithm::Sha256 => {
                ChecksumHasher::Sha256(digest::Context::new(&digest::SHA256))
            }
        }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            ChecksumHasher::Crc32(_) => ChecksumAlgorithm::Crc32,
            ChecksumHasher::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            ChecksumHasher::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            ChecksumHasher::Sha1(_) => ChecksumAlgorithm::Sha1,
            ChecksumHasher::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            ChecksumHasher::Crc32(h) => h.update(data),
            ChecksumHasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            ChecksumHasher::Crc64Nvme(d) => d.write(data),
            ChecksumHasher::Sha1(c) | ChecksumHasher::Sha256(c) => c.update(data),
        }
    }

    /// Raw digest; CRCs big-endian, as S3 base64-encodes them.
    pub fn finish(self) -> Vec<u8> {
        match self {
            ChecksumHasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            ChecksumHasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            ChecksumHasher::Crc64Nvme(d) => d.sum64().to_be_bytes().to_vec(),
            ChecksumHasher::Sha1(c) | ChecksumHasher::Sha256(c) => c.finish().as_ref().to_vec(),
        }
    }
}

/// One-shot checksum.
pub fn checksum(alg: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    let mut h = ChecksumHasher::new(alg);
    h.update(data);
    h.finish()
}

/// Composite multipart checksum: the checksum of the concatenated part
/// digests (S3 appends `-N` when displaying it).
pub fn composite(alg: ChecksumAlgorithm, part_digests: &[Vec<u8>]) -> Vec<u8> {
    let mut h = ChecksumHasher::new(alg);
    for d in part_digests {
        h.update(d);
    }
    h.finish()
}

/// A requested flexible checksum: the algorithm, and its raw expected value
/// when a header carried it (None: the value comes in a trailer, or the
/// server just computes and stores it).
pub type RequestedChecksum = (ChecksumAlgorithm, Option<Vec<u8>>);

/// What a PUT body is checked against, from headers (and later a trailer).
pub fn requested_checksum(
    headers: &[(&str, &[u8])],
) -> Result<Option<RequestedChecksum>, AuthError> {
    let mut found: Option<(ChecksumAlgorithm, Vec<u8>)> = None;
    let mut sdk_alg = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("x-amz-sdk-checksum-algorithm") {
            let v = std::str::from_utf8(value).unwrap_or("");
            let alg = algorithm_from_name(v).ok_or_else(|| {
                AuthError::InvalidChecksum(format!("x-amz-sdk-checksum-algorithm: {v}"))
            })?;
            sdk_alg = Some(alg);
            continue;
        }
        // Bytes, not str slicing: a client-sent name must never split a char.
        let nb = name.as_bytes();
        let is_checksum = nb.len() > 15 && nb[..15].eq_ignore_ascii_case(b"x-amz-checksum-");
        // x-amz-checksum-type / -algorithm describe, they carry no value.
        if !is_checksum
            || nb[15..].eq_ignore_ascii_case(b"type")
            || nb[15..].eq_ignore_ascii_case(b"algorithm")
        {
            continue;
        }
        let alg = algorithm_from_header_name(name)
            .ok_or_else(|| AuthError::InvalidChecksum(format!("unknown checksum header {name}")))?;
        if found.is_some() {
            return Err(AuthError::InvalidChecksum(
                "more than one checksum header".to_owned(),
            ));
        }
        found = Some((alg, decode_checksum(alg, value)?));
    }
    match (found, sdk_alg) {
        (Some((a, _)), Some(s)) if a != s => Err(AuthError::InvalidChecksum(
            "x-amz-sdk-checksum-algorithm disagrees with the checksum header".to_owned(),
        )),
        (Some((a, v)), _) => Ok(Some((a, Some(v)))),
        (None, Some(s)) => Ok(Some((s, None))),
        (None, None) => Ok(None),
    }
}

/// Everything a PUT computes over its body in one pass: MD5 (the ETag;
/// here, or by the shard's batched hasher, see [`BodyDigests::without_md5`]),
/// SHA-256 when the client signed the payload hash, and at most one flexible
/// checksum.
pub struct BodyDigests {
    md5: Option<Md5>,
    sha256: Option<(digest::Context, [u8; 32])>,
    flexible: Option<ChecksumHasher>,
    expected_md5: Option<[u8; 16]>,
    expected_flexible: Option<Vec<u8>>,
}

/// Digests of a verified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigestsResult {
    pub md5: [u8; 16],
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
}

impl BodyDigests {
    /// `content_md5` is the raw `Content-MD5` header (base64); `checksum` is
    /// what [`requested_checksum`] returned. A malformed Content-MD5 fails here,
    /// before any body byte is read.
    pub fn new(
        payload: &PayloadMode,
        content_md5: Option<&[u8]>,
        checksum: Option<RequestedChecksum>,
    ) -> Result<Self, AuthError> {
        let expected_md5 = match content_md5 {
            None => None,
            Some(v) => {
                let raw = BASE64
                    .decode(v.trim_ascii())
                    .map_err(|_| AuthError::InvalidContentMd5)?;
                Some(
                    <[u8; 16]>::try_from(raw.as_slice())
                        .map_err(|_| AuthError::InvalidContentMd5)?,
                )
            }
        };
        let sha256 = match payload {
            PayloadMode::Sha256(h) => Some((digest::Context::new(&digest::SHA256), *h)),
            _ => None,
        };
        let (flexible, expected_flexible) = match checksum {
            None => (None, None),
            Some((alg, v)) => (Some(ChecksumHasher::new(alg)), v),
        };
        Ok(BodyDigests {
            md5: Some(Md5::new()),
            sha256,
            flexible,
            expected_md5,
            expected_flexible,
        })
    }

    /// Supplies the flexible checksum value from a trailer (base64).
    pub fn expect_checksum(
        &mut self,
        alg: ChecksumAlgorithm,
        base64: &[u8],
    ) -> Result<(), AuthError> {
        match &self.flexible {
            Some(h) if h.algorithm() == alg => {
                self.expected_flexible = Some(decode_checksum(alg, base64)?);
                Ok(())
            }
            _ => Err(AuthError::InvalidChecksum(format!(
                "{} was not announced",
                header_name(alg)
            ))),
        }
    }

    /// The caller computes the MD5 itself (the shard's batched hasher) and
    /// hands it to [`BodyDigests::finish_with_md5`].
    pub fn without_md5(mut self) -> Self {
        self.md5 = None;
        self
    }

    pub fn update(&mut self, data: &[u8]) {
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        if let Some((c, _)) = &mut self.sha256 {
            c.update(data);
        }
        if let Some(h) = &mut self.flexible {
            h.update(data);
        }
    }

    /// Checks every expectation; only then is the body fit to commit.
    pub fn finish(mut self) -> Result<BodyDigestsResult, AuthError> {
        let md5 = self.md5.take().map(|m| m.finalize().into());
        debug_assert!(md5.is_some(), "finish without an MD5: use finish_with_md5");
        self.check(md5.unwrap_or_default())
    }

    /// [`BodyDigests::finish`] for a body whose MD5 was computed elsewhere.
    pub fn finish_with_md5(self, md5: [u8; 16]) -> Result<BodyDigestsResult, AuthError> {
        debug_assert!(self.md5.is_none(), "MD5 computed twice");
        self.check(md5)
    }

    fn check(self, md5: [u8; 16]) -> Result<BodyDigestsResult, AuthError> {
        if let Some((c, expected)) = self.sha256 {
            if c.finish().as_ref() != expected.as_slice() {
                return Err(AuthError::ContentSha256Mismatch);
            }
        }
        if let Some(e) = self.expected_md5 {
            if e != md5 {
                return Err(AuthError::BadDigest("Content-MD5"));
            }
        }
        let checksum = match self.flexible {
            None => None,
            Some(h) => {
                let alg = h.algorithm();
                let got = h.finish();
                if let Some(e) = &self.expected_flexible {
                    if *e != got {
                        return Err(AuthError::BadDigest(header_name(alg)));
                    }
                }
                Some((alg, got))
            }
        };
        Ok(BodyDigestsResult { md5, checksum })
    }
}
