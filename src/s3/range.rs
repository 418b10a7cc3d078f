//! `Range: bytes=…` for GetObject/HeadObject and UploadPartCopy.
//!
//! S3 serves one range. A header it cannot use (several ranges, another
//! unit, bad syntax) is ignored and the whole object is served (RFC 9110
//! §14.2 lets a server ignore Range); a well-formed range outside the object
//! is 416 InvalidRange with `Content-Range: bytes */<size>`.

/// One byte range as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-last` (inclusive).
    FromTo(u64, u64),
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// Longest Range header value worth parsing; longer ones are ignored.
pub const MAX_RANGE_HEADER_BYTES: usize = 256;

/// Parses a single `bytes=` range; anything else gives `None` (serve whole).
pub fn parse_range(header: &str) -> Option<RangeSpec> {
    if header.len() > MAX_RANGE_HEADER_BYTES {
        return None;
    }
    let header = header.trim();
    let unit = header.get(..6)?;
    if !unit.eq_ignore_ascii_case("bytes=") {
        return None;
    }
    let spec = header[6..].trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix(digits(last)?)),
        (false, true) => Some(RangeSpec::From(digits(first)?)),
        (false, false) => {
            let (a, b) = (digits(first)?, digits(last)?);
            (a <= b).then_some(RangeSpec::FromTo(a, b))
        }
    }
}

/// Unsigned decimal without sign or spaces (u64::from_str accepts `+5`).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Resolves a range against an object of `size` bytes to (start, end
/// inclusive). `Err(())` means unsatisfiable: answer 416 InvalidRange.
#[allow(clippy::result_unit_err)]
pub fn resolve(spec: RangeSpec, size: u64) -> Result<(u64, u64), ()> {
    if size == 0 {
        return Err(());
    }
    let last = size - 1;
    match spec {
        RangeSpec::FromTo(first, end) if first <= last => Ok((first, end.min(last))),
        RangeSpec::From(first) if first <= last => Ok((first, last)),
        RangeSpec::Suffix(n) if n > 0 => Ok((size.saturating_sub(n), last)),
        _ => Err(()),
    }
}

/// The `Content-Range` value of a 206 answer.
pub fn content_range(start: u64, end: u64, size: u64) -> String {
    debug_assert!(start <= end && end < size);
    format!("bytes {start}-{end}/{size}")
}

/// The `Content-Range` value of a 416 answer.
pub fn unsatisfied_content_range(size: u64) -> String {
    format!("bytes */{size}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeSpec::*;

    #[test]
    fn parse_table() {
        let table: &[(&str, Option<RangeSpec>)] = &[
            ("bytes=0-499", Some(FromTo(0, 499))),
            ("bytes=500-", Some(From(500))),
            ("bytes=-500", Some(Suffix(500))),
            ("bytes=-0", Some(Suffix(0))),
            ("bytes=5-5", Some(FromTo(5, 5))),
            ("BYTES=1-2", Some(FromTo(1, 2))),
            (" bytes= 1 - 2 ", Some(FromTo(1, 2))),
            ("bytes=18446744073709551615-", Some(From(u64::MAX))),
            ("bytes=5-3", None),
            ("bytes=0-1,3-4", None),
            ("bytes=-", None),
            ("bytes=", None),
            ("bytes=a-b", None),
            ("bytes=+1-2", None),
            ("bytes=1-+2", None),
            ("bytes=18446744073709551616-", None),
            ("items=0-1", None),
            ("bytes 0-1", None),
            ("0-1", None),
            ("", None),
            ("bytes=1-2-3", None),
            ("bytes=中-1", None),
        ];
        for (h, want) in table {
            assert_eq!(parse_range(h), *want, "{h:?}");
        }
        assert_eq!(parse_range(&format!("bytes=0-{}", "1".repeat(300))), None);
    }

    #[test]
    fn resolve_table() {
        type Row = (RangeSpec, u64, Result<(u64, u64), ()>);
        let table: &[Row] = &[
            (FromTo(0, 499), 1000, Ok((0, 499))),
            (FromTo(0, 0), 1, Ok((0, 0))),
            (FromTo(990, 2000), 1000, Ok((990, 999))),
            (FromTo(999, 999), 1000, Ok((999, 999))),
            (FromTo(1000, 1001), 1000, Err(())),
            (FromTo(0, u64::MAX), 10, Ok((0, 9))),
            (From(0), 10, Ok((0, 9))),
            (From(9), 10, Ok((9, 9))),
            (From(10), 10, Err(())),
            (Suffix(3), 10, Ok((7, 9))),
            (Suffix(10), 10, Ok((0, 9))),
            (Suffix(50), 10, Ok((0, 9))),
            (Suffix(0), 10, Err(())),
            (From(0), 0, Err(())),
            (Suffix(5), 0, Err(())),
            (FromTo(0, 0), 0, Err(())),
        ];
        for (spec, size, want) in table {
            assert_eq!(resolve(*spec, *size), *want, "{spec:?} of {size}");
        }
        assert_eq!(content_range(7, 9, 10), "bytes 7-9/10");
        assert_eq!(unsatisfied_content_range(10), "bytes */10");
    }
}
