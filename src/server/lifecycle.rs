//! Lifecycle expiration: every shard, every `lifecycle_interval`, walks its
//! own keys of each bucket that has enabled rules and deletes the objects
//! the rules have expired (`s3::lifecycle`). A delete happens only while the
//! key still holds the object that was judged (`Store::delete_if_unchanged`),
//! so an overwrite racing the walk is never lost. S3 itself expires objects
//! asynchronously, typically within a day of the due time; here it is
//! within one interval.

use super::shard::ShardCtx;
use crate::catalog::LifecycleRule;
use crate::s3::lifecycle::is_expired;
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
        }
        ctx.lifecycle_stats.borrow_mut().passes += 1;
    }
}

/// One walk over this shard's keys of `bucket`, in key order, a step at a time.
async fn expire_bucket(
    ctx: &ShardCtx,
    bucket: BucketId,
    rules: &[LifecycleRule],
) -> Result<(), crate::store::StoreError> {
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
