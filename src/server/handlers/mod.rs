//! One module per family of S3 operations; `dispatch` is the only entry.

pub mod bucket;
pub mod copy;
pub mod list;
pub mod multipart;
pub mod object;
pub mod tagging;

use super::body::BodyReader;
use super::conn::Conn;
use super::request::{access_denied, owns, Principal, Req};
use super::respond::Response;
use super::shard::ShardCtx;
use crate::catalog::{Bucket, CannedAcl};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;
use std::rc::Rc;

/// Runs the operation `req.op` names.
pub async fn dispatch(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
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
        Operation::CreateMultipartUpload => multipart::create(ctx, req).await,
        Operation::UploadPart => multipart::upload_part(ctx, conn, req, body).await,
        Operation::CompleteMultipartUpload => multipart::complete(ctx, conn, req, body).await,
        Operation::AbortMultipartUpload => multipart::abort(ctx, req).await,
        Operation::ListParts => multipart::list_parts(ctx, req).await,
        Operation::ListMultipartUploads => multipart::list_uploads(ctx, req).await,
        Operation::CopyObject => copy::copy_object(ctx, req).await,
        Operation::UploadPartCopy => copy::upload_part_copy(ctx, req).await,
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented).with_message(
            "A header or query you provided implies functionality that is not implemented.",
        )),
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
pub fn bucket_for(ctx: &ShardCtx, req: &Req, access: Access) -> Result<Bucket, S3Error> {
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
) -> Result<Bucket, S3Error> {
    let bucket = ctx.with_catalog(|c| c.bucket(name).cloned());
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
