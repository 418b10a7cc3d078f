//! Value types shared by several layers (auth, s3, store, server): they
//! live below all of them, so no layer reaches into another for a plain
//! value. Each layer re-exports what it hands on.

/// Flexible checksum algorithms S3 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

/// A stored flexible checksum: the algorithm and its raw digest bytes
/// (base64 of these is what S3 headers carry). `parts` > 0 marks a composite
/// multipart checksum (`…-N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub digest: Vec<u8>,
    pub parts: u32,
}

/// How a multipart object's checksum is made from its parts' (S3's
/// `x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    /// The checksum of the parts' checksums, shown as `value-N`.
    Composite,
    /// The checksum of the whole object (CRCs only: combined from the
    /// parts' CRCs without re-reading them).
    FullObject,
}

/// Per-upload (and, once completed, per-object) multipart state beyond
/// the object's own checksum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultipartDetails {
    /// What CreateMultipartUpload declared (`x-amz-checksum-algorithm` and
    /// `-type`); None when it declared nothing.
    pub checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
    /// A completed composite object's part checksums (raw digests), in
    /// part order, for GetObjectAttributes and GET ?partNumber; empty
    /// otherwise.
    pub part_checksums: Vec<Vec<u8>>,
    /// The credential that initiated the upload (ListParts and
    /// ListMultipartUploads show it as Initiator and Owner).
    pub initiator: Option<u64>,
}

/// One shard's answer to DeleteBucket's fence (see `store::bucket_gate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketFence {
    /// No version of the bucket is here, and no write into it can start
    /// until the fence is lifted.
    Empty,
    /// The shard holds a version (object, noncurrent version or delete
    /// marker) of the bucket; its fence is already lifted.
    NotEmpty,
    /// Writes admitted before the fence did not finish in time; the fence
    /// stays until the deleting shard lifts it.
    Busy,
}
