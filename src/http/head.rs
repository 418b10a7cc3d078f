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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(raw: &[u8]) -> (Result<Option<RequestHead>, HttpError>, BytesMut) {
        let mut buf = BytesMut::from(raw);
        let r = parse_head(&mut buf);
        (r, buf)
    }

    fn parse_ok(raw: &str) -> RequestHead {
        match parse(raw.as_bytes()) {
            (Ok(Some(h)), rest) if rest.is_empty() => h,
            (other, rest) => panic!("{raw:?} gave {other:?} leaving {rest:?}"),
        }
    }

    fn parse_err(raw: &[u8]) -> HttpError {
        match parse(raw).0 {
            Err(e) => e,
            other => panic!(
                "{:?} should fail, gave {other:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }

    #[test]
    fn get_with_query() {
        let h = parse_ok(
            "GET /bucket/my%20key?list-type=2&prefix=a%2F HTTP/1.1\r\nHost: s3.local\r\n\r\n",
        );
        assert_eq!(h.method(), Method::Get);
        assert_eq!(h.method_str(), "GET");
        assert_eq!(h.target(), "/bucket/my%20key?list-type=2&prefix=a%2F");
        assert_eq!(h.raw_path(), "/bucket/my%20key");
        assert_eq!(h.raw_query(), "list-type=2&prefix=a%2F");
        assert_eq!(h.minor_version(), 1);
        assert_eq!(h.header("host"), Some("s3.local"));
        assert_eq!(h.header_count(), 1);
    }

    #[test]
    fn path_and_query_edges() {
        for (target, path, query) in [
            ("/", "/", ""),
            ("/?", "/", ""),
            ("/b?uploads", "/b", "uploads"),
            ("/b?a=1?2", "/b", "a=1?2"),
            ("/a/b/c", "/a/b/c", ""),
        ] {
            let h = parse_ok(&format!("GET {target} HTTP/1.1\r\n\r\n"));
            assert_eq!(
                (h.target(), h.raw_path(), h.raw_query()),
                (target, path, query)
            );
        }
    }

    #[test]
    fn methods() {
        for (m, want) in [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("PUT", Method::Put),
            ("POST", Method::Post),
            ("DELETE", Method::Delete),
            ("OPTIONS", Method::Options),
            ("PATCH", Method::Other),
            ("get", Method::Other),
        ] {
            let h = parse_ok(&format!("{m} / HTTP/1.1\r\n\r\n"));
            assert_eq!((h.method(), h.method_str()), (want, m));
        }
    }

    #[test]
    fn header_names_are_case_insensitive_and_values_trimmed() {
        let h = parse_ok(
            "PUT /b/k HTTP/1.1\r\nX-Amz-Date: \t20130524T000000Z \r\nx-amz-meta-A: one\r\n\
             X-AMZ-META-a: two\r\nEmpty:\r\n\r\n",
        );
        assert_eq!(h.header("x-amz-date"), Some("20130524T000000Z"));
        assert_eq!(h.header("X-AMZ-DATE"), Some("20130524T000000Z"));
        assert_eq!(
            h.header("x-amz-meta-a"),
            Some("one"),
            "first occurrence wins"
        );
        assert_eq!(h.header("empty"), Some(""));
        assert_eq!(h.header("missing"), None);
        assert_eq!(h.header_count(), 4);
        let all: Vec<(&str, &[u8])> = h.headers().collect();
        assert_eq!(
            all,
            vec![
                ("X-Amz-Date", &b"20130524T000000Z"[..]),
                ("x-amz-meta-A", b"one"),
                ("X-AMZ-META-a", b"two"),
                ("Empty", b""),
            ]
        );
    }

    #[test]
    fn obs_text_value_is_bytes_not_str() {
        let (r, _) = parse(b"GET / HTTP/1.1\r\nx-amz-meta-n: caf\xe9\r\n\r\n");
        let h = r.unwrap().unwrap();
        assert_eq!(h.header("x-amz-meta-n"), None);
        assert_eq!(h.header_bytes("x-amz-meta-n"), Some(&b"caf\xe9"[..]));
    }

    #[test]
    fn pipelined_requests_and_body_stay_in_buffer() {
        let mut buf = BytesMut::from(
            &b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b/k HTTP/1.1\r\n\r\nDEL"[..],
        );
        let first = parse_head(&mut buf).unwrap().unwrap();
        assert_eq!(first.body_framing(), Ok(BodyFraming::Length(5)));
        assert_eq!(
            first.as_bytes().as_ref(),
            b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
        );
        assert_eq!(&buf[..5], b"hello");
        let _ = buf.split_to(5);
        let second = parse_head(&mut buf).unwrap().unwrap();
        assert_eq!(second.method(), Method::Get);
        assert_eq!(&buf[..], b"DEL");
        assert!(matches!(parse_head(&mut buf), Ok(None)));
        assert_eq!(&buf[..], b"DEL", "a partial head is left untouched");
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let h = parse_ok("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.as_bytes().as_ref(), b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.method_str(), "GET");
        assert_eq!(h.raw_path(), "/x");
        assert_eq!(h.header("host"), Some("a"));
        let (r, buf) = parse(b"\r\n\r\n");
        assert!(matches!(r, Ok(None)));
        assert_eq!(buf.len(), 4);
    }

    #[test]
    fn keep_alive_rules() {
        for (version, connection, want) in [
            ("1.1", None, true),
            ("1.1", Some("close"), false),
            ("1.1", Some("Close"), false),
            ("1.1", Some("keep-alive, close"), false),
            ("1.1", Some("upgrade"), true),
            ("1.0", None, false),
            ("1.0", Some("keep-alive"), true),
            ("1.0", Some("Keep-Alive"), true),
            ("1.0", Some("te, keep-alive"), true),
            ("1.0", Some("keep-alive, close"), false),
            ("1.0", Some("closed"), false),
        ] {
            let conn = connection.map_or(String::new(), |c| format!("Connection: {c}\r\n"));
            let h = parse_ok(&format!("GET / HTTP/{version}\r\n{conn}\r\n"));
            assert_eq!(
                h.keep_alive(),
                want,
                "HTTP/{version} Connection: {connection:?}"
            );
        }
        let h = parse_ok("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n");
        assert!(!h.keep_alive(), "every Connection header counts");
    }

    #[test]
    fn expect_continue() {
        for (version, expect, want) in [
            ("1.1", Some("100-continue"), true),
            ("1.1", Some("100-Continue"), true),
            ("1.1", Some(" 100-continue "), true),
            ("1.1", Some("200-ok"), false),
            ("1.1", None, false),
            ("1.0", Some("100-continue"), false),
        ] {
            let e = expect.map_or(String::new(), |v| format!("Expect: {v}\r\n"));
            let h = parse_ok(&format!("PUT /b/k HTTP/{version}\r\n{e}\r\n"));
            assert_eq!(
                h.expects_continue(),
                want,
                "HTTP/{version} Expect: {expect:?}"
            );
        }
    }

    #[test]
    fn body_framing_table() {
        use BodyFraming::*;
        use HttpError::*;
        let table: &[(&str, Result<BodyFraming, HttpError>)] = &[
            ("", Ok(None)),
            ("Content-Length: 0\r\n", Ok(Length(0))),
            ("Content-Length: 42\r\n", Ok(Length(42))),
            ("content-length:  42 \r\n", Ok(Length(42))),
            (
                "Content-Length: 18446744073709551615\r\n",
                Ok(Length(u64::MAX)),
            ),
            ("Content-Length: 5\r\nContent-Length: 5\r\n", Ok(Length(5))),
            ("Content-Length: 5, 5\r\n", Ok(Length(5))),
            (
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                Err(BadContentLength),
            ),
            ("Content-Length: 5, 6\r\n", Err(BadContentLength)),
            ("Content-Length: \r\n", Err(BadContentLength)),
            ("Content-Length: +5\r\n", Err(BadContentLength)),
            ("Content-Length: -1\r\n", Err(BadContentLength)),
            ("Content-Length: 0x10\r\n", Err(BadContentLength)),
            ("Content-Length: 1 0\r\n", Err(BadContentLength)),
            (
                "Content-Length: 18446744073709551616\r\n",
                Err(BadContentLength),
            ),
            ("Transfer-Encoding: chunked\r\n", Ok(Chunked)),
            ("Transfer-Encoding: Chunked\r\n", Ok(Chunked)),
            (
                "Transfer-Encoding: gzip, chunked\r\n",
                Err(UnsupportedTransferEncoding),
            ),
            (
                "Transfer-Encoding: chunked, chunked\r\n",
                Err(UnsupportedTransferEncoding),
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                Err(UnsupportedTransferEncoding),
            ),
            (
                "Transfer-Encoding: identity\r\n",
                Err(UnsupportedTransferEncoding),
            ),
            ("Transfer-Encoding: \r\n", Err(UnsupportedTransferEncoding)),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                Err(BadContentLength),
            ),
            (
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                Err(BadContentLength),
            ),
        ];
        for (headers, want) in table {
            let h = parse_ok(&format!("PUT /b/k HTTP/1.1\r\n{headers}\r\n"));
            assert_eq!(&h.body_framing(), want, "{headers:?}");
        }
        let h = parse_ok("PUT /b/k HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body_framing(), Err(UnsupportedTransferEncoding));
    }

    #[test]
    fn oversize_head() {
        let line = "GET / HTTP/1.1\r\n";
        // Complete and exactly at the limit: accepted.
        let pad = MAX_HEAD_BYTES - line.len() - "x: \r\n\r\n".len();
        let exact = format!("{line}x: {}\r\n\r\n", "a".repeat(pad));
        assert_eq!(exact.len(), MAX_HEAD_BYTES);
        assert!(parse_ok(&exact).header("x").is_some());
        // One byte more: rejected even though complete.
        let over = format!("{line}x: {}\r\n\r\n", "a".repeat(pad + 1));
        assert_eq!(parse_err(over.as_bytes()), HttpError::HeadTooLarge);
        // Incomplete: waits below the limit, fails at it.
        let partial = format!("{line}x: {}", "a".repeat(MAX_HEAD_BYTES));
        assert!(matches!(
            parse(&partial.as_bytes()[..MAX_HEAD_BYTES - 1]).0,
            Ok(None)
        ));
        assert_eq!(
            parse_err(&partial.as_bytes()[..MAX_HEAD_BYTES]),
            HttpError::HeadTooLarge
        );
        assert_eq!(
            parse_err(&b"\r\n".repeat(MAX_HEAD_BYTES / 2)),
            HttpError::HeadTooLarge
        );
    }

    #[test]
    fn too_many_headers() {
        let head = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                s.push_str(&format!("h{i}: v\r\n"));
            }
            s + "\r\n"
        };
        assert_eq!(parse_ok(&head(MAX_HEADERS)).header_count(), MAX_HEADERS);
        assert_eq!(
            parse_err(head(MAX_HEADERS + 1).as_bytes()),
            HttpError::TooManyHeaders
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let table: &[&[u8]] = &[
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET /\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\n\r\n",
            b"GET b/k HTTP/1.1\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nx : y\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: y\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nx: a\x7fb\r\n\r\n",
            b"GET / HTTP/1.1\r\n: y\r\n\r\n",
            b"GET / HTTP/1.1\r\nx\r\n\r\n",
            b"GET / HTTP/1.1\r\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ];
        for raw in table {
            assert!(
                matches!(parse_err(raw), HttpError::MalformedHead(_)),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    /// What a parse exposes, for comparing two parses.
    #[derive(Clone, Debug, PartialEq)]
    struct Snapshot {
        method: String,
        target: String,
        minor: u8,
        headers: Vec<(String, Vec<u8>)>,
        head_len: usize,
    }

    fn snapshot(h: &RequestHead) -> Snapshot {
        Snapshot {
            method: h.method_str().to_owned(),
            target: h.target().to_owned(),
            minor: h.minor_version(),
            headers: h
                .headers()
                .map(|(n, v)| (n.to_owned(), v.to_vec()))
                .collect(),
            head_len: h.as_bytes().len(),
        }
    }

    fn request() -> impl Strategy<Value = (Snapshot, Vec<u8>)> {
        let method = prop::sample::select(vec!["GET", "PUT", "HEAD", "POST", "DELETE", "PATCH"]);
        let target = "/[a-zA-Z0-9._~%/-]{0,30}(\\?[a-z0-9=&%-]{0,20})?";
        let header = (
            "[A-Za-z][A-Za-z0-9-]{0,15}",
            "[!-~]([ -~]{0,30}[!-~])?",
            "[ \t]{0,2}",
        );
        (
            method,
            target,
            0u8..=1,
            prop::collection::vec(header, 0..12),
            0usize..3,
        )
            .prop_map(|(method, target, minor, headers, blank_lines)| {
                let mut wire = "\r\n".repeat(blank_lines);
                wire += &format!("{method} {target} HTTP/1.{minor}\r\n");
                for (name, value, ows) in &headers {
                    wire += &format!("{name}:{ows}{value}{ows}\r\n");
                }
                wire += "\r\n";
                let expected = Snapshot {
                    method: method.to_owned(),
                    target,
                    minor,
                    headers: headers
                        .into_iter()
                        .map(|(n, v, _)| (n, v.into_bytes()))
                        .collect(),
                    head_len: wire.len() - 2 * blank_lines,
                };
                (expected, wire.into_bytes())
            })
    }

    proptest! {
        #[test]
        fn split_anywhere_parses_identically(
            (expected, wire) in request(),
            trailing in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            for split in 0..=wire.len() {
                let mut buf = BytesMut::from(&wire[..split]);
                let first = parse_head(&mut buf).unwrap();
                if split < wire.len() {
                    prop_assert!(first.is_none(), "complete at {} of {}", split, wire.len());
                    prop_assert_eq!(buf.len(), split);
                    buf.extend_from_slice(&wire[split..]);
                } else {
                    prop_assert!(first.is_some());
                    continue;
                }
                buf.extend_from_slice(&trailing);
                let h = parse_head(&mut buf).unwrap().unwrap();
                prop_assert_eq!(snapshot(&h), expected.clone());
                prop_assert_eq!(&buf[..], &trailing[..]);
            }
        }

        #[test]
        fn random_bytes_never_panic(
            prefix in prop::sample::select(vec![&b""[..], b"GET / HTTP/1.1\r\n", b"PUT /b/k?x HTTP/1.0\r\nContent-Length: "]),
            noise in prop::collection::vec(any::<u8>(), 0..400),
        ) {
            let mut buf = BytesMut::from(prefix);
            buf.extend_from_slice(&noise);
            buf.extend_from_slice(b"\r\n\r\n");
            if let Ok(Some(h)) = parse_head(&mut buf) {
                let _ = (h.method(), h.method_str(), h.raw_path(), h.raw_query());
                let _ = (h.keep_alive(), h.expects_continue(), h.body_framing());
                let _ = (h.header("content-length"), h.headers().count());
            }
        }
    }
}
