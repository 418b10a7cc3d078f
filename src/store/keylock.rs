//! Per-key ordering of mutations (commits, deletes) on one shard.
//!
//! Unconditional writes of a key take the key in **shared** mode: any number
//! may be in flight at once and share one group commit. Their order is the
//! log sequence number of their Commit/Delete record, the order recovery
//! replays, so the last record in the log wins (S3's last-writer-wins). A
//! write of the `null` version that finds a newer record of that version
//! already applied is *stale*: it is acknowledged (it was durable and then
//! overwritten) but changes nothing. Writes of other versions (versioned
//! buckets) each add their own version, placed by order (index.rs).
//!
//! Read-check-write mutations (conditional PUTs and completions, tag updates,
//! upload aborts, compaction's moves) take the key **exclusively**. Why that
//! keeps If-None-Match / If-Match atomic: an exclusive holder is admitted only
//! when no shared holder is in flight, and while it holds or waits for the
//! key no new shared holder is admitted. A shared holder registers *before*
//! it appends its Commit/Delete record and stays registered until that
//! record is applied (or failed). So when the condition is checked, every
//! earlier record of the key is already in the index, and no record of the
//! key can get a sequence number between the check and the exclusive
//! holder's own record: in sequence order (what the index shows and what
//! recovery rebuilds) its record directly follows the state it checked.
//! Waiting exclusive holders block new shared ones (writer preference), so a
//! stream of overwrites cannot starve a conditional write.
//!
//! Waiters wait on their own key's `Notify`; `any_released` is for
//! checkpoint and compaction, which wait for a moment with nothing in flight.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::log::Notify;
use super::types::BucketId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMode {
    /// Unconditional commit or delete: ordered by sequence number.
    Shared,
    /// Read-check-write: nothing else of the key in flight.
    Exclusive,
}

type Key = (BucketId, String);

#[derive(Default)]
struct KeyState {
    shared: u32,
    exclusive: bool,
    exclusive_waiting: u32,
    /// Highest sequence number of a record of this key applied to the index
    /// while this state existed.
    applied_seq: u64,
    /// The same, for records that put or remove the key's `null` version
    /// (a Delete leaves no index entry to compare with).
    applied_null_seq: u64,
    released: Rc<Notify>,
}

impl KeyState {
    fn is_unused(&self) -> bool {
        self.shared == 0 && !self.exclusive && self.exclusive_waiting == 0
    }
}

#[derive(Default)]
pub(crate) struct KeyLocks {
    keys: RefCell<HashMap<Key, KeyState>>,
    /// Signalled whenever any key is released.
    pub(crate) any_released: Notify,
}

impl KeyLocks {
    /// Whether no mutation of any key is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.keys.borrow().is_empty()
    }

    pub(crate) async fn lock(
        self: &Rc<Self>,
        bucket: BucketId,
        key: &str,
        mode: KeyMode,
    ) -> KeyGuard {
        let k: Key = (bucket, key.to_string());
        let mut waiting: Option<WaitingExclusive> = None;
        loop {
            let released = {
                let mut keys = self.keys.borrow_mut();
                let st = keys.entry(k.clone()).or_default();
                let admitted = match mode {
                    KeyMode::Shared => !st.exclusive && st.exclusive_waiting == 0,
                    KeyMode::Exclusive => !st.exclusive && st.shared == 0,
                };
                if admitted {
                    if let Some(w) = waiting.take() {
                        w.disarm();
                        st.exclusive_waiting -= 1;
                    }
                    match mode {
                        KeyMode::Shared => st.shared += 1,
                        KeyMode::Exclusive => st.exclusive = true,
                    }
                    return KeyGuard {
                        locks: self.clone(),
                        key: k,
                        mode,
                    };
                }
                if mode == KeyMode::Exclusive && waiting.is_none() {
                    st.exclusive_waiting += 1;
                    waiting = Some(WaitingExclusive {
                        locks: self.clone(),
                        key: Some(k.clone()),
                    });
                }
                st.released.clone()
            };
            // No await between the check above and taking the epoch here, so
            // a release in between is impossible (one thread, one task).
            released.notified().await;
        }
    }

    /// Applies `f` to the key's state, then drops the state if unused and
    /// wakes whoever may now proceed.
    fn update(&self, k: &Key, f: impl FnOnce(&mut KeyState) -> bool) {
        let (wake, notify) = {
            let mut keys = self.keys.borrow_mut();
            let Some(st) = keys.get_mut(k) else {
                debug_assert!(false, "key state missing for a holder");
                return;
            };
            let wake = f(st);
            let notify = st.released.clone();
            if st.is_unused() {
                keys.remove(k);
            }
            (wake, notify)
        };
        if wake {
            notify.notify_all();
        }
        self.any_released.notify_all();
    }
}

/// Counts a waiting exclusive holder; uncounts it if the wait is abandoned
/// (the future dropped), so shared holders are not blocked forever.
struct WaitingExclusive {
    locks: Rc<KeyLocks>,
    key: Option<Key>,
}

impl WaitingExclusive {
    fn disarm(mut self) {
        self.key = None;
    }
}

impl Drop for WaitingExclusive {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.locks.update(&k, |st| {
                debug_assert!(st.exclusive_waiting > 0);
                st.exclusive_waiting -= 1;
                // Shared waiters may proceed once no exclusive holder waits.
                st.exclusive_waiting == 0
            });
        }
    }
}

/// A held key. Dropping it releases the key.
pub(crate) struct KeyGuard {
    locks: Rc<KeyLocks>,
    key: Key,
    mode: KeyMode,
}

impl KeyGuard {
    /// Records that this holder's record at `seq` is about to be applied to
    /// the index. A record of the `null` version (`null_version`) is stale
    /// when a newer record of that version was applied already: the
    /// caller then leaves the index alone (last writer wins), which is what
    /// replaying the log in sequence order does. Records of other versions
    /// are never stale here: their order decides where they go (index.rs).
    pub(crate) fn newest(&self, seq: u64, null_version: bool) -> bool {
        let mut keys = self.locks.keys.borrow_mut();
        let Some(st) = keys.get_mut(&self.key) else {
            debug_assert!(false, "key state missing for a holder");
            return false;
        };
        debug_assert!(
            self.mode == KeyMode::Shared || seq > st.applied_seq,
            "an exclusive holder's record is the newest of its key"
        );
        debug_assert_ne!(seq, st.applied_seq, "one record applied twice");
        st.applied_seq = st.applied_seq.max(seq);
        if !null_version {
            return true;
        }
        if seq < st.applied_null_seq {
            return false;
        }
        st.applied_null_seq = seq;
        true
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let mode = self.mode;
        self.locks.update(&self.key, |st| match mode {
            KeyMode::Shared => {
                debug_assert!(st.shared > 0 && !st.exclusive);
                st.shared -= 1;
                // The last shared holder gone: a waiting exclusive one may enter.
                st.shared == 0 && st.exclusive_waiting > 0
            }
            KeyMode::Exclusive => {
                debug_assert!(st.exclusive && st.shared == 0);
                st.exclusive = false;
                // Shared waiters, or the next exclusive one, may enter.
                true
            }
        });
    }
}
