//! One shard's state, reachable from every task on that shard through an
//! `Rc`. Nothing here is shared with another thread except through the mesh.

use super::config::ServerConfig;
use super::md5_batch::Md5Batcher;
use crate::auth::SigningKeyCache;
use crate::catalog::{Catalog, CatalogData};
use crate::http::DateCache;
use crate::shard::msg::{Delivery, Reply, ShardMsg, VersionedCatalog};
use crate::shard::Placement;
use crate::store::Store;
use futures_channel::mpsc;
use futures_util::SinkExt;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

/// Shard 0's writable catalog: the data, where it is saved, and its version.
pub struct CatalogOwner {
    pub dir: PathBuf,
    pub data: CatalogData,
    pub version: u64,
}

pub struct ShardCtx {
    pub id: usize,
    pub config: Arc<ServerConfig>,
    pub placement: Placement,
    pub store: Store,
    catalog: RefCell<Arc<VersionedCatalog>>,
    peers: Vec<Option<mpsc::Sender<ShardMsg>>>,
    /// One more sender per peer, used only through `try_send` (never held
    /// across an await), so most messages need no sender clone.
    fast_peers: Vec<Option<RefCell<mpsc::Sender<ShardMsg>>>>,
    pub sig_cache: RefCell<SigningKeyCache>,
    /// Hashes PUT bodies for their ETags, concurrent uploads together.
    pub md5: Rc<Md5Batcher>,
    pub date: RefCell<DateCache>,
    /// Present on shard 0 only.
    pub catalog_owner: Option<RefCell<CatalogOwner>>,
    request_seq: Cell<u64>,
    /// Tokens of DeleteBucket attempts (shard 0): each names its fences.
    fence_tokens: Cell<u64>,
    /// Open connections and who gets one (`server::admission`).
    pub admission: super::admission::Admission,
    /// Answers to peers' requests: (through the asker's mesh queue, sent
    /// directly); see [`ShardCtx::answer`].
    pub answers: Cell<(u64, u64)>,
    boot_id: u32,
    /// Management API state: API key, metrics, presigned registry (shard 0).
    pub admin: crate::admin::AdminState,
    /// What this shard's lifecycle task has done (`server::lifecycle`).
    pub lifecycle_stats: RefCell<super::lifecycle::LifecycleStats>,
    /// Set when the server is stopping gracefully (`server::stop`).
    pub stop: super::stop::StopSignal,
    /// Uploads this shard completed lately, so a retried completion gets
    /// the same answer (`server::uploads`).
    pub completed_uploads: RefCell<super::uploads::RecentCompletions>,
    /// This shard's copy of the fault-injection rules (`crate::faults`).
    pub faults: crate::faults::FaultsCell,
    /// This shard's slice of every rate limit (`crate::ratelimit`).
    pub limits: crate::ratelimit::LimitsCell,
    /// Opened SSE-KMS key versions and data keys (`server::kms`).
    pub kms_cache: RefCell<super::kms::KmsCache>,
}

impl ShardCtx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        config: Arc<ServerConfig>,
        placement: Placement,
        store: Store,
        catalog: Arc<VersionedCatalog>,
        peers: Vec<Option<mpsc::Sender<ShardMsg>>>,
        catalog_owner: Option<CatalogOwner>,
        boot_id: u32,
        started: std::time::Instant,
        admin_api_key: String,
        admission: super::admission::Admission,
    ) -> ShardCtx {
        debug_assert_eq!(peers.len(), config.shards);
        debug_assert_eq!(catalog_owner.is_some(), id == 0);
        let md5 = if config.md5_batch {
            Md5Batcher::new()
        } else {
            Md5Batcher::inline()
        };
        follow_catalog(&store, &catalog.catalog);
        let faults = crate::faults::FaultsCell::new(config.faults.as_ref(), started, id);
        let limits =
            crate::ratelimit::LimitsCell::new(config.rate_limits.clone(), peers.len(), started);
        ShardCtx {
            id,
            config,
            placement,
            store,
            catalog: RefCell::new(catalog),
            fast_peers: peers
                .iter()
                .map(|p| p.as_ref().map(|tx| RefCell::new(tx.clone())))
                .collect(),
            peers,
            sig_cache: RefCell::new(SigningKeyCache::new()),
            md5,
            date: RefCell::new(DateCache::new()),
            catalog_owner: catalog_owner.map(RefCell::new),
            request_seq: Cell::new(0),
            fence_tokens: Cell::new(0),
            admission,
            answers: Cell::new((0, 0)),
            boot_id,
            admin: crate::admin::AdminState::new(admin_api_key),
            lifecycle_stats: RefCell::new(Default::default()),
            stop: Default::default(),
            completed_uploads: RefCell::new(Default::default()),
            faults,
            limits,
            kms_cache: RefCell::new(Default::default()),
        }
    }

    pub fn shards(&self) -> usize {
        self.peers.len()
    }

    /// The catalog snapshot this shard holds now.
    pub fn catalog(&self) -> Arc<VersionedCatalog> {
        self.catalog.borrow().clone()
    }

    /// The version of the catalog snapshot this shard holds.
    pub fn catalog_version(&self) -> u64 {
        self.catalog.borrow().version
    }

    /// Borrow the catalog without touching the Arc's counter.
    pub fn with_catalog<R>(&self, f: impl FnOnce(&Catalog) -> R) -> R {
        f(&self.catalog.borrow().catalog)
    }

    /// Installs `next` unless this shard already holds a newer snapshot.
    pub fn install_catalog(&self, next: Arc<VersionedCatalog>) {
        let mut cur = self.catalog.borrow_mut();
        if next.version > cur.version {
            *cur = next;
            follow_catalog(&self.store, &cur.catalog);
        }
    }

    /// A token for a new DeleteBucket attempt, unique while this process runs.
    pub fn next_fence_token(&self) -> u64 {
        let token = self.fence_tokens.get() + 1;
        self.fence_tokens.set(token);
        token
    }

    /// A request id unique across shards and restarts: boot id, shard, sequence.
    pub fn next_request_id(&self) -> String {
        let seq = self.request_seq.get().wrapping_add(1);
        self.request_seq.set(seq);
        let mut id = String::with_capacity(20);
        push_upper_hex(&mut id, self.boot_id as u64, 8);
        push_upper_hex(&mut id, self.id as u64, 2);
        push_upper_hex(&mut id, seq, 10);
        debug_assert_eq!(id.len(), 20);
        id
    }

    /// A sender to shard `to` for a task that sends several messages.
    pub fn peer(&self, to: usize) -> Option<futures_channel::mpsc::Sender<ShardMsg>> {
        debug_assert_ne!(to, self.id);
        self.peers.get(to)?.clone()
    }

    /// Answers shard `to`'s request: `value` goes on `reply`, but the send
    /// itself runs on `to`'s thread, carried there by the mesh queue.
    ///
    /// Why: a oneshot sent from here wakes the asking task from a foreign
    /// thread, and monoio unparks a sleeping shard with an eventfd write per
    /// wake — at 32 connections those writes were 0.27 per GET, 78 % of them
    /// read replies. The mesh queue's receiver is woken once per batch (its
    /// `AtomicWaker` is taken by the first message until the receiver polls
    /// again), and on its own thread the oneshot's wake is a local one.
    /// If the queue is full or gone, the answer is sent from here as before.
    ///
    /// Under light load, when shards spin (`shard::spin`), the asker is
    /// awake and a direct wake costs no syscall; the extra hop through its
    /// mesh task would only add latency (4 % at one connection), so the
    /// answer is sent directly then.
    pub fn answer<T: Send + 'static>(&self, to: usize, reply: Reply<T>, value: T) {
        debug_assert_ne!(to, self.id, "local answers are sent directly");
        let (queued, direct) = self.answers.get();
        if crate::shard::spin::in_spinning_regime() {
            self.answers.set((queued, direct + 1));
            let _ = reply.send(value);
            return;
        }
        let deliver: Delivery = Box::new(move || {
            let _ = reply.send(value);
        });
        let unsent = match self.fast_peers.get(to) {
            Some(Some(fast)) => match fast.borrow_mut().try_send(ShardMsg::Deliver(deliver)) {
                Ok(()) => {
                    self.answers.set((queued + 1, direct));
                    return;
                }
                Err(e) => e.into_inner(),
            },
            _ => ShardMsg::Deliver(deliver),
        };
        self.answers.set((queued, direct + 1));
        if let ShardMsg::Deliver(deliver) = unsent {
            deliver();
        }
    }

    /// Sends `msg` to shard `to` (never this shard). Fails only when the peer is gone.
    pub async fn send(&self, to: usize, msg: ShardMsg) -> Result<(), ()> {
        debug_assert_ne!(to, self.id, "local work is called directly, not sent");
        let Some(Some(tx)) = self.peers.get(to) else {
            return Err(());
        };
        // Fast path: the shared sender has room. A clone per message costs an
        // allocation and atomics in futures-channel, so it is only made to
        // wait when the queue is full.
        let msg = match self.fast_peers.get(to) {
            Some(Some(fast)) => match fast.borrow_mut().try_send(msg) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_disconnected() => return Err(()),
                Err(e) => e.into_inner(),
            },
            _ => msg,
        };
        let mut tx = tx.clone();
        tx.send(msg).await.map_err(|_| ())
    }
}

/// Appends the low `digits` hex digits of `v` (upper case, zero-padded);
/// `format!("{:0N X}")` was a visible share of a 4 KiB GET.
fn push_upper_hex(out: &mut String, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xF) as usize] as char);
    }
}

/// Tells the store which buckets exist (a deleted one's index is dropped
/// and writes into it are refused from here on) and how each is versioned.
fn follow_catalog(store: &Store, catalog: &Catalog) {
    let live = catalog.buckets().map(|b| b.id).collect();
    store.set_live_buckets(&live, catalog.data().next_bucket_id);
    store.set_versioning(versioning_states(catalog));
}

/// Every bucket's versioning state, for the store (unversioned buckets left out).
fn versioning_states(
    catalog: &Catalog,
) -> std::collections::HashMap<crate::store::BucketId, crate::store::Versioning> {
    catalog
        .buckets()
        .map(|b| (b.id, b.versioning()))
        .filter(|(_, v)| *v != crate::store::Versioning::Unversioned)
        .collect()
}

#[cfg(test)]
mod request_id_tests {
    #[test]
    fn hex_matches_format() {
        for (v, d) in [
            (0u64, 2u32),
            (0xAB, 2),
            (0x1234_5678, 8),
            (0xFF_FFFF_FFFF, 10),
            (7, 10),
        ] {
            let mut s = String::new();
            super::push_upper_hex(&mut s, v, d);
            let mask = if d == 16 {
                u64::MAX
            } else {
                (1u64 << (4 * d)) - 1
            };
            assert_eq!(s, format!("{:0w$X}", v & mask, w = d as usize));
        }
    }
}
