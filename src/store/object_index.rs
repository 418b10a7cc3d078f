//! The store's index of object versions, in RAM (`index::Index`) or on
//! disk (`disk_index::DiskIndex`, docs/INDEX.md), behind one async API so
//! the store, recovery and compaction do not care which.
//!
//! The in-memory index answers every call at once; the on-disk one may
//! read blocks. Both apply the same rules (the disk index's model test
//! checks it against the in-memory one).

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use super::disk_index::{Applied, DiskIndex};
use super::index::{Index, ObjectEntry};
use super::types::{BucketId, ListItem, StoreError, VersionItem};

/// Where a shard keeps its index (`--index`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IndexKind {
    /// Every version's entry in RAM; start-up loads a checkpoint file and
    /// replays the log after it.
    #[default]
    Memory,
    /// Entries in the shard's `index/` files; RAM holds budgets only.
    Disk,
}

pub enum ObjectIndex {
    Memory(RefCell<Index>),
    /// Boxed: its budgets and caches are large beside the in-memory map's handle.
    Disk(Box<DiskIndex>),
}

impl ObjectIndex {
    pub fn memory(index: Index) -> ObjectIndex {
        ObjectIndex::Memory(RefCell::new(index))
    }

    pub fn kind(&self) -> IndexKind {
        match self {
            ObjectIndex::Memory(_) => IndexKind::Memory,
            ObjectIndex::Disk(_) => IndexKind::Disk,
        }
    }

    /// The in-memory index, when that is the kind.
    pub fn in_memory(&self) -> Option<Ref<'_, Index>> {
        match self {
            ObjectIndex::Memory(m) => Some(m.borrow()),
            ObjectIndex::Disk(_) => None,
        }
    }

    pub fn on_disk(&self) -> Option<&DiskIndex> {
        match self {
            ObjectIndex::Memory(_) => None,
            ObjectIndex::Disk(d) => Some(d.as_ref()),
        }
    }

    /// The key's current version if it is an object (not a delete marker).
    pub async fn get(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().get(bucket, key)),
            ObjectIndex::Disk(d) => d.get(bucket, key).await,
        }
    }

    /// The key's current version, delete markers included.
    pub async fn current(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().current(bucket, key)),
            ObjectIndex::Disk(d) => d.current(bucket, key).await,
        }
    }

    pub async fn version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().version(bucket, key, version_id)),
            ObjectIndex::Disk(d) => d.version(bucket, key, version_id).await,
        }
    }

    /// Every version of the key, newest first.
    pub async fn versions(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Vec<Rc<ObjectEntry>>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().versions(bucket, key)),
            ObjectIndex::Disk(d) => d.versions(bucket, key).await,
        }
    }

    /// Applies a version held by the record `seq` (see `Index::insert`).
    pub async fn insert(&self, entry: Rc<ObjectEntry>, seq: u64) -> Result<Applied, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(match m.borrow_mut().insert(entry) {
                Ok(replaced) => Applied::Inserted(replaced),
                Err(_) => Applied::Stale,
            }),
            ObjectIndex::Disk(d) => d.insert(entry, seq).await,
        }
    }

    /// Applies a version delete of `order` held by the record `seq`.
    pub async fn remove_version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
        order: u64,
        seq: u64,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m
                .borrow_mut()
                .remove_version(bucket, key, version_id, order)),
            ObjectIndex::Disk(d) => d.remove_version(bucket, key, version_id, order, seq).await,
        }
    }

    pub async fn list(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListItem>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().list(bucket, prefix, delimiter, after, limit)),
            ObjectIndex::Disk(d) => d.list(bucket, prefix, delimiter, after, limit).await,
        }
    }

    pub async fn list_versions(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<u128>,
        limit: usize,
    ) -> Result<Vec<VersionItem>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().list_versions(
                bucket,
                prefix,
                delimiter,
                key_marker,
                version_marker,
                limit,
            )),
            ObjectIndex::Disk(d) => {
                d.list_versions(bucket, prefix, delimiter, key_marker, version_marker, limit)
                    .await
            }
        }
    }

    pub async fn keys_after(
        &self,
        bucket: BucketId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow().keys_after(bucket, after, limit)),
            ObjectIndex::Disk(d) => d.keys_after(bucket, after, limit).await,
        }
    }

    /// (objects, bytes) of a bucket.
    pub fn bucket_stats(&self, bucket: BucketId) -> (u64, u64) {
        match self {
            ObjectIndex::Memory(m) => m.borrow().bucket_stats(bucket),
            ObjectIndex::Disk(d) => d.bucket_stats(bucket),
        }
    }

    pub fn bucket_noncurrent(&self, bucket: BucketId) -> u64 {
        match self {
            ObjectIndex::Memory(m) => m.borrow().bucket_noncurrent(bucket),
            ObjectIndex::Disk(d) => d.bucket_noncurrent(bucket),
        }
    }

    pub fn is_bucket_empty(&self, bucket: BucketId) -> bool {
        match self {
            ObjectIndex::Memory(m) => m.borrow().is_bucket_empty(bucket),
            ObjectIndex::Disk(d) => d.is_bucket_empty(bucket),
        }
    }

    pub fn bucket_ids(&self) -> Vec<BucketId> {
        match self {
            ObjectIndex::Memory(m) => m.borrow().bucket_ids(),
            ObjectIndex::Disk(d) => d.bucket_ids(),
        }
    }

    pub fn object_count(&self) -> u64 {
        match self {
            ObjectIndex::Memory(m) => m.borrow().object_count(),
            ObjectIndex::Disk(d) => d.object_count(),
        }
    }

    pub fn noncurrent_count(&self) -> u64 {
        match self {
            ObjectIndex::Memory(m) => m.borrow().noncurrent_count(),
            ObjectIndex::Disk(d) => d.noncurrent_count(),
        }
    }

    /// Forgets a bucket; returns its versions.
    pub async fn drop_bucket(&self, bucket: BucketId) -> Result<Vec<Rc<ObjectEntry>>, StoreError> {
        match self {
            ObjectIndex::Memory(m) => Ok(m.borrow_mut().drop_bucket(bucket)),
            ObjectIndex::Disk(d) => d.drop_bucket(bucket).await,
        }
    }
}
