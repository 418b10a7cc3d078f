use super::*;
use md5::Digest;
use proptest::prelude::*;

fn run<F: std::future::Future>(f: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn reference(m: &[u8]) -> [u8; 16] {
    md5::Md5::digest(m).into()
}

fn body(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + seed * 7 + 3) as u8).collect()
}

/// One task per body that feeds it whole and awaits its digest, all
/// spawned in one turn.
fn spawn_whole_bodies(
    batcher: &Rc<Md5Batcher>,
    bodies: &[Vec<u8>],
) -> Vec<monoio::task::JoinHandle<[u8; 16]>> {
    bodies
        .iter()
        .map(|b| {
            let mut s = batcher.open();
            s.feed(Bytes::copy_from_slice(b));
            monoio::spawn(s.finish())
        })
        .collect()
}

/// A batcher with its hashing task running on the current runtime.
fn running_batcher() -> Rc<Md5Batcher> {
    let batcher = Md5Batcher::new();
    monoio::spawn(batcher.clone().run());
    batcher
}

/// A running batcher that hashes several ready streams in lanes on every
/// host (a host without AVX-512 would hash each alone): for the tests of
/// how lanes are filled.
fn running_lane_batcher() -> Rc<Md5Batcher> {
    let batcher = Md5Batcher::in_lanes_on_any_host();
    monoio::spawn(batcher.clone().run());
    batcher
}

#[test]
fn sixteen_bodies_fed_in_one_turn_share_every_kernel_step() {
    run(async {
        let batcher = running_lane_batcher();
        let bodies: Vec<Vec<u8>> = (0..LANES).map(|i| body(i, 4096)).collect();
        // Like request tasks woken in one turn: each feeds its body and
        // awaits the digest.
        let tasks = spawn_whole_bodies(&batcher, &bodies);
        let mut digests = Vec::new();
        for t in tasks {
            digests.push(t.await);
        }
        for (d, b) in digests.iter().zip(&bodies) {
            assert_eq!(*d, reference(b));
        }
        // 64 data blocks and one padding block each, all sixteen in step.
        let stats = batcher.stats();
        assert_eq!(stats.lane_blocks, 16 * 65);
        assert_eq!(stats.steps, 65, "{stats:?}");
    });
}

#[test]
fn a_dropped_stream_frees_its_slot_and_disturbs_nobody() {
    run(async {
        let batcher = running_batcher();
        let kept = body(1, 10_000);
        let mut a = batcher.open();
        let mut b = batcher.open();
        a.feed(Bytes::copy_from_slice(&kept[..5000]));
        b.feed(Bytes::from(body(2, 7000)));
        drop(b); // queued in `ready`, abandoned
        a.feed(Bytes::copy_from_slice(&kept[5000..]));
        assert_eq!(a.finish().await, reference(&kept));
        // Both slots are free again and reused.
        let inner = batcher.inner.borrow();
        assert_eq!(inner.free.len(), 2);
        assert!(inner.ready.is_empty());
    });
}

#[test]
fn caught_up_bounds_the_backlog() {
    run(async {
        let batcher = running_batcher();
        let whole = body(3, 3 * MAX_BACKLOG_BYTES + 17);
        let mut s = batcher.open();
        for piece in whole.chunks(64 * 1024 + 5) {
            s.feed(Bytes::copy_from_slice(piece));
            if s.backlog() > MAX_BACKLOG_BYTES {
                s.caught_up().await;
                assert!(s.backlog() < RESUME_BACKLOG_BYTES);
            }
        }
        assert_eq!(s.finish().await, reference(&whole));
    });
}

#[test]
fn empty_body_has_the_md5_of_nothing() {
    run(async {
        let batcher = running_batcher();
        let s = batcher.open();
        assert_eq!(
            crate::util::hex::encode(&s.finish().await),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Up to 40 concurrent bodies (more than the lanes), split at random
    /// points, fed in random interleavings with the hashing task running in
    /// between: every digest equals MD5 of its body.
    #[test]
    fn interleaved_streams_match_md5(
        lens in proptest::collection::vec(0usize..20_000, 1..40),
        cuts in proptest::collection::vec(1usize..9000, 1..200),
        order in proptest::collection::vec(0usize..1000, 1..400),
    ) {
        let bodies: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, &n)| body(i, n)).collect();
        // The host's batcher, lanes (on the host's kernel) and every stream alone.
        for way in ["detected", "lanes", "alone"] {
        let digests = run(async {
            let batcher = match way {
                "detected" => Md5Batcher::new(),
                "lanes" => Md5Batcher::in_lanes_on_any_host(),
                _ => Md5Batcher::with_kernel(Kernel::Scalar),
            };
            monoio::spawn(batcher.clone().run());
            let mut streams: Vec<(Md5Stream, usize)> = bodies.iter().map(|_| (batcher.open(), 0)).collect();
            let mut cut = cuts.iter().cycle();
            let mut turn = order.iter().cycle();
            loop {
                let unfinished = |i: usize, at: usize| at < bodies[i].len();
                let Some(first) = (0..streams.len()).find(|&i| unfinished(i, streams[i].1)) else {
                    break;
                };
                // A random stream, or the first unfinished one if it is done.
                let pick = turn.next().copied().unwrap_or(0) % streams.len();
                let i = if unfinished(pick, streams[pick].1) { pick } else { first };
                let (s, at) = &mut streams[i];
                let n = (*cut.next().unwrap_or(&1)).min(bodies[i].len() - *at);
                s.feed(Bytes::copy_from_slice(&bodies[i][*at..*at + n]));
                *at += n;
                if i % 3 == 0 {
                    yield_now().await;
                }
            }
            let mut out = Vec::new();
            for (s, _) in streams {
                out.push(s.finish().await);
            }
            out
        });
        for (d, b) in digests.iter().zip(&bodies) {
            prop_assert_eq!(*d, reference(b), "{}", way);
        }
        }
    }
}

#[test]
fn a_lone_stream_is_hashed_by_the_scalar_code_straight_from_its_pieces() {
    run(async {
        let batcher = running_batcher();
        // Pieces that do and do not end on a block boundary.
        let whole = body(9, 5 * 64 * 1024 + 1000);
        let mut s = batcher.open();
        for piece in [
            &whole[..64 * 1024],
            &whole[64 * 1024..100_003],
            &whole[100_003..],
        ] {
            s.feed(Bytes::copy_from_slice(piece));
        }
        assert_eq!(s.finish().await, reference(&whole));
        // Every block was one step with one lane busy: data plus one padding block.
        let stats = batcher.stats();
        assert_eq!(stats.steps, whole.len() as u64 / 64 + 1);
        assert_eq!(stats.lane_blocks, stats.steps);
    });
}

#[test]
fn inline_streams_hash_without_the_task() {
    run(async {
        // No hashing task is spawned: inline streams must not need one.
        let batcher = Md5Batcher::inline();
        let whole = body(4, 70_001);
        let mut s = batcher.open();
        for piece in whole.chunks(9_999) {
            s.feed(Bytes::copy_from_slice(piece));
            assert_eq!(s.backlog(), 0);
        }
        assert_eq!(s.finish().await, reference(&whole));
        assert_eq!(batcher.stats(), Md5BatchStats::default());
    });
}

/// Lets the hashing task (and anything else woken) run a few times. The
/// yields happen in a spawned task the caller awaits: monoio polls a
/// self-waking `block_on` future again before any spawned task.
async fn settle_down() {
    monoio::spawn(async {
        for _ in 0..8 {
            yield_now().await;
        }
    })
    .await
}

#[test]
fn bodies_wait_for_company_until_someone_needs_a_digest() {
    run(async {
        let batcher = running_lane_batcher();
        let bodies: Vec<Vec<u8>> = (0..5).map(|i| body(i, 10_000 + i)).collect();
        let mut streams: Vec<Md5Stream> = bodies.iter().map(|_| batcher.open()).collect();
        for (s, b) in streams.iter_mut().zip(&bodies) {
            s.feed(Bytes::copy_from_slice(b));
        }
        settle_down().await;
        // Five streams, nobody waiting, far under the shard's cap: no work yet.
        assert_eq!(batcher.stats(), Md5BatchStats::default());
        let finishing: Vec<_> = streams
            .into_iter()
            .map(|s| monoio::spawn(s.finish()))
            .collect();
        for (t, b) in finishing.into_iter().zip(&bodies) {
            assert_eq!(t.await, reference(b));
        }
        // All five were hashed side by side.
        let stats = batcher.stats();
        assert_eq!(stats.steps, 10_004 / 64 + 1, "{stats:?}");
    });
}

#[test]
fn a_lane_whose_stream_runs_dry_is_refilled_in_the_same_round() {
    run(async {
        let batcher = running_lane_batcher();
        // 48 bodies of very different lengths, all waited on at once.
        let bodies: Vec<Vec<u8>> = (0..48)
            .map(|i| body(i, 500 + (i * 7919) % 60_000))
            .collect();
        let tasks = spawn_whole_bodies(&batcher, &bodies);
        for (t, b) in tasks.into_iter().zip(&bodies) {
            assert_eq!(t.await, reference(b));
        }
        let stats = batcher.stats();
        let blocks: u64 = bodies.iter().map(|b| (b.len() as u64 + 8) / 64 + 1).sum();
        assert_eq!(stats.lane_blocks, blocks);
        // Sixteen lanes stay busy until the ready queue runs out (11.7 here;
        // the tail, when the last long bodies run alone, is what remains).
        // Hashing them sixteen at a time, each group until its longest ends,
        // keeps 8.0 busy on these lengths.
        let mean_busy = stats.lane_blocks as f64 / stats.steps as f64;
        assert!(
            mean_busy > 11.0,
            "mean lanes busy {mean_busy:.2} ({stats:?})"
        );
    });
}

#[test]
fn more_than_the_shards_cap_is_hashed_without_anyone_waiting() {
    run(async {
        let batcher = running_batcher();
        let piece = Bytes::from(body(5, 1 << 20));
        let mut streams: Vec<Md5Stream> = (0..8).map(|_| batcher.open()).collect();
        // 8 streams (fewer than the lanes) of up to 3 MiB each: 24 MiB fed.
        for _ in 0..3 {
            for s in &mut streams {
                s.feed(piece.clone());
            }
        }
        settle_down().await;
        let queued = batcher.inner.borrow().queued;
        assert!(
            queued <= MAX_QUEUED_BYTES,
            "{queued} bytes still queued {:?}",
            batcher.stats()
        );
        assert!(batcher.stats().steps > 0);
        let whole: Vec<u8> = [&piece[..], &piece[..], &piece[..]].concat();
        for s in streams {
            assert_eq!(s.finish().await, reference(&whole));
        }
    });
}

#[test]
fn a_dropped_finish_releases_its_claim_on_the_worker() {
    run(async {
        let batcher = Md5Batcher::new();
        let mut s = batcher.open();
        s.feed(Bytes::from(body(6, 1000)));
        // No hashing task: the finish stays pending, then its request goes away.
        let mut finish = Box::pin(s.finish());
        let waker = std::task::Waker::noop();
        let pending =
            std::future::Future::poll(finish.as_mut(), &mut std::task::Context::from_waker(waker));
        assert!(pending.is_pending());
        assert_eq!(batcher.inner.borrow().urgent, 1);
        drop(finish);
        let inner = batcher.inner.borrow();
        assert_eq!((inner.urgent, inner.queued), (0, 0));
        assert!(!inner.should_run(), "the worker would spin for nobody");
    });
}

/// A body fed one byte per piece (a client sending one byte per TCP
/// segment) is not kept as one `Bytes` per byte while it waits to be
/// hashed, and still hashes to its MD5.
#[test]
fn one_byte_pieces_are_merged_while_queued() {
    run(async {
        let batcher = running_batcher();
        let data = body(5, 200_000);
        let mut s = batcher.open();
        for b in &data {
            s.feed(Bytes::copy_from_slice(std::slice::from_ref(b)));
        }
        let Way::Batched(b) = &s.0 else {
            panic!("a batching batcher opens batched streams");
        };
        let queued = batcher.inner.borrow().slots[b.id].queue.len();
        let bound = crate::util::pieces::max_pieces(s.backlog());
        assert!(
            queued <= bound,
            "{queued} pieces queued for {} bytes",
            s.backlog()
        );
        assert_eq!(s.finish().await, reference(&data));
    });
}
