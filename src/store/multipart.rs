//! Multipart uploads at the owner shard of (bucket, key).
//!
//! Init, each acknowledged part and the end of an upload are log records:
//! - `MultipartInit`: the upload exists (with the metadata given at initiation);
//! - `MultipartPart`: a part's Data records are its body (latest seq wins);
//! - `MultipartComplete`: ends the upload AND commits the object in one record,
//!   whose extents are the chosen parts' extents (no data is copied);
//! - `MultipartAbort`: ends the upload.
//!
//! Parts do not take the key lock (parallel parts of one upload share group
//! commits); completion and abort do, so they serialise with each other and
//! with PUTs of the key. A part whose upload ended while it was being made
//! durable is answered NoSuchUpload and its data is garbage; recovery agrees
//! because it replays in sequence order.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use super::index::ObjectEntry;
use super::record::{
    Extent, MultipartCompleteRec, MultipartEndRec, MultipartInitRec, MultipartPartRec, RecordKind,
};
use super::space::AppendClass;
use super::types::{
    BucketId, ChecksumAlgorithm, ChecksumType, ObjectMeta, StoreError, StoredChecksum, NULL_VERSION,
};
use super::{account_extents, KeyMode, ObjectWriter, Store};
use crate::store::record::CommitRec;

pub type UploadId = u128;

/// S3's part numbers are 1..=10000.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// One acknowledged part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: u32,
    pub size: u64,
    /// Unquoted hex MD5 of the part.
    pub etag: String,
    pub mtime_millis: i64,
    pub checksum: Option<StoredChecksum>,
    pub extents: Vec<Extent>,
    /// Sequence number of its Part record: a re-upload with a higher seq replaces it.
    pub seq: u64,
    /// The segment its Part record is in (compaction keeps it while the upload is open).
    pub record_segment: u32,
}

/// What the management API shows of an upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSummary {
    pub key: String,
    pub upload_id: UploadId,
    pub content_type: Option<String>,
    pub initiated_millis: i64,
    pub part_count: u64,
    pub total_size: u64,
    /// The credential that initiated it, when recorded.
    pub initiator: Option<u64>,
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub upload_id: UploadId,
    pub bucket: BucketId,
    pub key: String,
    /// Metadata given at initiation; `mtime_millis` is the initiation time.
    pub meta: ObjectMeta,
    pub parts: BTreeMap<u32, PartInfo>,
    /// The segment its Init record is in (compaction keeps it while the upload is open).
    pub init_segment: u32,
}

impl Upload {
    /// Every segment that holds a record or data the upload needs after a
    /// restart: its Init record, its parts' records and their data.
    pub fn segments(&self) -> impl Iterator<Item = u32> + '_ {
        let parts = self.parts.values().flat_map(|p| {
            std::iter::once(p.record_segment).chain(p.extents.iter().map(|e| e.segment))
        });
        std::iter::once(self.init_segment).chain(parts)
    }

    /// Every data extent its parts hold.
    pub fn extents(&self) -> impl Iterator<Item = &Extent> {
        self.parts.values().flat_map(|p| p.extents.iter())
    }

    /// Inserts a part unless a newer one of the same number is present;
    /// returns the part no longer referenced (the replaced or the refused one).
    pub fn put_part(&mut self, part: PartInfo) -> Option<PartInfo> {
        debug_assert!((1..=MAX_PART_NUMBER).contains(&part.part_number));
        match self.parts.get(&part.part_number) {
            Some(old) if old.seq > part.seq => Some(part),
            _ => self.parts.insert(part.part_number, part),
        }
    }
}

/// One row of a per-shard ListMultipartUploads page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadItem {
    Upload {
        key: String,
        upload_id: UploadId,
        initiated_millis: i64,
        /// The credential that initiated it, when recorded.
        initiator: Option<u64>,
        /// The checksum algorithm and type it declared.
        checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
    },
    CommonPrefix(String),
}

impl UploadItem {
    /// Sort key: (key or prefix, upload id; prefixes sort before the uploads of an equal key).
    pub fn sort_key(&self) -> (&str, UploadId) {
        match self {
            UploadItem::Upload { key, upload_id, .. } => (key, *upload_id),
            UploadItem::CommonPrefix(p) => (p, 0),
        }
    }
}

/// The uploads of one shard, ordered by (bucket, key, upload id) for listing.
#[derive(Default)]
pub struct Uploads {
    map: BTreeMap<(BucketId, String, UploadId), Upload>,
}

impl Uploads {
    pub fn get(&self, bucket: BucketId, key: &str, id: UploadId) -> Option<&Upload> {
        self.map.get(&(bucket, key.to_string(), id))
    }

    pub fn get_mut(&mut self, bucket: BucketId, key: &str, id: UploadId) -> Option<&mut Upload> {
        self.map.get_mut(&(bucket, key.to_string(), id))
    }

    pub fn insert(&mut self, u: Upload) {
        let k = (u.bucket, u.key.clone(), u.upload_id);
        let old = self.map.insert(k, u);
        debug_assert!(old.is_none(), "upload id reused");
    }

    pub fn remove(&mut self, bucket: BucketId, key: &str, id: UploadId) -> Option<Upload> {
        self.map.remove(&(bucket, key.to_string(), id))
    }

    pub fn drop_bucket(&mut self, bucket: BucketId) -> Vec<Upload> {
        let keys: Vec<_> = self
            .map
            .range((bucket, String::new(), 0)..)
            .take_while(|(k, _)| k.0 == bucket)
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.map.remove(k)).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upload> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// ListMultipartUploads on this shard: uploads under `prefix` after
    /// (`key_marker`, `id_marker`), rolled up at `delimiter`, at most `limit` rows.
    pub fn list(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        marker: Option<(&str, UploadId)>,
        limit: usize,
    ) -> Vec<UploadItem> {
        let start = (bucket, prefix.to_string(), 0);
        let mut out: Vec<UploadItem> = Vec::new();
        let range = self.map.range((Bound::Included(start), Bound::Unbounded));
        for ((b, key, id), u) in range {
            if *b != bucket || !key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            let item = match rollup(key, prefix, delimiter) {
                Some(cp) => UploadItem::CommonPrefix(cp.to_string()),
                None => UploadItem::Upload {
                    key: key.clone(),
                    upload_id: *id,
                    initiated_millis: u.meta.mtime_millis,
                    initiator: u.meta.multipart.as_ref().and_then(|m| m.initiator),
                    checksum: u.meta.multipart.as_ref().and_then(|m| m.checksum),
                },
            };
            let after_marker = marker.is_none_or(|(mk, mid)| match &item {
                UploadItem::CommonPrefix(cp) => cp.as_str() > mk,
                UploadItem::Upload { .. } => (key.as_str(), *id) > (mk, mid),
            });
            let dup = out.last().is_some_and(|l| l == &item);
            if after_marker && !dup {
                out.push(item);
            }
        }
        out
    }
}

fn rollup<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// A fresh random upload id (never 0, so it is never confused with "none").
fn new_upload_id() -> UploadId {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system random source");
    u128::from_le_bytes(b).max(1)
}

impl Store {
    /// Durably starts an upload; `meta` is what the completed object will carry.
    pub async fn create_upload(
        &self,
        bucket: BucketId,
        key: &str,
        meta: ObjectMeta,
    ) -> Result<UploadId, StoreError> {
        let _admitted = self.admit(bucket).await?;
        let upload_id = new_upload_id();
        let rec = MultipartInitRec {
            upload_id,
            bucket,
            key: key.to_string(),
            meta,
        };
        let loc = self
            .append(AppendClass::Write, RecordKind::MultipartInit, &rec.encode())
            .await?;
        self.inner.log.commit_barrier(loc.seq).await?;
        self.inner.uploads.borrow_mut().insert(Upload {
            upload_id,
            bucket,
            key: rec.key,
            meta: rec.meta,
            parts: BTreeMap::new(),
            init_segment: loc.segment,
        });
        self.inner
            .init_segments
            .borrow_mut()
            .insert(upload_id, loc.segment);
        Ok(upload_id)
    }

    /// Runs `f` on an upload in progress.
    pub fn with_upload<R>(
        &self,
        bucket: BucketId,
        key: &str,
        id: UploadId,
        f: impl FnOnce(&Upload) -> R,
    ) -> Option<R> {
        self.inner.uploads.borrow().get(bucket, key, id).map(f)
    }

    /// Uploads in progress on this shard (recovery checks, admin).
    pub fn upload_count(&self) -> usize {
        self.inner.uploads.borrow().len()
    }

    pub fn list_uploads(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        marker: Option<(&str, UploadId)>,
        limit: usize,
    ) -> Vec<UploadItem> {
        let uploads = self.inner.uploads.borrow();
        uploads.list(bucket, prefix, delimiter, marker, limit)
    }

    /// Every upload in progress in `bucket` on this shard, for the management API.
    pub fn upload_summaries(&self, bucket: BucketId) -> Vec<UploadSummary> {
        self.inner
            .uploads
            .borrow()
            .iter()
            .filter(|u| u.bucket == bucket)
            .map(|u| UploadSummary {
                key: u.key.clone(),
                upload_id: u.upload_id,
                content_type: u.meta.content_type.clone(),
                initiated_millis: u.meta.mtime_millis,
                part_count: u.parts.len() as u64,
                total_size: u.parts.values().map(|p| p.size).sum(),
                initiator: u.meta.multipart.as_ref().and_then(|m| m.initiator),
            })
            .collect()
    }

    /// A writer for one part's body; NoSuchUpload if the upload is not in progress.
    pub fn part_writer(
        &self,
        bucket: BucketId,
        key: &str,
        upload_id: UploadId,
        part_number: u32,
    ) -> Result<ObjectWriter, StoreError> {
        assert!((1..=MAX_PART_NUMBER).contains(&part_number));
        if self.with_upload(bucket, key, upload_id, |_| ()).is_none() {
            return Err(StoreError::NoSuchUpload);
        }
        let mut w = self.writer(bucket, key);
        w.part = Some((upload_id, part_number));
        Ok(w)
    }

    /// Durably abandons an upload; its parts' data becomes garbage.
    pub async fn abort_upload(
        &self,
        bucket: BucketId,
        key: &str,
        upload_id: UploadId,
    ) -> Result<(), StoreError> {
        self.retry_for_room(|| self.abort_upload_once(bucket, key, upload_id))
            .await
    }

    async fn abort_upload_once(
        &self,
        bucket: BucketId,
        key: &str,
        upload_id: UploadId,
    ) -> Result<(), StoreError> {
        let _admitted = self.admit(bucket).await?;
        let _guard = self.lock_key(bucket, key, KeyMode::Exclusive).await;
        if self.with_upload(bucket, key, upload_id, |_| ()).is_none() {
            return Err(StoreError::NoSuchUpload);
        }
        let rec = MultipartEndRec {
            upload_id,
            bucket,
            key: key.to_string(),
        };
        let loc = self
            .append(
                AppendClass::Delete,
                RecordKind::MultipartAbort,
                &rec.encode(),
            )
            .await?;
        self.inner.log.commit_barrier(loc.seq).await?;
        self.forget_upload(bucket, key, upload_id);
        Ok(())
    }

    /// Drops an ended upload (its end record is durable) and stops counting
    /// its parts' data as live; a completion then counts the chosen parts
    /// again as the object's.
    fn forget_upload(&self, bucket: BucketId, key: &str, upload_id: UploadId) {
        let gone = self
            .inner
            .uploads
            .borrow_mut()
            .remove(bucket, key, upload_id);
        debug_assert!(gone.is_some(), "upload vanished under the key lock");
        if let Some(u) = gone {
            account_extents(
                &mut self.inner.live_per_segment.borrow_mut(),
                u.extents(),
                false,
            );
        }
    }

    /// Completes an upload: under the key lock, `plan` validates the upload
    /// and returns the part numbers to assemble (ascending) and the object's
    /// metadata; one durable record then ends the upload and commits the
    /// object over those parts' extents. Unchosen parts become garbage.
    pub async fn complete_upload<E: From<StoreError>>(
        &self,
        bucket: BucketId,
        key: &str,
        upload_id: UploadId,
        cond: &crate::store::PutCondition,
        plan: impl FnOnce(&Upload) -> Result<(Vec<u32>, ObjectMeta), E>,
    ) -> Result<Rc<ObjectEntry>, E> {
        let _admitted = self.admit(bucket).await?;
        // Exclusive even without a condition: the upload's state is checked
        // here and ended by this record (two completions must not both win).
        let guard = self.lock_key(bucket, key, KeyMode::Exclusive).await;
        // Conditional completion (If-None-Match: * / If-Match), atomic under the key lock.
        super::check_condition(self.get(bucket, key).await?.as_deref(), cond)?;
        let rec = {
            let uploads = self.inner.uploads.borrow();
            let Some(u) = uploads.get(bucket, key, upload_id) else {
                return Err(StoreError::NoSuchUpload.into());
            };
            let (chosen, meta) = plan(u)?;
            let mut rec = assemble(u, &chosen, meta)?;
            rec.commit.version_id = self.version_for_write(bucket);
            rec
        };
        let payload = super::one_record(rec.encode())?;
        let loc = self
            .append(AppendClass::Write, RecordKind::MultipartComplete, &payload)
            .await?;
        self.inner.log.commit_barrier(loc.seq).await?;
        self.forget_upload(bucket, key, upload_id);
        Ok(self.install_commit(&guard, rec.commit, loc.seq).await?)
    }
}

/// The completion record for `chosen` parts of `u`.
fn assemble(
    u: &Upload,
    chosen: &[u32],
    mut meta: ObjectMeta,
) -> Result<MultipartCompleteRec, StoreError> {
    debug_assert!(
        chosen.windows(2).all(|w| w[0] < w[1]),
        "parts not ascending"
    );
    let mut extents = Vec::new();
    let mut part_sizes = Vec::with_capacity(chosen.len());
    for n in chosen {
        let p = u.parts.get(n).ok_or(StoreError::NotFound)?;
        debug_assert_eq!(
            p.extents.iter().map(|e| e.payload_len as u64).sum::<u64>(),
            p.size
        );
        extents.extend_from_slice(&p.extents);
        part_sizes.push(match meta.sse {
            None => p.size,
            // Encrypted upload: the object's part sizes are plaintext.
            Some(_) => crate::sse::layout::plain_len(p.size).ok_or(StoreError::Corrupt {
                path: std::path::PathBuf::new(),
                offset: 0,
                what: "encrypted part of impossible length",
            })?,
        });
    }
    meta.size = part_sizes.iter().sum();
    meta.part_sizes = part_sizes;
    Ok(MultipartCompleteRec {
        upload_id: u.upload_id,
        commit: CommitRec {
            bucket: u.bucket,
            key: u.key.clone(),
            version_id: NULL_VERSION,
            meta,
            extents,
        },
    })
}

impl ObjectWriter {
    /// The (upload, part number) this writer fills, if it is a part writer.
    pub fn part_target(&self) -> Option<(UploadId, u32)> {
        self.part
    }

    /// Appends the Part record, waits until it is durable, then makes the
    /// part visible in its upload (replacing an older one of the same number).
    pub async fn commit_part(
        mut self,
        etag: String,
        checksum: Option<StoredChecksum>,
        mtime_millis: i64,
    ) -> Result<PartInfo, StoreError> {
        // Bytes still coalescing in the writer belong to this part.
        self.flush_pending().await?;
        let (upload_id, part_number) = self.part.expect("commit_part on a part writer");
        let store = self.store.clone();
        let _admitted = store.admit(self.bucket).await?;
        if store
            .with_upload(self.bucket, &self.key, upload_id, |_| ())
            .is_none()
        {
            return Err(StoreError::NoSuchUpload);
        }
        let rec = MultipartPartRec {
            upload_id,
            part_number,
            size: self.size,
            mtime_millis,
            etag,
            checksum,
            extents: self.extents,
        };
        let loc = store
            .append(
                AppendClass::Write,
                RecordKind::MultipartPart,
                &super::one_record(rec.encode())?,
            )
            .await?;
        store.inner.log.commit_barrier(loc.seq).await?;
        let part = PartInfo {
            part_number,
            size: rec.size,
            etag: rec.etag,
            mtime_millis,
            checksum: rec.checksum,
            extents: rec.extents,
            seq: loc.seq,
            record_segment: loc.segment,
        };
        let mut uploads = store.inner.uploads.borrow_mut();
        let Some(u) = uploads.get_mut(self.bucket, &self.key, upload_id) else {
            // Ended (completed or aborted) while this part was being made durable.
            return Err(StoreError::NoSuchUpload);
        };
        let mut live = store.inner.live_per_segment.borrow_mut();
        account_extents(&mut live, part.extents.iter(), true);
        if let Some(unused) = u.put_part(part.clone()) {
            account_extents(&mut live, unused.extents.iter(), false);
        }
        Ok(part)
    }
}
