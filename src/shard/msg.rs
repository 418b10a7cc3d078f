//! Messages between shards. Every value here is `Send`; replies travel on
//! oneshot channels, bodies on bounded per-request channels of `Bytes`.
//! The hot replies (reads, PUT commits) are completed on the asker's own
//! thread: they ride back on the mesh queue as [`ShardMsg::Deliver`] (see
//! `ShardCtx::answer`), so the asker's shard is woken once per batch of
//! answers rather than once per answer.

use crate::catalog::{Catalog, CatalogError, CatalogOp, CatalogOutcome};
use crate::s3::error::S3Error;
use crate::s3::model::CompletedPart;
use crate::server::read::{ReadPlan, ReadRequest};
use crate::store::{
    BucketFence, BucketId, DeleteOutcome, ListItem, ObjectMeta, PartInfo, PutCondition, StoreError,
    UploadId, UploadItem, VersionItem,
};
use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use std::sync::Arc;

/// A `Send` copy of an index entry, for answers that cross shards.
#[derive(Debug, Clone)]
pub struct ObjectView {
    pub key: String,
    /// The version this is (`NULL_VERSION` in unversioned buckets).
    pub version_id: u128,
    pub meta: ObjectMeta,
}

/// One piece of a forwarded PUT body. Dropping the channel without `Finish`
/// aborts the upload: nothing is committed.
pub enum BodyPiece {
    Data(Bytes),
    /// The body is complete and verified; commit with this metadata.
    Finish(Box<ObjectMeta>, PutCondition),
}

pub type Reply<T> = oneshot::Sender<T>;

/// What a streamed body becomes at the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutTarget {
    Object,
    /// A part of a multipart upload; Finish's meta carries its etag, checksum and mtime.
    Part {
        upload_id: UploadId,
        part_number: u32,
    },
}

/// A page of ListParts from the owner: the upload's initiation metadata and parts.
#[derive(Debug, Clone)]
pub struct PartsPage {
    /// Sizes are plaintext, also for an encrypted upload.
    pub parts: Vec<PartInfo>,
    pub truncated: bool,
    /// The upload's encryption (its parts are sealed with its key).
    pub sse: Option<crate::store::SseInfo>,
    /// The upload's declared checksum and initiator.
    pub multipart: Option<crate::store::MultipartDetails>,
}

/// What a shard may ask another.
pub enum ShardMsg {
    Put {
        /// The asking shard, where the reply is delivered.
        from: usize,
        bucket: BucketId,
        key: String,
        target: PutTarget,
        body: mpsc::Receiver<BodyPiece>,
        reply: Reply<Result<ObjectView, StoreError>>,
    },
    /// A whole small body and its commit in one message (see RemotePut).
    PutWhole {
        from: usize,
        bucket: BucketId,
        key: String,
        target: PutTarget,
        body: Vec<Bytes>,
        meta: Box<ObjectMeta>,
        cond: PutCondition,
        reply: Reply<Result<ObjectView, StoreError>>,
    },
    Read {
        from: usize,
        bucket: BucketId,
        key: String,
        req: Box<ReadRequest>,
        reply: Reply<ReadReply>,
    },
    /// Delete the key (as its bucket's versioning says), or one version.
    Delete {
        bucket: BucketId,
        key: String,
        version_id: Option<u128>,
        reply: Reply<Result<DeleteOutcome, StoreError>>,
    },
    /// Replace an object's tags (empty = delete them), keeping its data;
    /// of its current version, or of the version named.
    SetTags {
        bucket: BucketId,
        key: String,
        version_id: Option<u128>,
        tags: Vec<(String, String)>,
        reply: Reply<Result<ObjectView, StoreError>>,
    },
    List {
        bucket: BucketId,
        prefix: String,
        delimiter: Option<String>,
        after: Option<String>,
        limit: usize,
        reply: Reply<Result<Vec<ListItem>, StoreError>>,
    },
    /// A page of versions (ListObjectVersions); see `Store::list_versions`.
    ListVersions {
        bucket: BucketId,
        prefix: String,
        delimiter: Option<String>,
        key_marker: Option<String>,
        version_marker: Option<u128>,
        limit: usize,
        reply: Reply<Result<Vec<VersionItem>, StoreError>>,
    },
    CreateUpload {
        bucket: BucketId,
        key: String,
        meta: Box<ObjectMeta>,
        reply: Reply<Result<UploadId, StoreError>>,
    },
    AbortUpload {
        bucket: BucketId,
        key: String,
        upload_id: UploadId,
        reply: Reply<Result<(), StoreError>>,
    },
    CompleteUpload {
        bucket: BucketId,
        key: String,
        upload_id: UploadId,
        parts: Vec<CompletedPart>,
        cond: PutCondition,
        checksum: crate::s3::model::CompleteChecksum,
        reply: Reply<Result<ObjectView, S3Error>>,
    },
    ListParts {
        bucket: BucketId,
        key: String,
        upload_id: UploadId,
        after: u32,
        limit: usize,
        reply: Reply<Option<PartsPage>>,
    },
    ListUploads {
        bucket: BucketId,
        prefix: String,
        delimiter: Option<String>,
        marker: Option<(String, UploadId)>,
        limit: usize,
        reply: Reply<Vec<UploadItem>>,
    },
    BucketStats {
        bucket: BucketId,
        reply: Reply<(u64, u64)>,
    },
    /// Shard 0 to every shard, for DeleteBucket attempt `token`: fence the
    /// bucket, wait for its admitted writes, say whether it is empty here.
    FenceBucket {
        bucket: BucketId,
        token: u64,
        reply: Reply<BucketFence>,
    },
    /// Lift attempt `token`'s fence (the bucket was not deleted).
    UnfenceBucket { bucket: BucketId, token: u64 },
    /// Shard 0 to every shard: install this snapshot (if newer), then reply.
    CatalogUpdate {
        catalog: Arc<VersionedCatalog>,
        reply: Reply<()>,
    },
    /// Any shard to shard 0: apply this change.
    CatalogChange {
        op: CatalogOp,
        reply: Reply<Result<CatalogOutcome, CatalogError>>,
    },
    /// Management API queries (counts, metrics, presigned registry).
    Admin(crate::admin::msg::AdminMsg),
    /// An answer to one of this shard's requests, to be completed here: the
    /// closure sends it on the request's oneshot, a same-thread wake.
    Deliver(Delivery),
}

/// Work a peer hands back to run on the receiving shard's thread.
pub type Delivery = Box<dyn FnOnce() + Send>;

/// The answer to a forwarded read: the object's metadata and plan, and its
/// bytes when a body is to be sent.
pub struct ReadReply {
    pub result: Result<(ObjectView, ReadPlan), S3Error>,
    pub body: Option<RemoteBody>,
}

/// A body read on the owner. The first piece rides in the reply itself, so a
/// small object costs one cross-shard wake-up, not two; the rest, if any,
/// streams on a bounded channel.
pub struct RemoteBody {
    pub first: Option<Result<Bytes, StoreError>>,
    pub rest: Option<mpsc::Receiver<Result<Bytes, StoreError>>>,
}

/// A catalog snapshot with the version that orders snapshots: a shard
/// ignores one older than what it holds.
#[derive(Debug, Default)]
pub struct VersionedCatalog {
    pub version: u64,
    pub catalog: Catalog,
}
