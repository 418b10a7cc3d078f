//! DeleteBucket across shards. A bucket's objects live on the shards that
//! own their keys, so "the bucket is empty" is a question to every shard,
//! and no write may slip in between the answer and the catalog change:
//!
//! 1. Shard 0, which owns the catalog, fences the bucket on every shard
//!    (`Store::fence_bucket`): new writes into it wait, the shard waits for
//!    the ones already admitted and answers Empty, NotEmpty or Busy.
//! 2. Empty everywhere: the catalog change is applied, persisted and
//!    installed on every shard before DeleteBucket is answered; each shard
//!    drops the bucket as it installs the change, and the writes waiting on
//!    the fence find the incarnation gone (NoSuchBucket).
//! 3. Otherwise every fence is lifted and the waiting writes go on as if
//!    nothing happened: BucketNotEmpty, or 503 when a shard was too slow.
//!
//! Every exit but a persisted delete lifts the fences, an error or a
//! dropped future included ([`Fences`]' Drop), and every wait is bounded.
//! A fence and its lifting travel on the same mesh queue, in that order,
//! and a shard sets a fence when the message arrives (not in a task that
//! runs later), so a lifting never overtakes its fence.

use super::shard::ShardCtx;
use crate::catalog::CatalogError;
use crate::shard::msg::ShardMsg;
use crate::store::{BucketFence, BucketId, Store};
use futures_channel::{mpsc, oneshot};
use futures_util::SinkExt;
use std::time::{Duration, Instant};

/// Longest a shard waits for the writes admitted before its fence.
pub const FENCE_DRAIN_WAIT: Duration = Duration::from_secs(5);
/// Longest shard 0 waits for a shard's answer to the fence: its drain, and
/// time for the messages.
const FENCE_ANSWER_WAIT: Duration = Duration::from_secs(6);

/// The fences of one DeleteBucket attempt; lifted on drop unless the
/// bucket was deleted ([`Fences::keep`]).
pub(super) struct Fences {
    pub bucket: BucketId,
    token: u64,
    store: Store,
    peers: Vec<mpsc::Sender<ShardMsg>>,
    lift_on_drop: bool,
}

impl Fences {
    /// The bucket's deletion is persisted: the catalog change, installed
    /// on each shard, makes the fences moot there. Lifting them earlier
    /// would let a write into the bucket in before that.
    pub fn keep(mut self) {
        self.lift_on_drop = false;
    }
}

impl Drop for Fences {
    fn drop(&mut self) {
        if !self.lift_on_drop {
            return;
        }
        self.store.unfence_bucket(self.bucket, self.token);
        for mut peer in self.peers.drain(..) {
            let lift = ShardMsg::UnfenceBucket {
                bucket: self.bucket,
                token: self.token,
            };
            match peer.try_send(lift) {
                Ok(()) => {}
                Err(e) if e.is_full() => {
                    let lift = e.into_inner();
                    monoio::spawn(async move {
                        let _ = peer.send(lift).await;
                    });
                }
                // The shard is gone, and its fence with it.
                Err(_) => {}
            }
        }
    }
}

/// Fences the bucket `name` names on every shard and checks that it is
/// empty everywhere. Ok: empty, and no write can enter it until the
/// returned fences are dropped. Runs on shard 0.
pub(super) async fn fence_empty_bucket(ctx: &ShardCtx, name: &str) -> Result<Fences, CatalogError> {
    debug_assert_eq!(ctx.id, 0, "only the catalog's owner deletes buckets");
    let bucket = ctx
        .with_catalog(|c| c.bucket(name).map(|b| b.id))
        .ok_or(CatalogError::NoSuchBucket)?;
    let token = ctx.next_fence_token();
    let peers: Vec<_> = (0..ctx.shards())
        .filter(|&s| s != ctx.id)
        .filter_map(|s| ctx.peer(s))
        .collect();
    let fences = Fences {
        bucket,
        token,
        store: ctx.store.clone(),
        peers,
        lift_on_drop: true,
    };
    let deadline = Instant::now() + FENCE_ANSWER_WAIT;
    let mut waits = Vec::with_capacity(ctx.shards());
    for shard in (0..ctx.shards()).filter(|&s| s != ctx.id) {
        let (reply, rx) = oneshot::channel();
        let fence = ShardMsg::FenceBucket {
            bucket,
            token,
            reply,
        };
        if ctx.send(shard, fence).await.is_err() {
            return Err(busy("a shard stopped answering"));
        }
        waits.push(rx);
    }
    let mut answers = vec![
        ctx.store
            .fence_bucket(bucket, token, FENCE_DRAIN_WAIT)
            .await,
    ];
    for rx in waits {
        let left = deadline.saturating_duration_since(Instant::now());
        let answer = match monoio::time::timeout(left, rx).await {
            Ok(Ok(a)) => a,
            _ => BucketFence::Busy,
        };
        answers.push(answer);
    }
    verdict(&answers)?;
    Ok(fences)
}

/// All shards' answers as one: not empty anywhere decides; then a shard
/// that could not tell.
fn verdict(answers: &[BucketFence]) -> Result<(), CatalogError> {
    if answers.contains(&BucketFence::NotEmpty) {
        return Err(CatalogError::BucketNotEmpty);
    }
    if answers.contains(&BucketFence::Busy) {
        return Err(busy("writes into the bucket did not finish in time"));
    }
    debug_assert!(answers.iter().all(|a| *a == BucketFence::Empty));
    Ok(())
}

fn busy(why: &str) -> CatalogError {
    CatalogError::Busy(format!(
        "DeleteBucket could not complete: {why}; please retry"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use BucketFence::*;

    #[test]
    fn one_non_empty_shard_decides_and_busy_comes_next() {
        assert!(verdict(&[Empty, Empty]).is_ok());
        assert!(matches!(
            verdict(&[Empty, Busy, NotEmpty]),
            Err(CatalogError::BucketNotEmpty)
        ));
        assert!(matches!(
            verdict(&[Busy, Empty]),
            Err(CatalogError::Busy(_))
        ));
    }
}
