//! Conditional request headers (RFC 9110 §13.2.2 precedence, as S3 applies it).
//!
//! S3 documents two combinations explicitly and both follow the RFC order:
//! If-Match true + If-Unmodified-Since false → 200 (If-Unmodified-Since is
//! only evaluated without If-Match); If-None-Match false + If-Modified-Since
//! true → 304 (If-Modified-Since is only evaluated without If-None-Match).
//! Unparseable dates are ignored, as the RFC requires.
//!
//! ETag comparison is weak (a `W/` prefix is ignored) for both headers: S3
//! never issues weak ETags, so a `W/` tag can only be a client's rewrite of one
//! of ours and refusing it helps no one.

use crate::util::time::parse_http_date;

/// Longest If-Match / If-None-Match list considered; longer lists never match.
pub const MAX_ETAG_LIST_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondOutcome {
    Proceed,
    /// 304, no body.
    NotModified,
    /// 412 PreconditionFailed.
    PreconditionFailed,
}

/// Whether an If-Match / If-None-Match list names `etag` (unquoted). `*`
/// matches any existing object.
pub fn etag_list_matches(list: &str, etag: &str) -> bool {
    if list.len() > MAX_ETAG_LIST_BYTES {
        return false;
    }
    list.split(',').map(str::trim).any(|item| {
        if item == "*" {
            return true;
        }
        let item = item.strip_prefix("W/").unwrap_or(item);
        let item = item
            .strip_prefix('"')
            .and_then(|i| i.strip_suffix('"'))
            .unwrap_or(item);
        !item.is_empty() && item == etag
    })
}

/// Evaluates read preconditions (GetObject, HeadObject) for an existing
/// object with `etag` (unquoted) modified at `last_modified_secs`.
pub fn evaluate_read(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    if_unmodified_since: Option<&str>,
    etag: &str,
    last_modified_secs: i64,
) -> CondOutcome {
    match if_match {
        Some(list) => {
            if !etag_list_matches(list, etag) {
                return CondOutcome::PreconditionFailed;
            }
        }
        None => {
            if let Some(date) = if_unmodified_since.and_then(parse_http_date) {
                if last_modified_secs > date {
                    return CondOutcome::PreconditionFailed;
                }
            }
        }
    }
    match if_none_match {
        Some(list) => {
            if etag_list_matches(list, etag) {
                return CondOutcome::NotModified;
            }
        }
        None => {
            if let Some(date) = if_modified_since.and_then(parse_http_date) {
                if last_modified_secs <= date {
                    return CondOutcome::NotModified;
                }
            }
        }
    }
    CondOutcome::Proceed
}

/// Evaluates `x-amz-copy-source-if-*` against the copy source. Same
/// precedence as reads, but every failure is 412: S3 documents
/// copy-source-if-none-match false + if-modified-since true → 412.
pub fn evaluate_copy_source(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    if_unmodified_since: Option<&str>,
    etag: &str,
    last_modified_secs: i64,
) -> CondOutcome {
    match evaluate_read(
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
        etag,
        last_modified_secs,
    ) {
        CondOutcome::Proceed => CondOutcome::Proceed,
        CondOutcome::NotModified | CondOutcome::PreconditionFailed => {
            CondOutcome::PreconditionFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CondOutcome::*;

    const ETAG: &str = "abc123";
    /// Last-Modified of the object: Wed, 21 Oct 2015 07:28:00 GMT.
    const MTIME: i64 = 1_445_412_480;
    const BEFORE: &str = "Wed, 21 Oct 2015 07:27:59 GMT";
    const SAME: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    const AFTER: &str = "Wed, 21 Oct 2015 07:28:01 GMT";

    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        CondOutcome,
    );

    #[test]
    fn read_precedence() {
        // (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, outcome)
        let table: &[Row] = &[
            (None, None, None, None, Proceed),
            (Some("\"abc123\""), None, None, None, Proceed),
            (Some("abc123"), None, None, None, Proceed),
            (Some("W/\"abc123\""), None, None, None, Proceed),
            (Some("\"x\", \"abc123\""), None, None, None, Proceed),
            (Some("*"), None, None, None, Proceed),
            (Some("\"other\""), None, None, None, PreconditionFailed),
            (Some(""), None, None, None, PreconditionFailed),
            (Some("\"\""), None, None, None, PreconditionFailed),
            (None, None, None, Some(AFTER), Proceed),
            (None, None, None, Some(SAME), Proceed),
            (None, None, None, Some(BEFORE), PreconditionFailed),
            (None, None, None, Some("garbage"), Proceed),
            // S3: If-Match true + If-Unmodified-Since false → 200.
            (Some("\"abc123\""), None, None, Some(BEFORE), Proceed),
            (
                Some("\"nope\""),
                None,
                None,
                Some(AFTER),
                PreconditionFailed,
            ),
            (None, Some("\"abc123\""), None, None, NotModified),
            (None, Some("*"), None, None, NotModified),
            (None, Some("\"x\",W/\"abc123\""), None, None, NotModified),
            (None, Some("\"other\""), None, None, Proceed),
            (None, None, Some(SAME), None, NotModified),
            (None, None, Some(AFTER), None, NotModified),
            (None, None, Some(BEFORE), None, Proceed),
            (None, None, Some("not a date"), None, Proceed),
            // S3: If-None-Match false + If-Modified-Since true → 304.
            (None, Some("\"abc123\""), Some(BEFORE), None, NotModified),
            // If-None-Match true wins over If-Modified-Since false.
            (None, Some("\"other\""), Some(AFTER), None, Proceed),
            // 412 conditions are checked before 304 conditions.
            (
                Some("\"other\""),
                Some("\"abc123\""),
                None,
                None,
                PreconditionFailed,
            ),
            (
                None,
                Some("\"abc123\""),
                None,
                Some(BEFORE),
                PreconditionFailed,
            ),
            (
                Some("\"abc123\""),
                Some("\"abc123\""),
                None,
                None,
                NotModified,
            ),
        ];
        for (i, &(im, inm, ims, ius, want)) in table.iter().enumerate() {
            assert_eq!(
                evaluate_read(im, inm, ims, ius, ETAG, MTIME),
                want,
                "row {i}: {im:?} {inm:?} {ims:?} {ius:?}"
            );
        }
    }

    #[test]
    fn copy_source_fails_with_412() {
        let table: &[Row] = &[
            (None, None, None, None, Proceed),
            (Some("\"abc123\""), None, None, Some(BEFORE), Proceed),
            (Some("\"other\""), None, None, None, PreconditionFailed),
            (
                None,
                Some("\"abc123\""),
                Some(BEFORE),
                None,
                PreconditionFailed,
            ),
            (None, Some("\"abc123\""), None, None, PreconditionFailed),
            (None, None, Some(AFTER), None, PreconditionFailed),
            (None, None, Some(BEFORE), None, Proceed),
            (None, None, None, Some(BEFORE), PreconditionFailed),
        ];
        for (i, &(im, inm, ims, ius, want)) in table.iter().enumerate() {
            assert_eq!(
                evaluate_copy_source(im, inm, ims, ius, ETAG, MTIME),
                want,
                "row {i}"
            );
        }
    }

    #[test]
    fn etag_lists() {
        assert!(etag_list_matches(" \"a\" , \"abc123\" ", ETAG));
        assert!(!etag_list_matches("\"abc1234\"", ETAG));
        assert!(!etag_list_matches("\"abc12\"", ETAG));
        assert!(!etag_list_matches(
            &format!("\"x\",{}", "a".repeat(MAX_ETAG_LIST_BYTES)),
            ETAG
        ));
    }
}
