//! Deletes that find no room wait a moment for compaction to free some.
//!
//! Compaction may copy into the reserve kept for deletes (space.rs): while
//! it copies, a running compaction lends deletes what it will not use, but
//! one cut short by a crash leaves its copies behind until it runs again
//! after the restart, and for that moment a delete marker or abort can
//! find less room than its floor. S3 accepts every DELETE; so a delete,
//! marker or abort refused for room is tried again, with no key lock held
//! (compaction needs the keys quiet to free a segment), while compaction
//! can still free a segment, for at most `DELETE_ROOM_WAIT_MS`.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{compaction, Store, StoreError};

/// How long a delete refused for room keeps waiting for compaction. Above
/// the compactor's poll interval and a round of a full segment's scan.
pub const DELETE_ROOM_WAIT_MS: u64 = 5_000;
/// How often a waiting delete tries again.
const DELETE_ROOM_RETRY_MS: u64 = 50;

impl Store {
    /// Runs `attempt` (a delete, a delete marker or an abort, each taking
    /// and dropping its own locks) until it does not fail for room, or no
    /// compaction could free any, or the wait is over.
    pub(crate) async fn retry_for_room<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let deadline = Instant::now() + Duration::from_millis(DELETE_ROOM_WAIT_MS);
        loop {
            match attempt().await {
                Err(StoreError::NoSpace)
                    if Instant::now() < deadline && self.compaction_may_free() =>
                {
                    monoio::time::sleep(Duration::from_millis(DELETE_ROOM_RETRY_MS)).await;
                }
                done => return done,
            }
        }
    }

    /// Whether a compaction runs now or has a segment it could take.
    fn compaction_may_free(&self) -> bool {
        self.inner.log.space().compaction_running() || compaction::pick(self).is_some()
    }
}
