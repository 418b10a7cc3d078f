//! Zero-copy HTTP/1.1 request heads.
//!
//! `parse_head` runs httparse over the receive buffer and, once the head is
//! complete, splits exactly the head bytes off the front of the buffer into
//! one `Bytes`. The parsed head keeps only `u16` offsets into those bytes, so a
//! request costs one small `Vec` of spans and no per-header allocation.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use super::error::HttpError;

/// Longest request head we buffer, request line through the blank line.
/// S3 heads are a few hundred bytes to ~2 KiB; 16 KiB leaves room for large
/// user metadata while bounding what a slow or hostile client can make us hold.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most header lines accepted in one head.
pub const MAX_HEADERS: usize = 100;

// Offsets are u16: every offset fits because the head is bounded.
const _: () = assert!(MAX_HEAD_BYTES <= u16::MAX as usize);

/// Request method. S3 only uses the named ones; anything else is `Other`
/// (the method text is still available through `method_str`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Other,
}

impl Method {
    /// Methods are case-sensitive tokens (RFC 9110 §9.1).
    fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
}

/// How the request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither Content-Length nor Transfer-Encoding: no body.
    None,
    /// `Content-Length: n` (may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with `ChunkedDecoder`.
    Chunked,
}

/// A half-open byte range inside `RequestHead::bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Span {
    start: u16,
    end: u16,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        usize::from(self.start)..usize::from(self.end)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeaderSpan {
    name: Span,
    /// The value with surrounding spaces and tabs already trimmed.
    value: Span,
}

/// A parsed request head. Holds the head bytes and offsets into them; every
/// accessor borrows from those bytes.
#[derive(Clone, Debug)]
pub struct RequestHead {
    bytes: Bytes,
    method: Method,
    method_span: Span,
    target: Span,
    /// End of the path part of the target (the '?' or the target's end).
    path_end: u16,
    minor_version: u8,
    headers: Vec<HeaderSpan>,
}

/// Parses a request head from the front of `buf`.
///
/// On success the head bytes (without any leading empty lines) are split off
/// `buf` without copying; whatever follows (body bytes, pipelined requests)
/// stays in `buf`. `Ok(None)` means the head is not complete yet: read more
/// and call again.
pub fn parse_head(buf: &mut BytesMut) -> Result<Option<RequestHead>, HttpError> {
    // Never scan past the limit: bounds the work redone on every partial read.
    let window_len = buf.len().min(MAX_HEAD_BYTES);
    let window = buf.get(..window_len).unwrap_or_default();
    let parsed = match parse_spans(window)? {
        Some(parsed) => parsed,
        None if buf.len() >= MAX_HEAD_BYTES => return Err(HttpError::HeadTooLarge),
        None => return Ok(None),
    };
    if parsed.head_len > MAX_HEAD_BYTES {
        return Err(HttpError::HeadTooLarge);
    }
    let mut bytes = buf.split_to(parsed.head_len).freeze();
    // Offsets were made relative to the method, so drop leading empty lines.
    bytes = bytes.slice(parsed.skip..);
    let head = RequestHead {
        bytes,
        method: parsed.method,
        method_span: parsed.method_span,
        target: parsed.target,
        path_end: parsed.path_end,
        minor_version: parsed.minor_version,
        headers: parsed.headers,
    };
    debug_assert!(head.bytes.ends_with(b"\n"));
    debug_assert!(head.bytes.starts_with(head.method_str().as_bytes()));
    Ok(Some(head))
}

/// The result of one httparse pass, with offsets relative to the method.
struct ParsedSpans {
    head_len: usize,
    skip: usize,
    method: Method,
    method_span: Span,
    target: Span,
    path_end: u16,
    minor_version: u8,
    headers: Vec<HeaderSpan>,
}

fn parse_spans(window: &[u8]) -> Result<Option<ParsedSpans>, HttpError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(window, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(e) => return Err(HttpError::MalformedHead(httparse_reason(e))),
    };
    // httparse fills all three on Complete; treat absence as malformed anyway.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::MalformedHead("incomplete request line"));
    };
    // Origin-form only: S3 never uses absolute-form, and `*` (OPTIONS) is not routed.
    if !target.starts_with('/') {
        return Err(HttpError::MalformedHead(
            "request target must start with '/'",
        ));
    }
    let skip = offset_in(window, method.as_bytes());
    let rel = |part: &[u8]| -> Span {
        let start = offset_in(window, part) - skip;
        Span {
            start: start as u16,
            end: (start + part.len()) as u16,
        }
    };
    let target_span = rel(target.as_bytes());
    let path_len = memchr::memchr(b'?', target.as_bytes()).unwrap_or(target.len());
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        headers.push(HeaderSpan {
            name: rel(h.name.as_bytes()),
            value: rel(trim_ows(h.value)),
        });
    }
    Ok(Some(ParsedSpans {
        head_len,
        skip,
        method: Method::from_token(method),
        method_span: rel(method.as_bytes()),
        target: target_span,
        path_end: target_span.start + path_len as u16,
        minor_version: version,
        headers,
    }))
}

/// Offset of `part` inside `whole`; httparse only hands out sub-slices of the
/// buffer it was given, so anything else is a bug, not a client error.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    let base = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    assert!(
        at >= base && at + part.len() <= base + whole.len(),
        "slice outside the head"
    );
    at - base
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Version => "unsupported HTTP version",
        httparse::Error::Status | httparse::Error::TooManyHeaders => "invalid request line",
    }
}

/// Strips optional whitespace (SP / HTAB) from both ends of a field value.
fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    v.get(start..end).unwrap_or_default()
}

/// Iterates the comma-separated list elements of a field value, trimmed,
/// skipping empty elements (RFC 9110 §5.6.1).
fn list_tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|b| *b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

impl RequestHead {
    /// The exact head bytes, request line through the blank line.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The method as sent (useful for `Method::Other` and for SigV4).
    pub fn method_str(&self) -> &str {
        self.str_at(self.method_span)
    }

    /// The whole request target, e.g. `/bucket/key?uploads`.
    pub fn target(&self) -> &str {
        self.str_at(self.target)
    }

    /// The path part of the target, still percent-encoded.
    pub fn raw_path(&self) -> &str {
        self.str_at(Span {
            start: self.target.start,
            end: self.path_end,
        })
    }

    /// The query part after '?', without it; empty when there is none.
    pub fn raw_query(&self) -> &str {
        let start = (self.path_end + 1).min(self.target.end);
        self.str_at(Span {
            start,
            end: self.target.end,
        })
    }

    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// First value of header `name` (ASCII case-insensitive), trimmed;
    /// None when absent or not valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(self.header_bytes(name)?).ok()
    }

    /// First value of header `name` as raw bytes (may hold obs-text).
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// All headers in the order received, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers
            .iter()
            .map(|h| (self.str_at(h.name), self.slice_at(h.value)))
    }

    /// Whether the connection may serve another request after this one.
    /// HTTP/1.1 persists unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive` (RFC 9112 §9.3).
    pub fn keep_alive(&self) -> bool {
        let has_token = |token: &[u8]| {
            self.values("connection")
                .flat_map(list_tokens)
                .any(|t| t.eq_ignore_ascii_case(token))
        };
        if has_token(b"close") {
            return false;
        }
        self.minor_version >= 1 || has_token(b"keep-alive")
    }

    /// `Expect: 100-continue` on an HTTP/1.1 request. A server must ignore
    /// that expectation from HTTP/1.0 clients (RFC 9110 §10.1.1).
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && self
                .values("expect")
                .any(|v| v.eq_ignore_ascii_case(b"100-continue"))
    }

    /// How the body is delimited, rejecting every ambiguous combination that
    /// could let a front proxy and us disagree (request smuggling).
    pub fn body_framing(&self) -> Result<BodyFraming, HttpError> {
        let has_te = self.values("transfer-encoding").next().is_some();
        let has_cl = self.values("content-length").next().is_some();
        if has_te && has_cl {
            return Err(HttpError::BadContentLength);
        }
        if has_te {
            return self.transfer_coding();
        }
        if has_cl {
            return self.content_length().map(BodyFraming::Length);
        }
        Ok(BodyFraming::None)
    }

    /// Only a lone `chunked` is accepted; HTTP/1.0 has no transfer codings
    /// and RFC 9112 §6.1 says to treat such framing as faulty.
    fn transfer_coding(&self) -> Result<BodyFraming, HttpError> {
        if self.minor_version == 0 {
            return Err(HttpError::UnsupportedTransferEncoding);
        }
        let mut codings = self.values("transfer-encoding").flat_map(list_tokens);
        match (codings.next(), codings.next()) {
            (Some(c), None) if c.eq_ignore_ascii_case(b"chunked") => Ok(BodyFraming::Chunked),
            _ => Err(HttpError::UnsupportedTransferEncoding),
        }
    }

    /// All Content-Length values (repeated headers or a list) must agree.
    fn content_length(&self) -> Result<u64, HttpError> {
        let mut found: Option<u64> = None;
        for value in self.values("content-length") {
            // An empty value or element ("5,,5" is fine, "" is not).
            if list_tokens(value).next().is_none() {
                return Err(HttpError::BadContentLength);
            }
            for token in list_tokens(value) {
                let n = parse_decimal_u64(token).ok_or(HttpError::BadContentLength)?;
                match found {
                    Some(prev) if prev != n => return Err(HttpError::BadContentLength),
                    _ => found = Some(n),
                }
            }
        }
        found.ok_or(HttpError::BadContentLength)
    }

    /// Values of every header named `name`, in order.
    fn values<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |h| self.slice_at(h.name).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| self.slice_at(h.value))
    }

    fn slice_at(&self, span: Span) -> &[u8] {
        self.bytes.get(span.range()).unwrap_or_default()
    }

    /// Method, target and header names were checked as ASCII tokens by
    /// httparse, so this never falls back to "" for spans it is used on.
    fn str_at(&self, span: Span) -> &str {
        std::str::from_utf8(self.slice_at(span)).unwrap_or_default()
    }
}

/// Digits only (no sign, no spaces), overflow rejected.
fn parse_decimal_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}
