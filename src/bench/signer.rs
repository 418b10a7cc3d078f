//! Client-side SigV4: the same canonicalisation the server verifies with
//! (crate::auth::sigv4), used to sign headers and to presign URLs.

use crate::auth::sigv4::{
    self, canonical_query, canonical_request, canonical_uri, hmac_hex, scope, string_to_sign,
    EMPTY_SHA256_HEX,
};
use crate::util::time::amz_date;

pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Longest validity S3 accepts for a presigned URL (7 days).
pub const MAX_PRESIGN_EXPIRES_SECS: u64 = 7 * 24 * 3600;

pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    /// The Host header value (`host:port`).
    pub host: String,
    /// (yyyymmdd, key) of the last derived signing key.
    cached: Option<(String, [u8; 32])>,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str, host: &str) -> Signer {
        Signer {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            host: host.to_owned(),
            cached: None,
        }
    }

    fn key_for(&mut self, date: &str) -> [u8; 32] {
        match &self.cached {
            Some((d, k)) if d == date => *k,
            _ => {
                let k = sigv4::signing_key(&self.secret_key, date, &self.region, sigv4::SERVICE);
                self.cached = Some((date.to_owned(), k));
                k
            }
        }
    }

    /// Appends `Host`, `x-amz-date`, `x-amz-content-sha256`, the `extra`
    /// headers (lowercase names, signed too) and `Authorization` header
    /// lines (CRLF-terminated) for the request. `payload_hash` is the
    /// body's hex SHA-256 or UNSIGNED-PAYLOAD.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_headers(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        payload_hash: &str,
        extra: &[(&str, &str)],
        now_secs: i64,
        out: &mut String,
    ) {
        let date_time = amz_date(now_secs);
        let date = &date_time[..8];
        let mut headers: Vec<(&str, &[u8])> = vec![
            ("host", self.host.as_bytes()),
            ("x-amz-content-sha256", payload_hash.as_bytes()),
            ("x-amz-date", date_time.as_bytes()),
        ];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_bytes())));
        headers.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let signed: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        let curi = canonical_uri(path).expect("the generator builds valid paths");
        let cquery = canonical_query(query, false).expect("the generator builds valid queries");
        let creq = canonical_request(method, &curi, &cquery, &headers, &signed, payload_hash)
            .expect("every signed header is present");
        let scope = scope(date, &self.region, sigv4::SERVICE);
        let sts = string_to_sign(&date_time, &scope, &creq);
        let sig = hmac_hex(&self.key_for(date), sts.as_bytes());
        use std::fmt::Write;
        for (n, v) in extra {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        let _ = write!(
            out,
            "Host: {}\r\nx-amz-date: {date_time}\r\nx-amz-content-sha256: {payload_hash}\r\n\
             Authorization: {} Credential={}/{scope}, SignedHeaders={}, Signature={sig}\r\n",
            self.host,
            sigv4::ALGORITHM,
            self.access_key,
            signed.join(";"),
        );
    }

    /// A presigned URL path+query (`/bucket/key?X-Amz-...`) valid for `expires_secs`.
    pub fn presign(
        &mut self,
        method: &str,
        path: &str,
        expires_secs: u64,
        now_secs: i64,
    ) -> String {
        assert!(expires_secs <= MAX_PRESIGN_EXPIRES_SECS);
        let date_time = amz_date(now_secs);
        let date = date_time[..8].to_owned();
        let scope = scope(&date, &self.region, sigv4::SERVICE);
        let mut cred = String::new();
        sigv4::uri_encode(
            format!("{}/{scope}", self.access_key).as_bytes(),
            true,
            &mut cred,
        );
        let query = format!(
            "X-Amz-Algorithm={}&X-Amz-Credential={cred}&X-Amz-Date={date_time}\
             &X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders=host",
            sigv4::ALGORITHM
        );
        let headers: [(&str, &[u8]); 1] = [("host", self.host.as_bytes())];
        let curi = canonical_uri(path).expect("valid path");
        let cquery = canonical_query(&query, false).expect("valid query");
        let creq = canonical_request(
            method,
            &curi,
            &cquery,
            &headers,
            &["host"],
            UNSIGNED_PAYLOAD,
        )
        .expect("host is present");
        let sts = string_to_sign(&date_time, &scope, &creq);
        let sig = hmac_hex(&self.key_for(&date), sts.as_bytes());
        format!("{path}?{query}&X-Amz-Signature={sig}")
    }
}

/// The x-amz-content-sha256 value for a body.
pub fn payload_hash(body: &[u8], sign_payload: bool) -> String {
    if !sign_payload {
        UNSIGNED_PAYLOAD.to_owned()
    } else if body.is_empty() {
        EMPTY_SHA256_HEX.to_owned()
    } else {
        sigv4::sha256_hex(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS documentation's "GET Object" header-auth example.
    #[test]
    fn matches_aws_get_object_example() {
        let mut s = Signer::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "us-east-1",
            "examplebucket.s3.amazonaws.com",
        );
        // 20130524T000000Z; the AWS example also signs `range`, so compare
        // the derivation path through the presign example instead.
        let url = s.presign("GET", "/test.txt", 86400, 1_369_353_600);
        assert!(
            url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{url}"
        );
        let mut h = String::new();
        s.sign_headers(
            "GET",
            "/test.txt",
            "",
            UNSIGNED_PAYLOAD,
            &[],
            1_369_353_600,
            &mut h,
        );
        assert!(h.contains("Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"));
        assert!(h.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date"));
        // Extra headers are sent and signed, in canonical (sorted) order.
        let mut h = String::new();
        s.sign_headers(
            "PUT",
            "/test.txt",
            "",
            UNSIGNED_PAYLOAD,
            &[
                ("x-amz-server-side-encryption", "AES256"),
                ("content-type", "a/b"),
            ],
            1_369_353_600,
            &mut h,
        );
        assert!(h.contains("x-amz-server-side-encryption: AES256\r\n"));
        assert!(h.contains(
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-server-side-encryption"
        ));
    }
}
