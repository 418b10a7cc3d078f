//! SigV4 canonicalisation and signing: the pieces both header and presigned
//! auth (and the streaming decoder) share. S3 flavour: the path is *not*
//! normalised, only decoded and re-encoded once.

use ring::{digest, hmac};
use std::borrow::Cow;

use super::error::AuthError;
use crate::util::hex;

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The credential scope terminator.
pub const TERMINATOR: &str = "aws4_request";
/// The only service name this server signs for.
pub const SERVICE: &str = "s3";
/// SHA-256 of the empty string, lowercase hex.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Signing keys kept per shard. A key is valid for one day, so this bounds
/// memory for a busy shard while covering every active credential.
pub const SIGNING_KEY_CACHE_ENTRIES: usize = 64;
/// Upper bound on names in SignedHeaders; more is not a real client.
pub const MAX_SIGNED_HEADERS: usize = 64;

/// Room for a string to sign assembled on the stack (one with a region
/// name of up to ~80 bytes; longer ones are fed to the MAC in pieces).
const STRING_TO_SIGN_STACK_BYTES: usize = 192;

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// AWS `UriEncode`: unreserved bytes kept, everything else `%XX` (uppercase).
/// `/` is kept when `encode_slash` is false (object key paths).
pub fn uri_encode(input: &[u8], encode_slash: bool, out: &mut String) {
    out.reserve(input.len());
    for &b in input {
        if is_unreserved(b) || (b == b'/' && !encode_slash) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(UPPER_HEX[(b >> 4) as usize] as char);
            out.push(UPPER_HEX[(b & 0xf) as usize] as char);
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Strict percent-decoding: a `%` not followed by two hex digits is an error.
/// `+` stays `+` (S3 never treats it as a space in signed requests).
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_val(*b.get(i + 1)?)?;
            let lo = hex_val(*b.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The canonical URI: the raw path decoded once and re-encoded byte by byte.
/// No `.`/`..`/`//` normalisation: S3 signs the key exactly as sent. A
/// path of unreserved bytes and `/` only is its own canonical form (the
/// common case: no allocation).
pub fn canonical_uri(raw_path: &str) -> Result<Cow<'_, str>, AuthError> {
    if raw_path.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if raw_path.bytes().all(|b| is_unreserved(b) || b == b'/') {
        return Ok(Cow::Borrowed(raw_path));
    }
    let decoded = percent_decode(raw_path).ok_or_else(|| {
        AuthError::AuthorizationHeaderMalformed("invalid percent-encoding in path".into())
    })?;
    let mut out = String::with_capacity(decoded.len() + 8);
    if decoded.is_empty() {
        out.push('/');
    } else {
        uri_encode(&decoded, false, &mut out);
    }
    Ok(Cow::Owned(out))
}

/// The canonical query string: every `name[=value]` decoded, re-encoded with
/// `/` escaped, sorted by name then value; `name` without `=` becomes `name=`.
/// `skip_signature` drops `X-Amz-Signature` (presigned URLs).
pub fn canonical_query(raw_query: &str, skip_signature: bool) -> Result<Cow<'_, str>, AuthError> {
    if raw_query.is_empty() {
        return Ok(Cow::Borrowed(""));
    }
    let bad =
        || AuthError::AuthorizationHeaderMalformed("invalid percent-encoding in query".into());
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name).ok_or_else(bad)?;
        if skip_signature && name == b"X-Amz-Signature" {
            continue;
        }
        let value = percent_decode(value).ok_or_else(bad)?;
        let (mut n, mut v) = (String::new(), String::new());
        uri_encode(&name, true, &mut n);
        uri_encode(&value, true, &mut v);
        pairs.push((n, v));
    }
    pairs.sort_unstable();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    Ok(Cow::Owned(out))
}

/// Checks a SignedHeaders list: non-empty, lowercase, strictly sorted (so no
/// duplicates), bounded, and containing `host`.
pub fn parse_signed_headers(list: &str) -> Result<Vec<&str>, AuthError> {
    let bad = |why: &str| AuthError::AuthorizationHeaderMalformed(format!("SignedHeaders {why}"));
    let names: Vec<&str> = list.split(';').collect();
    if names.len() > MAX_SIGNED_HEADERS {
        return Err(bad("has too many names"));
    }
    for w in names.windows(2) {
        if w[0] >= w[1] {
            return Err(bad("must be sorted and unique"));
        }
    }
    for n in &names {
        if n.is_empty() || n.bytes().any(|b| b.is_ascii_uppercase() || b <= b' ') {
            return Err(bad("has an invalid name"));
        }
    }
    if !names.contains(&"host") {
        return Err(bad("must include host"));
    }
    Ok(names)
}

/// Appends a header value trimmed, with inner runs of spaces/tabs collapsed.
fn push_trimmed(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Appends `name:value\n` for every signed header, in SignedHeaders order.
/// Repeated headers are joined with `,` in arrival order. A signed header the
/// request lacks is a signature failure (the client signed something else).
pub fn canonical_headers(
    headers: &[(&str, &[u8])],
    signed: &[&str],
    out: &mut Vec<u8>,
) -> Result<(), AuthError> {
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut found = 0usize;
        for (n, v) in headers {
            if n.eq_ignore_ascii_case(name) {
                if found > 0 {
                    out.push(b',');
                }
                push_trimmed(v, out);
                found += 1;
            }
        }
        if found == 0 {
            return Err(AuthError::SignatureDoesNotMatch {
                string_to_sign: String::new(),
                canonical_request: format!("signed header {name} is missing from the request"),
            });
        }
        out.push(b'\n');
    }
    Ok(())
}

/// Builds the canonical request (as bytes: header values may be non-UTF-8).
pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(&str, &[u8])],
    signed: &[&str],
    payload_hash: &str,
) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    canonical_headers(headers, signed, &mut out)?;
    out.push(b'\n');
    for (i, n) in signed.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(n.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    Ok(out)
}

/// `date/region/service/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    // Hand-concatenated: `format!` here was ~2 % of a 4 KiB GET.
    let mut s = String::with_capacity(date.len() + region.len() + service.len() + 16);
    for part in [date, "/", region, "/", service, "/", TERMINATOR] {
        s.push_str(part);
    }
    s
}

/// The string to sign for a request: algorithm, timestamp, scope, and the
/// hex SHA-256 of the canonical request.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let hash = sha256_hex(canonical_request);
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 68);
    for part in [ALGORITHM, "\n", amz_date, "\n", scope, "\n", &hash] {
        s.push_str(part);
    }
    s
}

/// The signature of a request: HMAC-SHA256 under `key` of its string to
/// sign, fed to the MAC in pieces (no string is built; [`string_to_sign`]
/// makes the same bytes for error messages). `date` is the scope's date.
pub fn request_signature(
    key: &hmac::Key,
    amz_date: &str,
    date: &str,
    region: &str,
    canonical_request: &[u8],
) -> [u8; 32] {
    let mut hash_hex = [0u8; 64];
    hex::encode_into(&sha256(canonical_request), &mut hash_hex);
    let parts = [
        ALGORITHM.as_bytes(),
        b"\n",
        amz_date.as_bytes(),
        b"\n",
        date.as_bytes(),
        b"/",
        region.as_bytes(),
        b"/",
        SERVICE.as_bytes(),
        b"/",
        TERMINATOR.as_bytes(),
        b"\n",
        &hash_hex,
    ];
    let mut mac = hmac::Context::with_key(key);
    // One MAC update of the assembled string: thirteen small updates cost
    // more than the copy (ring buffers each one).
    let mut string_to_sign = [0u8; STRING_TO_SIGN_STACK_BYTES];
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= string_to_sign.len() {
        let mut at = 0;
        for part in parts {
            string_to_sign[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        debug_assert_eq!(at, total);
        mac.update(&string_to_sign[..total]);
    } else {
        // A long region name: feed the pieces as they are.
        for part in parts {
            mac.update(part);
        }
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(mac.sign().as_ref());
    out
}

/// Raw HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Lowercase hex HMAC-SHA256.
pub fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    hex::encode(&hmac_sha256(key, data))
}

/// Raw SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(&sha256(data))
}

/// The SigV4 signing key: HMAC chain over date, region, service, terminator.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(secret.len() + 4);
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// Constant-time equality (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // black_box keeps the optimiser from short-circuiting the fold.
    std::hint::black_box(diff) == 0
}

/// A derived signing key, raw (for the streaming chunk chain) and ready
/// for HMAC (ring precomputes the padded key's two hash states, which is
/// two SHA-256 blocks saved per request).
pub struct SigningKey {
    pub raw: [u8; 32],
    pub mac: hmac::Key,
}

impl SigningKey {
    fn new(raw: [u8; 32]) -> SigningKey {
        SigningKey {
            raw,
            mac: hmac::Key::new(hmac::HMAC_SHA256, &raw),
        }
    }
}

struct CacheEntry {
    access_key: String,
    /// Kept so a rotated secret never reuses a stale key.
    secret: String,
    date: String,
    region: String,
    service: String,
    key: SigningKey,
}

/// Per-shard cache of derived signing keys (four HMACs saved per request).
/// Single-threaded by design: one per shard, no locks. Bounded to
/// [`SIGNING_KEY_CACHE_ENTRIES`]; when full, entries are replaced round-robin.
pub struct SigningKeyCache {
    entries: Vec<CacheEntry>,
    next_victim: usize,
    capacity: usize,
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        Self::with_capacity(SIGNING_KEY_CACHE_ENTRIES)
    }

    pub fn with_capacity(capacity: usize) -> Self {
        assert!(capacity > 0);
        SigningKeyCache {
            entries: Vec::with_capacity(capacity),
            next_victim: 0,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The signing key for this scope, derived on a miss.
    pub fn get(
        &mut self,
        access_key: &str,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> &SigningKey {
        let hit = self.entries.iter().position(|e| {
            e.access_key == access_key
                && e.date == date
                && e.region == region
                && e.service == service
                && e.secret == secret
        });
        if let Some(i) = hit {
            return &self.entries[i].key;
        }
        let entry = CacheEntry {
            access_key: access_key.to_owned(),
            secret: secret.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            key: SigningKey::new(signing_key(secret, date, region, service)),
        };
        let i = if let Some(i) = self.entries.iter().position(|e| e.access_key == access_key) {
            // Same credential, new day or secret: replace in place.
            i
        } else if self.entries.len() < self.capacity {
            self.entries.push(entry);
            return &self.entries[self.entries.len() - 1].key;
        } else {
            let i = self.next_victim;
            self.next_victim = (self.next_victim + 1) % self.capacity;
            i
        };
        self.entries[i] = entry;
        debug_assert!(self.entries.len() <= self.capacity);
        &self.entries[i].key
    }
}
