//! HTTP/1.1 wire protocol: zero-copy request heads, body framing, response heads.

pub mod error;
pub use error::HttpError;
