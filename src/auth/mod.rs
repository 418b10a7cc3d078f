//! AWS Signature Version 4: header and presigned auth, streaming chunk
//! signatures, payload hashes and flexible checksums.

pub mod error;
pub use error::AuthError;
