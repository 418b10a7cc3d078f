//! Signature Version 2 (`serve --allow-sigv2` only): header auth
//! (`Authorization: AWS key:signature`) and presigned query auth
//! (`AWSAccessKeyId`, `Expires`, `Signature`), with S3's string to sign:
//!
//! ```text
//! METHOD \n Content-MD5 \n Content-Type \n Date \n
//! x-amz-name:value \n ...          (lowercase, sorted, values joined by ',')
//! /bucket/key?subresource&...      (the path as sent; sub-resources sorted,
//!                                   their values decoded)
//! ```
//!
//! The Date line is empty when `x-amz-date` is sent (that header is signed
//! among the x-amz-* ones instead), and is the `Expires` value in a
//! presigned URL.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::hmac;

use super::error::AuthError;
use super::verify::{header, AuthConfig, AuthRequest, Authenticated, PayloadMode, SecretLookup};
use crate::util::time;

/// Query parameters that are part of the resource S3 signs (sub-resources
/// and response overrides), as S3 and botocore list them.
const SIGNED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "delete",
    "inventory",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "retention",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Longest base64 SigV2 signature accepted (HMAC-SHA1 is 28).
const MAX_SIGNATURE_BASE64_BYTES: usize = 64;

/// Whether the request is signed with SigV2 (header or query).
pub fn is_sigv2(req: &AuthRequest) -> bool {
    let header_v2 = header(req.headers, "authorization")
        .is_some_and(|a| a.strip_prefix(b"AWS ").is_some() || a.eq_ignore_ascii_case(b"AWS"));
    header_v2 || query_param(req.raw_query, "AWSAccessKeyId").is_some()
}

/// The decoded value of query parameter `name`, if present.
fn query_param(raw_query: &str, name: &str) -> Option<String> {
    raw_query.split('&').find_map(|part| {
        let (n, v) = part.split_once('=').unwrap_or((part, ""));
        (n == name).then(|| decode(v))
    })
}

/// Percent-decoding as botocore's `unquote` does it (`+` stays `+`).
fn decode(v: &str) -> String {
    super::sigv4::percent_decode(v)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| v.to_string())
}

/// S3's string to sign for `req`, with `date_line` as the Date field.
pub fn string_to_sign(req: &AuthRequest, date_line: &str) -> String {
    let text = |name: &str| {
        header(req.headers, name)
            .map(|v| String::from_utf8_lossy(v).trim().to_string())
            .unwrap_or_default()
    };
    let mut s = String::with_capacity(256);
    s.push_str(&req.method.to_ascii_uppercase());
    s.push('\n');
    s.push_str(&text("content-md5"));
    s.push('\n');
    s.push_str(&text("content-type"));
    s.push('\n');
    s.push_str(date_line);
    s.push('\n');
    for (name, value) in amz_headers(req) {
        s.push_str(&name);
        s.push(':');
        s.push_str(&value);
        s.push('\n');
    }
    s.push_str(&canonical_resource(req));
    s
}

/// The x-amz-* headers, names lowercased and sorted, repeated ones joined
/// by ',', values trimmed with inner line folds collapsed.
fn amz_headers(req: &AuthRequest) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("x-amz-") {
            continue;
        }
        let v = String::from_utf8_lossy(value);
        let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
        match out.iter_mut().find(|(n, _)| *n == lower) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(&v);
            }
            None => out.push((lower, v)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `/bucket` (virtual-hosted) + the path as sent + the signed
/// sub-resources, sorted by name, values decoded. A bucket itself is
/// `/bucket/` however it was addressed (S3's rule; botocore signs path-style
/// `/bucket` as `/bucket/`).
fn canonical_resource(req: &AuthRequest) -> String {
    let mut r = String::new();
    if let Some(b) = req.virtual_host_bucket {
        r.push('/');
        r.push_str(b);
    }
    r.push_str(req.raw_path);
    if r.len() > 1 && !r[1..].contains('/') {
        r.push('/');
    }
    let mut subs: Vec<(&str, Option<String>)> = req
        .raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n, Some(decode(v))),
            None => (p, None),
        })
        .filter(|(n, _)| SIGNED_SUBRESOURCES.contains(n))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (name, value)) in subs.iter().enumerate() {
        r.push(if i == 0 { '?' } else { '&' });
        r.push_str(name);
        if let Some(v) = value {
            r.push('=');
            r.push_str(v);
        }
    }
    r
}

/// base64(HMAC-SHA1(secret, string to sign)).
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    BASE64.encode(hmac::sign(&key, string_to_sign.as_bytes()).as_ref())
}

fn secret_of<'s>(lookup: &'s dyn SecretLookup, access_key: &str) -> Result<&'s str, AuthError> {
    match lookup.lookup(access_key) {
        None => Err(AuthError::InvalidAccessKeyId),
        Some((_, false)) => Err(AuthError::InactiveAccessKey),
        Some((secret, true)) => Ok(secret),
    }
}

/// Compares the signature sent with the one computed, in constant time.
fn check(secret: &str, sts: String, sent: &str) -> Result<(), AuthError> {
    let want = signature(secret, &sts);
    if sent.len() > MAX_SIGNATURE_BASE64_BYTES
        || !super::sigv4::ct_eq(want.as_bytes(), sent.as_bytes())
    {
        return Err(AuthError::SignatureV2DoesNotMatch {
            string_to_sign: sts,
            signature_provided: sent.to_string(),
        });
    }
    Ok(())
}

fn authenticated(access_key: &str, presigned: bool) -> Authenticated {
    Authenticated {
        access_key: access_key.to_string(),
        presigned,
        payload: PayloadMode::Unsigned,
        streaming: None,
        decoded_content_length: None,
        trailer: None,
    }
}

/// `Authorization: AWS key:signature`, dated by x-amz-date or Date.
pub fn authenticate_header(
    req: &AuthRequest,
    auth: &str,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
) -> Result<Authenticated, AuthError> {
    let creds = auth.strip_prefix("AWS ").unwrap_or("").trim();
    let (access_key, sent) = creds
        .rsplit_once(':')
        .filter(|(k, s)| !k.is_empty() && !s.is_empty())
        .ok_or(AuthError::V2HeaderMalformed)?;
    let text = |name| header(req.headers, name).and_then(|v| std::str::from_utf8(v).ok());
    let amz_date = text("x-amz-date");
    let when = amz_date
        .or_else(|| text("date"))
        .and_then(|d| time::parse_request_date(d).or_else(|| time::parse_amz_date(d.trim())))
        .ok_or(AuthError::MissingDate)?;
    if (when - cfg.now).abs() > cfg.max_skew_secs {
        return Err(AuthError::RequestTimeTooSkewed {
            request_time: when,
            server_time: cfg.now,
        });
    }
    let secret = secret_of(lookup, access_key)?;
    // With x-amz-date the Date line is empty (x-amz-date is signed below).
    let date_line = match amz_date {
        Some(_) => String::new(),
        None => text("date").unwrap_or("").trim().to_string(),
    };
    check(secret, string_to_sign(req, &date_line), sent)?;
    Ok(authenticated(access_key, false))
}

/// `?AWSAccessKeyId=…&Expires=…&Signature=…`: valid until Expires (Unix
/// seconds), which is the Date line of the string to sign.
pub fn authenticate_presigned(
    req: &AuthRequest,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
) -> Result<Authenticated, AuthError> {
    let q = |n| query_param(req.raw_query, n);
    let (Some(access_key), Some(expires), Some(sent)) =
        (q("AWSAccessKeyId"), q("Expires"), q("Signature"))
    else {
        return Err(AuthError::V2QueryParametersMissing);
    };
    let until: i64 = expires
        .trim()
        .parse()
        .map_err(|_| AuthError::V2QueryParametersMissing)?;
    if cfg.now > until {
        return Err(AuthError::RequestExpired);
    }
    let secret = secret_of(lookup, &access_key)?;
    check(secret, string_to_sign(req, expires.trim()), &sent)?;
    Ok(authenticated(&access_key, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(&'a str, &'a [u8])],
        vhost: Option<&'a str>,
    ) -> AuthRequest<'a> {
        AuthRequest {
            method,
            raw_path: path,
            raw_query: query,
            headers,
            virtual_host_bucket: vhost,
        }
    }

    /// The examples of the S3 Developer Guide's "Signing and Authenticating
    /// REST Requests" (AKIAIOSFODNN7EXAMPLE).
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn documented_object_get() {
        let h: &[(&str, &[u8])] = &[
            ("Host", b"awsexamplebucket1.us-west-1.s3.amazonaws.com"),
            ("Date", b"Tue, 27 Mar 2007 19:36:42 +0000"),
        ];
        let r = req("GET", "/photos/puppy.jpg", "", h, Some("awsexamplebucket1"));
        let sts = string_to_sign(&r, "Tue, 27 Mar 2007 19:36:42 +0000");
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        assert_eq!(signature(SECRET, &sts), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    }

    #[test]
    fn documented_put_with_amz_headers_and_subresources() {
        let h: &[(&str, &[u8])] = &[
            ("Content-Type", b"image/jpeg"),
            ("x-amz-meta-b", b"  two "),
            ("X-Amz-Meta-A", b"one"),
            ("x-amz-meta-b", b"three"),
            ("x-amz-date", b"Tue, 27 Mar 2007 21:20:26 +0000"),
        ];
        let r = req(
            "put",
            "/b/k%20x",
            "uploadId=u%2B1&partNumber=2&prefix=p",
            h,
            None,
        );
        assert_eq!(
            string_to_sign(&r, ""),
            "PUT\n\nimage/jpeg\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n\
             x-amz-meta-a:one\nx-amz-meta-b:two,three\n/b/k%20x?partNumber=2&uploadId=u+1"
        );
    }

    #[test]
    fn documented_presigned_get() {
        let q = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=x";
        let r = req("GET", "/photos/puppy.jpg", q, &[], Some("johnsmith"));
        let sts = string_to_sign(&r, "1175139620");
        assert_eq!(signature(SECRET, &sts), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    }

    #[test]
    fn a_bucket_is_signed_with_its_trailing_slash() {
        for (path, vhost) in [("/b", None), ("/b/", None), ("/", Some("b"))] {
            let r = req("PUT", path, "acl", &[], vhost);
            assert_eq!(string_to_sign(&r, "d"), "PUT\n\n\nd\n/b/?acl", "{path}");
        }
        assert_eq!(
            string_to_sign(&req("GET", "/", "", &[], None), "d"),
            "GET\n\n\nd\n/"
        );
    }

    #[test]
    fn recognises_v2_requests() {
        let h: &[(&str, &[u8])] = &[("authorization", b"AWS k:s")];
        assert!(is_sigv2(&req("GET", "/", "", h, None)));
        assert!(is_sigv2(&req("GET", "/", "AWSAccessKeyId=k", &[], None)));
        let v4: &[(&str, &[u8])] = &[("authorization", b"AWS4-HMAC-SHA256 Credential=x")];
        assert!(!is_sigv2(&req("GET", "/", "", v4, None)));
    }
}
