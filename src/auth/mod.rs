//! AWS Signature Version 4: header and presigned auth, streaming chunk
//! signatures, payload hashes and flexible checksums.
//!
//! Flow for a request: [`authenticate`] classifies and verifies it and says
//! how the body is protected ([`PayloadMode`]); an aws-chunked body goes
//! through [`AwsChunkedDecoder`]; the decoded bytes go through
//! [`BodyDigests`], whose `finish` is the last check before commit.

pub mod checksum;
pub mod error;
pub mod md5_lanes;
pub mod post_policy;
pub mod sigv2;
pub mod sigv4;
pub mod streaming;
pub mod verify;

#[cfg(test)]
mod tests;

pub use checksum::{
    algorithm_from_header_name, algorithm_from_name, algorithm_name, composite, header_name,
    requested_checksum, BodyDigests, BodyDigestsResult, ChecksumHasher, RequestedChecksum,
};
pub use error::AuthError;
pub use sigv4::{
    canonical_query, canonical_uri, hmac_hex, percent_decode, sha256_hex, signing_key, uri_encode,
    SigningKeyCache,
};
pub use streaming::{AwsChunkedDecoder, Decoded, MAX_CHUNK_HEADER_BYTES, MAX_TRAILER_BYTES};
pub use verify::{
    authenticate, AuthConfig, AuthRequest, Authenticated, PayloadMode, SecretLookup,
    StreamingContext,
};
