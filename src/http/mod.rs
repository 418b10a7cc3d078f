//! HTTP/1.1 wire protocol: zero-copy request heads, body framing, response heads.

pub mod chunked;
pub mod error;
pub mod head;
pub mod multipart;
pub mod response;

pub use chunked::*;
pub use error::HttpError;
pub use head::*;
pub use response::*;
