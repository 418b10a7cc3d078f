//! Service and bucket operations: ListBuckets, CreateBucket, HeadBucket,
//! DeleteBucket, GetBucketLocation.

use super::bucket_for;
use crate::access::ObjectOwnership;
use crate::catalog::{CatalogError, CatalogOp, ROOT_CREDENTIAL_ID};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::names::validate_bucket_name;
use crate::s3::xml;
use crate::server::body::BodyReader;
use crate::server::catalog_service::change;
use crate::server::conn::Conn;
use crate::server::request::{access_denied, body_error, Principal, Req};
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use base64::Engine;

/// The region where S3 keeps its legacy CreateBucket answers (North Virginia).
const LEGACY_REGION: &str = "us-east-1";
/// Largest CreateBucketConfiguration body read.
const MAX_CREATE_BUCKET_BODY_BYTES: usize = 64 * 1024;

pub fn catalog_error(e: CatalogError, bucket: &str) -> S3Error {
    match e {
        CatalogError::BucketAlreadyOwnedByYou => S3Error::new(S3ErrorCode::BucketAlreadyOwnedByYou)
            .with_message("Your previous request to create the named bucket succeeded and you already own it.")
            .with("BucketName", bucket.to_string()),
        CatalogError::BucketAlreadyExists => S3Error::new(S3ErrorCode::BucketAlreadyExists)
            .with_message("The requested bucket name is not available. Please select a different name and try again.")
            .with("BucketName", bucket.to_string()),
        CatalogError::NoSuchBucket => S3Error::new(S3ErrorCode::NoSuchBucket)
            .with_message("The specified bucket does not exist")
            .with("BucketName", bucket.to_string()),
        CatalogError::BucketNotEmpty => S3Error::new(S3ErrorCode::BucketNotEmpty)
            .with_message("The bucket you tried to delete is not empty")
            .with("BucketName", bucket.to_string()),
        CatalogError::Invalid(m) => S3Error::new(S3ErrorCode::InvalidArgument).with_message(m),
        CatalogError::Busy(m) => S3Error::new(S3ErrorCode::ServiceUnavailable).with_message(m),
        CatalogError::AclNotSupported => S3Error::new(S3ErrorCode::AccessControlListNotSupported)
            .with_message("The bucket does not allow ACLs"),
        CatalogError::InvalidBucketAclWithObjectOwnership => {
            S3Error::new(S3ErrorCode::InvalidBucketAclWithObjectOwnership).with_message(
                "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
            )
        }
        CatalogError::PublicAccessBlocked => access_denied(),
        other => S3Error::new(S3ErrorCode::InternalError).with_message(format!("catalog: {other:?}")),
    }
}

/// S3's page size for ListBuckets, its default and its maximum.
pub const MAX_LIST_BUCKETS: usize = 10_000;

/// The paginated ListBuckets arguments S3 takes.
struct ListBucketsArgs {
    max: usize,
    /// Names after this one (decoded from `continuation-token`).
    after: Option<String>,
    prefix: Option<String>,
    region: Option<String>,
}

fn list_buckets_args(req: &Req) -> Result<ListBucketsArgs, S3Error> {
    let max = match req.query.get("max-buckets") {
        None => MAX_LIST_BUCKETS,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIST_BUCKETS).contains(n))
            .ok_or_else(|| {
                S3Error::new(S3ErrorCode::InvalidArgument)
                    .with_message("Argument max-buckets must be an integer between 1 and 10000")
                    .with("ArgumentName", "max-buckets".to_string())
                    .with("ArgumentValue", v.to_string())
            })?,
    };
    let after = match req.query.get("continuation-token") {
        None | Some("") => None,
        Some(t) => Some(decode_bucket_token(t).ok_or_else(|| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("The continuation token provided is incorrect")
                .with("ArgumentName", "continuation-token".to_string())
        })?),
    };
    let opt = |n: &str| {
        req.query
            .get(n)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(ListBucketsArgs {
        max,
        after,
        prefix: opt("prefix"),
        region: opt("bucket-region"),
    })
}

/// The continuation token: the last name listed, base64url (S3's tokens
/// are opaque; this one carries only what the caller already saw).
fn bucket_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last)
}

fn decode_bucket_token(t: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    String::from_utf8(raw).ok()
}

pub fn list_buckets(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let Principal::User { id } = req.principal else {
        return Err(access_denied());
    };
    let args = list_buckets_args(req)?;
    let owner = owner_of(ctx, id);
    let mut buckets = ctx.with_catalog(|c| {
        let list: Vec<xml::BucketEntry> = c
            .buckets()
            .filter(|b| id == ROOT_CREDENTIAL_ID || b.owner_id == id)
            .filter(|b| {
                args.prefix
                    .as_ref()
                    .is_none_or(|p| b.name.starts_with(p.as_str()))
            })
            .filter(|b| args.region.as_ref().is_none_or(|r| b.region == *r))
            .filter(|b| args.after.as_ref().is_none_or(|a| b.name > *a))
            .map(|b| xml::BucketEntry {
                name: b.name.clone(),
                creation_millis: b.created_millis,
                region: b.region.clone(),
            })
            .collect();
        list
    });
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    let truncated = buckets.len() > args.max;
    buckets.truncate(args.max);
    let continuation_token = truncated
        .then(|| buckets.last().map(|b| bucket_token(&b.name)))
        .flatten();
    let body = xml::list_buckets(&xml::ListBucketsPage {
        owner,
        buckets,
        continuation_token,
        prefix: args.prefix,
    });
    Ok(Response::xml(200, body))
}

/// Credential `owner_id` as S3 documents show an owner: its canonical
/// user id and display name.
pub fn owner_of(ctx: &ShardCtx, owner_id: u64) -> xml::Owner {
    ctx.with_catalog(|c| match c.identity(owner_id) {
        Some(u) => xml::Owner {
            id: u.canonical_id.clone(),
            display_name: u.user_name.clone(),
        },
        None => xml::Owner {
            id: crate::access::principal::derive_canonical_id(owner_id),
            display_name: String::new(),
        },
    })
}

/// The ownership controls a new bucket gets: `x-amz-object-ownership`, or
/// the server's default (`serve --object-ownership`).
fn ownership_for_create(ctx: &ShardCtx, req: &Req) -> Result<Option<ObjectOwnership>, S3Error> {
    match req.header("x-amz-object-ownership") {
        None => Ok(Some(ctx.config.default_object_ownership)),
        Some(v) => ObjectOwnership::parse(v.trim()).map(Some).ok_or_else(|| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Invalid x-amz-object-ownership header")
                .with("ArgumentName", "x-amz-object-ownership".to_string())
                .with("ArgumentValue", v.to_string())
        }),
    }
}

/// Reads a small body whole (XML documents), refusing anything larger than
/// `limit`, and verifies it as a PUT body is verified: the signed payload
/// SHA-256, Content-MD5 and an x-amz-checksum-* header. A tampered
/// DeleteObjects or configuration body is refused, not acted on.
pub async fn read_small_body(
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    limit: usize,
) -> Result<Vec<u8>, S3Error> {
    let digests = super::body_digests(req)?;
    read_body_checked(conn, req, body, limit, digests).await
}

/// [`read_small_body`] for CompleteMultipartUpload, whose x-amz-checksum-*
/// headers carry the object's checksum, not the XML body's: only
/// Content-MD5 and the signed payload hash are checked against the body.
pub async fn read_complete_body(
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    limit: usize,
) -> Result<Vec<u8>, S3Error> {
    let digests = super::body_digests_of_message(req)?;
    read_body_checked(conn, req, body, limit, digests).await
}

async fn read_body_checked(
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    limit: usize,
    mut digests: crate::auth::BodyDigests,
) -> Result<Vec<u8>, S3Error> {
    req.send_continue(conn).await.map_err(body_error)?;
    let mut out = Vec::new();
    while let Some(piece) = body.next(conn).await.map_err(body_error)? {
        if out.len() + piece.len() > limit {
            return Err(S3Error::new(S3ErrorCode::MalformedXML)
                .with_message("The XML you provided was too large"));
        }
        out.extend_from_slice(&piece);
    }
    digests.update(&out);
    digests.finish().map_err(S3Error::from)?;
    Ok(out)
}

pub async fn create(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let Principal::User { id } = req.principal else {
        return Err(access_denied());
    };
    let name = req.bucket.clone().unwrap_or_default();
    validate_bucket_name(&name)?;
    let owner = owner_of(ctx, id).id;
    let grants = super::acl::bucket_grants_for_create(ctx, req, &owner)?;
    let ownership = ownership_for_create(ctx, req)?;
    let xml_body = read_small_body(conn, req, body, MAX_CREATE_BUCKET_BODY_BYTES).await?;
    if let Some(loc) = xml::parse_create_bucket_configuration(&xml_body)? {
        // S3 refuses a location other than the endpoint's region.
        let wanted = if loc.is_empty() {
            "us-east-1"
        } else {
            loc.as_str()
        };
        if wanted != ctx.config.region {
            return Err(S3Error::new(S3ErrorCode::InvalidLocationConstraint).with_message(format!(
                "The {wanted} location constraint is incompatible for the region specific endpoint this request was sent to."
            )));
        }
    }
    let op = CatalogOp::CreateBucket {
        name: name.clone(),
        owner_id: id,
        region: ctx.config.region.clone(),
        grants,
        ownership,
        // S3's legacy answer in us-east-1: re-creating a bucket you own is
        // 200 and resets its ACL (to the one asked for, private by default).
        reset_acl_if_owned: ctx.config.region == LEGACY_REGION,
    };
    change(ctx, op).await.map_err(|e| catalog_error(e, &name))?;
    Ok(Response::new(200).header("Location", format!("/{name}")))
}

pub fn head(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let b = bucket_for(ctx, req)?;
    Ok(Response::new(200).header("x-amz-bucket-region", b.region.clone()))
}

pub fn location(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let b = bucket_for(ctx, req)?;
    Ok(Response::xml(200, xml::location_constraint(&b.region)))
}

pub async fn delete(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let b = bucket_for(ctx, req)?;
    change(
        ctx,
        CatalogOp::DeleteBucket {
            name: b.name.clone(),
        },
    )
    .await
    .map_err(|e| catalog_error(e, &b.name))?;
    Ok(Response::new(204))
}
