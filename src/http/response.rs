//! Response heads: status line, headers, blank line.
//!
//! Header names and values often come from stored user metadata, so `encode`
//! sanitizes them: nothing a client once stored can end a line early and
//! inject headers or a second response (response splitting).

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};

use crate::util::time::{http_date, unix_now};

/// The interim answer to `Expect: 100-continue`, sent before reading the body.
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Typical encoded head size; reserved up front so most heads need one allocation.
const TYPICAL_HEAD_BYTES: usize = 256;
/// `": "` and `"\r\n"` around every header value.
const HEADER_FRAMING_BYTES: usize = 4;

/// A response head under construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
}

impl ResponseHead {
    pub fn new(status: u16) -> Self {
        Self::with_capacity(status, 0)
    }

    /// A head with room for `headers` header lines (no regrowth while adding).
    pub fn with_capacity(status: u16, headers: usize) -> Self {
        ResponseHead {
            status,
            headers: Vec::with_capacity(headers),
        }
    }

    /// Appends a header; repeated names are sent as repeated lines.
    pub fn header(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> &mut Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Headers added so far, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref()))
    }

    /// Writes `HTTP/1.1 <status> <reason>`, the headers and the blank line.
    /// Content-Length (or chunked framing) is the caller's header to add.
    pub fn encode(&self, out: &mut BytesMut) {
        self.encode_with(out, |_| {});
    }

    /// [`ResponseHead::encode`], with `trusted` writing header lines of the
    /// server's own making (no allocation, no sanitizing) after the status line.
    pub fn encode_with(&self, out: &mut BytesMut, trusted: impl FnOnce(&mut TrustedHeaders)) {
        assert!(
            (100..=999).contains(&self.status),
            "status {} is not three digits",
            self.status
        );
        let fields: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + HEADER_FRAMING_BYTES)
            .sum();
        out.reserve(TYPICAL_HEAD_BYTES.max(fields + 64));
        out.put_slice(b"HTTP/1.1 ");
        let s = self.status;
        out.put_slice(&[
            b'0' + (s / 100) as u8,
            b'0' + (s / 10 % 10) as u8,
            b'0' + (s % 10) as u8,
            b' ',
        ]);
        out.put_slice(reason_phrase(self.status).as_bytes());
        out.put_slice(b"\r\n");
        trusted(&mut TrustedHeaders(out));
        for (name, value) in &self.headers {
            if name.is_empty() {
                continue;
            }
            put_sanitized(out, name.as_bytes(), |b| {
                if is_token_byte(b) {
                    b
                } else {
                    b'-'
                }
            });
            out.put_slice(b": ");
            put_sanitized(out, value.trim().as_bytes(), |b| {
                if b == b'\t' || !b.is_ascii_control() {
                    b
                } else {
                    b' '
                }
            });
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
    }
}

/// Header lines the server itself composes (fixed names; values it
/// generated: dates, ids, lengths), written straight into the head.
pub struct TrustedHeaders<'a>(&'a mut BytesMut);

impl TrustedHeaders<'_> {
    pub fn put(&mut self, name: &'static str, value: &[u8]) {
        debug_assert!(name.bytes().all(is_token_byte), "bad header name {name}");
        debug_assert!(
            value.iter().all(|&b| b == b'\t' || !b.is_ascii_control()),
            "header {name} has a control byte"
        );
        self.0.put_slice(name.as_bytes());
        self.0.put_slice(b": ");
        self.0.put_slice(value);
        self.0.put_slice(b"\r\n");
    }

    /// A decimal value (Content-Length).
    pub fn put_decimal(&mut self, name: &'static str, value: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut v = value;
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(name, &digits[at..]);
    }
}

/// Copies `src`, passing runs of unchanged bytes through in one slice.
fn put_sanitized(out: &mut BytesMut, src: &[u8], map: impl Fn(u8) -> u8) {
    // Nearly every value is clean: check the whole slice first, in a form
    // the compiler vectorizes (no early exit), and copy it in one go.
    if src.iter().fold(true, |clean, &b| clean & (map(b) == b)) {
        out.put_slice(src);
        return;
    }
    let mut clean_from = 0;
    for (i, &b) in src.iter().enumerate() {
        let m = map(b);
        if m != b {
            out.put_slice(src.get(clean_from..i).unwrap_or_default());
            out.put_u8(m);
            clean_from = i + 1;
        }
    }
    out.put_slice(src.get(clean_from..).unwrap_or_default());
}

/// RFC 9110 `tchar`: the only bytes allowed in a field name.
fn is_token_byte(b: u8) -> bool {
    TOKEN_BYTES[b as usize]
}

const TOKEN_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let punct = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < punct.len() {
        t[punct[i] as usize] = true;
        i += 1;
    }
    t
};

/// Reason phrase for every status S3 answers with; empty for others (the
/// phrase is optional on the wire, RFC 9112 §4).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The `Date` header value, formatted once per second rather than per response.
#[derive(Clone, Debug)]
pub struct DateCache {
    secs: i64,
    text: String,
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    pub fn new() -> Self {
        let secs = unix_now();
        DateCache {
            secs,
            text: http_date(secs),
        }
    }

    /// The HTTP date of the current second.
    pub fn get(&mut self) -> &str {
        self.get_at(unix_now())
    }

    /// The HTTP date of `now_secs`, for callers that already read the clock.
    pub fn get_at(&mut self, now_secs: i64) -> &str {
        if now_secs != self.secs {
            self.secs = now_secs;
            self.text = http_date(now_secs);
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn token_table_is_rfc_9110_tchar() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_token_byte(b), tchar, "byte {b}");
        }
    }

    fn encoded(head: &ResponseHead) -> Vec<u8> {
        let mut out = BytesMut::new();
        head.encode(&mut out);
        out.to_vec()
    }

    /// Parses `wire` back as a response; returns status and headers.
    fn reparse(wire: &[u8]) -> (u16, Vec<(String, Vec<u8>)>) {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let n = resp.parse(wire).expect("valid response head");
        assert_eq!(
            n,
            httparse::Status::Complete(wire.len()),
            "exactly one head"
        );
        let status = resp.code.expect("status");
        let fields = resp
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        (status, fields)
    }

    #[test]
    fn encodes_golden_head() {
        let mut head = ResponseHead::new(200);
        head.header("Content-Length", "5")
            .header("ETag", "\"5d41402abc4b2a76b9719d911017c592\"")
            .header(String::from("x-amz-request-id"), String::from("R1"));
        assert_eq!(
            encoded(&head),
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\
              ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\nx-amz-request-id: R1\r\n\r\n"
        );
        assert_eq!(
            encoded(&ResponseHead::new(204)),
            b"HTTP/1.1 204 No Content\r\n\r\n"
        );
        assert_eq!(encoded(&ResponseHead::new(599)), b"HTTP/1.1 599 \r\n\r\n");
    }

    #[test]
    fn trusted_headers_follow_the_status_line() {
        let mut head = ResponseHead::new(200);
        head.header("ETag", "\"e\"");
        let mut out = BytesMut::new();
        head.encode_with(&mut out, |t| {
            t.put("Server", b"ringstore");
            t.put_decimal("Content-Length", 0);
            t.put_decimal("X-Big", u64::MAX);
            t.put_decimal("X-Ten", 10);
        });
        assert_eq!(
            &out[..],
            b"HTTP/1.1 200 OK\r\nServer: ringstore\r\nContent-Length: 0\r\n\
              X-Big: 18446744073709551615\r\nX-Ten: 10\r\nETag: \"e\"\r\n\r\n"
        );
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = BytesMut::from(&b"prev"[..]);
        ResponseHead::new(404).encode(&mut out);
        assert_eq!(&out[..], b"prevHTTP/1.1 404 Not Found\r\n\r\n");
    }

    #[test]
    fn every_s3_status_has_a_reason() {
        for status in [
            100, 200, 204, 206, 301, 304, 307, 400, 403, 404, 405, 409, 411, 412, 413, 416, 500,
            501, 503,
        ] {
            assert!(!reason_phrase(status).is_empty(), "{status}");
            let (code, _) = reparse(&encoded(&ResponseHead::new(status)));
            assert_eq!(code, status);
        }
        assert_eq!(reason_phrase(416), "Range Not Satisfiable");
        assert_eq!(reason_phrase(299), "");
    }

    #[test]
    fn response_splitting_is_neutralized() {
        let mut head = ResponseHead::new(200);
        head.header("x-amz-meta-a", "v\r\nSet-Cookie: evil\r\n\r\n<html>")
            .header("x-amz-meta-b\r\nInjected", "ok")
            .header("x-amz-meta-c", "nul\0del\x7ftab\tend")
            .header("", "dropped");
        let wire = encoded(&head);
        let (_, fields) = reparse(&wire);
        assert_eq!(
            fields,
            vec![
                (
                    "x-amz-meta-a".to_owned(),
                    b"v  Set-Cookie: evil    <html>".to_vec()
                ),
                ("x-amz-meta-b--Injected".to_owned(), b"ok".to_vec()),
                ("x-amz-meta-c".to_owned(), b"nul del tab\tend".to_vec()),
            ]
        );
    }

    #[test]
    fn continue_is_a_complete_interim_head() {
        let (status, fields) = reparse(CONTINUE_100);
        assert_eq!((status, fields.len()), (100, 0));
    }

    #[test]
    fn date_cache_reformats_only_on_a_new_second() {
        let mut cache = DateCache::new();
        assert_eq!(cache.get_at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        let first = cache.get_at(784_111_777).as_ptr();
        assert_eq!(
            cache.get_at(784_111_777).as_ptr(),
            first,
            "same second, same text"
        );
        assert_eq!(cache.get_at(784_111_778), "Sun, 06 Nov 1994 08:49:38 GMT");
        let now = cache.get().to_owned();
        assert_eq!(
            crate::util::time::parse_http_date(&now).map(|t| (t - unix_now()).abs() <= 1),
            Some(true)
        );
    }

    proptest! {
        #[test]
        fn any_metadata_yields_one_well_formed_head(
            fields in prop::collection::vec((".{0,20}", ".{0,40}"), 0..10),
            status in 100u16..=999,
        ) {
            let mut head = ResponseHead::new(status);
            for (n, v) in &fields {
                head.header(n.clone(), v.clone());
            }
            let wire = encoded(&head);
            let (code, parsed) = reparse(&wire);
            prop_assert_eq!(code, status);
            let sent = fields.iter().filter(|(n, _)| !n.is_empty()).count();
            prop_assert_eq!(parsed.len(), sent);
            for (_, value) in &parsed {
                prop_assert!(!value.contains(&b'\r') && !value.contains(&b'\n'));
            }
        }
    }
}
