//! Lifecycle expiration: every shard, every `lifecycle_interval`, walks its
//! own keys of each bucket that has enabled rules and deletes the objects
//! the rules have expired (`s3::lifecycle`; a delete marker in a versioned
//! bucket), removes noncurrent versions past NoncurrentVersionExpiration
//! and delete markers left alone (ExpiredObjectDeleteMarker), then aborts
//! its uploads left incomplete past a rule's DaysAfterInitiation. A current
//! object is expired only while the key still holds the object that was
//! judged (`Store::delete_if_unchanged`), so an overwrite racing the walk
//! is never lost; versions are removed by id, which names one version only. S3 itself expires objects
//! asynchronously, typically within a day of the due time; here it is
//! within one interval.

use super::shard::ShardCtx;
use crate::catalog::LifecycleRule;
use crate::s3::lifecycle::{expired_marker_is_due, is_expired, noncurrent_is_due, upload_is_due};
use crate::store::{BucketId, Store, StoreError};
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
            // A bucket deleted during the pass simply ends it (NoSuchBucket).
            match expire_bucket(&ctx, bucket, &rules).await {
                Ok(()) | Err(StoreError::NoSuchBucket) => {}
                Err(e) => tracing::warn!(shard = ctx.id, bucket, "lifecycle pass stopped: {e}"),
            }
            let now = crate::util::time::unix_now_millis();
            match abort_due_uploads(&ctx.store, bucket, &rules, now).await {
                Ok(n) => ctx.lifecycle_stats.borrow_mut().aborted_uploads += n,
                Err(StoreError::NoSuchBucket) => {}
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
) -> Result<(), StoreError> {
    // Rules that only abort uploads give the keys nothing to judge.
    if !rules.iter().any(|r| {
        r.enabled
            && (r.expiration.is_some()
                || r.noncurrent_expiration.is_some()
                || r.expired_object_delete_marker)
    }) {
        return Ok(());
    }
    let mut after: Option<String> = None;
    loop {
        let keys = ctx
            .store
            .keys_after(bucket, after.as_deref(), KEYS_PER_STEP)
            .await?;
        let now = crate::util::time::unix_now_millis();
        for key in &keys {
            let n = expire_key(&ctx.store, bucket, key, rules, now).await?;
            ctx.lifecycle_stats.borrow_mut().expired += n;
        }
        match keys.last() {
            Some(last) if keys.len() == KEYS_PER_STEP => after = Some(last.clone()),
            _ => return Ok(()),
        }
        // A timer, not a self-wake: the shard's I/O and peers get their turn.
        monoio::time::sleep(STEP_PAUSE).await;
    }
}

/// Applies the rules to one key at `now_millis`: expires its current
/// object, removes noncurrent versions that are due and a delete marker
/// left as the only version. Returns how many objects and versions went.
pub(crate) async fn expire_key(
    store: &Store,
    bucket: BucketId,
    key: &str,
    rules: &[LifecycleRule],
    now_millis: i64,
) -> Result<u64, StoreError> {
    let versions = store.versions(bucket, key).await?;
    let Some(current) = versions.first() else {
        return Ok(0);
    };
    let mut removed = 0;
    if versions.len() == 1 && current.delete_marker && expired_marker_is_due(rules, key) {
        let out = store
            .delete_version(bucket, key, current.version_id)
            .await?;
        return Ok(out.existed as u64);
    }
    // Noncurrent versions, newest first: each became noncurrent when the
    // version before it in this list was written.
    for (i, pair) in versions.windows(2).enumerate() {
        let (newer, v) = (&pair[0], &pair[1]);
        if noncurrent_is_due(
            rules,
            key,
            &v.meta.tags,
            newer.meta.mtime_millis,
            i,
            now_millis,
        ) {
            removed += store
                .delete_version(bucket, key, v.version_id)
                .await?
                .existed as u64;
        }
    }
    if !current.delete_marker {
        let meta = &current.meta;
        if is_expired(rules, key, &meta.tags, meta.mtime_millis, now_millis)
            && store
                .delete_if_unchanged(bucket, key, current.commit_seq)
                .await?
        {
            removed += 1;
        }
    }
    Ok(removed)
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
            ..Default::default()
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

    /// NoncurrentVersionExpiration (with NewerNoncurrentVersions) and
    /// ExpiredObjectDeleteMarker on a versioned bucket, then a restart.
    #[test]
    fn noncurrent_versions_and_lone_markers_expire() {
        use crate::catalog::NoncurrentExpiration;
        use crate::store::{PutCondition, Versioning};
        let dir = real_disk_tempdir();
        let cfg = || StoreConfig::new(dir.path().join("shard-000"), 0);
        let base = crate::util::time::unix_now_millis() - 20 * DAY;
        let keep_one = LifecycleRule {
            enabled: true,
            noncurrent_expiration: Some(NoncurrentExpiration {
                days: 1,
                newer_versions: Some(1),
            }),
            ..Default::default()
        };
        let markers = LifecycleRule {
            enabled: true,
            prefix: "m".into(),
            noncurrent_expiration: Some(NoncurrentExpiration {
                days: 1,
                newer_versions: None,
            }),
            expired_object_delete_marker: true,
            ..Default::default()
        };
        let (kept, gone_marker) = run(async {
            let store = Store::open(cfg()).await.expect("open");
            store.set_versioning([(1, Versioning::Enabled)].into_iter().collect());
            let put = |key: &'static str, day: i64| {
                let store = store.clone();
                async move {
                    let mut w = store.writer(1, key);
                    w.write(bytes::Bytes::from_static(b"data"))
                        .await
                        .expect("write");
                    let meta = ObjectMeta {
                        mtime_millis: base + day * DAY,
                        etag: "e".into(),
                        ..ObjectMeta::default()
                    };
                    w.commit(meta, PutCondition::None)
                        .await
                        .expect("commit")
                        .version_id
                }
            };
            let ids = [
                put("k", 0).await,
                put("k", 1).await,
                put("k", 2).await,
                put("k", 3).await,
            ];
            put("m", 0).await;
            store.delete_object(1, "m").await.expect("marker");
            let now = crate::util::time::unix_now_millis() + 10 * DAY;
            let rules = [keep_one.clone(), markers.clone()];
            // k: the newest noncurrent version stays (NewerNoncurrentVersions 1),
            // the two older ones are due.
            assert_eq!(expire_key(&store, 1, "k", &rules, now).await.expect("k"), 2);
            let left: Vec<u128> = store
                .versions(1, "k")
                .await
                .expect("index")
                .iter()
                .map(|e| e.version_id)
                .collect();
            assert_eq!(left, [ids[3], ids[2]]);
            // m: its object goes first; the marker, then alone, on the next pass.
            assert_eq!(expire_key(&store, 1, "m", &rules, now).await.expect("m"), 1);
            let marker = store
                .current(1, "m")
                .await
                .expect("index")
                .expect("marker stays this pass");
            assert!(marker.delete_marker);
            assert_eq!(expire_key(&store, 1, "m", &rules, now).await.expect("m"), 1);
            assert!(store.versions(1, "m").await.expect("index").is_empty());
            // Nothing is due before its day.
            let early = base + 2 * DAY;
            assert_eq!(
                expire_key(&store, 1, "k", &rules, early).await.expect("k"),
                0
            );
            (left, marker.version_id)
        });
        run(async {
            let store = Store::open(cfg()).await.expect("reopen");
            let left: Vec<u128> = store
                .versions(1, "k")
                .await
                .expect("index")
                .iter()
                .map(|e| e.version_id)
                .collect();
            assert_eq!(left, kept, "the removals were durable");
            assert!(store
                .get_version(1, "m", gone_marker)
                .await
                .expect("index")
                .is_none());
            assert!(store.keys_after(1, None, 10).await.expect("index") == ["k"]);
        });
    }
}
