//! Lifecycle expiration: every shard, every `lifecycle_interval`, walks its
//! own keys of each bucket that has enabled rules and deletes the objects
//! the rules have expired (`s3::lifecycle`), then aborts its uploads left
//! incomplete past a rule's DaysAfterInitiation. A delete happens only while the
//! key still holds the object that was judged (`Store::delete_if_unchanged`),
//! so an overwrite racing the walk is never lost. S3 itself expires objects
//! asynchronously, typically within a day of the due time; here it is
//! within one interval.

use super::shard::ShardCtx;
use crate::catalog::LifecycleRule;
use crate::s3::lifecycle::{is_expired, upload_is_due};
use crate::store::{BucketId, ListItem};
use std::rc::Rc;
use std::time::Duration;

/// Keys examined per step of the walk before the shard serves others.
const KEYS_PER_STEP: usize = 256;
const STEP_PAUSE: Duration = Duration::from_millis(1);

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleStats {
    /// Walks over this shard's keys finished.
    pub passes: u64,
    /// Objects deleted because a rule expired them.
    pub expired: u64,
    /// Uploads aborted because a rule's DaysAfterInitiation passed.
    pub aborted_uploads: u64,
}

/// The shard's lifecycle task; returns only if the interval is zero (off).
pub async fn run(ctx: Rc<ShardCtx>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    loop {
        monoio::time::sleep(interval).await;
        let buckets: Vec<(BucketId, Vec<LifecycleRule>)> = ctx.with_catalog(|c| {
            c.buckets()
                .filter(|b| b.lifecycle.iter().any(|r| r.enabled))
                .map(|b| (b.id, b.lifecycle.clone()))
                .collect()
        });
        for (bucket, rules) in buckets {
            if let Err(e) = expire_bucket(&ctx, bucket, &rules).await {
                tracing::warn!(shard = ctx.id, bucket, "lifecycle pass stopped: {e}");
            }
            let now = crate::util::time::unix_now_millis();
            match abort_due_uploads(&ctx.store, bucket, &rules, now).await {
                Ok(n) => ctx.lifecycle_stats.borrow_mut().aborted_uploads += n,
                Err(e) => tracing::warn!(shard = ctx.id, bucket, "lifecycle aborts stopped: {e}"),
            }
        }
        ctx.lifecycle_stats.borrow_mut().passes += 1;
    }
}

/// Aborts this shard's uploads in `bucket` that a rule's DaysAfterInitiation
/// has made due by `now_millis`; returns how many. An upload completed or
/// aborted meanwhile is simply gone (NoSuchUpload is not an error here).
pub(crate) async fn abort_due_uploads(
    store: &crate::store::Store,
    bucket: BucketId,
    rules: &[LifecycleRule],
    now_millis: i64,
) -> Result<u64, crate::store::StoreError> {
    if !rules
        .iter()
        .any(|r| r.enabled && r.abort_incomplete_days.is_some())
    {
        return Ok(0);
    }
    let due: Vec<_> = store
        .upload_summaries(bucket)
        .into_iter()
        .filter(|u| upload_is_due(rules, &u.key, u.initiated_millis, now_millis))
        .collect();
    let mut aborted = 0;
    for u in due {
        match store.abort_upload(bucket, &u.key, u.upload_id).await {
            Ok(()) => aborted += 1,
            Err(crate::store::StoreError::NoSuchUpload) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(aborted)
}

/// One walk over this shard's keys of `bucket`, in key order, a step at a time.
async fn expire_bucket(
    ctx: &ShardCtx,
    bucket: BucketId,
    rules: &[LifecycleRule],
) -> Result<(), crate::store::StoreError> {
    // Rules that only abort uploads give the keys nothing to judge.
    if !rules.iter().any(|r| r.enabled && r.expiration.is_some()) {
        return Ok(());
    }
    let mut after: Option<String> = None;
    loop {
        let page = ctx
            .store
            .list(bucket, "", None, after.as_deref(), KEYS_PER_STEP);
        let now = crate::util::time::unix_now_millis();
        let mut due = Vec::new();
        for item in &page {
            let ListItem::Object { key, .. } = item else {
                continue;
            };
            let Some(entry) = ctx.store.get(bucket, key) else {
                continue;
            };
            let meta = &entry.meta;
            if is_expired(rules, key, &meta.tags, meta.mtime_millis, now) {
                due.push((key.clone(), entry.commit_seq));
            }
        }
        for (key, seq) in due {
            if ctx.store.delete_if_unchanged(bucket, &key, seq).await? {
                ctx.lifecycle_stats.borrow_mut().expired += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == KEYS_PER_STEP => after = Some(last.sort_key().to_string()),
            _ => return Ok(()),
        }
        // A timer, not a self-wake: the shard's I/O and peers get their turn.
        monoio::time::sleep(STEP_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{LifecycleExpiration, LifecycleFilterForm};
    use crate::store::tests::{real_disk_tempdir, run};
    use crate::store::{ObjectMeta, Store, StoreConfig};

    const DAY: i64 = 86_400_000;

    #[test]
    fn uploads_past_days_after_initiation_are_aborted_and_stay_aborted() {
        let dir = real_disk_tempdir();
        let now = 1_710_201_600_000; // a midnight UTC
        let rule = LifecycleRule {
            id: None,
            enabled: true,
            prefix: "tmp/".into(),
            tags: Vec::new(),
            filter_form: LifecycleFilterForm::Prefix,
            expiration: None,
            abort_incomplete_days: Some(2),
        };
        let cfg = || StoreConfig::new(dir.path().join("shard-000"), 0);
        run(async {
            let store = Store::open(cfg()).await.expect("open");
            let started = |days_ago: i64| ObjectMeta {
                mtime_millis: now - days_ago * DAY,
                ..ObjectMeta::default()
            };
            let old = store
                .create_upload(1, "tmp/old", started(3))
                .await
                .expect("old");
            let young = store
                .create_upload(1, "tmp/young", started(1))
                .await
                .expect("young");
            let elsewhere = store
                .create_upload(1, "keep/old", started(9))
                .await
                .expect("keep");
            let rules = [rule.clone()];
            assert_eq!(
                abort_due_uploads(&store, 1, &rules, now)
                    .await
                    .expect("abort"),
                1
            );
            assert!(store.with_upload(1, "tmp/old", old, |_| ()).is_none());
            assert!(store.with_upload(1, "tmp/young", young, |_| ()).is_some());
            assert!(store
                .with_upload(1, "keep/old", elsewhere, |_| ())
                .is_some());
            // Disabled rules, and rules without the action, abort nothing.
            let mut off = rule.clone();
            off.enabled = false;
            let mut expire_only = rule.clone();
            expire_only.abort_incomplete_days = None;
            expire_only.expiration = Some(LifecycleExpiration::Days(1));
            let later = now + 10 * DAY;
            assert_eq!(
                abort_due_uploads(&store, 1, &[off, expire_only], later)
                    .await
                    .expect("none"),
                0
            );
        });
        run(async {
            let store = Store::open(cfg()).await.expect("reopen");
            assert_eq!(store.upload_count(), 2, "the abort was durable");
        });
    }
}
