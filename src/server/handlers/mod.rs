//! One module per family of S3 operations; `dispatch` is the only entry.

pub mod access_config;
pub mod acl;
pub mod bucket;
pub mod bucket_config;
pub mod copy;
pub mod list;
pub mod multipart;
pub mod object;
pub mod post_object;
pub mod protection;
pub mod tagging;

use super::access::{action_for, authorize, check_expected_owner, decide_for, Question};
use super::body::BodyReader;
use super::conn::Conn;
use super::request::{access_denied, Req};
use super::respond::Response;
use super::shard::ShardCtx;
use crate::access::Action;
use crate::auth::{requested_checksum, BodyDigests, PayloadMode};
use crate::catalog::Bucket;
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
        Operation::PostObject => post_object::post(ctx, conn, req, body).await,
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
        Operation::GetBucketAcl => acl::get_bucket_acl(ctx, req),
        Operation::PutBucketAcl => acl::put_bucket_acl(ctx, conn, req, body).await,
        Operation::GetObjectAcl => acl::get_object_acl(ctx, req).await,
        Operation::PutObjectAcl => acl::put_object_acl(ctx, conn, req, body).await,
        Operation::GetBucketPolicy => access_config::get_policy(ctx, req),
        Operation::PutBucketPolicy => access_config::put_policy(ctx, conn, req, body).await,
        Operation::DeleteBucketPolicy => access_config::delete_policy(ctx, req).await,
        Operation::GetPublicAccessBlock => access_config::get_public_access_block(ctx, req),
        Operation::PutPublicAccessBlock => {
            access_config::put_public_access_block(ctx, conn, req, body).await
        }
        Operation::DeletePublicAccessBlock => {
            access_config::delete_public_access_block(ctx, req).await
        }
        Operation::GetBucketOwnershipControls => access_config::get_ownership_controls(ctx, req),
        Operation::PutBucketOwnershipControls => {
            access_config::put_ownership_controls(ctx, conn, req, body).await
        }
        Operation::DeleteBucketOwnershipControls => {
            access_config::delete_ownership_controls(ctx, req).await
        }
        Operation::GetBucketVersioning => bucket_config::get_versioning(ctx, req),
        Operation::PutBucketVersioning => bucket_config::put_versioning(ctx, conn, req, body).await,
        Operation::GetBucketTagging => bucket_config::get_tagging(ctx, req),
        Operation::PutBucketTagging => bucket_config::put_tagging(ctx, conn, req, body).await,
        Operation::DeleteBucketTagging => bucket_config::delete_tagging(ctx, req).await,
        Operation::GetBucketLogging => bucket_config::get_logging(ctx, req),
        Operation::GetBucketPolicyStatus => access_config::get_policy_status(ctx, req),
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
        Operation::GetBucketWebsite
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
    Operation::PutObjectAcl,
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

/// The request's bucket, if it exists, its owner is the one the request
/// expects, and the requester may do the operation's S3 action
/// (`access::action_for`) on it or on its key.
pub fn bucket_for(ctx: &ShardCtx, req: &Req) -> Result<Arc<Bucket>, S3Error> {
    let name = bucket_name(req)?;
    let action = request_action(req);
    bucket_named(ctx, req, name, req.key.as_deref(), action, EXPECTED_OWNER)
}

fn bucket_name(req: &Req) -> Result<&str, S3Error> {
    req.bucket.as_deref().ok_or_else(|| {
        S3Error::new(S3ErrorCode::InvalidRequest).with_message("A bucket name is required")
    })
}

/// The S3 action the request's operation asks for.
pub fn request_action(req: &Req) -> Action {
    action_for(req.op, req.query.get("versionId").is_some())
}

/// The header that names the bucket owner a request expects.
pub const EXPECTED_OWNER: &str = "x-amz-expected-bucket-owner";
/// The same for a copy's source bucket.
pub const SOURCE_EXPECTED_OWNER: &str = "x-amz-source-expected-bucket-owner";

/// Bucket `name`, if it exists, its owner is the one `owner_header`
/// expects, and the requester may do `action` on it (or on `key` in it).
pub fn bucket_named(
    ctx: &ShardCtx,
    req: &Req,
    name: &str,
    key: Option<&str>,
    action: Action,
    owner_header: &str,
) -> Result<Arc<Bucket>, S3Error> {
    let bucket = existing_bucket(ctx, req, name, owner_header)?;
    authorize(ctx, req, &bucket, &Question::new(action, key))?;
    Ok(bucket)
}

/// Bucket `name` if it exists (NoSuchBucket otherwise, to anonymous
/// requests too, as S3 answers) and its owner is the expected one; no
/// permission is checked (the caller checks per key).
pub fn existing_bucket(
    ctx: &ShardCtx,
    req: &Req,
    name: &str,
    owner_header: &str,
) -> Result<Arc<Bucket>, S3Error> {
    let Some(bucket) = ctx.with_catalog(|c| c.shared_bucket(name)) else {
        return Err(S3Error::new(S3ErrorCode::NoSuchBucket)
            .with_message("The specified bucket does not exist")
            .with("BucketName", name.to_string()));
    };
    check_expected_owner(ctx, req, &bucket, owner_header)?;
    Ok(bucket)
}

/// For operations on an existing object (reading it, its tags, attributes
/// or ACL): the bucket, and the decision still owed once the object's
/// metadata is known (a policy may ask about its tags,
/// `s3:ExistingObjectTag/<key>`).
pub fn bucket_for_object(
    ctx: &ShardCtx,
    req: &Req,
) -> Result<(Arc<Bucket>, ObjectAccess<'static>), S3Error> {
    let name = bucket_name(req)?;
    let key = req.key.as_deref().unwrap_or("");
    bucket_named_for_object(ctx, req, name, key, request_action(req), EXPECTED_OWNER)
}

/// [`bucket_for_object`] for bucket `name` and `key` (a copy's source).
pub fn bucket_named_for_object(
    ctx: &ShardCtx,
    req: &Req,
    name: &str,
    key: &str,
    action: Action,
    owner_header: &str,
) -> Result<(Arc<Bucket>, ObjectAccess<'static>), S3Error> {
    let bucket = existing_bucket(ctx, req, name, owner_header)?;
    // Without a policy nothing can depend on the object's tags: decide now
    // (a denial is still answered after the lookup, which tells whether
    // the key exists to those who may list the bucket).
    let settled = bucket
        .policy
        .is_none()
        .then(|| decide_for(ctx, req, &bucket, &Question::new(action, Some(key))).allowed());
    let access = ObjectAccess {
        action,
        request_tags: &[],
        settled,
    };
    Ok((bucket, access))
}

/// A decision on an existing object that [`ObjectAccess::check`] settles
/// once the object's metadata has been read.
#[must_use = "an object's access must be checked once its metadata is known"]
pub struct ObjectAccess<'t> {
    action: Action,
    /// Tags the request sets (PutObjectTagging), for `s3:RequestObjectTag`.
    request_tags: &'t [(String, String)],
    /// Whether the action is allowed, when that is decided already (the
    /// bucket has no policy).
    settled: Option<bool>,
}

impl<'t> ObjectAccess<'t> {
    /// The tags the request sets on the object.
    pub fn setting_tags(self, request_tags: &'t [(String, String)]) -> ObjectAccess<'t> {
        ObjectAccess {
            request_tags,
            ..self
        }
    }

    /// Denied already: the lookup need only say whether the key exists
    /// (no data is read for a request that will be refused).
    pub fn denied(&self) -> bool {
        self.settled == Some(false)
    }

    /// Settles the decision with the outcome of the object's lookup. A
    /// requester who may not do the action learns nothing about the
    /// object (AccessDenied, not its errors); a missing object answers
    /// NoSuchKey only to one who may list the bucket (S3 answers 403
    /// otherwise, so keys cannot be probed).
    pub fn check<T>(
        self,
        ctx: &ShardCtx,
        req: &Req,
        bucket: &Bucket,
        key: &str,
        found: Result<T, S3Error>,
        meta: impl FnOnce(&T) -> &crate::store::ObjectMeta,
    ) -> Result<T, S3Error> {
        let err = match found {
            Ok(v) => {
                match self.settled {
                    Some(true) => {}
                    Some(false) => return Err(access_denied()),
                    None => {
                        let q = Question {
                            existing_tags: &meta(&v).tags,
                            request_tags: self.request_tags,
                            ..Question::new(self.action, Some(key))
                        };
                        authorize(ctx, req, bucket, &q)?;
                    }
                }
                return Ok(v);
            }
            Err(e) => e,
        };
        let missing = matches!(
            err.code,
            S3ErrorCode::NoSuchKey | S3ErrorCode::NoSuchVersion
        );
        let visible = if missing {
            decide_for(ctx, req, bucket, &Question::new(Action::ListBucket, None)).allowed()
        } else {
            self.settled.unwrap_or_else(|| {
                decide_for(ctx, req, bucket, &Question::new(self.action, Some(key))).allowed()
            })
        };
        Err(if visible { err } else { access_denied() })
    }
}
