//! IAM wildcard matching: `*` matches any run of characters (including
//! none and `/`), `?` exactly one character. Used for actions, resources,
//! `StringLike` and `ArnLike`.

/// Whether `text` matches `pattern`. Linear backtracking over the last `*`
/// (the classic two-pointer algorithm): O(pattern × text) at worst, no
/// allocation, no recursion.
pub fn matches(pattern: &str, text: &str) -> bool {
    matches_by(pattern.as_bytes(), text.as_bytes(), |a, b| a == b)
}

/// [`matches`], ASCII case-insensitively (action names).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches_by(pattern.as_bytes(), text.as_bytes(), |a, b| {
        a.eq_ignore_ascii_case(&b)
    })
}

fn matches_by(p: &[u8], t: &[u8], eq: impl Fn(u8, u8) -> bool) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was, and the text position it is trying to absorb up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' || eq(p[pi], t[ti])) {
            // `?` stands for one character: step over a whole UTF-8 sequence.
            let step = if p[pi] == b'?' { utf8_len(t[ti]) } else { 1 };
            pi += 1;
            ti = (ti + step).min(t.len());
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Whether `pattern` has a wildcard at all (an exact pattern compares faster).
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.bytes().any(|b| b == b'*' || b == b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_as_iam_documents_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "a/b/c", true),
            ("photos/*", "photos/2024/a.jpg", true),
            ("photos/*", "photos", false),
            ("photos/*.jpg", "photos/x/y.jpg", true),
            ("photos/*.jpg", "photos/x/y.png", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("*a*b*", "xaybz", true),
            ("*a*b*", "xbya", false),
            ("exact", "exact", true),
            ("exact", "Exact", false),
            ("", "", true),
            ("", "x", false),
        ];
        for &(p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p:?} vs {t:?}");
        }
        assert!(matches_ignore_case("s3:get*", "s3:GetObject"));
        assert!(!matches_ignore_case("s3:put*", "s3:GetObject"));
    }
}
