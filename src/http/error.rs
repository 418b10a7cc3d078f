//! Errors of the HTTP/1.1 layer. Every variant ends the connection after a
//! 4xx answer (or silently when nothing can be answered).

use std::fmt;

/// What went wrong while reading a request off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The request line or a header is not valid HTTP/1.x.
    MalformedHead(&'static str),
    /// The head did not end within `MAX_HEAD_BYTES`.
    HeadTooLarge,
    /// More than `MAX_HEADERS` header lines.
    TooManyHeaders,
    /// Content-Length is not a number, or two differ, or it is combined with chunked.
    BadContentLength,
    /// A Transfer-Encoding other than `chunked` (alone).
    UnsupportedTransferEncoding,
    /// Chunked transfer framing is broken (bad size line, missing CRLF, oversize trailer).
    MalformedChunk(&'static str),
    /// The peer closed the connection in the middle of a body.
    TruncatedBody,
    /// The peer sent nothing for longer than the idle limit.
    Timeout,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::MalformedHead(what) => write!(f, "malformed request head: {what}"),
            HttpError::HeadTooLarge => write!(f, "request head too large"),
            HttpError::TooManyHeaders => write!(f, "too many header lines"),
            HttpError::BadContentLength => write!(f, "invalid Content-Length"),
            HttpError::UnsupportedTransferEncoding => write!(f, "unsupported Transfer-Encoding"),
            HttpError::MalformedChunk(what) => write!(f, "malformed chunked body: {what}"),
            HttpError::TruncatedBody => write!(f, "connection closed before the body ended"),
            HttpError::Timeout => write!(f, "client too slow"),
        }
    }
}

impl std::error::Error for HttpError {}
