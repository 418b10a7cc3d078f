//! Authentication failures. `s3::error` maps each variant to exactly one S3
//! error code and HTTP status; this module only says what went wrong.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No Authorization header and no X-Amz-Algorithm query: an anonymous request.
    /// (Not an error by itself: the caller decides whether anonymous access is allowed.)
    Anonymous,
    /// `Authorization: AWS key:sig` or `?AWSAccessKeyId=`: Signature Version 2.
    SignatureV2NotSupported,
    /// A SigV2 signature that does not match (S3 returns the string to sign).
    SignatureV2DoesNotMatch {
        string_to_sign: String,
        signature_provided: String,
    },
    /// `Authorization: AWS …` without `key:signature`.
    V2HeaderMalformed,
    /// A SigV2 presigned URL without AWSAccessKeyId, Expires or Signature.
    V2QueryParametersMissing,
    /// An algorithm other than AWS4-HMAC-SHA256.
    UnsupportedAlgorithm,
    /// The Authorization header does not parse (message says which part).
    AuthorizationHeaderMalformed(String),
    /// Presigned query parameters are missing or malformed (message says which).
    AuthorizationQueryParametersError(String),
    /// The credential scope names another region than the server's.
    WrongRegion { expected: String, got: String },
    /// X-Amz-Date / Date missing or unparseable.
    MissingDate,
    /// The access key is unknown.
    InvalidAccessKeyId,
    /// The access key exists but is deactivated.
    InactiveAccessKey,
    /// The signature does not match; carries what S3 returns to help debugging.
    SignatureDoesNotMatch {
        string_to_sign: String,
        canonical_request: String,
    },
    /// Request time more than the allowed skew away from the server clock.
    RequestTimeTooSkewed { request_time: i64, server_time: i64 },
    /// Presigned URL past its expiry.
    RequestExpired,
    /// X-Amz-Expires above 604800.
    ExpiresOutOfRange,
    /// X-Amz-Expires below 0.
    ExpiresNegative,
    /// x-amz-content-sha256 is neither 64 hex digits nor a known token.
    InvalidContentSha256,
    /// The body's SHA-256 differs from x-amz-content-sha256.
    ContentSha256Mismatch,
    /// An aws-chunked chunk or trailer signature does not verify.
    ChunkSignatureDoesNotMatch,
    /// aws-chunked framing is broken (message says what).
    MalformedChunk(&'static str),
    /// The decoded length differs from x-amz-decoded-content-length, or it is missing.
    DecodedLengthMismatch,
    /// A header the chosen payload mode requires is missing (message names it).
    MissingHeader(&'static str),
    /// A checksum header or trailer is malformed or names an unknown algorithm.
    InvalidChecksum(String),
    /// Content-MD5 is not the base64 of 16 bytes (empty, short, not base64).
    InvalidContentMd5,
    /// A checksum (flexible or Content-MD5) does not match the body.
    BadDigest(&'static str),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for AuthError {}
