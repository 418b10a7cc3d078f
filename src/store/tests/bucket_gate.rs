//! DeleteBucket's fence and the admission of writes (bucket_gate.rs): a
//! fence waits for writes admitted before it and holds back the rest; a
//! write waiting on a fence goes on when it is lifted and is refused when
//! the bucket is deleted; a write that resolved a deleted incarnation never
//! commits; every wait is bounded.

use super::*;
use std::collections::HashSet;
use std::time::Duration;

/// Long enough for a waiting task to have run as far as it can.
const SETTLE: Duration = Duration::from_millis(20);
/// A drain wait no test should reach unless it expects to.
const DRAIN: Duration = Duration::from_secs(5);

fn live(ids: &[BucketId]) -> HashSet<BucketId> {
    ids.iter().copied().collect()
}

async fn settle() {
    monoio::time::sleep(SETTLE).await;
}

/// A PUT admitted before the fence (here: stalled on its key) is waited
/// for, and then counted: the fence answers NotEmpty, never Empty.
#[test]
fn a_fence_waits_for_a_write_admitted_before_it() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let key_held = store.lock_key(1, "k", KeyMode::Exclusive).await;
        let writer = {
            let s = store.clone();
            monoio::spawn(async move { put(&s, "k", b"acknowledged").await })
        };
        settle().await;
        let fence = monoio::spawn(store.fence_bucket(1, 7, DRAIN));
        settle().await;
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "the write is still stalled"
        );
        drop(key_held);
        writer.await.expect("the admitted write commits");
        assert_eq!(fence.await, BucketFence::NotEmpty);
        assert_reads(&store, "k", b"acknowledged").await;
        // NotEmpty lifted the fence: the next write is not held back.
        put(&store, "k2", b"x").await.expect("unfenced");
    });
}

/// A fence on an empty bucket holds new writes back (nothing is written)
/// until it is lifted; then they commit as if nothing happened.
#[test]
fn a_lifted_fence_lets_waiting_writes_commit() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        assert_eq!(store.fence_bucket(1, 7, DRAIN).await, BucketFence::Empty);
        let writer = {
            let s = store.clone();
            monoio::spawn(async move { put(&s, "k", b"held back").await })
        };
        let create = {
            let s = store.clone();
            monoio::spawn(async move { s.create_upload(1, "mp", ObjectMeta::default()).await })
        };
        settle().await;
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "fenced: nothing committed"
        );
        assert_eq!(store.upload_count(), 0, "fenced: no upload started");
        store.unfence_bucket(1, 7);
        writer.await.expect("commits once the fence is lifted");
        create.await.expect("starts once the fence is lifted");
        assert_reads(&store, "k", b"held back").await;
    });
}

/// Writes held back by the fence of a bucket that is then deleted answer
/// NoSuchBucket and leave nothing behind, live or after a restart.
#[test]
fn writes_waiting_on_a_deleted_bucket_are_refused() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        store.set_live_buckets(&live(&[1]), 2);
        let upload = store
            .create_upload(1, "mp", ObjectMeta::default())
            .await
            .expect("upload");
        assert_eq!(store.fence_bucket(1, 7, DRAIN).await, BucketFence::Empty);
        let writer = {
            let s = store.clone();
            monoio::spawn(async move { put(&s, "k", b"never").await })
        };
        let part = {
            let s = store.clone();
            monoio::spawn(async move {
                let mut w = s.part_writer(1, "mp", upload, 1)?;
                w.write(Bytes::from_static(b"part")).await?;
                w.commit_part("etag".into(), None, 0).await
            })
        };
        settle().await;
        // The catalog change: bucket 1 is gone (its uploads with it).
        store.set_live_buckets(&live(&[]), 2);
        assert!(matches!(writer.await, Err(StoreError::NoSuchBucket)));
        assert!(matches!(part.await, Err(StoreError::NoSuchBucket)));
        assert!(store.get(1, "k").await.expect("index").is_none());
        assert_eq!(store.upload_count(), 0, "the bucket's uploads went with it");
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "nothing of the refused write"
        );
    });
}

/// A write that resolved bucket id 1 before it was deleted and its name
/// re-created as id 2 never commits, into either incarnation.
#[test]
pub(crate) fn a_write_into_a_deleted_incarnation_never_commits() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        store.set_live_buckets(&live(&[1]), 2);
        let mut w = store.writer(1, "k");
        w.write(Bytes::from_static(b"resolved the old bucket"))
            .await
            .expect("data");
        store.set_live_buckets(&live(&[2]), 3);
        let r = w.commit(ObjectMeta::default(), PutCondition::None).await;
        assert!(matches!(r, Err(StoreError::NoSuchBucket)), "{r:?}");
        assert!(
            store.get(1, "k").await.expect("index").is_none()
                && store.get(2, "k").await.expect("index").is_none()
        );
        for refused in [
            store.delete_object(1, "k").await.err(),
            store
                .create_upload(1, "k", ObjectMeta::default())
                .await
                .err(),
            store.update_meta(1, "k", None, |_| ()).await.err(),
        ] {
            assert!(
                matches!(refused, Some(StoreError::NoSuchBucket)),
                "{refused:?}"
            );
        }
    });
}

/// The waits are bounded: a drain that does not finish answers Busy and
/// keeps the fence; a write held back past its wait answers BucketBusy.
#[test]
fn fences_and_waits_on_them_are_bounded() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let stuck = store.admit(1).await.expect("admitted");
        let short = Duration::from_millis(30);
        assert_eq!(store.fence_bucket(1, 7, short).await, BucketFence::Busy);
        drop(stuck);
        let gates = &store.inner.gates;
        assert!(
            matches!(gates.admit(1, short).await, Err(StoreError::BucketBusy)),
            "Busy keeps the fence until it is lifted"
        );
        store.unfence_bucket(1, 7);
        drop(gates.admit(1, short).await.expect("lifted"));
    });
}

/// Two deletes of one bucket overlap: the bucket stays fenced until both
/// have lifted their fences.
#[test]
fn overlapping_fences_hold_until_both_are_lifted() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let short = Duration::from_millis(10);
        assert_eq!(store.fence_bucket(1, 7, DRAIN).await, BucketFence::Empty);
        assert_eq!(store.fence_bucket(1, 8, DRAIN).await, BucketFence::Empty);
        store.unfence_bucket(1, 7);
        store.unfence_bucket(1, 7); // a repeated lifting changes nothing
        let gates = &store.inner.gates;
        assert!(matches!(
            gates.admit(1, short).await,
            Err(StoreError::BucketBusy)
        ));
        store.unfence_bucket(1, 8);
        drop(gates.admit(1, short).await.expect("both lifted"));
    });
}

/// A DeleteBucket can fence a shard before that shard has installed the
/// bucket's creation: the fence is kept, and the bucket arrives fenced.
#[test]
fn a_fence_on_a_bucket_not_yet_created_here_holds_when_it_arrives() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        store.set_live_buckets(&live(&[]), 1);
        assert_eq!(store.fence_bucket(1, 7, DRAIN).await, BucketFence::Empty);
        store.set_live_buckets(&live(&[1]), 2);
        let gates = &store.inner.gates;
        let short = Duration::from_millis(10);
        assert!(matches!(
            gates.admit(1, short).await,
            Err(StoreError::BucketBusy)
        ));
        store.unfence_bucket(1, 7);
        drop(gates.admit(1, short).await.expect("lifted"));
    });
}

/// S3 counts every version and delete marker: a versioned bucket whose
/// only version is a delete marker, or whose object has only noncurrent
/// versions left, is not empty.
#[test]
pub(crate) fn delete_markers_and_noncurrent_versions_make_a_bucket_not_empty() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        store.set_versioning([(1, Versioning::Enabled)].into_iter().collect());
        store.delete_object(1, "marker-only").await.expect("marker");
        assert_eq!(store.fence_bucket(1, 7, DRAIN).await, BucketFence::NotEmpty);
        let current = store
            .current(1, "marker-only")
            .await
            .expect("index")
            .expect("marker");
        store
            .delete_version(1, "marker-only", current.version_id)
            .await
            .expect("remove the marker");
        put(&store, "k", b"old").await.expect("put");
        store.delete_object(1, "k").await.expect("marker over it");
        let marker = store.current(1, "k").await.expect("index").expect("marker");
        store
            .delete_version(1, "k", marker.version_id)
            .await
            .expect("remove the marker");
        put(&store, "k", b"new").await.expect("put");
        store.delete_object(1, "k").await.expect("marker");
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "no current object"
        );
        assert_eq!(store.fence_bucket(1, 8, DRAIN).await, BucketFence::NotEmpty);
        for v in store.versions(1, "k").await.expect("index") {
            store
                .delete_version(1, "k", v.version_id)
                .await
                .expect("rm");
        }
        assert_eq!(store.fence_bucket(1, 9, DRAIN).await, BucketFence::Empty);
    });
}
