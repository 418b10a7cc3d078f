//! Which buckets this shard may write into, and DeleteBucket's fence.
//!
//! Every store operation that appends a record naming a bucket (an object
//! or part commit, a multipart start, completion or abort, a delete, a
//! marker, a tag update) is *admitted* here first and holds its
//! [`Admission`] until its record is applied or has failed. A bucket is
//! admitted only while its incarnation is live in the catalog replica this
//! shard holds (bucket ids are never reused, so a write that resolved a
//! deleted incarnation is refused even if the name exists again) and while
//! no DeleteBucket fences it. A fence stops new admissions and lets the
//! fencing shard wait until the bucket's admitted writes are done: from then
//! on this shard's part of the bucket cannot change, so "empty" is a fact
//! that holds until the fence is lifted or the bucket is gone.
//!
//! Writes blocked on a fence wait (up to [`WRITE_FENCE_WAIT`]): most
//! DeleteBuckets find the bucket not empty and lift the fence within a
//! millisecond, and the write then goes on as if nothing happened. If the
//! bucket is deleted, they answer NoSuchBucket.
//!
//! Everything here runs on the shard's own thread; the counts are plain
//! cells, and admitting a write costs one hash lookup.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::log::Notify;
use super::types::{BucketId, StoreError};

/// Longest a write waits on a DeleteBucket's fence before it answers
/// "busy, retry" (503). A fence normally lasts a millisecond or two; this
/// only bounds the wait when a shard is stuck.
pub const WRITE_FENCE_WAIT: Duration = Duration::from_secs(10);

/// One bucket's admission state on this shard.
#[derive(Debug, Default)]
struct Gate {
    /// In the catalog replica this shard holds.
    live: bool,
    /// Writes admitted and not yet applied or failed.
    in_flight: u32,
    /// Tokens of the DeleteBucket attempts fencing the bucket (almost
    /// always none or one; two when deletes of one bucket overlap).
    fences: Vec<u64>,
}

impl Gate {
    /// Nothing worth remembering: not live, nothing in flight, no fence.
    fn is_idle(&self) -> bool {
        !self.live && self.in_flight == 0 && self.fences.is_empty()
    }
}

#[derive(Default)]
pub(crate) struct BucketGates {
    /// Set once the store follows a catalog (`Store::set_live_buckets`).
    /// Until then every bucket id is live: a store used without a catalog
    /// (unit tests, the benchmark floor, offline tools) has no buckets to
    /// refuse.
    catalog_bound: Cell<bool>,
    gates: RefCell<HashMap<BucketId, Gate>>,
    /// Woken when a fence is lifted, a fenced bucket's last admitted write
    /// ends, or buckets stop being live.
    changed: Notify,
}

/// A write admitted into a bucket; dropping it ends the write's admission.
#[must_use = "the admission covers the write until it is dropped"]
pub(crate) struct Admission {
    gates: Rc<BucketGates>,
    bucket: BucketId,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gates.release(self.bucket);
    }
}

impl BucketGates {
    /// Admits a write into `bucket`, waiting up to `wait` while a
    /// DeleteBucket fences it. NoSuchBucket when the incarnation is not (or
    /// no longer) live here; BucketBusy when the fence outlasts `wait`.
    pub(crate) async fn admit(
        self: &Rc<Self>,
        bucket: BucketId,
        wait: Duration,
    ) -> Result<Admission, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            // Taken before the check, so a change in between is not missed.
            let changed = self.changed.notified();
            if self.try_admit(bucket)? {
                return Ok(Admission {
                    gates: self.clone(),
                    bucket,
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::BucketBusy);
            }
            let _ = monoio::time::timeout(left, changed).await;
        }
    }

    /// Ok(true): admitted and counted; Ok(false): fenced, try again later.
    fn try_admit(&self, bucket: BucketId) -> Result<bool, StoreError> {
        let mut gates = self.gates.borrow_mut();
        let gate = match gates.get_mut(&bucket) {
            Some(g) => g,
            None if self.catalog_bound.get() => return Err(StoreError::NoSuchBucket),
            None => gates.entry(bucket).or_insert(Gate {
                live: true,
                ..Gate::default()
            }),
        };
        if !gate.live {
            return Err(StoreError::NoSuchBucket);
        }
        if !gate.fences.is_empty() {
            return Ok(false);
        }
        gate.in_flight += 1;
        Ok(true)
    }

    fn release(&self, bucket: BucketId) {
        let mut gates = self.gates.borrow_mut();
        let Some(gate) = gates.get_mut(&bucket) else {
            debug_assert!(false, "an admitted bucket lost its gate");
            return;
        };
        debug_assert!(gate.in_flight > 0);
        gate.in_flight -= 1;
        if gate.in_flight == 0 {
            let fenced = !gate.fences.is_empty();
            if gate.is_idle() {
                gates.remove(&bucket);
            }
            if fenced {
                self.changed.notify_all();
            }
        }
    }

    /// Follows the catalog: `live` are its bucket ids, and every id below
    /// `next_id` that it lacks is deleted for good. Returns the buckets that
    /// were live here and are not any more (their index is to be dropped).
    ///
    /// An id at or above `next_id` is a bucket this replica has not seen
    /// created yet: a fence on it is kept (a DeleteBucket of a bucket being
    /// created can reach this shard before the bucket does), so the bucket
    /// starts fenced when it arrives.
    pub(crate) fn set_live(&self, live: &HashSet<BucketId>, next_id: BucketId) -> Vec<BucketId> {
        self.catalog_bound.set(true);
        let mut gates = self.gates.borrow_mut();
        let mut gone = Vec::new();
        gates.retain(|id, gate| {
            if live.contains(id) || *id >= next_id {
                return true;
            }
            if gate.live {
                gone.push(*id);
            }
            // Deleted: its fences are moot (admission now fails anyway).
            gate.live = false;
            gate.fences.clear();
            debug_assert_eq!(gate.in_flight, 0, "bucket {id} deleted under a write");
            !gate.is_idle()
        });
        for id in live {
            gates.entry(*id).or_default().live = true;
        }
        drop(gates);
        if !gone.is_empty() {
            self.changed.notify_all();
        }
        gone
    }

    /// Fences `bucket` for DeleteBucket attempt `token`: no new write is
    /// admitted until `unfence(token)` or the bucket is deleted.
    pub(crate) fn fence(&self, bucket: BucketId, token: u64) {
        let mut gates = self.gates.borrow_mut();
        let gate = gates.entry(bucket).or_insert_with(|| Gate {
            live: !self.catalog_bound.get(),
            ..Gate::default()
        });
        if !gate.fences.contains(&token) {
            gate.fences.push(token);
        }
    }

    /// Lifts attempt `token`'s fence (nothing if it holds none); writes
    /// waiting on it go on unless another attempt fences the bucket too.
    pub(crate) fn unfence(&self, bucket: BucketId, token: u64) {
        let mut gates = self.gates.borrow_mut();
        let Some(gate) = gates.get_mut(&bucket) else {
            return;
        };
        let before = gate.fences.len();
        gate.fences.retain(|t| *t != token);
        let lifted = gate.fences.len() != before;
        if gate.is_idle() {
            gates.remove(&bucket);
        }
        drop(gates);
        if lifted {
            self.changed.notify_all();
        }
    }

    /// Whether any bucket has an admitted write in flight.
    pub(crate) fn any_in_flight(&self) -> bool {
        self.gates.borrow().values().any(|g| g.in_flight > 0)
    }

    /// Waits until no admitted write of `bucket` is in flight; false if
    /// that takes longer than `wait`. Meant for a fenced bucket (else new
    /// writes may keep it busy).
    pub(crate) async fn drained(&self, bucket: BucketId, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let changed = self.changed.notified();
            if self.in_flight(bucket) == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = monoio::time::timeout(left, changed).await;
        }
    }

    fn in_flight(&self, bucket: BucketId) -> u32 {
        self.gates.borrow().get(&bucket).map_or(0, |g| g.in_flight)
    }
}
