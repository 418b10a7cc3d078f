//! Lifecycle expiration as S3 defines it: which objects a rule covers and
//! the moment each expires.

use crate::catalog::{LifecycleExpiration, LifecycleRule};

const DAY_MILLIS: i64 = 86_400_000;

/// Whether `rule` is on and covers an object with this key and these tags
/// (its prefix, and every one of its tags).
pub fn covers(rule: &LifecycleRule, key: &str, tags: &[(String, String)]) -> bool {
    rule.enabled && key.starts_with(&rule.prefix) && rule.tags.iter().all(|t| tags.contains(t))
}

/// When an object written at `mtime_millis` expires under `expiration`:
/// Days are counted from the write and rounded up to the next midnight UTC
/// (S3's rule); a Date is that midnight.
pub fn expires_at(expiration: LifecycleExpiration, mtime_millis: i64) -> i64 {
    match expiration {
        LifecycleExpiration::Date(millis) => millis,
        LifecycleExpiration::Days(days) => {
            let due = mtime_millis.saturating_add(i64::from(days) * DAY_MILLIS);
            // The next midnight at or after `due` (a write at midnight exactly
            // stays); saturates, i.e. never, for dates past i64.
            let midnight = due.div_euclid(DAY_MILLIS) * DAY_MILLIS;
            if midnight == due {
                due
            } else {
                midnight.saturating_add(DAY_MILLIS)
            }
        }
    }
}

/// Whether any rule expires this object at `now_millis`.
pub fn is_expired(
    rules: &[LifecycleRule],
    key: &str,
    tags: &[(String, String)],
    mtime_millis: i64,
    now_millis: i64,
) -> bool {
    rules.iter().any(|r| {
        covers(r, key, tags)
            && r.expiration
                .is_some_and(|e| now_millis >= expires_at(e, mtime_millis))
    })
}

/// Whether any rule removes a noncurrent version of `key` (with these
/// tags) that became noncurrent at `noncurrent_since_millis` (when the
/// next newer version was written) and has `newer_noncurrent` noncurrent
/// versions newer than itself, by `now_millis`.
pub fn noncurrent_is_due(
    rules: &[LifecycleRule],
    key: &str,
    tags: &[(String, String)],
    noncurrent_since_millis: i64,
    newer_noncurrent: usize,
    now_millis: i64,
) -> bool {
    rules.iter().any(|r| {
        covers(r, key, tags)
            && r.noncurrent_expiration.is_some_and(|n| {
                n.newer_versions
                    .is_none_or(|keep| newer_noncurrent >= keep as usize)
                    && now_millis
                        >= expires_at(LifecycleExpiration::Days(n.days), noncurrent_since_millis)
            })
    })
}

/// Whether any rule removes a delete marker that is `key`'s only version.
pub fn expired_marker_is_due(rules: &[LifecycleRule], key: &str) -> bool {
    rules
        .iter()
        .any(|r| r.expired_object_delete_marker && covers(r, key, &[]))
}

/// Whether any rule aborts an upload of `key` initiated at `initiated_millis`
/// by `now_millis` (DaysAfterInitiation, rounded up to midnight UTC as
/// expiration Days are).
pub fn upload_is_due(
    rules: &[LifecycleRule],
    key: &str,
    initiated_millis: i64,
    now_millis: i64,
) -> bool {
    rules.iter().any(|r| {
        covers(r, key, &[])
            && r.abort_incomplete_days.is_some_and(|d| {
                now_millis >= expires_at(LifecycleExpiration::Days(d), initiated_millis)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LifecycleFilterForm;

    fn rule(prefix: &str, tags: &[(&str, &str)], expiration: LifecycleExpiration) -> LifecycleRule {
        LifecycleRule {
            id: None,
            enabled: true,
            prefix: prefix.to_string(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            filter_form: LifecycleFilterForm::And,
            expiration: Some(expiration),
            abort_incomplete_days: None,
            ..Default::default()
        }
    }

    #[test]
    fn days_round_up_to_the_next_midnight_utc() {
        // 2024-03-10T15:30:00Z + 1 day -> 2024-03-12T00:00:00Z
        let written = 1_710_084_600_000;
        assert_eq!(
            expires_at(LifecycleExpiration::Days(1), written),
            1_710_201_600_000
        );
        // Written at midnight: exactly `days` later.
        let midnight = 1_710_028_800_000;
        assert_eq!(
            expires_at(LifecycleExpiration::Days(30), midnight),
            midnight + 30 * DAY_MILLIS
        );
        assert_eq!(
            expires_at(LifecycleExpiration::Date(midnight), written),
            midnight
        );
        let far = expires_at(LifecycleExpiration::Days(u32::MAX), i64::MAX - 1);
        assert!(far > i64::MAX - DAY_MILLIS, "saturates: never expires");
    }

    #[test]
    fn a_rule_covers_its_prefix_and_all_its_tags() {
        let tags = vec![
            ("team".to_string(), "a".to_string()),
            ("tmp".to_string(), "1".to_string()),
        ];
        let r = rule("logs/", &[("tmp", "1")], LifecycleExpiration::Days(1));
        assert!(covers(&r, "logs/x", &tags));
        assert!(!covers(&r, "data/x", &tags));
        assert!(!covers(&r, "logs/x", &tags[..1]));
        let mut off = r.clone();
        off.enabled = false;
        assert!(!covers(&off, "logs/x", &tags));
        let now = 1_710_201_600_000;
        assert!(is_expired(
            &[off.clone(), r.clone()],
            "logs/x",
            &tags,
            now - 2 * DAY_MILLIS,
            now
        ));
        assert!(!is_expired(
            std::slice::from_ref(&r),
            "logs/x",
            &tags,
            now - DAY_MILLIS / 2,
            now
        ));
        assert!(!is_expired(&[off], "logs/x", &tags, 0, now));
        assert!(!is_expired(&[], "logs/x", &tags, 0, now));
    }

    #[test]
    fn uploads_are_due_days_after_initiation_under_a_prefix() {
        let now = 1_710_201_600_000;
        let mut r = rule("tmp/", &[], LifecycleExpiration::Days(1));
        r.expiration = None;
        r.abort_incomplete_days = Some(2);
        assert!(
            !is_expired(std::slice::from_ref(&r), "tmp/x", &[], 0, now),
            "no expiration"
        );
        assert!(upload_is_due(
            std::slice::from_ref(&r),
            "tmp/x",
            now - 3 * DAY_MILLIS,
            now
        ));
        assert!(!upload_is_due(
            std::slice::from_ref(&r),
            "tmp/x",
            now - DAY_MILLIS,
            now
        ));
        assert!(!upload_is_due(std::slice::from_ref(&r), "logs/x", 0, now));
        let plain = rule("", &[], LifecycleExpiration::Days(1));
        assert!(!upload_is_due(&[plain], "tmp/x", 0, now), "no abort action");
    }
}
