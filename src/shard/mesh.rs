//! The cross-shard mesh: one bounded queue per ordered pair of shards.
//!
//! Each shard receives from N-1 inbound queues and holds a sender to every
//! peer. Messages are plain values (`ShardMsg`); bodies travel as `Bytes`
//! over per-request bounded channels, so nothing is copied between cores.
//! The queues are futures-channel bounded MPSC queues; monoio's `sync`
//! feature lets a waker from another thread unpark the receiving shard.

use super::msg::ShardMsg;
use futures_channel::mpsc;

/// Messages that may wait in one pair's queue before senders are parked.
pub const MESH_QUEUE_DEPTH: usize = 256;
/// Body pieces in flight per forwarded request (each ≤ one socket read).
pub const BODY_CHANNEL_DEPTH: usize = 4;

/// One shard's ends of the mesh.
pub struct MeshLinks {
    /// `senders[p]` reaches shard p; None for this shard itself.
    pub senders: Vec<Option<mpsc::Sender<ShardMsg>>>,
    /// Inbound queues, one per peer.
    pub receivers: Vec<mpsc::Receiver<ShardMsg>>,
}

/// Builds the full mesh for `n` shards: `result[i]` belongs to shard i.
pub fn build_mesh(n: usize) -> Vec<MeshLinks> {
    let mut links: Vec<MeshLinks> = (0..n)
        .map(|_| MeshLinks {
            senders: (0..n).map(|_| None).collect(),
            receivers: Vec::new(),
        })
        .collect();
    for from in 0..n {
        for to in 0..n {
            if from == to {
                continue;
            }
            let (tx, rx) = mpsc::channel(MESH_QUEUE_DEPTH);
            links[from].senders[to] = Some(tx);
            links[to].receivers.push(rx);
        }
    }
    debug_assert!(links.iter().all(|l| l.receivers.len() == n - 1));
    links
}
