//! One shard's state, reachable from every task on that shard through an
//! `Rc`. Nothing here is shared with another thread except through the mesh.

use super::config::ServerConfig;
use crate::auth::SigningKeyCache;
use crate::catalog::{Catalog, CatalogData};
use crate::http::DateCache;
use crate::shard::msg::{ShardMsg, VersionedCatalog};
use crate::shard::Placement;
use crate::store::Store;
use futures_channel::mpsc;
use futures_util::SinkExt;
use std::cell::{Cell, RefCell};
use std::path::PathBuf;
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
    pub sig_cache: RefCell<SigningKeyCache>,
    pub date: RefCell<DateCache>,
    /// Present on shard 0 only.
    pub catalog_owner: Option<RefCell<CatalogOwner>>,
    request_seq: Cell<u64>,
    pub connections: Cell<usize>,
    boot_id: u32,
    /// Management API state: API key, metrics, presigned registry (shard 0).
    pub admin: crate::admin::AdminState,
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
        admin_api_key: String,
    ) -> ShardCtx {
        debug_assert_eq!(peers.len(), config.shards);
        debug_assert_eq!(catalog_owner.is_some(), id == 0);
        ShardCtx {
            id,
            config,
            placement,
            store,
            catalog: RefCell::new(catalog),
            peers,
            sig_cache: RefCell::new(SigningKeyCache::new()),
            date: RefCell::new(DateCache::new()),
            catalog_owner: catalog_owner.map(RefCell::new),
            request_seq: Cell::new(0),
            connections: Cell::new(0),
            boot_id,
            admin: crate::admin::AdminState::new(admin_api_key),
        }
    }

    pub fn shards(&self) -> usize {
        self.peers.len()
    }

    /// The catalog snapshot this shard holds now.
    pub fn catalog(&self) -> Arc<VersionedCatalog> {
        self.catalog.borrow().clone()
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
        }
    }

    /// A request id unique across shards and restarts: boot id, shard, sequence.
    pub fn next_request_id(&self) -> String {
        let seq = self.request_seq.get().wrapping_add(1);
        self.request_seq.set(seq);
        format!("{:08X}{:02X}{:010X}", self.boot_id, self.id, seq)
    }

    /// Sends `msg` to shard `to` (never this shard). Fails only when the peer is gone.
    pub async fn send(&self, to: usize, msg: ShardMsg) -> Result<(), ()> {
        debug_assert_ne!(to, self.id, "local work is called directly, not sent");
        let Some(Some(tx)) = self.peers.get(to) else {
            return Err(());
        };
        let mut tx = tx.clone();
        tx.send(msg).await.map_err(|_| ())
    }
}
