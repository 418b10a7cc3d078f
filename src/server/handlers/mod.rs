//! One module per family of S3 operations; `dispatch` is the only entry.

pub mod bucket;
pub mod bucket_config;
pub mod copy;
pub mod list;
pub mod multipart;
pub mod object;
pub mod protection;
pub mod tagging;

use super::body::BodyReader;
use super::conn::Conn;
use super::request::{access_denied, owns, Principal, Req};
use super::respond::Response;
use super::shard::ShardCtx;
use crate::auth::{requested_checksum, BodyDigests, PayloadMode};
use crate::catalog::{Bucket, CannedAcl};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;
use std::rc::Rc;
use std::sync::Arc;

/// Runs the operation `req.op` names.
pub async fn dispatch(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    if VERSIONED_OBJECT_OPERATIONS.contains(&req.op) {
        if let Some(v) = req.query.get("versionId") {
            check_version_id("versionId", v)?;
        }
    }
    protection::refuse_object_lock(req)?;
    match req.op {
        Operation::ListBuckets => bucket::list_buckets(ctx, req),
        Operation::CreateBucket => bucket::create(ctx, conn, req, body).await,
        Operation::HeadBucket => bucket::head(ctx, req),
        Operation::DeleteBucket => bucket::delete(ctx, req).await,
        Operation::GetBucketLocation => bucket::location(ctx, req),
        Operation::ListObjectsV2 => list::list_objects(ctx, req, true).await,
        Operation::ListObjectsV1 => list::list_objects(ctx, req, false).await,
        Operation::PutObject => object::put(ctx, conn, req, body).await,
        Operation::GetObject => object::get(ctx, req, false).await,
        Operation::HeadObject => object::get(ctx, req, true).await,
        Operation::DeleteObject => object::delete(ctx, req).await,
        Operation::DeleteObjects => object::delete_many(ctx, conn, req, body).await,
        Operation::GetObjectTagging => tagging::get_tagging(ctx, req).await,
        Operation::PutObjectTagging => tagging::put_tagging(ctx, conn, req, body).await,
        Operation::DeleteObjectTagging => tagging::delete_tagging(ctx, req).await,
        Operation::GetObjectAttributes => tagging::get_attributes(ctx, req).await,
        Operation::GetObjectTorrent => tagging::get_torrent(ctx, req).await,
        Operation::CreateMultipartUpload => multipart::create(ctx, req).await,
        Operation::UploadPart => multipart::upload_part(ctx, conn, req, body).await,
        Operation::CompleteMultipartUpload => multipart::complete(ctx, conn, req, body).await,
        Operation::AbortMultipartUpload => multipart::abort(ctx, req).await,
        Operation::ListParts => multipart::list_parts(ctx, req).await,
        Operation::ListMultipartUploads => multipart::list_uploads(ctx, req).await,
        Operation::CopyObject => copy::copy_object(ctx, req).await,
        Operation::UploadPartCopy => copy::upload_part_copy(ctx, req).await,
        Operation::ListObjectVersions => list::list_versions(ctx, req).await,
        Operation::GetBucketAcl => bucket_config::get_acl(ctx, req),
        Operation::PutBucketAcl => bucket_config::put_acl(ctx, conn, req, body).await,
        Operation::GetObjectAcl => bucket_config::get_object_acl(ctx, req).await,
        Operation::PutObjectAcl => bucket_config::put_object_acl(ctx, conn, req, body).await,
        Operation::GetBucketVersioning => bucket_config::get_versioning(ctx, req),
        Operation::PutBucketVersioning => bucket_config::put_versioning(ctx, conn, req, body).await,
        Operation::GetBucketTagging => bucket_config::get_tagging(ctx, req),
        Operation::PutBucketTagging => bucket_config::put_tagging(ctx, conn, req, body).await,
        Operation::DeleteBucketTagging => bucket_config::delete_tagging(ctx, req).await,
        Operation::GetBucketLogging => bucket_config::get_logging(ctx, req),
        Operation::GetBucketPolicyStatus => bucket_config::get_policy_status(ctx, req),
        Operation::GetBucketLifecycle => bucket_config::get_lifecycle(ctx, req),
        Operation::PutBucketLifecycle => bucket_config::put_lifecycle(ctx, conn, req, body).await,
        Operation::DeleteBucketLifecycle => bucket_config::delete_lifecycle(ctx, req).await,
        Operation::GetBucketCors => bucket_config::get_cors(ctx, req),
        Operation::PutBucketCors => bucket_config::put_cors(ctx, conn, req, body).await,
        Operation::DeleteBucketCors => bucket_config::delete_cors(ctx, req).await,
        Operation::OptionsPreflight => crate::server::cors::preflight(ctx, req),
        Operation::GetBucketEncryption => bucket_config::get_encryption(ctx, req),
        Operation::PutBucketEncryption => bucket_config::put_encryption(ctx, conn, req, body).await,
        Operation::DeleteBucketEncryption => bucket_config::delete_encryption(ctx, req).await,
        Operation::GetBucketPolicy
        | Operation::GetPublicAccessBlock
        | Operation::GetBucketOwnershipControls
        | Operation::GetBucketWebsite
        | Operation::GetBucketReplication
        | Operation::GetObjectLockConfiguration
        | Operation::GetBucketNotificationConfiguration
        | Operation::GetBucketRequestPayment
        | Operation::GetBucketAccelerateConfiguration => {
            bucket_config::get_unset_configuration(ctx, req)
        }
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented).with_message(
            "A header or query you provided implies functionality that is not implemented.",
        )),
    }
}

/// Operations on one object that take `?versionId=`.
const VERSIONED_OBJECT_OPERATIONS: &[Operation] = &[
    Operation::GetObject,
    Operation::HeadObject,
    Operation::DeleteObject,
    Operation::GetObjectTagging,
    Operation::PutObjectTagging,
    Operation::DeleteObjectTagging,
    Operation::GetObjectAttributes,
    Operation::GetObjectTorrent,
    Operation::GetObjectAcl,
];

/// Parses a version id from the request: `null`, or one this server
/// issued (32 hex digits); anything else is one S3 could not have issued,
/// which it answers as an invalid version id.
pub fn check_version_id(argument: &str, version_id: &str) -> Result<u128, S3Error> {
    crate::s3::model::parse_version_id(version_id).ok_or_else(|| {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("Invalid version id specified")
            .with("ArgumentName", argument.to_string())
            .with("ArgumentValue", version_id.to_string())
    })
}

/// The `versionId` query parameter, parsed (None when absent).
pub fn requested_version(req: &Req) -> Result<Option<u128>, S3Error> {
    req.query
        .get("versionId")
        .map(|v| check_version_id("versionId", v))
        .transpose()
}

/// The digests a body is verified against: payload hash, Content-MD5, flexible checksum.
pub fn body_digests(req: &Req) -> Result<BodyDigests, S3Error> {
    body_digests_with(req, None)
}

/// The digests of a request body that is a message about an object (the
/// Complete XML): Content-MD5 and the payload hash, no flexible checksum.
pub fn body_digests_of_message(req: &Req) -> Result<BodyDigests, S3Error> {
    let payload = req
        .auth
        .as_ref()
        .map(|a| a.payload)
        .unwrap_or(PayloadMode::Unsigned);
    let content_md5 = req.head.header_bytes("content-md5");
    BodyDigests::new(&payload, content_md5, None).map_err(S3Error::from)
}

/// [`body_digests`], computing `server_side` when the request names no
/// checksum of its own (a FULL_OBJECT upload's part).
pub fn body_digests_with(
    req: &Req,
    server_side: Option<crate::types::ChecksumAlgorithm>,
) -> Result<BodyDigests, S3Error> {
    let headers: Vec<(&str, &[u8])> = req.head.headers().collect();
    let trailer_alg = req.auth.as_ref().and_then(|a| a.trailer);
    let from_headers = requested_checksum(&headers).map_err(S3Error::from)?;
    if let (Some((_, None)), None) = (&from_headers, trailer_alg) {
        return Err(sdk_algorithm_without_checksum());
    }
    // x-amz-trailer alone announces the algorithm (x-amz-sdk-checksum-algorithm is optional).
    let requested = from_headers
        .or(trailer_alg.map(|alg| (alg, None)))
        .or(server_side.map(|alg| (alg, None)));
    let payload = req
        .auth
        .as_ref()
        .map(|a| a.payload)
        .unwrap_or(PayloadMode::Unsigned);
    let content_md5 = req.head.header_bytes("content-md5");
    BodyDigests::new(&payload, content_md5, requested).map_err(S3Error::from)
}

/// S3 refuses x-amz-sdk-checksum-algorithm that comes with neither the
/// checksum's header nor a trailer announcing it: the body it names would
/// go unchecked.
fn sdk_algorithm_without_checksum() -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest).with_message(
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.",
    )
}

/// S3 requires operations whose body must not be altered in transit
/// (DeleteObjects) to carry Content-MD5 or a flexible checksum, as a
/// header or announced for a trailer; without one the request is refused
/// before its body is read. Every AWS SDK sends one (older ones
/// Content-MD5, newer ones x-amz-checksum-crc32).
pub fn require_integrity_header(req: &Req) -> Result<(), S3Error> {
    if req.head.header_bytes("content-md5").is_some() {
        return Ok(());
    }
    let headers: Vec<(&str, &[u8])> = req.head.headers().collect();
    let trailer = req.auth.as_ref().and_then(|a| a.trailer);
    match (
        requested_checksum(&headers).map_err(S3Error::from)?,
        trailer,
    ) {
        (Some((_, Some(_))), _) | (_, Some(_)) => Ok(()),
        (Some((_, None)), None) => Err(sdk_algorithm_without_checksum()),
        (None, None) => Err(S3Error::new(S3ErrorCode::InvalidRequest)
            .with_message("Missing required header for this request: Content-MD5")),
    }
}

/// What an operation needs to be allowed to do on a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read objects or list.
    Read,
    /// Write or delete objects.
    Write,
    /// Bucket administration: owner (or root) only.
    Owner,
}

fn acl_allows(acl: CannedAcl, principal: Principal, access: Access) -> bool {
    let authenticated = !matches!(principal, Principal::Anonymous);
    match (acl, access) {
        (_, Access::Owner) => false,
        (CannedAcl::PublicRead, Access::Read) => true,
        (CannedAcl::PublicReadWrite, Access::Read | Access::Write) => true,
        (CannedAcl::AuthenticatedRead, Access::Read) => authenticated,
        _ => false,
    }
}

/// The request's bucket, if it exists and `req.principal` may use it for `access`.
pub fn bucket_for(ctx: &ShardCtx, req: &Req, access: Access) -> Result<Arc<Bucket>, S3Error> {
    let Some(name) = req.bucket.as_deref() else {
        return Err(
            S3Error::new(S3ErrorCode::InvalidRequest).with_message("A bucket name is required")
        );
    };
    bucket_named(ctx, req, name, access)
}

/// Bucket `name`, if it exists and `req.principal` may use it for `access`
/// (a copy source names a second bucket).
pub fn bucket_named(
    ctx: &ShardCtx,
    req: &Req,
    name: &str,
    access: Access,
) -> Result<Arc<Bucket>, S3Error> {
    let bucket = ctx.with_catalog(|c| c.shared_bucket(name));
    let Some(bucket) = bucket else {
        if req.principal == Principal::Anonymous {
            return Err(access_denied());
        }
        return Err(S3Error::new(S3ErrorCode::NoSuchBucket)
            .with_message("The specified bucket does not exist")
            .with("BucketName", name.to_string()));
    };
    if owns(req.principal, bucket.owner_id) || acl_allows(bucket.acl, req.principal, access) {
        return Ok(bucket);
    }
    Err(access_denied())
}
