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
