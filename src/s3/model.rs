//! Inputs of the XML writers and outputs of the XML parsers: plain data the
//! server fills from the catalog and the store.

use crate::types::{ChecksumAlgorithm, ChecksumType};

/// Bucket or object owner (a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    pub name: String,
    pub creation_millis: i64,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBucketsPage {
    pub owner: Owner,
    pub buckets: Vec<BucketEntry>,
    /// The token of the next page, when this one is truncated.
    pub continuation_token: Option<String>,
    /// The `prefix` the request filtered by, echoed.
    pub prefix: Option<String>,
}

/// One `<Contents>` of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified_millis: i64,
    /// Unquoted; the writer adds the quotes S3 shows.
    pub etag: String,
    pub size: u64,
    /// Present when the listing shows owners (V1 always, V2 with fetch-owner).
    pub owner: Option<Owner>,
}

/// ListObjectsV2 answer. `KeyCount` is computed from the entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListV2Page {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    pub continuation_token: Option<String>,
    pub next_continuation_token: Option<String>,
    pub start_after: Option<String>,
    /// `encoding-type=url`: keys, prefixes, delimiter and start-after are URL-encoded.
    pub encoding_url: bool,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListObjects (V1) answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListV1Page {
    pub bucket: String,
    pub prefix: String,
    pub marker: String,
    /// Only sent when a delimiter was given and the page is truncated, as S3 does.
    pub next_marker: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    pub encoding_url: bool,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedEntry {
    pub key: String,
    pub version_id: Option<String>,
    pub delete_marker: bool,
    pub delete_marker_version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteErrorEntry {
    pub key: String,
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

/// DeleteObjects answer; in quiet mode only errors are written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteResult {
    pub quiet: bool,
    pub deleted: Vec<DeletedEntry>,
    pub errors: Vec<DeleteErrorEntry>,
}

/// CopyObjectResult and CopyPartResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    pub etag: String,
    pub last_modified_millis: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateMultipartUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult {
    pub location: String,
    pub bucket: String,
    pub key: String,
    /// Unquoted `hex-N`.
    pub etag: String,
    /// The object's checksum as S3 shows it (`value-N` when composite).
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    pub checksum_type: Option<ChecksumType>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified_millis: i64,
    pub etag: String,
    pub size: u64,
    /// The part's checksum (algorithm, base64), shown when the upload
    /// declared an algorithm.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsPage {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub owner: Owner,
    /// The credential that initiated the upload.
    pub initiator: Owner,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: Vec<PartEntry>,
    /// What CreateMultipartUpload declared.
    pub checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiated_millis: i64,
    pub owner: Owner,
    /// The credential that initiated the upload.
    pub initiator: Owner,
    pub checksum: Option<(ChecksumAlgorithm, ChecksumType)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUploadsPage {
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_uploads: u32,
    pub is_truncated: bool,
    pub encoding_url: bool,
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

impl VersioningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersioningStatus::Enabled => "Enabled",
            VersioningStatus::Suspended => "Suspended",
        }
    }
}

/// GetObjectAttributes answer: only the requested attributes are `Some`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAttributes {
    pub etag: Option<String>,
    /// (algorithm, base64 digest, type).
    pub checksum: Option<(ChecksumAlgorithm, String, ChecksumType)>,
    pub parts: Option<ObjectPartsPage>,
    pub storage_class: bool,
    pub object_size: Option<u64>,
}

/// GetObjectAttributes' ObjectParts: the part count and one page of parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectPartsPage {
    pub total_parts: u32,
    /// Whether the parts are listed (S3 lists a composite object's parts
    /// with their checksums; of others it gives the count alone).
    pub listed: bool,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: Vec<ObjectPartEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPartEntry {
    pub part_number: u32,
    pub size: u64,
    /// (algorithm, base64 digest) of a composite object's part.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    CanonicalUser(Owner),
    /// e.g. `http://acs.amazonaws.com/groups/global/AllUsers`.
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    /// FULL_CONTROL, READ, WRITE, READ_ACP, WRITE_ACP.
    pub permission: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessControlPolicy {
    pub owner: Owner,
    pub grants: Vec<Grant>,
}

/// The `null` version's id as S3 prints it: the version of every object
/// written while versioning was not Enabled.
pub const NULL_VERSION_ID: &str = "null";

/// Printed version ids: 32 lowercase hex digits (or `null`).
const VERSION_ID_HEX_DIGITS: usize = 32;

/// A version id as clients see it.
pub fn version_id_string(version_id: u128) -> String {
    if version_id == 0 {
        return NULL_VERSION_ID.to_string();
    }
    format!("{version_id:032x}")
}

/// Parses a client's version id; None if it is not one this server issues.
pub fn parse_version_id(s: &str) -> Option<u128> {
    if s == NULL_VERSION_ID {
        return Some(0);
    }
    if s.len() != VERSION_ID_HEX_DIGITS
        || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    u128::from_str_radix(s, 16).ok().filter(|&v| v != 0)
}

/// A grant as a PutBucketAcl body names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclGrantee {
    /// A canonical user id.
    User(String),
    /// A group URI (AllUsers, AuthenticatedUsers, LogDelivery).
    Group(String),
    Email(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclGrant {
    pub grantee: AclGrantee,
    /// FULL_CONTROL, READ, WRITE, READ_ACP or WRITE_ACP.
    pub permission: String,
}

/// A PutBucketAcl / PutObjectAcl body: the owner it names and its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclDocument {
    /// `Owner/ID` (S3 requires it to be the resource's owner).
    pub owner_id: Option<String>,
    pub grants: Vec<AclGrant>,
}

/// PutPublicAccessBlock's four settings, as the document gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlockDoc {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// ListObjectVersions page. ringstore keeps one version per key, the
/// `null` one, so every listed object is a latest version with id `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListVersionsPage {
    pub bucket: String,
    pub prefix: String,
    pub key_marker: String,
    pub version_id_marker: String,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub is_truncated: bool,
    pub encoding_url: bool,
    /// Versions and delete markers, in listing order.
    pub versions: Vec<VersionEntry>,
    pub common_prefixes: Vec<String>,
}

/// One row of ListObjectVersions: a Version or a DeleteMarker element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    /// As clients see it (`version_id_string`).
    pub version_id: String,
    pub is_latest: bool,
    pub delete_marker: bool,
    pub last_modified_millis: i64,
    /// Unquoted (objects only).
    pub etag: String,
    pub size: u64,
    pub owner: Option<Owner>,
}

/// DeleteObjects request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    pub quiet: bool,
    /// (key, version id).
    pub objects: Vec<(String, Option<String>)>,
}

/// One `<Part>` of CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// Unquoted.
    pub etag: String,
    /// (algorithm, base64 digest) for each Checksum* element sent.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// What a CompleteMultipartUpload request says of the whole object's
/// checksum: `x-amz-checksum-type`, and an `x-amz-checksum-*` value
/// (algorithm, raw digest, the `-N` part count of a composite value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompleteChecksum {
    pub checksum_type: Option<ChecksumType>,
    pub value: Option<(ChecksumAlgorithm, Vec<u8>, Option<u32>)>,
}

/// The name S3 uses in element names (`Checksum<NAME>`) and headers.
pub fn checksum_name(a: ChecksumAlgorithm) -> &'static str {
    match a {
        ChecksumAlgorithm::Crc32 => "CRC32",
        ChecksumAlgorithm::Crc32c => "CRC32C",
        ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
        ChecksumAlgorithm::Sha1 => "SHA1",
        ChecksumAlgorithm::Sha256 => "SHA256",
    }
}

#[cfg(test)]
mod version_id_tests {
    use super::*;

    proptest::proptest! {
        /// Every id prints as 32 lowercase hex digits (or `null`) and parses back.
        #[test]
        fn version_ids_round_trip(id in proptest::prelude::any::<u128>()) {
            let s = version_id_string(id);
            proptest::prop_assert!(s == NULL_VERSION_ID || s.len() == 32);
            proptest::prop_assert_eq!(parse_version_id(&s), Some(id));
        }

        /// Anything else a client sends is refused, never misread.
        #[test]
        fn other_strings_are_not_version_ids(s in "\\PC{0,40}") {
            if let Some(id) = parse_version_id(&s) {
                proptest::prop_assert_eq!(version_id_string(id), s);
            }
        }
    }

    #[test]
    fn near_misses_are_refused() {
        for s in [
            "",
            "NULL",
            "Null",
            "0",
            &"0".repeat(32),
            &"A".repeat(32),
            &"a".repeat(31),
            &"a".repeat(33),
        ] {
            assert_eq!(parse_version_id(s), None, "{s:?}");
        }
    }
}
