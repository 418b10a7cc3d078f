//! The shard's MD5 service: every PUT and UploadPart body is hashed for its
//! ETag, and the bodies that arrive in the same turn of the event loop are
//! hashed together, one SIMD lane each (`auth::md5_lanes`).
//!
//! A request opens an [`Md5Stream`], feeds it the body pieces as they
//! arrive (a reference-counted `Bytes`, no copy) and awaits
//! [`Md5Stream::finish`]. Feeding only queues the piece and wakes the
//! shard's hashing task; that task runs after the request tasks already
//! woken in this turn, so their pieces are in the queue by then and one pass
//! of the kernel advances all of them. Nothing waits for a batch to fill:
//! a lone upload is hashed in the next turn by the scalar code, which beats one
//! busy lane of the vector kernel.
//!
//! Limits: a stream may queue at most [`MAX_BACKLOG_BYTES`] before its
//! feeder waits ([`Md5Stream::caught_up`]); a round advances at most
//! [`LANES`] streams by at most [`MAX_STEPS_PER_ROUND`] blocks each, and the
//! task yields to the event loop after [`MAX_ROUNDS_PER_TURN`] rounds.

use crate::auth::md5_lanes::{
    compress_lanes, compress_scalar, Kernel, LaneBlocks, LaneState, LaneWords, BLOCK, LANES,
};
use bytes::{Buf, Bytes};
use md5::Digest;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Bytes a stream may have queued, unhashed, before its feeder waits.
pub const MAX_BACKLOG_BYTES: usize = 256 * 1024;
/// Blocks one stream advances per round (64 KiB): a long body cannot hold
/// the lanes while short ones queue behind it.
pub const MAX_STEPS_PER_ROUND: usize = 1024;
/// Rounds per turn of the hashing task before it lets the event loop run.
pub const MAX_ROUNDS_PER_TURN: usize = 4;

/// Counters for metrics: how full the lanes were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Md5BatchStats {
    /// Kernel calls (each advances up to `LANES` blocks).
    pub steps: u64,
    /// Blocks hashed; `lane_blocks / steps` is the mean lanes busy.
    pub lane_blocks: u64,
}

pub struct Md5Batcher {
    kernel: Kernel,
    /// Off (`serve --no-md5-batch`): every stream hashes inline with md-5.
    batching: bool,
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Streams with blocks to hash or a digest to finish, oldest first.
    ready: VecDeque<usize>,
    worker: Option<Waker>,
    stats: Md5BatchStats,
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
    in_ready: bool,
    /// The stream was dropped while queued in `ready`; freed when reached.
    abandoned: bool,
}

impl Slot {
    /// Copies the stream's next whole block into `out`. False when fewer
    /// than 64 bytes are queued (kept in `state.partial`) or all is hashed.
    fn next_block(&mut self, out: &mut [u8; BLOCK]) -> bool {
        loop {
            if let Some((bytes, count, next)) = &mut self.padding {
                if *next == *count {
                    return false;
                }
                out.copy_from_slice(&bytes[*next * BLOCK..(*next + 1) * BLOCK]);
                *next += 1;
                return true;
            }
            let Some(front) = self.queue.front_mut() else {
                if self.finishing {
                    let (bytes, count) = self.state.padding();
                    self.padding = Some((bytes, count, 0));
                    continue;
                }
                return false;
            };
            let have = self.state.partial_len;
            if have == 0 && front.len() >= BLOCK {
                out.copy_from_slice(&front[..BLOCK]);
                front.advance(BLOCK);
                self.queued_bytes -= BLOCK;
                if front.is_empty() {
                    self.queue.pop_front();
                }
                return true;
            }
            let take = (BLOCK - have).min(front.len());
            self.state.partial[have..have + take].copy_from_slice(&front[..take]);
            self.state.partial_len += take;
            front.advance(take);
            self.queued_bytes -= take;
            if front.is_empty() {
                self.queue.pop_front();
            }
            if self.state.partial_len == BLOCK {
                out.copy_from_slice(&self.state.partial);
                self.state.partial_len = 0;
                return true;
            }
        }
    }

    /// Advances the stream by up to `max_blocks` with the scalar code,
    /// whole blocks straight from the received bytes where they line up.
    /// Returns the blocks hashed.
    fn hash_alone(&mut self, max_blocks: usize) -> usize {
        let mut done = 0;
        let mut block = [0u8; BLOCK];
        while done < max_blocks {
            if self.state.partial_len == 0 {
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
            if !self.next_block(&mut block) {
                break;
            }
            compress_scalar(&mut self.state.h, std::slice::from_ref(&block));
            done += 1;
        }
        done
    }

    fn padding_done(&self) -> bool {
        matches!(self.padding, Some((_, count, next)) if next == count)
    }
}

impl Md5Batcher {
    pub fn new() -> Rc<Md5Batcher> {
        Md5Batcher::with_kernel(Kernel::detect())
    }

    /// A batcher whose streams each hash inline as pieces arrive, as before
    /// batching existed (for measurement, and hosts where AVX-512 costs clock).
    pub fn inline() -> Rc<Md5Batcher> {
        Rc::new(Md5Batcher {
            kernel: Kernel::Scalar,
            batching: false,
            inner: RefCell::new(Inner::default()),
        })
    }

    /// A batcher on a given kernel: [`Kernel::Scalar`] to test the path of
    /// hosts without AVX-512; otherwise it must be what [`Kernel::detect`] found.
    pub fn with_kernel(kernel: Kernel) -> Rc<Md5Batcher> {
        debug_assert!(kernel == Kernel::Scalar || kernel == Kernel::detect());
        Rc::new(Md5Batcher {
            kernel,
            batching: true,
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

    /// The shard's hashing task: runs rounds while streams have work.
    pub async fn run(self: Rc<Self>) {
        loop {
            poll_fn(|cx| {
                let mut inner = self.inner.borrow_mut();
                if inner.ready.is_empty() {
                    inner.worker = Some(cx.waker().clone());
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            for _ in 0..MAX_ROUNDS_PER_TURN {
                if !self.run_round() {
                    break;
                }
            }
            if !self.inner.borrow().ready.is_empty() {
                yield_now().await;
            }
        }
    }

    /// Hashes one round: up to `LANES` ready streams, each up to
    /// `MAX_STEPS_PER_ROUND` blocks. True when more work remains.
    fn run_round(&self) -> bool {
        let mut guard = self.inner.borrow_mut();
        let inner = &mut *guard;
        let mut lanes = [0usize; LANES];
        let mut busy = 0;
        while busy < LANES {
            let Some(id) = inner.ready.pop_front() else {
                break;
            };
            let slot = &mut inner.slots[id];
            slot.in_ready = false;
            if slot.abandoned {
                *slot = Slot::default();
                inner.free.push(id);
                continue;
            }
            lanes[busy] = id;
            busy += 1;
        }
        if busy == 0 {
            return false;
        }
        if busy == 1 || self.kernel == Kernel::Scalar {
            // One busy lane of the vector kernel is slower than the scalar
            // code (benches/sigv4.rs `md5_lanes_1MiB`).
            for &id in &lanes[..busy] {
                let blocks = inner.slots[id].hash_alone(MAX_STEPS_PER_ROUND) as u64;
                inner.stats.steps += blocks;
                inner.stats.lane_blocks += blocks;
            }
        } else {
            Self::hash_in_lanes(self.kernel, inner, &lanes[..busy]);
        }
        for &id in &lanes[..busy] {
            let slot = &mut inner.slots[id];
            if slot.padding_done() {
                slot.digest = Some(slot.state.digest());
            }
            // A stream stops early only at the step limit; otherwise its
            // queue is drained into `partial`.
            let more = !slot.queue.is_empty() || (slot.finishing && slot.digest.is_none());
            if more {
                slot.in_ready = true;
                inner.ready.push_back(id);
            } else if let Some(w) = slot.waiter.take() {
                w.wake();
            }
        }
        !inner.ready.is_empty()
    }

    /// Advances `lanes` (two or more streams) together through the vector
    /// kernel, one block each per step, up to `MAX_STEPS_PER_ROUND` steps.
    fn hash_in_lanes(kernel: Kernel, inner: &mut Inner, lanes: &[usize]) {
        debug_assert!(lanes.len() >= 2 && lanes.len() <= LANES);
        let mut words = LaneWords {
            words: [[0; LANES]; 4],
        };
        for (lane, &id) in lanes.iter().enumerate() {
            for (w, v) in inner.slots[id].state.h.iter().enumerate() {
                words.words[w][lane] = *v;
            }
        }
        let mut blocks: LaneBlocks = [[0; BLOCK]; LANES];
        for _ in 0..MAX_STEPS_PER_ROUND {
            let mut mask = 0u16;
            for (lane, &id) in lanes.iter().enumerate() {
                if inner.slots[id].next_block(&mut blocks[lane]) {
                    mask |= 1 << lane;
                }
            }
            if mask == 0 {
                break;
            }
            compress_lanes(kernel, &mut words, &blocks, mask);
            inner.stats.steps += 1;
            inner.stats.lane_blocks += u64::from(mask.count_ones());
        }
        for (lane, &id) in lanes.iter().enumerate() {
            for (w, v) in inner.slots[id].state.h.iter_mut().enumerate() {
                *v = words.words[w][lane];
            }
        }
    }

    fn wake_worker(inner: &mut Inner) {
        if let Some(w) = inner.worker.take() {
            w.wake();
        }
    }
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

    /// Waits until what was fed is hashed, but for a partial block.
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
        slot.queue.push_back(piece);
        if !slot.in_ready && slot.queued_bytes >= BLOCK {
            slot.in_ready = true;
            inner.ready.push_back(self.id);
            Md5Batcher::wake_worker(inner);
        }
    }

    fn backlog(&self) -> usize {
        self.batcher.inner.borrow().slots[self.id].queued_bytes
    }

    async fn caught_up(&self) {
        poll_fn(|cx| {
            let mut inner = self.batcher.inner.borrow_mut();
            let slot = &mut inner.slots[self.id];
            if slot.queued_bytes < BLOCK {
                Poll::Ready(())
            } else {
                slot.waiter = Some(cx.waker().clone());
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
                Md5Batcher::wake_worker(inner);
            }
        }
        poll_fn(|cx| {
            let mut inner = self.batcher.inner.borrow_mut();
            let slot = &mut inner.slots[self.id];
            match slot.digest {
                Some(d) => Poll::Ready(d),
                None => {
                    slot.waiter = Some(cx.waker().clone());
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
        if slot.in_ready {
            // The hashing task frees it when it reaches it in `ready`.
            slot.abandoned = true;
            slot.queue.clear();
            slot.queued_bytes = 0;
        } else {
            *slot = Slot::default();
            inner.free.push(self.id);
        }
    }
}

/// Gives the executor one turn.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests;
