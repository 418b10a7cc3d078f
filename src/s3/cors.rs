//! CORS as S3 applies it: the first rule of a bucket's configuration that
//! allows the origin, the method and (for a preflight) every requested
//! header answers, and decides the `Access-Control-*` headers.

use crate::catalog::CorsRule;

/// The methods a CORS rule may allow.
pub const CORS_METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// `pattern` (at most one `*`, matching any run of characters) against `value`.
pub fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((prefix, suffix)) => {
            value.len() >= prefix.len() + suffix.len()
                && value.is_char_boundary(prefix.len())
                && value.is_char_boundary(value.len() - suffix.len())
                && eq(prefix, &value[..prefix.len()])
                && eq(suffix, &value[value.len() - suffix.len()..])
        }
    }
}

/// The first rule allowing `origin` to send `method` with `headers`
/// (request header names; a rule must allow every one).
pub fn matching_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h, true)))
    })
}

/// The `Access-Control-*` headers of an answer that `rule` allows. For a
/// preflight, `requested_headers` is its Access-Control-Request-Headers.
pub fn response_headers(
    rule: &CorsRule,
    origin: &str,
    requested_headers: Option<&str>,
) -> Vec<(&'static str, String)> {
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    let mut out = Vec::with_capacity(7);
    if any_origin {
        out.push(("Access-Control-Allow-Origin", "*".to_string()));
    } else {
        out.push(("Access-Control-Allow-Origin", origin.to_string()));
        out.push(("Access-Control-Allow-Credentials", "true".to_string()));
    }
    out.push((
        "Access-Control-Allow-Methods",
        rule.allowed_methods.join(", "),
    ));
    if let Some(h) = requested_headers.filter(|h| !h.trim().is_empty()) {
        out.push(("Access-Control-Allow-Headers", h.trim().to_string()));
    }
    if !rule.expose_headers.is_empty() {
        out.push((
            "Access-Control-Expose-Headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        out.push(("Access-Control-Max-Age", age.to_string()));
    }
    out.push((
        "Vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string(),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..CorsRule::default()
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "https://a.example", false));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://www.example.com",
            false
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "http://www.example.com",
            false
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.com",
            false
        ));
        assert!(wildcard_match("x-amz-*", "X-Amz-Date", true));
        assert!(!wildcard_match("x-amz-*", "X-Amz-Date", false));
        assert!(
            !wildcard_match("ab*ba", "aba", false),
            "shorter than prefix + suffix"
        );
        assert!(wildcard_match("é*", "éa", false));
    }

    #[test]
    fn first_matching_rule_wins_and_every_header_must_be_allowed() {
        let rules = [
            rule(&["https://app.example"], &["PUT"], &["content-type"]),
            rule(&["https://*.example"], &["GET", "PUT"], &["*"]),
        ];
        let put =
            |o, h: &[&str]| matching_rule(&rules, o, "PUT", h).map(|r| r.allowed_methods.len());
        assert_eq!(put("https://app.example", &["content-type"]), Some(1));
        assert_eq!(
            put("https://app.example", &["content-type", "x-amz-date"]),
            Some(2)
        );
        assert_eq!(put("https://other.example", &[]), Some(2));
        assert_eq!(
            matching_rule(&rules, "https://app.example", "DELETE", &[]),
            None
        );
        assert_eq!(matching_rule(&rules, "https://evil.test", "GET", &[]), None);
    }

    #[test]
    fn headers_for_a_wildcard_origin_and_a_named_one() {
        let mut r = rule(&["*"], &["GET", "HEAD"], &["*"]);
        r.expose_headers = vec!["ETag".into()];
        r.max_age_seconds = Some(600);
        let h = response_headers(&r, "https://a.example", Some("content-type, x-amz-date"));
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(get("Access-Control-Allow-Credentials"), None);
        assert_eq!(get("Access-Control-Allow-Methods"), Some("GET, HEAD"));
        assert_eq!(
            get("Access-Control-Allow-Headers"),
            Some("content-type, x-amz-date")
        );
        assert_eq!(get("Access-Control-Expose-Headers"), Some("ETag"));
        assert_eq!(get("Access-Control-Max-Age"), Some("600"));
        let named = rule(&["https://a.example"], &["GET"], &[]);
        let h = response_headers(&named, "https://a.example", None);
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            get("Access-Control-Allow-Origin"),
            Some("https://a.example")
        );
        assert_eq!(get("Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(get("Access-Control-Allow-Headers"), None);
    }

    proptest! {
        /// A pattern made of a value's prefix, `*`, and its suffix matches it
        /// (patterns hold one `*`, so values here hold none); the match never
        /// panics on any input.
        #[test]
        fn prefix_star_suffix_matches(value in "[^*]{0,12}", cut in 0usize..13, keep in 0usize..13, other in ".{0,12}") {
            let chars: Vec<char> = value.chars().collect();
            let cut = cut.min(chars.len());
            let tail = keep.min(chars.len() - cut);
            let prefix: String = chars[..cut].iter().collect();
            let suffix: String = chars[chars.len() - tail..].iter().collect();
            let pattern = format!("{prefix}*{suffix}");
            prop_assert!(wildcard_match(&pattern, &value, false));
            let _ = wildcard_match(&other, &value, true);
            let _ = wildcard_match(&format!("{other}*"), &value, true);
        }
    }
}
