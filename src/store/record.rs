//! The on-disk record format (version 2; version 1 records still decode).
//!
//! A record is a 32-byte header followed by its payload, padded to
//! `RECORD_ALIGN_BYTES` so recovery can resync after damage by probing for the
//! magic at aligned offsets. Header layout (little endian):
//!
//! | off | size | field                                             |
//! |-----|------|---------------------------------------------------|
//! | 0   | 4    | magic `RSR1`                                      |
//! | 4   | 1    | kind                                              |
//! | 5   | 1    | flags (`RECORD_FLAG_*`)                           |
//! | 6   | 2    | format version                                    |
//! | 8   | 4    | payload length in bytes                           |
//! | 12  | 4    | reserved (zero)                                   |
//! | 16  | 8    | sequence number (strictly increasing per shard)   |
//! | 24  | 4    | CRC32C of header (crc zeroed) + payload           |
//! | 28  | 4    | reserved (zero)                                   |
//!
//! The padding after the payload is zero; recovery treats anything else as
//! damage, so every byte a record occupies is checked.
//!
//! Version 2 added the Sync record (kind 11), which ends every group-commit
//! write and says up to where the log was durable before it (see
//! `SyncRec`). Version 1 logs have none; they are read as before.

use super::types::{
    BucketId, ChecksumAlgorithm, ChecksumType, KmsEnvelope, MultipartDetails, ObjectMeta, SseInfo,
    SseKind, StoredChecksum,
};

pub const FORMAT_VERSION: u16 = 2;
/// The first format with Sync records.
pub const FORMAT_VERSION_SYNC: u16 = 2;
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"RSR1");
pub const HEADER_BYTES: usize = 32;
pub const RECORD_ALIGN_BYTES: usize = 8;
/// Largest payload of one Data record.
pub const MAX_DATA_RECORD_BYTES: usize = 256 * 1024;
/// Largest payload of any record (commit records with many extents, checkpoints).
pub const MAX_PAYLOAD_BYTES: usize = 512 * 1024;
pub const MAX_KEY_BYTES: usize = 1024;
/// Payload flag reserved for server-side encryption.
pub const RECORD_FLAG_ENCRYPTED: u8 = 1;
/// Version byte of the `ObjectMeta` encoding.
pub const META_ENCODING_VERSION: u8 = 1;
const CRC_OFFSET: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordKind {
    SegmentHeader = 1,
    Data = 2,
    Commit = 3,
    Delete = 4,
    MultipartInit = 5,
    MultipartPart = 6,
    MultipartComplete = 7,
    MultipartAbort = 8,
    Checkpoint = 9,
    /// A version record with an explicit order (see `VersionRec`).
    Version = 10,
    /// Ends each log write: how far the log was durable before it (`SyncRec`).
    Sync = 11,
}

impl RecordKind {
    pub fn from_u8(v: u8) -> Option<RecordKind> {
        use RecordKind::*;
        Some(match v {
            1 => SegmentHeader,
            2 => Data,
            3 => Commit,
            4 => Delete,
            5 => MultipartInit,
            6 => MultipartPart,
            7 => MultipartComplete,
            8 => MultipartAbort,
            9 => Checkpoint,
            10 => Version,
            11 => Sync,
            _ => return None,
        })
    }
}

/// Why bytes failed to decode. The caller adds the path and offset.
pub type DecodeError = &'static str;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: RecordKind,
    pub flags: u8,
    pub version: u16,
    pub payload_len: u32,
    pub seq: u64,
    pub crc: u32,
}

/// Bytes a record with this payload occupies on disk, padding included.
pub const fn record_bytes(payload_len: usize) -> usize {
    (HEADER_BYTES + payload_len).div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
}

/// Encodes a whole record (header + payload + zero padding) into `out`.
pub fn encode_record(
    out: &mut [u8],
    kind: RecordKind,
    flags: u8,
    seq: u64,
    payload: &[u8],
) -> usize {
    encode_record_parts(out, kind, flags, seq, &[payload])
}

/// [`encode_record`] for a payload given in pieces (a body's socket reads),
/// each copied once, straight into `out`: the bytes on disk are the same as
/// for the concatenated payload.
pub fn encode_record_parts<P: AsRef<[u8]>>(
    out: &mut [u8],
    kind: RecordKind,
    flags: u8,
    seq: u64,
    parts: &[P],
) -> usize {
    let payload_len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let total = record_bytes(payload_len);
    assert!(
        payload_len <= MAX_PAYLOAD_BYTES,
        "payload {payload_len} too large"
    );
    assert!(out.len() >= total, "record does not fit");
    let h = &mut out[..HEADER_BYTES];
    h.fill(0);
    h[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    h[4] = kind as u8;
    h[5] = flags;
    h[6..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&(payload_len as u32).to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    let mut at = HEADER_BYTES;
    for p in parts {
        let p = p.as_ref();
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    debug_assert_eq!(at, HEADER_BYTES + payload_len);
    out[at..total].fill(0);
    let (head, rest) = out.split_at_mut(HEADER_BYTES);
    let crc = record_crc(head, &rest[..payload_len]);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    debug_assert!(decode_header(&out[..HEADER_BYTES]).is_ok());
    total
}

fn record_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = [0u8; HEADER_BYTES];
    h.copy_from_slice(header);
    h[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
    crc32c::crc32c_append(crc32c::crc32c(&h), payload)
}

/// Decodes and sanity-checks a header (not the CRC, which needs the payload).
pub fn decode_header(b: &[u8]) -> Result<RecordHeader, DecodeError> {
    if b.len() < HEADER_BYTES {
        return Err("short header");
    }
    let mut r = Reader::new(b);
    if r.u32()? != RECORD_MAGIC {
        return Err("bad magic");
    }
    let kind = RecordKind::from_u8(r.u8()?).ok_or("unknown record kind")?;
    let flags = r.u8()?;
    let version = r.u16()?;
    let payload_len = r.u32()?;
    let reserved = r.u32()?;
    let seq = r.u64()?;
    let crc = r.u32()?;
    if version == 0 || version > FORMAT_VERSION {
        return Err("unsupported format version");
    }
    if payload_len as usize > MAX_PAYLOAD_BYTES || reserved != 0 || r.u32()? != 0 {
        return Err("implausible header");
    }
    Ok(RecordHeader {
        kind,
        flags,
        version,
        payload_len,
        seq,
        crc,
    })
}

/// Whether the padding after a record's payload is all zero, as written.
/// `b` starts at the record and holds at least `record_bytes(payload_len)`.
pub fn padding_is_zero(b: &[u8], payload_len: u32) -> bool {
    let end = HEADER_BYTES + payload_len as usize;
    b.get(end..record_bytes(payload_len as usize))
        .is_some_and(|pad| pad.iter().all(|&x| x == 0))
}

/// Decodes a whole record at the start of `b`; checks the CRC.
/// Returns the header and the payload slice.
pub fn decode_record(b: &[u8]) -> Result<(RecordHeader, &[u8]), DecodeError> {
    let h = decode_header(b)?;
    let end = HEADER_BYTES + h.payload_len as usize;
    if b.len() < end {
        return Err("record truncated");
    }
    let payload = &b[HEADER_BYTES..end];
    if record_crc(&b[..HEADER_BYTES], payload) != h.crc {
        return Err("crc mismatch");
    }
    Ok((h, payload))
}

// ---------------------------------------------------------------------------
// Payloads

/// Where a data record lives: its segment, the record's start offset, and its payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extent {
    pub segment: u32,
    pub offset: u64,
    pub payload_len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeaderRec {
    pub segment_id: u32,
    pub shard: u32,
    pub shard_count: u32,
    pub format_version: u16,
    pub created_millis: i64,
}

/// Ends every group-commit write of the log: when the flusher started
/// that write, every record up to `(segment, offset)` (the end of record
/// `seq`) was durable. Recovery takes the furthest such position as
/// confirmed: damage before it hit bytes that had been durable (media
/// damage), damage after it can be a write that never completed (a torn
/// last flush, nothing in it acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRec {
    pub segment: u32,
    pub offset: u64,
    pub seq: u64,
}

/// Bytes a Sync record occupies in the log.
pub const SYNC_RECORD_BYTES: usize = record_bytes(SYNC_PAYLOAD_BYTES);
const SYNC_PAYLOAD_BYTES: usize = 4 + 8 + 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRec {
    pub bucket: BucketId,
    pub key: String,
    pub version_id: u128,
    pub meta: ObjectMeta,
    pub extents: Vec<Extent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRec {
    pub bucket: BucketId,
    pub key: String,
    pub version_id: u128,
    /// Versioned buckets: the delete leaves a delete marker with `version_id`.
    pub delete_marker: bool,
}

/// What a `VersionRec` does to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionOp {
    /// Puts a version: an object, or (`marker`) a delete marker, whose
    /// meta carries only its mtime and whose extents are empty.
    Put {
        commit: Box<CommitRec>,
        marker: bool,
    },
    /// Removes a version (`DeleteRec::delete_marker` is false).
    Remove(DeleteRec),
}

/// A version record with an order of its own. A Commit record's order is
/// its sequence number, a Delete record's too; this record carries one, so
/// compaction can relocate a version (or carry a delete forward) and a
/// metadata update can rewrite one without changing which version is
/// current. Order 0 means the record's own sequence number (new delete
/// markers, version deletes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRec {
    pub order: u64,
    pub op: VersionOp,
}

const VERSION_OP_OBJECT: u8 = 1;
const VERSION_OP_MARKER: u8 = 2;
const VERSION_OP_REMOVE: u8 = 3;

impl VersionRec {
    /// The order this record applies with, given its sequence number.
    pub fn order_at(&self, seq: u64) -> u64 {
        if self.order == 0 {
            seq
        } else {
            debug_assert!(self.order < seq, "an explicit order is an older record's");
            self.order
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.order);
        match &self.op {
            VersionOp::Put { commit, marker } => {
                w.u8(if *marker {
                    VERSION_OP_MARKER
                } else {
                    VERSION_OP_OBJECT
                });
                w.0.extend_from_slice(&commit.encode());
            }
            VersionOp::Remove(d) => {
                debug_assert!(!d.delete_marker);
                w.u8(VERSION_OP_REMOVE);
                w.0.extend_from_slice(&d.encode());
            }
        }
        w.0
    }

    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let order = r.u64()?;
        let op = match r.u8()? {
            VERSION_OP_OBJECT => VersionOp::Put {
                commit: Box::new(CommitRec::decode(r.rest())?),
                marker: false,
            },
            VERSION_OP_MARKER => {
                let commit = CommitRec::decode(r.rest())?;
                if !commit.extents.is_empty() || commit.meta.size != 0 {
                    return Err("delete marker with data");
                }
                VersionOp::Put {
                    commit: Box::new(commit),
                    marker: true,
                }
            }
            VERSION_OP_REMOVE => {
                let d = DeleteRec::decode(r.rest())?;
                if d.delete_marker {
                    return Err("version delete flagged as a marker");
                }
                VersionOp::Remove(d)
            }
            _ => return Err("unknown version op"),
        };
        Ok(VersionRec { order, op })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartInitRec {
    pub upload_id: u128,
    pub bucket: BucketId,
    pub key: String,
    pub meta: ObjectMeta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartPartRec {
    pub upload_id: u128,
    pub part_number: u32,
    pub size: u64,
    pub mtime_millis: i64,
    pub etag: String,
    pub checksum: Option<StoredChecksum>,
    pub extents: Vec<Extent>,
}

/// Completion: one record both ends the upload and commits the assembled
/// object (its extents are the chosen parts' extents; no data is copied), so
/// a crash leaves either the upload or the object, never both or neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartCompleteRec {
    pub upload_id: u128,
    pub commit: CommitRec,
}

/// Abort marker: the upload and its parts are gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartEndRec {
    pub upload_id: u128,
    pub bucket: BucketId,
    pub key: String,
}

impl SegmentHeaderRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u32(self.segment_id);
        w.u32(self.shard);
        w.u32(self.shard_count);
        w.u16(self.format_version);
        w.i64(self.created_millis);
        w.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = SegmentHeaderRec {
            segment_id: r.u32()?,
            shard: r.u32()?,
            shard_count: r.u32()?,
            format_version: r.u16()?,
            created_millis: r.i64()?,
        };
        r.finish(v)
    }
}

impl SyncRec {
    pub fn encode(&self) -> [u8; SYNC_PAYLOAD_BYTES] {
        // No Writer: this runs once per flush, on the commit path.
        let mut out = [0u8; SYNC_PAYLOAD_BYTES];
        out[0..4].copy_from_slice(&self.segment.to_le_bytes());
        out[4..12].copy_from_slice(&self.offset.to_le_bytes());
        out[12..20].copy_from_slice(&self.seq.to_le_bytes());
        out
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = SyncRec {
            segment: r.u32()?,
            offset: r.u64()?,
            seq: r.u64()?,
        };
        r.finish(v)
    }
}

impl CommitRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        Self::encode_fields(
            &mut w,
            self.bucket,
            &self.key,
            self.version_id,
            &self.meta,
            &self.extents,
        );
        w.0
    }

    /// The encoding of a CommitRec of these fields, appended to `out`
    /// without building one (checkpoints encode every index entry).
    pub fn encode_into(
        out: &mut Vec<u8>,
        bucket: BucketId,
        key: &str,
        version_id: u128,
        meta: &ObjectMeta,
        extents: &[Extent],
    ) {
        let mut w = Writer(std::mem::take(out));
        Self::encode_fields(&mut w, bucket, key, version_id, meta, extents);
        *out = w.0;
    }

    fn encode_fields(
        w: &mut Writer,
        bucket: BucketId,
        key: &str,
        version_id: u128,
        meta: &ObjectMeta,
        extents: &[Extent],
    ) {
        w.u64(bucket);
        w.str(key);
        w.u128(version_id);
        encode_meta(w, meta);
        w.extents(extents);
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = CommitRec {
            bucket: r.u64()?,
            key: r.key()?,
            version_id: r.u128()?,
            meta: decode_meta(&mut r)?,
            extents: r.extents()?,
        };
        r.finish(v)
    }
}

impl DeleteRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u64(self.bucket);
        w.str(&self.key);
        w.u128(self.version_id);
        w.u8(self.delete_marker as u8);
        w.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = DeleteRec {
            bucket: r.u64()?,
            key: r.key()?,
            version_id: r.u128()?,
            delete_marker: r.bool()?,
        };
        r.finish(v)
    }
}

impl MultipartInitRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u128(self.upload_id);
        w.u64(self.bucket);
        w.str(&self.key);
        encode_meta(&mut w, &self.meta);
        w.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = MultipartInitRec {
            upload_id: r.u128()?,
            bucket: r.u64()?,
            key: r.key()?,
            meta: decode_meta(&mut r)?,
        };
        r.finish(v)
    }
}

impl MultipartPartRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u128(self.upload_id);
        w.u32(self.part_number);
        w.u64(self.size);
        w.i64(self.mtime_millis);
        w.str(&self.etag);
        w.checksum(self.checksum.as_ref());
        w.extents(&self.extents);
        w.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = MultipartPartRec {
            upload_id: r.u128()?,
            part_number: r.u32()?,
            size: r.u64()?,
            mtime_millis: r.i64()?,
            etag: r.str()?,
            checksum: r.checksum()?,
            extents: r.extents()?,
        };
        r.finish(v)
    }
}

impl MultipartCompleteRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u128(self.upload_id);
        w.0.extend_from_slice(&self.commit.encode());
        w.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let upload_id = r.u128()?;
        let commit = CommitRec::decode(r.rest())?;
        Ok(MultipartCompleteRec { upload_id, commit })
    }
}

impl MultipartEndRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u128(self.upload_id);
        w.u64(self.bucket);
        w.str(&self.key);
        w.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(b);
        let v = MultipartEndRec {
            upload_id: r.u128()?,
            bucket: r.u64()?,
            key: r.key()?,
        };
        r.finish(v)
    }
}

// ---------------------------------------------------------------------------
// ObjectMeta: version byte, presence bitmap, fixed fields, present optionals.

const META_CONTENT_TYPE: u16 = 1 << 0;
const META_CACHE_CONTROL: u16 = 1 << 1;
const META_CONTENT_DISPOSITION: u16 = 1 << 2;
const META_CONTENT_ENCODING: u16 = 1 << 3;
const META_CONTENT_LANGUAGE: u16 = 1 << 4;
const META_EXPIRES: u16 = 1 << 5;
const META_CHECKSUM: u16 = 1 << 6;
const META_SSE: u16 = 1 << 7;
// Bits taken by the features that add per-object state, each encoded
// after every field above, in bit order (a new field is appended, never
// inserted, so older records keep decoding):
//   1 << 8   owner and ACL grants (access control)
//   1 << 9   object lock: retention mode, retain-until, legal hold
//   1 << 10  SSE-KMS: key id, wrapped data key, encryption context
//   1 << 11  multipart checksum details: checksum type, part checksums
const META_KMS: u16 = 1 << 10;
const META_MULTIPART: u16 = 1 << 11;
const META_KNOWN_BITS: u16 = ((1 << 8) - 1) | META_KMS | META_MULTIPART;
/// Longest KMS key ARN and encryption context a record holds (the
/// request path refuses longer ones first).
pub const MAX_KMS_ARN_BYTES: usize = 2048;
pub const MAX_KMS_CONTEXT_BYTES: usize = 8192;
const KMS_FLAG_BUCKET_KEY: u8 = 1;
const KMS_FLAG_DSSE: u8 = 2;
const KMS_FLAG_CONTEXT: u8 = 4;
const MAX_META_PAIRS: usize = 4096;
const MAX_PART_COUNT: usize = 10_000;

fn optional_fields(m: &ObjectMeta) -> [(u16, &Option<String>); 6] {
    [
        (META_CONTENT_TYPE, &m.content_type),
        (META_CACHE_CONTROL, &m.cache_control),
        (META_CONTENT_DISPOSITION, &m.content_disposition),
        (META_CONTENT_ENCODING, &m.content_encoding),
        (META_CONTENT_LANGUAGE, &m.content_language),
        (META_EXPIRES, &m.expires),
    ]
}

fn encode_meta(w: &mut Writer, m: &ObjectMeta) {
    let mut present = 0u16;
    for (bit, field) in optional_fields(m) {
        if field.is_some() {
            present |= bit;
        }
    }
    if m.checksum.is_some() {
        present |= META_CHECKSUM;
    }
    if let Some(sse) = &m.sse {
        present |= META_SSE;
        debug_assert_eq!(sse.kms.is_some(), sse.kind == SseKind::Kms);
        if sse.kms.is_some() {
            present |= META_KMS;
        }
    }
    if m.multipart.is_some() {
        present |= META_MULTIPART;
    }
    w.u8(META_ENCODING_VERSION);
    w.u16(present);
    w.u64(m.size);
    w.str(&m.etag);
    w.i64(m.mtime_millis);
    // The field reserved for encryption from the first format: the kind.
    w.u32(m.sse.as_ref().map_or(0, |s| s.kind as u32));
    for (_, field) in optional_fields(m) {
        if let Some(s) = field {
            w.str(s);
        }
    }
    w.pairs(&m.user_meta);
    w.pairs(&m.tags);
    if present & META_CHECKSUM != 0 {
        w.checksum(m.checksum.as_ref());
    }
    w.u32(m.part_sizes.len() as u32);
    for s in &m.part_sizes {
        w.u64(*s);
    }
    if let Some(sse) = &m.sse {
        w.0.extend_from_slice(&sse.seed);
        w.0.extend_from_slice(&sse.key_md5);
    }
    if let Some(kms) = m.sse.as_ref().and_then(|s| s.kms.as_deref()) {
        w.kms(kms);
    }
    if let Some(mp) = &m.multipart {
        w.multipart(mp);
    }
}

fn decode_meta(r: &mut Reader) -> Result<ObjectMeta, DecodeError> {
    if r.u8()? != META_ENCODING_VERSION {
        return Err("unknown meta encoding version");
    }
    let present = r.u16()?;
    if present & !META_KNOWN_BITS != 0 {
        return Err("unknown meta fields");
    }
    let mut m = ObjectMeta {
        size: r.u64()?,
        etag: r.str()?,
        mtime_millis: r.i64()?,
        ..ObjectMeta::default()
    };
    let sse_kind = match r.u32()? {
        0 => None,
        1 => Some(SseKind::S3),
        2 => Some(SseKind::Customer),
        3 => Some(SseKind::Kms),
        _ => return Err("unknown encryption kind"),
    };
    if sse_kind.is_some() != (present & META_SSE != 0) {
        return Err("encryption kind without parameters");
    }
    if (sse_kind == Some(SseKind::Kms)) != (present & META_KMS != 0) {
        return Err("SSE-KMS kind without its envelope");
    }
    let opt = |bit: u16, r: &mut Reader| -> Result<Option<String>, DecodeError> {
        if present & bit != 0 {
            r.str().map(Some)
        } else {
            Ok(None)
        }
    };
    m.content_type = opt(META_CONTENT_TYPE, r)?;
    m.cache_control = opt(META_CACHE_CONTROL, r)?;
    m.content_disposition = opt(META_CONTENT_DISPOSITION, r)?;
    m.content_encoding = opt(META_CONTENT_ENCODING, r)?;
    m.content_language = opt(META_CONTENT_LANGUAGE, r)?;
    m.expires = opt(META_EXPIRES, r)?;
    m.user_meta = r.pairs()?;
    m.tags = r.pairs()?;
    if present & META_CHECKSUM != 0 {
        m.checksum = r.checksum()?;
    }
    let parts = r.u32()? as usize;
    if parts > MAX_PART_COUNT {
        return Err("too many parts");
    }
    m.part_sizes = (0..parts).map(|_| r.u64()).collect::<Result<_, _>>()?;
    if let Some(kind) = sse_kind {
        m.sse = Some(SseInfo {
            kind,
            seed: r.arr()?,
            key_md5: r.arr()?,
            kms: None,
        });
    }
    if present & META_KMS != 0 {
        let kms = r.kms()?;
        if let Some(sse) = m.sse.as_mut() {
            sse.kms = Some(Box::new(kms));
        }
    }
    if present & META_MULTIPART != 0 {
        m.multipart = Some(Box::new(r.multipart()?));
    }
    Ok(m)
}

fn checksum_type_code(t: ChecksumType) -> u8 {
    match t {
        ChecksumType::Composite => 1,
        ChecksumType::FullObject => 2,
    }
}

fn checksum_type_from(code: u8) -> Result<ChecksumType, DecodeError> {
    match code {
        1 => Ok(ChecksumType::Composite),
        2 => Ok(ChecksumType::FullObject),
        _ => Err("unknown checksum type"),
    }
}

fn algorithm_code(a: ChecksumAlgorithm) -> u8 {
    match a {
        ChecksumAlgorithm::Crc32 => 1,
        ChecksumAlgorithm::Crc32c => 2,
        ChecksumAlgorithm::Crc64Nvme => 3,
        ChecksumAlgorithm::Sha1 => 4,
        ChecksumAlgorithm::Sha256 => 5,
    }
}

fn algorithm_from(code: u8) -> Result<ChecksumAlgorithm, DecodeError> {
    Ok(match code {
        1 => ChecksumAlgorithm::Crc32,
        2 => ChecksumAlgorithm::Crc32c,
        3 => ChecksumAlgorithm::Crc64Nvme,
        4 => ChecksumAlgorithm::Sha1,
        5 => ChecksumAlgorithm::Sha256,
        _ => return Err("unknown checksum algorithm"),
    })
}

// ---------------------------------------------------------------------------
// Little-endian writer and a bounds-checked reader that never panics.

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
    /// Bit 10's block: ARN, key version, wrapped data key, flags, then
    /// the context when its flag is set.
    fn kms(&mut self, k: &KmsEnvelope) {
        debug_assert!(k.key_arn.len() <= MAX_KMS_ARN_BYTES);
        self.str(&k.key_arn);
        self.u32(k.key_version);
        self.0.extend_from_slice(&k.wrapped_data_key);
        let mut flags = 0;
        if k.bucket_key_enabled {
            flags |= KMS_FLAG_BUCKET_KEY;
        }
        if k.dsse {
            flags |= KMS_FLAG_DSSE;
        }
        if k.context.is_some() {
            flags |= KMS_FLAG_CONTEXT;
        }
        self.u8(flags);
        if let Some(c) = &k.context {
            debug_assert!(c.len() <= MAX_KMS_CONTEXT_BYTES);
            self.str(c);
        }
    }
    fn pairs(&mut self, p: &[(String, String)]) {
        self.u32(p.len() as u32);
        for (k, v) in p {
            self.str(k);
            self.str(v);
        }
    }
    fn checksum(&mut self, c: Option<&StoredChecksum>) {
        match c {
            None => self.u8(0),
            Some(c) => {
                self.u8(algorithm_code(c.algorithm));
                self.u8(c.digest.len() as u8);
                self.0.extend_from_slice(&c.digest);
                self.u32(c.parts);
            }
        }
    }
    /// Bit 11's block: algorithm and type (0 0: none declared), the
    /// initiator (flag, id), then the part checksums (count, each length
    /// and bytes).
    fn multipart(&mut self, mp: &MultipartDetails) {
        match mp.checksum {
            None => {
                self.u8(0);
                self.u8(0);
            }
            Some((alg, t)) => {
                self.u8(algorithm_code(alg));
                self.u8(checksum_type_code(t));
            }
        }
        self.u8(u8::from(mp.initiator.is_some()));
        self.u64(mp.initiator.unwrap_or(0));
        self.u32(mp.part_checksums.len() as u32);
        for d in &mp.part_checksums {
            debug_assert!(d.len() <= u8::MAX as usize);
            self.u8(d.len() as u8);
            self.0.extend_from_slice(d);
        }
    }
    fn extents(&mut self, e: &[Extent]) {
        self.u32(e.len() as u32);
        for x in e {
            self.u32(x.segment);
            self.u64(x.offset);
            self.u32(x.payload_len);
        }
    }
}

pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

const MAX_EXTENTS: usize = MAX_PAYLOAD_BYTES / 16;

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.b.get(self.pos..end).ok_or("truncated field")?;
        self.pos = end;
        Ok(s)
    }
    fn kms(&mut self) -> Result<KmsEnvelope, DecodeError> {
        let key_arn = self.str()?;
        if key_arn.len() > MAX_KMS_ARN_BYTES {
            return Err("KMS key ARN too long");
        }
        let key_version = self.u32()?;
        let wrapped_data_key = self.arr()?;
        let flags = self.u8()?;
        if flags & !(KMS_FLAG_BUCKET_KEY | KMS_FLAG_DSSE | KMS_FLAG_CONTEXT) != 0 {
            return Err("unknown SSE-KMS flags");
        }
        let context = if flags & KMS_FLAG_CONTEXT != 0 {
            let c = self.str()?;
            if c.len() > MAX_KMS_CONTEXT_BYTES {
                return Err("SSE-KMS context too long");
            }
            Some(c)
        } else {
            None
        };
        Ok(KmsEnvelope {
            key_arn,
            key_version,
            wrapped_data_key,
            context,
            bucket_key_enabled: flags & KMS_FLAG_BUCKET_KEY != 0,
            dsse: flags & KMS_FLAG_DSSE != 0,
        })
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bad bool"),
        }
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.arr()?))
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| "invalid utf-8")
    }
    fn key(&mut self) -> Result<String, DecodeError> {
        let k = self.str()?;
        if k.len() > MAX_KEY_BYTES {
            return Err("key too long");
        }
        Ok(k)
    }
    fn pairs(&mut self) -> Result<Vec<(String, String)>, DecodeError> {
        let n = self.u32()? as usize;
        if n > MAX_META_PAIRS {
            return Err("too many pairs");
        }
        (0..n).map(|_| Ok((self.str()?, self.str()?))).collect()
    }
    fn checksum(&mut self) -> Result<Option<StoredChecksum>, DecodeError> {
        let code = self.u8()?;
        if code == 0 {
            return Ok(None);
        }
        let algorithm = algorithm_from(code)?;
        let n = self.u8()? as usize;
        let digest = self.take(n)?.to_vec();
        let parts = self.u32()?;
        Ok(Some(StoredChecksum {
            algorithm,
            digest,
            parts,
        }))
    }
    fn multipart(&mut self) -> Result<MultipartDetails, DecodeError> {
        let (alg, kind) = (self.u8()?, self.u8()?);
        let checksum = match (alg, kind) {
            (0, 0) => None,
            (a, t) => Some((algorithm_from(a)?, checksum_type_from(t)?)),
        };
        let has_initiator = self.u8()?;
        let id = self.u64()?;
        let initiator = match has_initiator {
            0 => None,
            1 => Some(id),
            _ => return Err("bad initiator flag"),
        };
        let n = self.u32()? as usize;
        if n > MAX_PART_COUNT {
            return Err("too many part checksums");
        }
        let part_checksums = (0..n)
            .map(|_| {
                let len = self.u8()? as usize;
                self.take(len).map(<[u8]>::to_vec)
            })
            .collect::<Result<_, _>>()?;
        Ok(MultipartDetails {
            checksum,
            part_checksums,
            initiator,
        })
    }
    fn extents(&mut self) -> Result<Vec<Extent>, DecodeError> {
        let n = self.u32()? as usize;
        if n > MAX_EXTENTS {
            return Err("too many extents");
        }
        (0..n)
            .map(|_| {
                Ok(Extent {
                    segment: self.u32()?,
                    offset: self.u64()?,
                    payload_len: self.u32()?,
                })
            })
            .collect()
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos..];
        self.pos = self.b.len();
        s
    }
    fn finish<T>(&self, v: T) -> Result<T, DecodeError> {
        if self.pos != self.b.len() {
            return Err("trailing bytes");
        }
        Ok(v)
    }
}
