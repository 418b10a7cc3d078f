//! The routing table: method + target (service, bucket, object) + query
//! sub-resources → S3 operation. Ordinary parameters (`prefix`, `x-id`, ...)
//! never change the operation; only the sub-resources below do.

use crate::s3::query::Query;

/// The request methods the router distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Other,
}

macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// Every S3 operation ringstore serves, plus `Unknown` (not served: the
        /// server answers NotImplemented or MethodNotAllowed).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation { $($op,)* }

        impl Operation {
            /// All operations, for metrics tables and tests.
            pub const ALL: &'static [Operation] = &[$(Operation::$op,)*];

            /// The operation name as the AWS API Reference spells it.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$op => stringify!($op),)* }
            }
        }
    };
}

operations! {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketVersioning,
    PutBucketVersioning,
    ListObjectVersions,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketLifecycle,
    PutBucketLifecycle,
    DeleteBucketLifecycle,
    GetBucketLogging,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketPolicyStatus,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    GetPublicAccessBlock,
    GetBucketOwnershipControls,
    GetBucketWebsite,
    GetBucketReplication,
    GetObjectLockConfiguration,
    GetBucketNotificationConfiguration,
    GetBucketRequestPayment,
    GetBucketAccelerateConfiguration,
    ListObjectsV1,
    ListObjectsV2,
    ListMultipartUploads,
    PutObject,
    PostObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    DeleteObjects,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAttributes,
    GetObjectTorrent,
    GetObjectAcl,
    PutObjectAcl,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    OptionsPreflight,
    Unknown,
}

/// S3 sub-resources ringstore does not implement. A request naming one must
/// not fall through to a plain GET/PUT/DELETE (`PUT /b?policy` is not
/// CreateBucket, `DELETE /b/k?retention` is not DeleteObject).
const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "analytics",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "session",
    "website",
];

/// Chooses the operation. `bucket` and `key` come from `addressing::split_target`;
/// `has_copy_source` is whether `x-amz-copy-source` is present.
/// Bucket configurations ringstore has no way to set: reading one answers
/// as S3 answers for a bucket without it (tools such as Terraform read them
/// all); setting one stays NotImplemented.
const UNSET_CONFIGURATIONS: &[(&str, Operation)] = &[
    ("website", Operation::GetBucketWebsite),
    ("replication", Operation::GetBucketReplication),
    ("object-lock", Operation::GetObjectLockConfiguration),
    (
        "notification",
        Operation::GetBucketNotificationConfiguration,
    ),
    ("requestPayment", Operation::GetBucketRequestPayment),
    ("accelerate", Operation::GetBucketAccelerateConfiguration),
];

/// Sub-resources of a bucket that an object request must not fall through.
const BUCKET_ONLY_SUBRESOURCES: &[&str] = &[
    "encryption",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
];

pub fn route(
    method: HttpMethod,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &Query,
    has_copy_source: bool,
) -> Operation {
    if method == HttpMethod::Get && bucket.is_some() && key.is_none() {
        if let Some(op) = first_of(query, UNSET_CONFIGURATIONS) {
            return op;
        }
    }
    if UNSUPPORTED_SUBRESOURCES.iter().any(|s| query.has(s)) {
        return Operation::Unknown;
    }
    // GET ?torrent has an operation of its own (it answers NoSuchKey for a
    // missing key); any other method with it is not served.
    if query.has("torrent") {
        return match (method, key) {
            (HttpMethod::Get, Some(_)) => Operation::GetObjectTorrent,
            _ => Operation::Unknown,
        };
    }
    // Bucket-only sub-resources (`PUT /b/k?encryption` is no PutObject).
    if key.is_some() && BUCKET_ONLY_SUBRESOURCES.iter().any(|s| query.has(s)) {
        return Operation::Unknown;
    }
    match (bucket, key) {
        (None, _) => route_service(method),
        (Some(_), None) => route_bucket(method, query),
        (Some(_), Some(_)) => route_object(method, query, has_copy_source),
    }
}

fn route_service(method: HttpMethod) -> Operation {
    match method {
        HttpMethod::Get => Operation::ListBuckets,
        _ => Operation::Unknown,
    }
}

fn route_bucket(method: HttpMethod, q: &Query) -> Operation {
    use Operation as O;
    match method {
        HttpMethod::Get => first_of(
            q,
            &[
                ("location", O::GetBucketLocation),
                ("versioning", O::GetBucketVersioning),
                ("versions", O::ListObjectVersions),
                ("cors", O::GetBucketCors),
                ("acl", O::GetBucketAcl),
                ("lifecycle", O::GetBucketLifecycle),
                ("logging", O::GetBucketLogging),
                ("tagging", O::GetBucketTagging),
                ("encryption", O::GetBucketEncryption),
                ("policyStatus", O::GetBucketPolicyStatus),
                ("policy", O::GetBucketPolicy),
                ("publicAccessBlock", O::GetPublicAccessBlock),
                ("ownershipControls", O::GetBucketOwnershipControls),
                ("uploads", O::ListMultipartUploads),
            ],
        )
        .unwrap_or_else(|| match q.get("list-type") {
            None => O::ListObjectsV1,
            Some("2") => O::ListObjectsV2,
            Some(_) => O::Unknown,
        }),
        HttpMethod::Head => O::HeadBucket,
        HttpMethod::Put => first_of(
            q,
            &[
                ("versioning", O::PutBucketVersioning),
                ("cors", O::PutBucketCors),
                ("acl", O::PutBucketAcl),
                ("lifecycle", O::PutBucketLifecycle),
                ("tagging", O::PutBucketTagging),
                ("encryption", O::PutBucketEncryption),
                ("policy", O::PutBucketPolicy),
                ("publicAccessBlock", O::PutPublicAccessBlock),
                ("ownershipControls", O::PutBucketOwnershipControls),
                ("logging", O::Unknown),
            ],
        )
        .unwrap_or(O::CreateBucket),
        HttpMethod::Delete => first_of(
            q,
            &[
                ("cors", O::DeleteBucketCors),
                ("lifecycle", O::DeleteBucketLifecycle),
                ("tagging", O::DeleteBucketTagging),
                ("encryption", O::DeleteBucketEncryption),
                ("policy", O::DeleteBucketPolicy),
                ("publicAccessBlock", O::DeletePublicAccessBlock),
                ("ownershipControls", O::DeleteBucketOwnershipControls),
            ],
        )
        .unwrap_or(O::DeleteBucket),
        HttpMethod::Post if q.has("delete") => O::DeleteObjects,
        HttpMethod::Post => O::PostObject,
        HttpMethod::Options => O::OptionsPreflight,
        HttpMethod::Other => O::Unknown,
    }
}

fn route_object(method: HttpMethod, q: &Query, has_copy_source: bool) -> Operation {
    use Operation as O;
    match method {
        HttpMethod::Get => first_of(
            q,
            &[
                ("uploadId", O::ListParts),
                ("tagging", O::GetObjectTagging),
                ("acl", O::GetObjectAcl),
                ("attributes", O::GetObjectAttributes),
            ],
        )
        .unwrap_or(O::GetObject),
        HttpMethod::Head => O::HeadObject,
        HttpMethod::Put => {
            if q.has("uploadId") || q.has("partNumber") {
                match (q.has("uploadId") && q.has("partNumber"), has_copy_source) {
                    (true, true) => O::UploadPartCopy,
                    (true, false) => O::UploadPart,
                    (false, _) => O::Unknown,
                }
            } else if q.has("tagging") {
                O::PutObjectTagging
            } else if q.has("acl") {
                O::PutObjectAcl
            } else if has_copy_source {
                O::CopyObject
            } else {
                O::PutObject
            }
        }
        HttpMethod::Post => first_of(
            q,
            &[
                ("uploads", O::CreateMultipartUpload),
                ("uploadId", O::CompleteMultipartUpload),
            ],
        )
        .unwrap_or(O::Unknown),
        HttpMethod::Delete => first_of(
            q,
            &[
                ("uploadId", O::AbortMultipartUpload),
                ("tagging", O::DeleteObjectTagging),
            ],
        )
        .unwrap_or(O::DeleteObject),
        HttpMethod::Options => O::OptionsPreflight,
        HttpMethod::Other => O::Unknown,
    }
}

/// The operation of the first listed sub-resource present in the query.
fn first_of(q: &Query, table: &[(&str, Operation)]) -> Option<Operation> {
    table
        .iter()
        .find(|(name, _)| q.has(name))
        .map(|&(_, op)| op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Parses `METHOD /target?query [copy]` and routes it: path style, first
    /// segment bucket, rest key.
    fn route_line(line: &str) -> Operation {
        let mut words = line.split(' ');
        let method = match words.next().unwrap() {
            "GET" => HttpMethod::Get,
            "HEAD" => HttpMethod::Head,
            "PUT" => HttpMethod::Put,
            "POST" => HttpMethod::Post,
            "DELETE" => HttpMethod::Delete,
            "OPTIONS" => HttpMethod::Options,
            _ => HttpMethod::Other,
        };
        let target = words.next().unwrap();
        let copy = words.next() == Some("copy");
        let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        let path = path.strip_prefix('/').unwrap();
        let (bucket, key) = match path.split_once('/') {
            Some((b, k)) => (b, Some(k).filter(|k| !k.is_empty())),
            None => (path, None),
        };
        let bucket = Some(bucket).filter(|b| !b.is_empty());
        let query = Query::parse(raw_query).unwrap();
        route(method, bucket, key, &query, copy)
    }

    const TABLE: &[(&str, Operation)] = &[
        ("GET /", Operation::ListBuckets),
        ("GET /?x-id=ListBuckets", Operation::ListBuckets),
        ("PUT /b", Operation::CreateBucket),
        ("HEAD /b", Operation::HeadBucket),
        ("DELETE /b", Operation::DeleteBucket),
        ("GET /b?location", Operation::GetBucketLocation),
        ("GET /b?versioning", Operation::GetBucketVersioning),
        ("PUT /b?versioning", Operation::PutBucketVersioning),
        ("GET /b?versions&prefix=a", Operation::ListObjectVersions),
        ("GET /b?cors", Operation::GetBucketCors),
        ("PUT /b?cors", Operation::PutBucketCors),
        ("DELETE /b?cors", Operation::DeleteBucketCors),
        ("GET /b?acl", Operation::GetBucketAcl),
        ("PUT /b?acl", Operation::PutBucketAcl),
        ("GET /b?lifecycle", Operation::GetBucketLifecycle),
        ("PUT /b?lifecycle", Operation::PutBucketLifecycle),
        ("DELETE /b?lifecycle", Operation::DeleteBucketLifecycle),
        ("GET /b?logging", Operation::GetBucketLogging),
        ("GET /b?tagging", Operation::GetBucketTagging),
        ("PUT /b?tagging", Operation::PutBucketTagging),
        ("DELETE /b?tagging", Operation::DeleteBucketTagging),
        ("GET /b?policyStatus", Operation::GetBucketPolicyStatus),
        ("GET /b", Operation::ListObjectsV1),
        ("GET /b?prefix=a&marker=m", Operation::ListObjectsV1),
        ("GET /b?list-type=2", Operation::ListObjectsV2),
        (
            "GET /b?list-type=2&prefix=x&delimiter=%2F",
            Operation::ListObjectsV2,
        ),
        ("GET /b?uploads", Operation::ListMultipartUploads),
        ("POST /b?delete", Operation::DeleteObjects),
        ("OPTIONS /b", Operation::OptionsPreflight),
        ("PUT /b/k", Operation::PutObject),
        ("PUT /b/k copy", Operation::CopyObject),
        ("GET /b/k", Operation::GetObject),
        ("GET /b/k?partNumber=2", Operation::GetObject),
        ("GET /b/k?response-content-type=a", Operation::GetObject),
        ("HEAD /b/k", Operation::HeadObject),
        ("DELETE /b/k", Operation::DeleteObject),
        ("GET /b/k?tagging", Operation::GetObjectTagging),
        ("PUT /b/k?tagging", Operation::PutObjectTagging),
        ("DELETE /b/k?tagging", Operation::DeleteObjectTagging),
        ("GET /b/k?attributes", Operation::GetObjectAttributes),
        ("GET /b/k?torrent", Operation::GetObjectTorrent),
        ("PUT /b/k?torrent", Operation::Unknown),
        ("GET /b?torrent", Operation::Unknown),
        ("GET /b/k?acl", Operation::GetObjectAcl),
        ("PUT /b/k?acl", Operation::PutObjectAcl),
        ("POST /b/k?uploads", Operation::CreateMultipartUpload),
        ("PUT /b/k?partNumber=1&uploadId=u", Operation::UploadPart),
        (
            "PUT /b/k?partNumber=1&uploadId=u copy",
            Operation::UploadPartCopy,
        ),
        ("POST /b/k?uploadId=u", Operation::CompleteMultipartUpload),
        ("DELETE /b/k?uploadId=u", Operation::AbortMultipartUpload),
        ("GET /b/k?uploadId=u", Operation::ListParts),
        ("GET /b/k?uploadId=u&max-parts=2", Operation::ListParts),
        ("OPTIONS /b/k", Operation::OptionsPreflight),
        // Keys that look like sub-resources or contain slashes.
        ("GET /b/a/b/c", Operation::GetObject),
        ("PUT /b//lead", Operation::PutObject),
        // Unknown combinations.
        ("POST /b/k", Operation::Unknown),
        ("POST /b", Operation::PostObject),
        ("POST /", Operation::Unknown),
        ("PUT /", Operation::Unknown),
        ("DELETE /", Operation::Unknown),
        ("OPTIONS /", Operation::Unknown),
        ("GET /b?policy", Operation::GetBucketPolicy),
        ("GET /b?encryption", Operation::GetBucketEncryption),
        ("GET /b?publicAccessBlock", Operation::GetPublicAccessBlock),
        (
            "GET /b?ownershipControls",
            Operation::GetBucketOwnershipControls,
        ),
        ("GET /b?website", Operation::GetBucketWebsite),
        ("GET /b?replication", Operation::GetBucketReplication),
        ("GET /b?object-lock", Operation::GetObjectLockConfiguration),
        (
            "GET /b?notification",
            Operation::GetBucketNotificationConfiguration,
        ),
        ("GET /b?requestPayment", Operation::GetBucketRequestPayment),
        (
            "GET /b?accelerate",
            Operation::GetBucketAccelerateConfiguration,
        ),
        ("GET /b/k?website", Operation::Unknown),
        ("PUT /b?website", Operation::Unknown),
        ("PUT /b?encryption", Operation::PutBucketEncryption),
        ("DELETE /b?encryption", Operation::DeleteBucketEncryption),
        ("PUT /b/k?encryption", Operation::Unknown),
        ("PUT /b?policy", Operation::PutBucketPolicy),
        ("DELETE /b?policy", Operation::DeleteBucketPolicy),
        ("PUT /b?publicAccessBlock", Operation::PutPublicAccessBlock),
        (
            "DELETE /b?publicAccessBlock",
            Operation::DeletePublicAccessBlock,
        ),
        (
            "PUT /b?ownershipControls",
            Operation::PutBucketOwnershipControls,
        ),
        (
            "DELETE /b?ownershipControls",
            Operation::DeleteBucketOwnershipControls,
        ),
        ("PUT /b/k?policy", Operation::Unknown),
        ("GET /b/k?publicAccessBlock", Operation::Unknown),
        ("PUT /b?logging", Operation::Unknown),
        ("GET /b?list-type=3", Operation::Unknown),
        ("PUT /b/k?uploadId=u", Operation::Unknown),
        ("PUT /b/k?partNumber=1", Operation::Unknown),
        ("DELETE /b/k?retention", Operation::Unknown),
        ("POST /b/k?restore", Operation::Unknown),
        ("PATCH /b/k", Operation::Unknown),
        ("PATCH /b", Operation::Unknown),
    ];

    #[test]
    fn routing_table() {
        for (line, want) in TABLE {
            assert_eq!(route_line(line), *want, "{line}");
        }
    }

    #[test]
    fn table_covers_every_operation() {
        let covered: HashSet<Operation> = TABLE.iter().map(|(_, op)| *op).collect();
        for op in Operation::ALL {
            assert!(covered.contains(op), "no routing test for {op:?}");
        }
        assert_eq!(Operation::ListObjectsV2.name(), "ListObjectsV2");
    }
}
