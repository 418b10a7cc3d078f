//! Cross-shard hop round trip: a message through the mesh queue to another
//! shard thread (its own monoio runtime) and the oneshot reply back — the
//! fixed cost every request pays when its key lives on another shard. The
//! peer answers without touching a store, so only the hop is measured.
//!
//! `hop_round_trip` sends one message at a time, so both threads park between
//! hops (the worst case: two cross-thread wake-ups per hop);
//! `hop_batch_32` keeps 32 in flight, as 32 connections do, and reports the
//! time per hop. `hop_round_trip_spin` is the first with both runtimes
//! spinning before they park (`--idle-spin-us 200`, `shard::spin`), as a
//! lightly loaded server's shards do: no thread sleeps, so no wake-ups.

use criterion::{criterion_group, criterion_main, Criterion};
use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use ringstore::shard::mesh::build_mesh;
use ringstore::shard::msg::ShardMsg;
use ringstore::shard::runtime::{block_on, block_on_spinning};
use ringstore::shard::spin::note_activity;
use std::time::{Duration, Instant};

/// One round trip: a Delete to shard 1 and its reply.
async fn hop(tx: &mut mpsc::Sender<ShardMsg>) {
    let (reply, answer) = oneshot::channel();
    let msg = ShardMsg::Delete {
        bucket: 1,
        key: String::new(),
        version_id: None,
        reply,
    };
    tx.send(msg).await.expect("peer alive");
    answer.await.expect("peer replies").expect("no store error");
}

/// A peer shard on its own thread answering every Delete; `spin` as in
/// `--idle-spin-us` (zero: it parks as soon as it is idle).
fn spawn_peer(spin: Duration) -> (mpsc::Sender<ShardMsg>, std::thread::JoinHandle<()>) {
    let mut links = build_mesh(2);
    let peer = links.pop().expect("shard 1");
    let mut me = links.pop().expect("shard 0");
    let tx = me.senders[1].take().expect("0 → 1");
    let thread = std::thread::spawn(move || {
        let mut inbound = peer.receivers;
        block_on_spinning(spin, move || async move {
            while let Some(msg) = inbound[0].next().await {
                note_activity();
                if let ShardMsg::Delete { reply, .. } = msg {
                    let _ = reply.send(Ok(Default::default()));
                }
            }
        })
        .expect("peer runtime");
    });
    (tx, thread)
}

fn bench_hop(c: &mut Criterion) {
    let (tx, server) = spawn_peer(Duration::ZERO);
    c.bench_function("mesh/hop_round_trip", |b| {
        b.iter_custom(|iters| {
            let mut tx = tx.clone();
            block_on(move || async move {
                let start = Instant::now();
                for _ in 0..iters {
                    hop(&mut tx).await;
                }
                start.elapsed()
            })
            .unwrap_or(Duration::ZERO)
        })
    });
    c.bench_function("mesh/hop_batch_32", |b| {
        b.iter_custom(|iters| {
            let tx = tx.clone();
            block_on(move || async move {
                const DEPTH: u64 = 32;
                let start = Instant::now();
                let waits: Vec<_> = (0..DEPTH)
                    .map(|lane| {
                        let mut tx = tx.clone();
                        let share = iters / DEPTH + u64::from(lane < iters % DEPTH);
                        monoio::spawn(async move {
                            for _ in 0..share {
                                hop(&mut tx).await;
                            }
                        })
                    })
                    .collect();
                for w in waits {
                    w.await;
                }
                start.elapsed()
            })
            .unwrap_or(Duration::ZERO)
        })
    });
    drop(tx);
    server.join().expect("peer thread");

    let spin = Duration::from_micros(200);
    let (tx, server) = spawn_peer(spin);
    c.bench_function("mesh/hop_round_trip_spin", |b| {
        b.iter_custom(|iters| {
            let mut tx = tx.clone();
            block_on_spinning(spin, move || async move {
                let start = Instant::now();
                for _ in 0..iters {
                    note_activity();
                    hop(&mut tx).await;
                }
                start.elapsed()
            })
            .unwrap_or(Duration::ZERO)
        })
    });
    drop(tx);
    server.join().expect("peer thread");
}

criterion_group!(benches, bench_hop);
criterion_main!(benches);
