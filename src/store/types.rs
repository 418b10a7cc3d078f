//! Types shared between the store and the layers above it: what an object is,
//! what a listing returns, and what can go wrong.

use std::fmt;
use std::path::PathBuf;

/// Identifies a bucket incarnation. Catalog-assigned, never reused, so objects
/// of a deleted bucket never reappear in a new bucket of the same name.
pub type BucketId = u64;

/// S3's "null" version: the version id of every object in an unversioned bucket.
pub const NULL_VERSION: u128 = 0;

/// A bucket's versioning state, as the store applies it to writes and deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: every write replaces the key's only (`null`) version
    /// and a delete removes it.
    #[default]
    Unversioned,
    /// Every write adds a new version; a delete adds a delete marker.
    Enabled,
    /// Writes replace the `null` version (older versions stay); a delete
    /// puts a `null` delete marker in place of the `null` version.
    Suspended,
}

pub use crate::types::{ChecksumAlgorithm, ChecksumType, MultipartDetails, StoredChecksum};

/// Everything about an object that is not its data. Written in the commit
/// record and held in the in-memory index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Object size in bytes.
    pub size: u64,
    /// ETag without quotes: hex MD5, or `hex-N` for multipart.
    pub etag: String,
    /// Last-Modified, milliseconds since the epoch.
    pub mtime_millis: i64,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<String>,
    /// x-amz-meta-* pairs, names lowercased without the prefix, in arrival order.
    pub user_meta: Vec<(String, String)>,
    /// Object tags (key, value), at most 10.
    pub tags: Vec<(String, String)>,
    pub checksum: Option<StoredChecksum>,
    /// Part sizes when the object was assembled by multipart upload (empty otherwise).
    pub part_sizes: Vec<u64>,
    /// Server-side encryption: when set, the stored bytes are AES-256-GCM
    /// chunks (`crate::sse::layout`) and `size` / `part_sizes` are plaintext.
    pub sse: Option<SseInfo>,
    /// Multipart checksum settings, part checksums and initiator (an
    /// upload's, or the object it completed into); None for a plain PUT.
    /// Boxed: most objects have none, and the index holds every meta.
    pub multipart: Option<Box<MultipartDetails>>,
}

/// Which key an encrypted object's data key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseKind {
    /// SSE-S3: the host's master key.
    S3 = 1,
    /// SSE-C: the client's key, sent with each request.
    Customer = 2,
    /// SSE-KMS: a data key of its own, wrapped under a key of the built-in
    /// key service (`crate::sse::kms`); the envelope is `SseInfo::kms`.
    Kms = 3,
}

/// An encrypted object's parameters (nothing secret: the data key is
/// derived from the seed and a key the store never holds on disk beside it,
/// or for SSE-KMS wrapped under a key of the key service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseInfo {
    pub kind: SseKind,
    /// Random per object (per upload): the data key's HKDF salt.
    pub seed: [u8; 32],
    /// SSE-C: MD5 of the customer key (zero for SSE-S3 and SSE-KMS).
    pub key_md5: [u8; 16],
    /// SSE-KMS only (exactly when `kind` is `Kms`). Boxed: every other
    /// object pays one pointer for it.
    pub kms: Option<Box<KmsEnvelope>>,
}

/// Bytes of a wrapped SSE-KMS data key: nonce, 32-byte key, GCM tag.
pub const WRAPPED_DATA_KEY_BYTES: usize = 12 + 32 + 16;

/// An SSE-KMS object's data key as stored: wrapped (AES-256-GCM) under one
/// version of a key-service key, bound to the encryption context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsEnvelope {
    /// The key's ARN (`arn:aws:kms:<region>:<account>:key/<id>`), as S3
    /// answers it in `x-amz-server-side-encryption-aws-kms-key-id`.
    pub key_arn: String,
    /// Which version (rotation) of the key wrapped the data key.
    pub key_version: u32,
    pub wrapped_data_key: [u8; WRAPPED_DATA_KEY_BYTES],
    /// The encryption context (JSON text) as the writer sent it; part of
    /// the data key's additional authenticated data.
    pub context: Option<String>,
    /// `x-amz-server-side-encryption-bucket-key-enabled`, echoed.
    pub bucket_key_enabled: bool,
    /// Written as `aws:kms:dsse` (answered back as such).
    pub dsse: bool,
}

/// Conditions checked atomically at commit (conditional writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    None,
    /// If-None-Match: * — fail if the key exists.
    IfNoneMatchStar,
    /// If-Match: etag — fail unless the key exists with this ETag (unquoted).
    IfMatch(String),
}

/// One row of a per-shard listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListItem {
    Object {
        key: String,
        size: u64,
        etag: String,
        mtime_millis: i64,
        /// The Content-Type the object was stored with (the console shows it;
        /// S3's listings do not carry it).
        content_type: Option<String>,
    },
    /// A delimiter roll-up: `prefix` ends with the delimiter.
    CommonPrefix(String),
}

impl ListItem {
    /// The sort key of this row: the key, or the common prefix.
    pub fn sort_key(&self) -> &str {
        match self {
            ListItem::Object { key, .. } => key,
            ListItem::CommonPrefix(p) => p,
        }
    }
}

/// One row of a per-shard version listing (ListObjectVersions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionItem {
    Version {
        key: String,
        version_id: u128,
        is_latest: bool,
        delete_marker: bool,
        size: u64,
        etag: String,
        mtime_millis: i64,
    },
    /// A delimiter roll-up: `prefix` ends with the delimiter.
    CommonPrefix(String),
}

impl VersionItem {
    /// The sort key of this row: the key, or the common prefix.
    pub fn sort_key(&self) -> &str {
        match self {
            VersionItem::Version { key, .. } => key,
            VersionItem::CommonPrefix(p) => p,
        }
    }
}

/// What a delete did, as S3's answer reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// An object (or the version named) was there.
    pub existed: bool,
    /// The version written (a new delete marker) or removed (the one a
    /// version id named) is a delete marker: x-amz-delete-marker.
    pub delete_marker: bool,
    /// x-amz-version-id: the marker written, or the version named. None
    /// for an unversioned delete.
    pub version_id: Option<u128>,
}

/// What can go wrong in the store. Every I/O error carries operation, path and offset.
#[derive(Debug)]
pub enum StoreError {
    Io {
        op: &'static str,
        path: PathBuf,
        offset: u64,
        source: std::io::Error,
    },
    /// The disk (or --max-data-bytes) is full.
    NoSpace,
    /// A flush failed earlier; this shard no longer acknowledges writes.
    WritesFenced,
    /// A record failed its CRC or decoded to nonsense (bit rot): data unreadable.
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: &'static str,
    },
    /// A conditional write's condition did not hold.
    PreconditionFailed,
    /// The object does not exist (or was deleted while being read).
    NotFound,
    /// The version named is a delete marker, which has no data or metadata.
    DeleteMarker { version_id: u128, mtime_millis: i64 },
    /// The multipart upload is not in progress (never was, completed or aborted).
    NoSuchUpload,
    /// The bucket incarnation the write names is not live on this shard
    /// (deleted, perhaps re-created under a new id): nothing was written.
    NoSuchBucket,
    /// A DeleteBucket's fence held the write back longer than
    /// `WRITE_FENCE_WAIT`: nothing was written; the client may retry.
    BucketBusy,
    /// The object would not fit the store's limits (e.g. too many extents for one record).
    TooLarge,
    /// The data dir was formatted with another shard count or format version.
    Format(String),
    /// Recovery found damage in records that had been durable (media
    /// damage, not a torn last write) and was not told to accept the loss.
    /// The text names every damaged byte range.
    MediaDamage(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io {
                op,
                path,
                offset,
                source,
            } => {
                write!(f, "{op} {} at offset {offset}: {source}", path.display())
            }
            StoreError::NoSpace => write!(f, "no space left for data"),
            StoreError::WritesFenced => write!(f, "writes fenced after a failed flush"),
            StoreError::Corrupt { path, offset, what } => {
                write!(
                    f,
                    "corrupt record in {} at offset {offset}: {what}",
                    path.display()
                )
            }
            StoreError::PreconditionFailed => write!(f, "precondition failed"),
            StoreError::NotFound => write!(f, "not found"),
            StoreError::DeleteMarker { .. } => write!(f, "the version is a delete marker"),
            StoreError::NoSuchUpload => write!(f, "no such multipart upload"),
            StoreError::NoSuchBucket => write!(f, "no such bucket"),
            StoreError::BucketBusy => write!(f, "the bucket is being deleted"),
            StoreError::TooLarge => write!(f, "object too large for one commit record"),
            StoreError::Format(m) => write!(f, "data dir format: {m}"),
            StoreError::MediaDamage(m) => write!(
                f,
                "damaged log records that had been durable (media damage): {m}; \
                 refusing to start so nothing is dropped unseen. `ringstore verify` \
                 lists the damage; start with --accept-data-loss to drop the damaged \
                 records (and the objects they hold) and go on"
            ),
        }
    }
}

impl std::error::Error for StoreError {}
