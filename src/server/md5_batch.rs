//! The shard's MD5 service: every PUT, UploadPart and copy body is hashed
//! for its ETag, and concurrent bodies are hashed together, one SIMD lane
//! each (`auth::md5_lanes`, up to [`LANES`] per kernel step).
//!
//! A request opens an [`Md5Stream`], feeds it the body pieces as they
//! arrive (a reference-counted `Bytes`, no copy) and awaits
//! [`Md5Stream::finish`]. Feeding only queues the piece. The shard's hashing
//! task runs when someone waits for a stream (`finish`, or a feeder over
//! [`MAX_BACKLOG_BYTES`] in [`Md5Stream::caught_up`]), when [`LANES`]
//! streams have blocks queued, or when the shard holds more than
//! [`MAX_QUEUED_BYTES`] unhashed. So a body's blocks wait for company while
//! nobody needs its digest, and lanes stay full: a lane whose stream runs
//! dry is refilled from the ready queue within the same round, and a round
//! that nobody waits for stops once fewer than [`MIN_BUSY_LANES`] are busy.
//! A stream holds a lane for at most [`SLICE_BLOCKS`], then goes to the back
//! of the ready queue. Blocks are read where they lie in the received bytes; only a block that
//! straddles two pieces is gathered (into the stream's partial block).
//! A lone stream is hashed by the scalar code, which beats one busy lane of
//! the vector kernel.
//!
//! Limits: a round advances at most [`MAX_STEPS_PER_ROUND`] kernel steps and
//! the task yields to the event loop after [`MAX_ROUNDS_PER_TURN`] rounds.

use crate::auth::md5_lanes::{
    compress_lanes, compress_scalar, Kernel, LaneBlocks, LaneState, LaneWords, BLOCK, IDLE_BLOCK,
    LANES,
};
use crate::util::pieces::merge_small;
use crate::util::yield_now::yield_now;
use bytes::{Buf, Bytes};
use md5::Digest;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Bytes a stream may have queued, unhashed, before its feeder waits
/// (until the backlog is under [`RESUME_BACKLOG_BYTES`]).
pub const MAX_BACKLOG_BYTES: usize = 1024 * 1024;
/// A feeder waiting in [`Md5Stream::caught_up`] resumes below this.
pub const RESUME_BACKLOG_BYTES: usize = MAX_BACKLOG_BYTES / 2;
/// Unhashed bytes a shard holds across its streams before it hashes
/// without waiting for full lanes (bounds the memory lazy hashing keeps).
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;
/// Kernel steps (one block per busy lane) in one round.
pub const MAX_STEPS_PER_ROUND: usize = 4096;
/// Blocks a stream hashes in a lane before it makes way for the next ready
/// stream (16 KiB): lanes rotate among every stream with data, so one long
/// body drained to the end does not run alone while the others wait.
pub const SLICE_BLOCKS: usize = 256;
/// Rounds per turn of the hashing task before it lets the event loop run.
pub const MAX_ROUNDS_PER_TURN: usize = 4;
/// A round nobody waits for stops when fewer lanes are busy: the rest of
/// the backlog waits for company.
pub const MIN_BUSY_LANES: usize = LANES / 2;

/// Counters for metrics: how full the lanes were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Md5BatchStats {
    /// Kernel steps (each advances up to `LANES` blocks; a scalar block is one).
    pub steps: u64,
    /// Blocks hashed; `lane_blocks / steps` is the mean lanes busy.
    pub lane_blocks: u64,
    /// Of those, blocks hashed by the scalar code (a stream alone).
    pub alone_blocks: u64,
}

pub struct Md5Batcher {
    kernel: Kernel,
    /// Off (`serve --no-md5-batch`): every stream hashes inline with md-5.
    batching: bool,
    /// Several ready streams share the lanes' steps. Off without a vector
    /// kernel, where each stream alone on the scalar code is faster.
    in_lanes: bool,
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Streams with a block to hash or a digest to finish, oldest first.
    /// A stream in a lane during a round is in neither this nor `free`.
    ready: VecDeque<usize>,
    /// Streams someone waits on that are not satisfied yet (`Slot::urgent`).
    urgent: usize,
    /// Bytes fed and not hashed yet, all streams.
    queued: usize,
    worker: Option<Waker>,
    stats: Md5BatchStats,
}

impl Inner {
    /// Someone waits, the lanes would be full, or too much is held. (Bytes
    /// under a block per stream count toward `queued` but are not ready:
    /// without a ready stream there is nothing to do.)
    fn should_run(&self) -> bool {
        self.urgent > 0
            || self.ready.len() >= LANES
            || (self.queued > MAX_QUEUED_BYTES && !self.ready.is_empty())
    }

    fn wake_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            w.wake();
        }
    }

    /// The next ready stream, moved out of its slot for a lane; abandoned
    /// streams met on the way are freed.
    fn pop_ready(&mut self) -> Option<(usize, Slot)> {
        while let Some(id) = self.ready.pop_front() {
            let slot = std::mem::take(&mut self.slots[id]);
            debug_assert!(slot.in_ready);
            if slot.abandoned {
                debug_assert!(!slot.urgent && slot.queued_bytes == 0);
                self.free.push(id);
                continue;
            }
            return Some((id, slot));
        }
        None
    }

    /// Puts a stream back after hashing: finishes its digest, wakes its
    /// waiter if satisfied, requeues it if it has more to hash.
    fn settle(&mut self, id: usize, mut slot: Slot, queued_before: usize) {
        self.queued -= queued_before - slot.queued_bytes;
        if slot.digest.is_none() && slot.padding_done() {
            slot.digest = Some(slot.state.digest());
        }
        let satisfied =
            slot.digest.is_some() || (!slot.finishing && slot.queued_bytes < RESUME_BACKLOG_BYTES);
        if satisfied {
            if slot.urgent {
                slot.urgent = false;
                self.urgent -= 1;
            }
            if let Some(w) = slot.waiter.take() {
                w.wake();
            }
        }
        slot.in_ready = slot.has_work();
        if slot.in_ready {
            self.ready.push_back(id);
        }
        self.slots[id] = slot;
    }
}

#[derive(Default)]
struct Slot {
    state: LaneState,
    queue: VecDeque<Bytes>,
    queued_bytes: usize,
    finishing: bool,
    /// The final block(s) once the data ran out: bytes, count, next.
    padding: Option<([u8; 2 * BLOCK], usize, usize)>,
    digest: Option<[u8; 16]>,
    waiter: Option<Waker>,
    /// Someone waits on this stream (counted in `Inner::urgent`).
    urgent: bool,
    /// In `ready` or in a lane.
    in_ready: bool,
    /// The stream was dropped while in `ready`; freed when reached.
    abandoned: bool,
}

impl Slot {
    fn has_work(&self) -> bool {
        (self.finishing && self.digest.is_none())
            || self.queued_bytes + self.state.partial_len >= BLOCK
    }

    fn padding_done(&self) -> bool {
        matches!(self.padding, Some((_, count, next)) if next == count)
    }

    /// Makes the next block contiguous for [`Slot::peek`]: in the front
    /// piece, in `partial` (gathered across pieces), or in the padding.
    /// False when less than a block is queued (and the stream is not
    /// finishing) or everything is hashed.
    fn stage(&mut self) -> bool {
        if let Some((_, count, next)) = self.padding {
            return next < count;
        }
        if self.state.partial_len == BLOCK {
            return true;
        }
        if self.state.partial_len == 0 && self.queue.front().is_some_and(|f| f.len() >= BLOCK) {
            return true;
        }
        while self.state.partial_len < BLOCK {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let have = self.state.partial_len;
            let take = (BLOCK - have).min(front.len());
            self.state.partial[have..have + take].copy_from_slice(&front[..take]);
            self.state.partial_len += take;
            front.advance(take);
            self.queued_bytes -= take;
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
        if self.state.partial_len == BLOCK {
            return true;
        }
        if self.finishing {
            debug_assert!(self.queue.is_empty());
            let (bytes, count) = self.state.padding();
            self.padding = Some((bytes, count, 0));
            return true;
        }
        false
    }

    /// The block [`Slot::stage`] made ready.
    fn peek(&self) -> &[u8; BLOCK] {
        if let Some((bytes, _, next)) = &self.padding {
            return bytes[next * BLOCK..]
                .first_chunk()
                .expect("staged padding block");
        }
        if self.state.partial_len == BLOCK {
            return &self.state.partial;
        }
        self.queue
            .front()
            .and_then(|f| f.first_chunk())
            .expect("staged block")
    }

    /// Whole blocks from the staged one on that lie contiguously in
    /// memory: the rest of the front piece when no block is assembled in
    /// `partial` or padding, else just the staged one.
    fn contiguous_blocks(&self) -> usize {
        if self.padding.is_some() || self.state.partial_len == BLOCK {
            return 1;
        }
        self.queue.front().map_or(1, |f| (f.len() / BLOCK).max(1))
    }

    /// The bytes of the next `run` staged blocks (`run` ≤ [`Slot::contiguous_blocks`]).
    fn staged_run(&self, run: usize) -> &[u8] {
        debug_assert!(run >= 1 && run <= self.contiguous_blocks());
        if run == 1 {
            return self.peek();
        }
        &self.queue.front().expect("a run lies in the front piece")[..run * BLOCK]
    }

    /// Moves past `n` staged blocks (see [`Slot::staged_run`]).
    fn advance_blocks(&mut self, n: usize) {
        if n == 1 {
            return self.advance();
        }
        debug_assert!(self.padding.is_none() && self.state.partial_len < BLOCK);
        let front = self
            .queue
            .front_mut()
            .expect("a run lies in the front piece");
        front.advance(n * BLOCK);
        self.queued_bytes -= n * BLOCK;
        if front.is_empty() {
            self.queue.pop_front();
        }
    }

    /// Moves past the block [`Slot::peek`] returned.
    fn advance(&mut self) {
        if let Some((_, _, next)) = &mut self.padding {
            *next += 1;
        } else if self.state.partial_len == BLOCK {
            self.state.partial_len = 0;
        } else if let Some(front) = self.queue.front_mut() {
            front.advance(BLOCK);
            self.queued_bytes -= BLOCK;
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
    }

    /// Advances the stream by up to `max_blocks` with the scalar code,
    /// whole blocks straight from the received bytes where they line up.
    /// Returns the blocks hashed.
    fn hash_alone(&mut self, max_blocks: usize) -> usize {
        let mut done = 0;
        while done < max_blocks {
            if self.state.partial_len == 0 && self.padding.is_none() {
                if let Some(front) = self.queue.front_mut() {
                    let (whole, _) = front.as_chunks::<BLOCK>();
                    let n = whole.len().min(max_blocks - done);
                    if n > 0 {
                        compress_scalar(&mut self.state.h, &whole[..n]);
                        front.advance(n * BLOCK);
                        self.queued_bytes -= n * BLOCK;
                        if front.is_empty() {
                            self.queue.pop_front();
                        }
                        done += n;
                        continue;
                    }
                }
            }
            if !self.stage() {
                break;
            }
            let block = *self.peek();
            compress_scalar(&mut self.state.h, std::slice::from_ref(&block));
            self.advance();
            done += 1;
        }
        done
    }
}

impl Md5Batcher {
    pub fn new() -> Rc<Md5Batcher> {
        Md5Batcher::with_kernel(Kernel::detect())
    }

    /// A batcher on a given kernel: [`Kernel::Scalar`] to test the path of
    /// hosts without AVX-512; otherwise it must be what [`Kernel::detect`] found.
    pub fn with_kernel(kernel: Kernel) -> Rc<Md5Batcher> {
        debug_assert!(kernel == Kernel::Scalar || kernel == Kernel::detect());
        Rc::new(Md5Batcher {
            kernel,
            batching: true,
            in_lanes: kernel != Kernel::Scalar,
            inner: RefCell::new(Inner::default()),
        })
    }

    /// A batcher that schedules streams into lanes even on a host without
    /// AVX-512 (`compress_lanes` then runs each busy lane on the scalar
    /// code): the scheduling is tested, and gives the same counts, on every
    /// host.
    #[cfg(test)]
    fn in_lanes_on_any_host() -> Rc<Md5Batcher> {
        Rc::new(Md5Batcher {
            kernel: Kernel::detect(),
            batching: true,
            in_lanes: true,
            inner: RefCell::new(Inner::default()),
        })
    }

    /// A batcher whose streams each hash inline as pieces arrive, as before
    /// batching existed (for measurement, and hosts where AVX-512 costs clock).
    pub fn inline() -> Rc<Md5Batcher> {
        Rc::new(Md5Batcher {
            kernel: Kernel::Scalar,
            batching: false,
            in_lanes: false,
            inner: RefCell::new(Inner::default()),
        })
    }

    /// A new message to hash.
    pub fn open(self: &Rc<Self>) -> Md5Stream {
        if !self.batching {
            return Md5Stream(Way::Inline(md5::Md5::new()));
        }
        let mut inner = self.inner.borrow_mut();
        let id = match inner.free.pop() {
            Some(id) => id,
            None => {
                inner.slots.push(Slot::default());
                inner.slots.len() - 1
            }
        };
        debug_assert!(inner.slots[id].queue.is_empty() && !inner.slots[id].in_ready);
        Md5Stream(Way::Batched(Batched {
            batcher: self.clone(),
            id,
        }))
    }

    pub fn stats(&self) -> Md5BatchStats {
        self.inner.borrow().stats
    }

    /// The shard's hashing task: runs rounds while there is reason to.
    pub async fn run(self: Rc<Self>) {
        loop {
            poll_fn(|cx| {
                let mut inner = self.inner.borrow_mut();
                if inner.should_run() {
                    Poll::Ready(())
                } else {
                    inner.worker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
            for _ in 0..MAX_ROUNDS_PER_TURN {
                if !self.run_round() {
                    break;
                }
            }
            if self.inner.borrow().should_run() {
                yield_now().await;
            }
        }
    }

    /// Hashes one round. True when there is reason for another.
    fn run_round(&self) -> bool {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        if inner.ready.len() == 1 || !self.in_lanes {
            // One stream alone: the scalar code beats one busy vector lane
            // (benches/sigv4.rs `md5_lanes_1MiB`). Without a vector kernel,
            // every stream goes this way.
            for _ in 0..LANES {
                let Some((id, mut slot)) = inner.pop_ready() else {
                    break;
                };
                let before = slot.queued_bytes;
                let blocks = slot.hash_alone(MAX_STEPS_PER_ROUND) as u64;
                inner.stats.steps += blocks;
                inner.stats.lane_blocks += blocks;
                inner.stats.alone_blocks += blocks;
                inner.settle(id, slot, before);
            }
        } else {
            Self::hash_in_lanes(self.kernel, inner);
        }
        inner.should_run()
    }

    /// Runs the vector kernel over the ready streams, refilling a lane as
    /// soon as its stream has no whole block left.
    fn hash_in_lanes(kernel: Kernel, inner: &mut Inner) {
        // Per lane: the stream, moved out of its slot for the round.
        let mut lanes: [Option<Lane>; LANES] = Default::default();
        let mut words = LaneWords {
            words: [[0; LANES]; 4],
        };
        let mut steps = 0;
        while steps < MAX_STEPS_PER_ROUND {
            let mut mask = 0u16;
            for (lane, entry) in lanes.iter_mut().enumerate() {
                loop {
                    if entry.is_none() {
                        let Some((id, slot)) = inner.pop_ready() else {
                            break;
                        };
                        for (w, v) in slot.state.h.iter().enumerate() {
                            words.words[w][lane] = *v;
                        }
                        *entry = Some(Lane {
                            id,
                            queued_before: slot.queued_bytes,
                            slice_left: SLICE_BLOCKS,
                            slot,
                        });
                    }
                    let Some(l) = entry.as_mut() else {
                        break;
                    };
                    // A stream whose slice is used up goes to the back of
                    // the queue; alone there, it comes straight back.
                    if l.slice_left > 0 && l.slot.stage() {
                        mask |= 1 << lane;
                        break;
                    }
                    // Else its slice ended, or nothing is left but its digest,
                    // which settle computes (and does not requeue it for).
                    debug_assert!(l.slice_left == 0 || !l.slot.has_work() || l.slot.padding_done());
                    Self::leave_lane(inner, &words, lane, entry);
                    if inner.ready.is_empty() && entry.is_none() {
                        break;
                    }
                }
            }
            let busy = mask.count_ones() as usize;
            // Nobody waits and the lanes are thin (the ready queue is empty,
            // or they would have been refilled): let the rest wait for company.
            if busy == 0 || (busy < MIN_BUSY_LANES && !inner.should_run()) {
                break;
            }
            // Steps every busy lane can take straight from its current
            // piece: the per-block staging above runs once per run, not
            // once per 64-byte block.
            let run = lanes
                .iter()
                .flatten()
                .map(|l| l.slot.contiguous_blocks().min(l.slice_left))
                .min()
                .unwrap_or(1)
                .min(MAX_STEPS_PER_ROUND - steps);
            debug_assert!(run >= 1, "every busy lane has a staged block");
            let pieces: [&[u8]; LANES] = std::array::from_fn(|lane| match &lanes[lane] {
                Some(l) if mask & (1 << lane) != 0 => l.slot.staged_run(run),
                _ => &IDLE_BLOCK[..],
            });
            for step in 0..run {
                let blocks: LaneBlocks = std::array::from_fn(|lane| {
                    let at = if mask & (1 << lane) != 0 {
                        step * BLOCK
                    } else {
                        0
                    };
                    pieces[lane][at..]
                        .first_chunk()
                        .expect("staged_run holds run blocks")
                });
                compress_lanes(kernel, &mut words, &blocks, mask);
            }
            steps += run;
            inner.stats.steps += run as u64;
            inner.stats.lane_blocks += (busy * run) as u64;
            for l in lanes.iter_mut().flatten() {
                l.slot.advance_blocks(run);
                l.slice_left -= run;
            }
        }
        for (lane, entry) in lanes.iter_mut().enumerate() {
            if entry.is_some() {
                Self::leave_lane(inner, &words, lane, entry);
            }
        }
    }

    /// Takes a stream out of `lane`: its chaining value back from the
    /// kernel's words, then [`Inner::settle`].
    fn leave_lane(inner: &mut Inner, words: &LaneWords, lane: usize, entry: &mut Option<Lane>) {
        if let Some(mut l) = entry.take() {
            for (w, v) in l.slot.state.h.iter_mut().enumerate() {
                *v = words.words[w][lane];
            }
            inner.settle(l.id, l.slot, l.queued_before);
        }
    }
}

/// A stream in a lane of the vector kernel for the length of a round.
struct Lane {
    id: usize,
    slot: Slot,
    /// Its queued bytes when it entered (for `Inner::queued`).
    queued_before: usize,
    /// Blocks left in its time slice.
    slice_left: usize,
}

/// One message being hashed by the shard's [`Md5Batcher`].
pub struct Md5Stream(Way);

enum Way {
    Batched(Batched),
    Inline(md5::Md5),
}

impl Md5Stream {
    /// Queues the next piece of the message (no copy: the bytes are shared).
    pub fn feed(&mut self, piece: Bytes) {
        match &mut self.0 {
            Way::Batched(b) => b.feed(piece),
            Way::Inline(h) => h.update(&piece),
        }
    }

    /// Bytes fed but not hashed yet.
    pub fn backlog(&self) -> usize {
        match &self.0 {
            Way::Batched(b) => b.backlog(),
            Way::Inline(_) => 0,
        }
    }

    /// Waits until fewer than [`RESUME_BACKLOG_BYTES`] fed are unhashed.
    pub async fn caught_up(&self) {
        if let Way::Batched(b) = &self.0 {
            b.caught_up().await
        }
    }

    /// The digest of everything fed.
    pub async fn finish(self) -> [u8; 16] {
        match self.0 {
            Way::Batched(b) => b.finish().await,
            Way::Inline(h) => h.finalize().into(),
        }
    }
}

/// A stream in one of the batcher's slots.
struct Batched {
    batcher: Rc<Md5Batcher>,
    id: usize,
}

impl Batched {
    fn feed(&mut self, piece: Bytes) {
        if piece.is_empty() {
            return;
        }
        let mut guard = self.batcher.inner.borrow_mut();
        let inner = &mut *guard;
        let slot = &mut inner.slots[self.id];
        debug_assert!(!slot.finishing, "fed after finish");
        slot.state.length += piece.len() as u64;
        slot.queued_bytes += piece.len();
        inner.queued += piece.len();
        if let Some(piece) = merge_small(slot.queue.back_mut(), piece) {
            slot.queue.push_back(piece);
        }
        if !slot.in_ready && slot.has_work() {
            slot.in_ready = true;
            inner.ready.push_back(self.id);
        }
        if inner.should_run() {
            inner.wake_worker();
        }
    }

    fn backlog(&self) -> usize {
        self.batcher.inner.borrow().slots[self.id].queued_bytes
    }

    /// Marks the stream as waited on and makes sure the worker runs.
    fn wait_on(inner: &mut Inner, id: usize, waker: &Waker) {
        let slot = &mut inner.slots[id];
        slot.waiter = Some(waker.clone());
        if !slot.urgent {
            slot.urgent = true;
            inner.urgent += 1;
        }
        inner.wake_worker();
    }

    async fn caught_up(&self) {
        poll_fn(|cx| {
            let mut inner = self.batcher.inner.borrow_mut();
            if inner.slots[self.id].queued_bytes < RESUME_BACKLOG_BYTES {
                Poll::Ready(())
            } else {
                Self::wait_on(&mut inner, self.id, cx.waker());
                Poll::Pending
            }
        })
        .await
    }

    async fn finish(self) -> [u8; 16] {
        {
            let mut guard = self.batcher.inner.borrow_mut();
            let inner = &mut *guard;
            let slot = &mut inner.slots[self.id];
            slot.finishing = true;
            if !slot.in_ready {
                slot.in_ready = true;
                inner.ready.push_back(self.id);
            }
        }
        poll_fn(|cx| {
            let mut inner = self.batcher.inner.borrow_mut();
            match inner.slots[self.id].digest {
                Some(d) => Poll::Ready(d),
                None => {
                    Self::wait_on(&mut inner, self.id, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for Batched {
    fn drop(&mut self) {
        let mut guard = self.batcher.inner.borrow_mut();
        let inner = &mut *guard;
        let slot = &mut inner.slots[self.id];
        inner.queued -= slot.queued_bytes;
        if slot.urgent {
            inner.urgent -= 1;
        }
        if slot.in_ready {
            // The hashing task frees it when it reaches it in `ready`.
            *slot = Slot {
                in_ready: true,
                abandoned: true,
                ..Slot::default()
            };
        } else {
            *slot = Slot::default();
            inner.free.push(self.id);
        }
    }
}

#[cfg(test)]
mod tests;
