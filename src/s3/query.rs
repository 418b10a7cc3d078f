//! Query strings: strict percent-decoding into pairs, and the key encoding of
//! `encoding-type=url` listings.
//!
//! `+` in a query is decoded as a space. S3 parses queries as
//! application/x-www-form-urlencoded (a presigned or hand-written
//! `?prefix=a+b` lists keys starting with "a b"), and the AWS SDKs encode a
//! space as `%20` and `+` as `%2B` (SigV4 canonical encoding), so SDK requests
//! decode identically either way. SigV4 verification works on the raw query,
//! not on these decoded pairs.

use crate::s3::error::{S3Error, S3ErrorCode};

/// Most pairs one query may carry; real S3 requests carry fewer than 20.
pub const MAX_QUERY_PAIRS: usize = 128;

/// Decoded query parameters in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query (without the leading `?`). Empty segments are
    /// skipped; a name without `=` has the empty value. Bad percent escapes,
    /// invalid UTF-8 or too many pairs answer InvalidURI / InvalidArgument.
    pub fn parse(raw: &str) -> Result<Query, S3Error> {
        let mut pairs = Vec::new();
        for segment in raw.split('&').filter(|s| !s.is_empty()) {
            if pairs.len() == MAX_QUERY_PAIRS {
                return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                    .with_message("Too many query parameters"));
            }
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            pairs.push((decode_component(name)?, decode_component(value)?));
        }
        Ok(Query { pairs })
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

fn invalid_uri() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidURI)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Strict percent-decoding: every `%` must start two hex digits and the result
/// must be UTF-8. `plus_is_space` selects query (`true`) or path (`false`) rules.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, S3Error> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (plus_is_space && c == b'+')) {
        return Ok(s.to_string());
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b
                    .get(i + 1)
                    .copied()
                    .and_then(hex_val)
                    .ok_or_else(invalid_uri)?;
                let lo = b
                    .get(i + 2)
                    .copied()
                    .and_then(hex_val)
                    .ok_or_else(invalid_uri)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid_uri())
}

fn decode_component(s: &str) -> Result<String, S3Error> {
    percent_decode(s, true)
}

/// Encodes a key (or prefix, delimiter, marker) for `encoding-type=url`
/// listings the way S3 does: form encoding with `/` kept. Measured against
/// AWS (brekkylab/backlot#178): `a b.txt` → `a+b.txt`, `a+b.txt` →
/// `a%2Bb.txt`, `100%.csv` → `100%25.csv`, `한글/x.txt` →
/// `%ED%95%9C%EA%B8%80/x.txt`; ceph/s3-tests#478 confirms `/` is not encoded.
/// botocore decodes these fields with `unquote_plus`, so `+` must mean space.
pub fn url_encode_key(key: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(key.len() + key.len() / 4);
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_pairs() {
        let q = Query::parse("list-type=2&prefix=a%2Fb&delimiter=%2F&uploads&&x=").unwrap();
        assert_eq!(q.get("list-type"), Some("2"));
        assert_eq!(q.get("prefix"), Some("a/b"));
        assert_eq!(q.get("delimiter"), Some("/"));
        assert!(q.has("uploads"));
        assert_eq!(q.get("uploads"), Some(""));
        assert_eq!(q.get("x"), Some(""));
        assert!(!q.has("versions"));
        assert_eq!(q.len(), 5);
        assert!(Query::parse("").unwrap().is_empty());
    }

    #[test]
    fn plus_and_escapes() {
        let q = Query::parse("prefix=a+b&p2=a%2Bb&p3=%20x%e4%b8%ad").unwrap();
        assert_eq!(q.get("prefix"), Some("a b"));
        assert_eq!(q.get("p2"), Some("a+b"));
        assert_eq!(q.get("p3"), Some(" x中"));
        assert_eq!(q.iter().next(), Some(("prefix", "a b")));
    }

    #[test]
    fn rejects_bad_encoding() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%ff", "%C3%28=1", "a=%E2%82"] {
            let e = Query::parse(bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidURI, "{bad}");
        }
        let many = vec!["a=1"; MAX_QUERY_PAIRS + 1].join("&");
        assert!(Query::parse(&many).is_err());
        let exact = vec!["a=1"; MAX_QUERY_PAIRS].join("&");
        assert!(Query::parse(&exact).is_ok());
    }

    #[test]
    fn path_decoding_keeps_plus() {
        assert_eq!(percent_decode("a+b%20c", false).unwrap(), "a+b c");
        assert_eq!(percent_decode("a+b%20c", true).unwrap(), "a b c");
    }

    #[test]
    fn url_encode_matches_s3() {
        let table = [
            ("a b.txt", "a+b.txt"),
            ("a+b.txt", "a%2Bb.txt"),
            ("100%.csv", "100%25.csv"),
            ("한글/x.txt", "%ED%95%9C%EA%B8%80/x.txt"),
            ("run books/x.txt", "run+books/x.txt"),
            ("ctl\u{1}\r", "ctl%01%0D"),
            ("a&b=c?d#e", "a%26b%3Dc%3Fd%23e"),
            ("keep-_.~/", "keep-_.~/"),
        ];
        for (key, want) in table {
            assert_eq!(url_encode_key(key), want, "{key:?}");
        }
    }

    /// Form-encodes everything but unreserved characters, as a client would.
    fn encode_component(s: &str) -> String {
        url_encode_key(s).replace('/', "%2F")
    }

    proptest! {
        #[test]
        fn query_round_trip(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,12}"), 0..8)) {
            let raw: Vec<String> = pairs
                .iter()
                .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
                .collect();
            let q = Query::parse(&raw.join("&")).unwrap();
            let got: Vec<(String, String)> =
                q.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            prop_assert_eq!(got, pairs);
        }

        #[test]
        fn url_encoded_key_decodes_back(key in "\\PC{0,40}") {
            prop_assert_eq!(percent_decode(&url_encode_key(&key), true).unwrap(), key);
        }

        #[test]
        fn parse_never_panics(raw in "\\PC{0,64}") {
            let _ = Query::parse(&raw);
        }
    }
}
