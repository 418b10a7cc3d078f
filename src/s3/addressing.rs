//! Request target → (bucket, key): virtual-hosted style (`<bucket>.<domain>`)
//! or path style (`/<bucket>/<key>`).

use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::query::percent_decode;

/// Splits the request into bucket and key, both percent-decoded (`+` is
/// literal in paths). `raw_path` is the path as sent; anything from `?` on is
/// ignored. `domain` enables virtual-hosted style for hosts `<bucket>.<domain>`.
///
/// The key is everything after the bucket's single separating `/`, verbatim:
/// `/b//x` has key `/x`, `/b/` has no key. A missing bucket means the service.
pub fn split_target(
    host: Option<&str>,
    raw_path: &str,
    domain: Option<&str>,
) -> Result<(Option<String>, Option<String>), S3Error> {
    let path = raw_path.split_once('?').map_or(raw_path, |(p, _)| p);
    let Some(path) = path.strip_prefix('/') else {
        return Err(S3Error::new(S3ErrorCode::InvalidURI).with_resource(raw_path));
    };
    let decode = |s: &str| -> Result<Option<String>, S3Error> {
        if s.is_empty() {
            return Ok(None);
        }
        percent_decode(s, false)
            .map(Some)
            .map_err(|e| e.with_resource(raw_path))
    };
    if let Some(bucket) = virtual_host_bucket(host, domain) {
        return Ok((Some(bucket), decode(path)?));
    }
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    Ok((decode(bucket)?, decode(key)?))
}

/// The bucket a virtual-hosted request names in its Host, lowercased (DNS
/// names are case-insensitive; bucket names are lowercase): `<bucket>.<domain>`
/// with `--domain`; without it, `<bucket>.localhost` and `<bucket>.<IPv4
/// address>` (what SDKs send for an endpoint of `localhost` or an address
/// when told to use virtual-hosted style), as MinIO takes them by default.
/// Any other host is path style.
pub fn virtual_host_bucket(host: Option<&str>, domain: Option<&str>) -> Option<String> {
    let host = host?;
    match domain {
        Some(d) => under_domain(host, d),
        None => default_virtual_host(host),
    }
}

/// Hosts taken as virtual-hosted without `--domain`.
fn default_virtual_host(host: &str) -> Option<String> {
    let bare = strip_port(host);
    if let Some(bucket) = under_domain(host, "localhost") {
        return Some(bucket);
    }
    // `<bucket>.<a.b.c.d>`: the last four labels form an IPv4 address.
    let mut dots = bare.rmatch_indices('.').map(|(i, _)| i);
    let split = dots.nth(3)?;
    let (label, ip) = (&bare[..split], &bare[split + 1..]);
    (!label.is_empty() && ip.parse::<std::net::Ipv4Addr>().is_ok())
        .then(|| label.to_ascii_lowercase())
}

/// `<bucket>.<domain>[:port]` → bucket.
fn under_domain(host: &str, domain: &str) -> Option<String> {
    let host = strip_port(host);
    let domain = domain.trim_end_matches('.');
    if domain.is_empty() || host.len() <= domain.len() + 1 {
        return None;
    }
    let split = host.len() - domain.len();
    let (label, tail) = (host.get(..split - 1)?, host.get(split..)?);
    if !tail.eq_ignore_ascii_case(domain) || host.as_bytes()[split - 1] != b'.' {
        return None;
    }
    Some(label.to_ascii_lowercase())
}

/// `example.com:9000` → `example.com`; `[::1]:9000` → `[::1]`.
fn strip_port(host: &str) -> &str {
    let host = host.trim().trim_end_matches('.');
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Want = (Option<&'static str>, Option<&'static str>);

    fn split(host: Option<&str>, path: &str, domain: Option<&str>) -> Want {
        let (b, k) = split_target(host, path, domain).unwrap();
        (
            b.map(|s| &*Box::leak(s.into_boxed_str())),
            k.map(|s| &*Box::leak(s.into_boxed_str())),
        )
    }

    #[test]
    fn path_style() {
        let table: &[(&str, Want)] = &[
            ("/", (None, None)),
            ("/b", (Some("b"), None)),
            ("/b/", (Some("b"), None)),
            ("/b/k", (Some("b"), Some("k"))),
            ("/b//x", (Some("b"), Some("/x"))),
            ("/b/a//b/", (Some("b"), Some("a//b/"))),
            ("/b/a+b", (Some("b"), Some("a+b"))),
            ("/b/a%20b", (Some("b"), Some("a b"))),
            ("/b/a%2Bb", (Some("b"), Some("a+b"))),
            ("/b/100%25", (Some("b"), Some("100%"))),
            ("/b/a%2Fb", (Some("b"), Some("a/b"))),
            ("/b/%E4%B8%AD", (Some("b"), Some("中"))),
            ("/b/k?uploads", (Some("b"), Some("k"))),
            ("/b?list-type=2", (Some("b"), None)),
        ];
        for (path, want) in table {
            assert_eq!(split(Some("localhost:9000"), path, None), *want, "{path}");
            // A host that is not under the domain is path style too.
            assert_eq!(
                split(Some("127.0.0.1:9000"), path, Some("s3.local")),
                *want,
                "{path}"
            );
            assert_eq!(
                split(Some("s3.local"), path, Some("s3.local")),
                *want,
                "{path}"
            );
        }
    }

    #[test]
    fn virtual_hosted() {
        let d = Some("s3.local");
        let table: &[(&str, &str, Want)] = &[
            ("b.s3.local", "/", (Some("b"), None)),
            ("b.s3.local:9000", "/k", (Some("b"), Some("k"))),
            (
                "My.Bucket.S3.Local",
                "/a/b",
                (Some("my.bucket"), Some("a/b")),
            ),
            ("b.s3.local", "//x", (Some("b"), Some("/x"))),
            ("b.s3.local.", "/a%20b+c", (Some("b"), Some("a b+c"))),
            ("b.s3.local", "/?list-type=2", (Some("b"), None)),
        ];
        for (host, path, want) in table {
            assert_eq!(split(Some(host), path, d), *want, "{host}{path}");
        }
        // Not under the domain: path style.
        assert_eq!(split(Some("bs3.local"), "/x/y", d), (Some("x"), Some("y")));
        assert_eq!(split(Some(".s3.local"), "/x", d), (Some("x"), None));
        assert_eq!(split(Some("[::1]:9000"), "/x/y", d), (Some("x"), Some("y")));
        assert_eq!(split(None, "/x/y", d), (Some("x"), Some("y")));
    }

    /// Without --domain, `<bucket>.localhost` and `<bucket>.<IPv4>` are
    /// virtual-hosted (they used to be taken as path style: `PUT /key` to
    /// `b.localhost` created a bucket named `key`); every other host is
    /// path style.
    #[test]
    fn default_virtual_hosts() {
        let table: &[(&str, &str, Want)] = &[
            ("b.localhost:9000", "/k", (Some("b"), Some("k"))),
            (
                "My.Bucket.LOCALHOST",
                "/a/b",
                (Some("my.bucket"), Some("a/b")),
            ),
            ("b.127.0.0.1:9000", "/dir/k", (Some("b"), Some("dir/k"))),
            ("b.c.10.0.0.7", "/", (Some("b.c"), None)),
            ("localhost:9000", "/b/k", (Some("b"), Some("k"))),
            ("127.0.0.1:9000", "/b/k", (Some("b"), Some("k"))),
            ("[::1]:9000", "/b/k", (Some("b"), Some("k"))),
            ("s3.example.com", "/b/k", (Some("b"), Some("k"))),
            ("b.256.0.0.1", "/b/k", (Some("b"), Some("k"))),
        ];
        for (host, path, want) in table {
            assert_eq!(split(Some(host), path, None), *want, "{host}{path}");
        }
        // Five numeric labels: bucket `1` before an IPv4 address.
        assert_eq!(
            split(Some("1.2.3.4.5"), "/b/k", None),
            (Some("1"), Some("b/k"))
        );
        // With --domain only the domain is virtual-hosted.
        assert_eq!(
            split(Some("b.localhost"), "/x/y", Some("s3.local")),
            (Some("x"), Some("y"))
        );
    }

    #[test]
    fn bad_targets() {
        for path in ["", "b/k", "*", "/b/%zz", "/b/%ff", "/%4"] {
            let e = split_target(None, path, None).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidURI, "{path}");
        }
    }
}
