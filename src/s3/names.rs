//! Bucket-name and key rules (S3 general-purpose bucket naming rules).

use crate::s3::error::{S3Error, S3ErrorCode};

pub const MIN_BUCKET_NAME_BYTES: usize = 3;
pub const MAX_BUCKET_NAME_BYTES: usize = 63;
/// S3's limit on the UTF-8 length of an object key.
pub const MAX_KEY_BYTES: usize = 1024;
/// S3's limit on user metadata (x-amz-meta-* names and values, UTF-8 bytes).
pub const MAX_USER_METADATA_BYTES: usize = 2048;

/// Prefixes S3 reserves (punycode, access points, documentation examples).
const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes S3 reserves (access-point aliases, Object Lambda, MRAP, directory buckets).
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3"];

fn invalid_bucket(name: &str, why: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidBucketName)
        .with_message(format!("The specified bucket is not valid: {why}."))
        .with("BucketName", name)
}

/// Checks a name for CreateBucket. Names that fail can never exist, so other
/// operations may answer NoSuchBucket for them instead.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let b = name.as_bytes();
    if b.len() < MIN_BUCKET_NAME_BYTES || b.len() > MAX_BUCKET_NAME_BYTES {
        return Err(invalid_bucket(
            name,
            "bucket names must be 3 to 63 characters long",
        ));
    }
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.';
    if !b.iter().all(|&c| allowed(c)) {
        return Err(invalid_bucket(
            name,
            "only lowercase letters, digits, '-' and '.' are allowed",
        ));
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(invalid_bucket(
            name,
            "names must begin and end with a letter or digit",
        ));
    }
    if name.contains("..") {
        return Err(invalid_bucket(
            name,
            "names must not contain two adjacent periods",
        ));
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() || looks_like_ipv4(name) {
        return Err(invalid_bucket(
            name,
            "names must not be formatted as an IP address",
        ));
    }
    if RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
    {
        return Err(invalid_bucket(
            name,
            "the name uses a reserved prefix or suffix",
        ));
    }
    Ok(())
}

/// Four dot-separated groups of 1-3 digits (S3 also refuses `999.1.1.1`).
fn looks_like_ipv4(name: &str) -> bool {
    let groups: Vec<&str> = name.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|c| c.is_ascii_digit()))
}

/// Checks an object key: non-empty and at most `MAX_KEY_BYTES` of UTF-8.
pub fn validate_key(key: &str) -> Result<(), S3Error> {
    if key.is_empty() {
        return Err(S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("Object key must not be empty")
            .with("ArgumentName", "key"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(S3ErrorCode::KeyTooLongError)
            .with("Size", key.len().to_string())
            .with("MaxSizeAllowed", MAX_KEY_BYTES.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_bucket_names() {
        let long = "a".repeat(63);
        for name in [
            "abc",
            "my-bucket",
            "my.bucket.name",
            "123",
            "a1b2c3",
            "docexamplebucket1",
            "log-delivery-march-2020",
            "1.2.3",
            "1.2.3.4.5",
            "xn-abc",
            "s3alias-b",
            long.as_str(),
        ] {
            assert!(validate_bucket_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn invalid_bucket_names() {
        let long = "a".repeat(64);
        for name in [
            "",
            "ab",
            long.as_str(),
            "My-Bucket",
            "my_bucket",
            "my bucket",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "a..b",
            "192.168.5.4",
            "999.1.1.1",
            "xn--abc",
            "sthree-abc",
            "amzn-s3-demo-bucket",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "bücket",
            "a/b",
        ] {
            let e = validate_bucket_name(name).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidBucketName, "{name}");
            assert_eq!(e.extra[0], ("BucketName", name.to_string()));
        }
    }

    #[test]
    fn keys() {
        assert!(validate_key("a").is_ok());
        assert!(validate_key("//lead/ing + spaces % 中").is_ok());
        assert!(validate_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert_eq!(
            validate_key(&"k".repeat(MAX_KEY_BYTES + 1))
                .unwrap_err()
                .code,
            S3ErrorCode::KeyTooLongError
        );
        // 342 three-byte characters = 1026 bytes: the limit is bytes, not chars.
        assert_eq!(
            validate_key(&"中".repeat(342)).unwrap_err().code,
            S3ErrorCode::KeyTooLongError
        );
        assert_eq!(
            validate_key("").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }
}
