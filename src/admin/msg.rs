//! What the management API asks of other shards, as explicit messages: the
//! per-bucket counts every shard holds, each shard's metrics, and the
//! presigned-URL registry that lives on shard 0.

use super::metrics::MetricsSnapshot;
use super::presign::PresignedUrl;
use crate::server::shard::ShardCtx;
use crate::shard::msg::{Reply, ShardMsg};
use crate::store::BucketId;
use futures_channel::oneshot;
use std::collections::HashMap;

/// What one bucket holds (on one shard, or summed over every shard).
#[derive(Clone, Copy, Default, Debug)]
pub struct Usage {
    /// Keys whose current version is an object.
    pub objects: u64,
    /// Bytes of every version, noncurrent ones included.
    pub bytes: u64,
    /// Versions that are not their key's current one.
    pub noncurrent: u64,
}

/// Each bucket's usage on one shard.
pub type BucketCounts = Vec<(BucketId, Usage)>;

pub enum AdminMsg {
    AllBucketStats {
        reply: Reply<BucketCounts>,
    },
    Metrics {
        reply: Reply<MetricsSnapshot>,
    },
    /// The receiving shard's recent intervals, as of the asker's `now`.
    History {
        now: std::time::Instant,
        reply: Reply<Vec<super::history::Interval>>,
    },
    /// One bucket's multipart uploads in progress on the receiving shard.
    Uploads {
        bucket: BucketId,
        reply: Reply<Vec<crate::store::multipart::UploadSummary>>,
    },
    /// To shard 0: remember a generated URL.
    RecordPresigned {
        url: PresignedUrl,
    },
    /// To shard 0: the URLs not yet expired.
    ListPresigned {
        reply: Reply<Vec<PresignedUrl>>,
    },
    Health {
        reply: Reply<ShardHealth>,
    },
    /// Install this copy of the fault rules (validated) unless newer ones
    /// are installed; replies whether it did.
    SetFaults {
        rules: crate::faults::FaultRules,
        version: (std::time::Instant, usize),
        reply: Reply<bool>,
    },
    /// Install this copy of the named rate limits (validated) unless newer
    /// ones are installed; replies whether it did.
    SetRateLimits {
        named: crate::ratelimit::Named,
        version: (std::time::Instant, usize),
        reply: Reply<bool>,
    },
    /// A peer's token bucket ran dry: lend it this shard's unused tokens
    /// of the same bucket; replies how many.
    LendTokens {
        borrow: crate::ratelimit::Borrow,
        reply: Reply<f64>,
    },
}

/// Whether one shard can serve (readiness).
#[derive(Clone, Copy, Debug)]
pub struct ShardHealth {
    pub shard: usize,
    /// Not stopping.
    pub accepting: bool,
    /// Its log has not failed a flush.
    pub writable: bool,
}

impl ShardHealth {
    pub fn of(ctx: &ShardCtx) -> ShardHealth {
        ShardHealth {
            shard: ctx.id,
            accepting: !ctx.stop.is_set(),
            writable: !ctx.store.writes_fenced(),
        }
    }

    pub fn ready(&self) -> bool {
        self.accepting && self.writable
    }

    pub fn reason(&self) -> String {
        match (self.accepting, self.writable) {
            (false, _) => format!("shard {}: stopping", self.shard),
            (true, false) => format!(
                "shard {}: a log flush failed; writes are refused",
                self.shard
            ),
            (true, true) => format!("shard {}: ready", self.shard),
        }
    }
}

/// Runs on the receiving shard.
pub fn handle(ctx: &ShardCtx, msg: AdminMsg) {
    match msg {
        AdminMsg::AllBucketStats { reply } => {
            let _ = reply.send(local_bucket_stats(ctx));
        }
        AdminMsg::Metrics { reply } => {
            let _ = reply.send(ctx.admin.metrics.borrow().snapshot(ctx));
        }
        AdminMsg::History { now, reply } => {
            let _ = reply.send(ctx.admin.metrics.borrow().history(now));
        }
        AdminMsg::Uploads { bucket, reply } => {
            let _ = reply.send(ctx.store.upload_summaries(bucket));
        }
        AdminMsg::RecordPresigned { url } => {
            debug_assert_eq!(ctx.id, 0, "the presigned registry lives on shard 0");
            ctx.admin.presigned.borrow_mut().record(url);
        }
        AdminMsg::ListPresigned { reply } => {
            let now = crate::util::time::unix_now_millis();
            let _ = reply.send(ctx.admin.presigned.borrow_mut().active(now));
        }
        AdminMsg::Health { reply } => {
            let _ = reply.send(ShardHealth::of(ctx));
        }
        AdminMsg::SetFaults {
            rules,
            version,
            reply,
        } => {
            let _ = reply.send(ctx.faults.install(rules, version));
        }
        AdminMsg::SetRateLimits {
            named,
            version,
            reply,
        } => {
            let _ = reply.send(ctx.limits.install(named, version));
        }
        AdminMsg::LendTokens { borrow, reply } => {
            let _ = reply.send(ctx.limits.lend(borrow.kind, &borrow.name));
        }
    }
}

fn local_bucket_stats(ctx: &ShardCtx) -> BucketCounts {
    ctx.store
        .bucket_ids()
        .into_iter()
        .map(|id| {
            let (objects, bytes) = ctx.store.bucket_stats(id);
            let noncurrent = ctx.store.bucket_noncurrent(id);
            (
                id,
                Usage {
                    objects,
                    bytes,
                    noncurrent,
                },
            )
        })
        .collect()
}

/// Asks every other shard with `make`, answers this shard's part with `local`,
/// and returns every reply in shard order. A shard that does not answer is skipped.
async fn gather<T>(
    ctx: &ShardCtx,
    local: impl FnOnce() -> T,
    make: impl Fn(Reply<T>) -> AdminMsg,
) -> Vec<T> {
    let mut waits = Vec::with_capacity(ctx.shards());
    for shard in (0..ctx.shards()).filter(|&s| s != ctx.id) {
        let (tx, rx) = oneshot::channel();
        if ctx.send(shard, ShardMsg::Admin(make(tx))).await.is_ok() {
            waits.push(rx);
        }
    }
    let mut out = vec![local()];
    for rx in waits {
        if let Ok(v) = rx.await {
            out.push(v);
        }
    }
    out
}

/// Usage per bucket id, summed over every shard.
pub async fn bucket_stats_everywhere(ctx: &ShardCtx) -> HashMap<BucketId, Usage> {
    let parts = gather(
        ctx,
        || local_bucket_stats(ctx),
        |reply| AdminMsg::AllBucketStats { reply },
    )
    .await;
    let mut sums: HashMap<BucketId, Usage> = HashMap::new();
    for (id, u) in parts.into_iter().flatten() {
        let e = sums.entry(id).or_default();
        e.objects += u.objects;
        e.bytes += u.bytes;
        e.noncurrent += u.noncurrent;
    }
    sums
}

/// A bucket's multipart uploads in progress, gathered from every shard.
pub async fn uploads_everywhere(
    ctx: &ShardCtx,
    bucket: BucketId,
) -> Vec<crate::store::multipart::UploadSummary> {
    gather(
        ctx,
        || ctx.store.upload_summaries(bucket),
        |reply| AdminMsg::Uploads { bucket, reply },
    )
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Every shard's metrics, in shard order.
pub async fn metrics_everywhere(ctx: &ShardCtx) -> Vec<MetricsSnapshot> {
    gather(
        ctx,
        || ctx.admin.metrics.borrow().snapshot(ctx),
        |reply| AdminMsg::Metrics { reply },
    )
    .await
}

/// The charts' points: every shard's recent intervals, merged.
pub async fn history_everywhere(ctx: &ShardCtx) -> Vec<super::history::Point> {
    let now = std::time::Instant::now();
    let shards = gather(
        ctx,
        || ctx.admin.metrics.borrow().history(now),
        |reply| AdminMsg::History { now, reply },
    )
    .await;
    super::history::merge(&shards, now)
}

/// Every shard's health, in shard order (those that answered).
pub async fn health_everywhere(ctx: &ShardCtx) -> Vec<ShardHealth> {
    gather(
        ctx,
        || ShardHealth::of(ctx),
        |reply| AdminMsg::Health { reply },
    )
    .await
}

/// Gives every shard its own copy of `rules` (validated), made now on this
/// shard; returns how many shards answered.
pub async fn set_faults_everywhere(ctx: &ShardCtx, rules: crate::faults::FaultRules) -> usize {
    let version = (std::time::Instant::now(), ctx.id);
    gather(
        ctx,
        || ctx.faults.install(rules.clone(), version),
        |reply| AdminMsg::SetFaults {
            rules: rules.clone(),
            version,
            reply,
        },
    )
    .await
    .len()
}

/// Gives every shard its own copy of the named rate limits (validated),
/// set now on this shard; returns how many shards answered.
pub async fn set_rate_limits_everywhere(ctx: &ShardCtx, named: crate::ratelimit::Named) -> usize {
    let version = (std::time::Instant::now(), ctx.id);
    gather(
        ctx,
        || ctx.limits.install(named.clone(), version),
        |reply| AdminMsg::SetRateLimits {
            named: named.clone(),
            version,
            reply,
        },
    )
    .await
    .len()
}

/// Asks every other shard to lend the unused tokens of each bucket in
/// `wanted`, and credits them here. One ask per bucket at a time, answered
/// directly by each peer (no nested calls).
pub async fn borrow_tokens(ctx: std::rc::Rc<ShardCtx>, wanted: Vec<crate::ratelimit::Borrow>) {
    for borrow in wanted {
        let mut lent = 0.0;
        for shard in (0..ctx.shards()).filter(|&s| s != ctx.id) {
            let (tx, rx) = oneshot::channel();
            let msg = AdminMsg::LendTokens {
                borrow: borrow.clone(),
                reply: tx,
            };
            if ctx.send(shard, ShardMsg::Admin(msg)).await.is_ok() {
                lent += rx.await.unwrap_or(0.0);
            }
        }
        ctx.limits.credit(borrow.kind, &borrow.name, lent);
    }
}

/// Records a generated URL in shard 0's registry.
pub async fn record_presigned(ctx: &ShardCtx, url: PresignedUrl) {
    if ctx.id == 0 {
        ctx.admin.presigned.borrow_mut().record(url);
    } else {
        let _ = ctx
            .send(0, ShardMsg::Admin(AdminMsg::RecordPresigned { url }))
            .await;
    }
}

/// The presigned URLs that have not expired, from shard 0's registry.
pub async fn active_presigned(ctx: &ShardCtx) -> Vec<PresignedUrl> {
    let now = crate::util::time::unix_now_millis();
    if ctx.id == 0 {
        return ctx.admin.presigned.borrow_mut().active(now);
    }
    let (tx, rx) = oneshot::channel();
    if ctx
        .send(0, ShardMsg::Admin(AdminMsg::ListPresigned { reply: tx }))
        .await
        .is_err()
    {
        return Vec::new();
    }
    rx.await.unwrap_or_default()
}
