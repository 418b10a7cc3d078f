//! The authentication entry point: classify the request (anonymous, V2,
//! header SigV4, presigned SigV4), check scope, time and signature, and say
//! how the body must be read (payload mode, streaming context, trailer).

use super::checksum::algorithm_from_header_name;
use super::error::AuthError;
use super::sigv4::{self, ALGORITHM, SERVICE, TERMINATOR};
use crate::types::ChecksumAlgorithm;
use crate::util::{hex, time};
use std::borrow::Cow;

/// Longest presigned validity S3 allows: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;
/// Default allowed clock skew for header auth (S3's 15 minutes).
pub const DEFAULT_MAX_SKEW_SECS: i64 = 900;

pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/// Finds secrets by access key (the catalog implements this).
pub trait SecretLookup {
    /// `(secret, active)` for a known key.
    fn lookup(&self, access_key: &str) -> Option<(&str, bool)>;
}

/// The parts of a request authentication looks at, borrowed as received.
pub struct AuthRequest<'a> {
    pub method: &'a str,
    /// Path exactly as on the request line (still percent-encoded).
    pub raw_path: &'a str,
    /// Query string after `?`, still percent-encoded ("" if none).
    pub raw_query: &'a str,
    /// Headers as received; names in any case.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The bucket a virtual-hosted request names in its Host (SigV2 signs
    /// it as part of the resource).
    pub virtual_host_bucket: Option<&'a str>,
}

pub struct AuthConfig<'a> {
    pub region: &'a str,
    /// Server clock, Unix seconds.
    pub now: i64,
    pub max_skew_secs: i64,
    /// Accept Signature Version 2 (`serve --allow-sigv2`).
    pub allow_sigv2: bool,
}

/// How the request body is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    Unsigned,
    /// The body's SHA-256 must equal this (checked by `BodyDigests`).
    Sha256([u8; 32]),
    StreamingSigned,
    StreamingSignedTrailer,
    StreamingUnsignedTrailer,
}

impl PayloadMode {
    /// True for the aws-chunked modes (body goes through `AwsChunkedDecoder`).
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned
                | PayloadMode::StreamingSignedTrailer
                | PayloadMode::StreamingUnsignedTrailer
        )
    }

    /// True when every chunk carries a signature.
    pub fn is_signed_streaming(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer
        )
    }

    /// True when a trailer section follows the final chunk.
    pub fn has_trailer(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSignedTrailer | PayloadMode::StreamingUnsignedTrailer
        )
    }

    /// Parses an `x-amz-content-sha256` value.
    pub fn parse(value: &str) -> Result<PayloadMode, AuthError> {
        match value {
            UNSIGNED_PAYLOAD => Ok(PayloadMode::Unsigned),
            STREAMING_SIGNED => Ok(PayloadMode::StreamingSigned),
            STREAMING_SIGNED_TRAILER => Ok(PayloadMode::StreamingSignedTrailer),
            STREAMING_UNSIGNED_TRAILER => Ok(PayloadMode::StreamingUnsignedTrailer),
            _ => {
                let mut h = [0u8; 32];
                if hex::decode_into(value.as_bytes(), &mut h) {
                    Ok(PayloadMode::Sha256(h))
                } else {
                    Err(AuthError::InvalidContentSha256)
                }
            }
        }
    }
}

/// What the chunk decoder needs to verify chunk signatures: the chain starts
/// at the request's own signature (the seed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamingContext {
    pub signing_key: [u8; 32],
    pub amz_date: String,
    pub scope: String,
    pub seed_signature: [u8; 32],
}

/// A successfully authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub access_key: String,
    pub presigned: bool,
    pub payload: PayloadMode,
    /// Present for the signed streaming modes.
    pub streaming: Option<StreamingContext>,
    /// `x-amz-decoded-content-length`, required for streaming modes.
    pub decoded_content_length: Option<u64>,
    /// The checksum announced in `x-amz-trailer`.
    pub trailer: Option<ChecksumAlgorithm>,
}

/// First header named `name` (any case).
pub fn header<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn header_str<'a>(headers: &[(&str, &'a [u8])], name: &str) -> Option<&'a str> {
    header(headers, name)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
}

/// A decoded query parameter (first occurrence), if present.
fn query_param(raw_query: &str, name: &str) -> Result<Option<String>, AuthError> {
    for part in raw_query.split('&') {
        let (n, v) = part.split_once('=').unwrap_or((part, ""));
        let bad = || AuthError::AuthorizationQueryParametersError(format!("{name} is malformed"));
        if sigv4::percent_decode(n).as_deref() == Some(name.as_bytes()) {
            let v = sigv4::percent_decode(v).ok_or_else(bad)?;
            return String::from_utf8(v).map(Some).map_err(|_| bad());
        }
    }
    Ok(None)
}

/// Authenticates a request. `Err(Anonymous)` means no credentials at all.
pub fn authenticate(
    req: &AuthRequest,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
    cache: &mut sigv4::SigningKeyCache,
) -> Result<Authenticated, AuthError> {
    let has_query_auth = query_param(req.raw_query, "X-Amz-Algorithm")?.is_some();
    if !has_query_auth && super::sigv2::is_sigv2(req) {
        if !cfg.allow_sigv2 {
            return Err(AuthError::SignatureV2NotSupported);
        }
        return match header(req.headers, "authorization") {
            Some(auth) => {
                let auth = std::str::from_utf8(auth).map_err(|_| AuthError::V2HeaderMalformed)?;
                super::sigv2::authenticate_header(req, auth.trim(), lookup, cfg)
            }
            None => super::sigv2::authenticate_presigned(req, lookup, cfg),
        };
    }
    if let Some(auth) = header(req.headers, "authorization") {
        if has_query_auth {
            return Err(AuthError::AuthorizationHeaderMalformed(
                "only one auth mechanism allowed".into(),
            ));
        }
        let auth = std::str::from_utf8(auth)
            .map_err(|_| AuthError::AuthorizationHeaderMalformed("not UTF-8".into()))?
            .trim();
        return authenticate_header(req, auth, lookup, cfg, cache);
    }
    if has_query_auth {
        return authenticate_presigned(req, lookup, cfg, cache);
    }
    if query_param(req.raw_query, "AWSAccessKeyId")?.is_some() {
        return Err(AuthError::SignatureV2NotSupported);
    }
    Err(AuthError::Anonymous)
}

/// The parsed `Credential=` value.
pub(crate) struct Credential<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
}

pub(crate) fn parse_credential<'a>(
    value: &'a str,
    cfg: &AuthConfig,
    bad: impl Fn(&str) -> AuthError,
) -> Result<Credential<'a>, AuthError> {
    // The access key is everything before the last four components.
    let mut it = memchr::memrchr_iter(b'/', value.as_bytes());
    let (term, service, region, date, access_key) =
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(s4), Some(s3), Some(s2), Some(s1)) => (
                &value[s4 + 1..],
                &value[s3 + 1..s4],
                &value[s2 + 1..s3],
                &value[s1 + 1..s2],
                &value[..s1],
            ),
            _ => {
                return Err(bad(
                    "Credential must be key/date/region/service/aws4_request",
                ))
            }
        };
    if access_key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("Credential has an invalid key or date"));
    }
    if service != SERVICE {
        return Err(bad("Credential service must be s3"));
    }
    if term != TERMINATOR {
        return Err(bad("Credential must end in aws4_request"));
    }
    if region != cfg.region {
        return Err(AuthError::WrongRegion {
            expected: cfg.region.to_owned(),
            got: region.to_owned(),
        });
    }
    Ok(Credential {
        access_key,
        date,
        region,
    })
}

/// The parsed `Authorization: AWS4-HMAC-SHA256 ...` header.
struct AuthHeader<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Parses the header. SDKs differ in separators (`, ` or `,`), so components
/// are split on commas and whitespace alike.
fn parse_auth_header(auth: &str) -> Result<AuthHeader<'_>, AuthError> {
    let (alg, rest) = auth.split_once([' ', '\t']).unwrap_or((auth, ""));
    if alg == "AWS" {
        return Err(AuthError::SignatureV2NotSupported);
    }
    if alg != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let malformed = |what: &str| AuthError::AuthorizationHeaderMalformed(what.to_owned());
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for tok in auth_tokens(rest) {
        let eq = memchr::memchr(b'=', tok.as_bytes())
            .ok_or_else(|| malformed("component without '='"))?;
        let (k, v) = (&tok[..eq], &tok[eq + 1..]);
        let slot = match k {
            "Credential" => &mut cred,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut sig,
            _ => return Err(malformed("unknown component")),
        };
        if slot.replace(v).is_some() {
            return Err(malformed("repeated component"));
        }
    }
    Ok(AuthHeader {
        credential: cred.ok_or_else(|| malformed("missing Credential"))?,
        signed_headers: signed.ok_or_else(|| malformed("missing SignedHeaders"))?,
        signature: sig.ok_or_else(|| malformed("missing Signature"))?,
    })
}

/// The non-empty pieces of `s` between commas, spaces and tabs. Split on
/// bytes (all three are ASCII, so every piece is a `str` slice).
fn auth_tokens(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        let is_sep = |b: &u8| matches!(b, b',' | b' ' | b'\t');
        while at < bytes.len() && is_sep(&bytes[at]) {
            at += 1;
        }
        if at == bytes.len() {
            return None;
        }
        let start = at;
        while at < bytes.len() && !is_sep(&bytes[at]) {
            at += 1;
        }
        Some(&s[start..at])
    })
}

fn parse_signature(s: &str, bad: impl Fn(&str) -> AuthError) -> Result<[u8; 32], AuthError> {
    let mut sig = [0u8; 32];
    if !hex::decode_into(s.as_bytes(), &mut sig) {
        return Err(bad("Signature must be 64 hex digits"));
    }
    Ok(sig)
}

/// The request time and its `YYYYMMDDTHHMMSSZ` form, from x-amz-date or Date.
fn request_time<'a>(headers: &[(&str, &'a [u8])]) -> Result<(i64, Cow<'a, str>), AuthError> {
    if let Some(v) = header_str(headers, "x-amz-date") {
        let t = time::parse_amz_date(v).ok_or(AuthError::MissingDate)?;
        return Ok((t, Cow::Borrowed(v)));
    }
    let v = header_str(headers, "date").ok_or(AuthError::MissingDate)?;
    let t = time::parse_request_date(v).ok_or(AuthError::MissingDate)?;
    Ok((t, Cow::Owned(time::amz_date(t))))
}

fn lookup_secret<'s>(lookup: &'s dyn SecretLookup, access_key: &str) -> Result<&'s str, AuthError> {
    match lookup.lookup(access_key) {
        None => Err(AuthError::InvalidAccessKeyId),
        Some((_, false)) => Err(AuthError::InactiveAccessKey),
        Some((secret, true)) => Ok(secret),
    }
}

fn authenticate_header(
    req: &AuthRequest,
    auth: &str,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
    cache: &mut sigv4::SigningKeyCache,
) -> Result<Authenticated, AuthError> {
    let malformed = |what: &str| AuthError::AuthorizationHeaderMalformed(what.to_owned());
    let parsed = parse_auth_header(auth)?;
    let cred = parse_credential(parsed.credential, cfg, malformed)?;
    let signed = sigv4::parse_signed_headers(parsed.signed_headers)?;
    let signature = parse_signature(parsed.signature, malformed)?;
    let (t, amz_date) = request_time(req.headers)?;
    if !amz_date.starts_with(cred.date) {
        return Err(malformed("Credential date does not match the request date"));
    }
    if (t - cfg.now).abs() > cfg.max_skew_secs {
        return Err(AuthError::RequestTimeTooSkewed {
            request_time: t,
            server_time: cfg.now,
        });
    }
    let content_sha = header_str(req.headers, "x-amz-content-sha256")
        .ok_or(AuthError::MissingHeader("x-amz-content-sha256"))?;
    let payload = PayloadMode::parse(content_sha)?;
    let secret = lookup_secret(lookup, cred.access_key)?;
    let check = SignatureCheck {
        cred: &cred,
        secret,
        amz_date: &amz_date,
        signed: &signed,
        payload_hash: content_sha,
        presigned: false,
    };
    let key = check.verify(req, &signature, cfg, cache)?;
    finish(req, cred, amz_date, payload, key, signature, false)
}

fn authenticate_presigned(
    req: &AuthRequest,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
    cache: &mut sigv4::SigningKeyCache,
) -> Result<Authenticated, AuthError> {
    let q = |name: &'static str| -> Result<String, AuthError> {
        query_param(req.raw_query, name)?.ok_or_else(|| {
            AuthError::AuthorizationQueryParametersError(format!("{name} is missing"))
        })
    };
    let bad = |what: &str| AuthError::AuthorizationQueryParametersError(what.to_owned());
    if q("X-Amz-Algorithm")? != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let (credential, amz_date) = (q("X-Amz-Credential")?, q("X-Amz-Date")?);
    let (expires, signed_list) = (q("X-Amz-Expires")?, q("X-Amz-SignedHeaders")?);
    let signature = parse_signature(&q("X-Amz-Signature")?, bad)?;
    let cred = parse_credential(&credential, cfg, bad)?;
    let signed = sigv4::parse_signed_headers(&signed_list)?;
    let t = time::parse_amz_date(&amz_date).ok_or_else(|| bad("X-Amz-Date is malformed"))?;
    if !amz_date.starts_with(cred.date) {
        return Err(bad("Credential date does not match X-Amz-Date"));
    }
    let expires: i64 = expires
        .parse()
        .map_err(|_| bad("X-Amz-Expires must be a number"))?;
    // S3: a negative value is malformed, more than a week too long; 0 is
    // a URL that expired the second it was signed (checked below).
    if expires < 0 {
        return Err(AuthError::ExpiresNegative);
    }
    if expires > MAX_PRESIGNED_EXPIRES_SECS {
        return Err(AuthError::ExpiresOutOfRange);
    }
    // Presigned URLs are meant to be used later, so only a date in the
    // future is a skew problem; age is governed by X-Amz-Expires.
    if t - cfg.now > cfg.max_skew_secs {
        return Err(AuthError::RequestTimeTooSkewed {
            request_time: t,
            server_time: cfg.now,
        });
    }
    if cfg.now > t + expires {
        return Err(AuthError::RequestExpired);
    }
    let content_sha = header_str(req.headers, "x-amz-content-sha256").unwrap_or(UNSIGNED_PAYLOAD);
    let payload = PayloadMode::parse(content_sha)?;
    let secret = lookup_secret(lookup, cred.access_key)?;
    let check = SignatureCheck {
        cred: &cred,
        secret,
        amz_date: &amz_date,
        signed: &signed,
        payload_hash: content_sha,
        presigned: true,
    };
    let key = check.verify(req, &signature, cfg, cache)?;
    finish(
        req,
        cred,
        Cow::Borrowed(&amz_date),
        payload,
        key,
        signature,
        true,
    )
}

struct SignatureCheck<'a> {
    cred: &'a Credential<'a>,
    secret: &'a str,
    amz_date: &'a str,
    signed: &'a [&'a str],
    payload_hash: &'a str,
    presigned: bool,
}

impl SignatureCheck<'_> {
    /// Recomputes the signature and compares it in constant time; returns
    /// the signing key for the streaming chain.
    fn verify(
        &self,
        req: &AuthRequest,
        signature: &[u8; 32],
        cfg: &AuthConfig,
        cache: &mut sigv4::SigningKeyCache,
    ) -> Result<[u8; 32], AuthError> {
        let uri = sigv4::canonical_uri(req.raw_path)?;
        let query = sigv4::canonical_query(req.raw_query, self.presigned)?;
        let creq = sigv4::canonical_request(
            req.method,
            &uri,
            &query,
            req.headers,
            self.signed,
            self.payload_hash,
        )?;
        let key = cache.get(
            self.cred.access_key,
            self.secret,
            self.cred.date,
            self.cred.region,
            SERVICE,
        );
        let expected =
            sigv4::request_signature(&key.mac, self.amz_date, self.cred.date, cfg.region, &creq);
        if !sigv4::ct_eq(&expected, signature) {
            // The string to sign is built only for the error (clients log it).
            let scope = sigv4::scope(self.cred.date, cfg.region, SERVICE);
            return Err(AuthError::SignatureDoesNotMatch {
                string_to_sign: sigv4::string_to_sign(self.amz_date, &scope, &creq),
                canonical_request: String::from_utf8_lossy(&creq).into_owned(),
            });
        }
        Ok(key.raw)
    }
}

/// Streaming headers, decoded length and trailer announcement.
fn finish(
    req: &AuthRequest,
    cred: Credential,
    amz_date: Cow<'_, str>,
    payload: PayloadMode,
    key: [u8; 32],
    signature: [u8; 32],
    presigned: bool,
) -> Result<Authenticated, AuthError> {
    let mut decoded_content_length = None;
    if payload.is_streaming() {
        let v = header_str(req.headers, "x-amz-decoded-content-length")
            .ok_or(AuthError::MissingHeader("x-amz-decoded-content-length"))?;
        let n: u64 = v.parse().map_err(|_| AuthError::DecodedLengthMismatch)?;
        decoded_content_length = Some(n);
    }
    let trailer = match header_str(req.headers, "x-amz-trailer") {
        None | Some("") => None,
        Some(name) => Some(
            algorithm_from_header_name(name)
                .ok_or_else(|| AuthError::InvalidChecksum(format!("x-amz-trailer: {name}")))?,
        ),
    };
    let streaming = payload.is_signed_streaming().then(|| StreamingContext {
        signing_key: key,
        scope: sigv4::scope(cred.date, cred.region, SERVICE),
        amz_date: amz_date.into_owned(),
        seed_signature: signature,
    });
    Ok(Authenticated {
        access_key: cred.access_key.to_owned(),
        presigned,
        payload,
        streaming,
        decoded_content_length,
        trailer,
    })
}
