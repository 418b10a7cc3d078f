//! Bucket policy, block public access and ownership controls:
//! Put/Get/Delete of each, and GetBucketPolicyStatus. The settings live in
//! the catalog; the policy is compiled here, once, when it is set.

use super::bucket::read_small_body;
use super::bucket_config::change_bucket;
use super::bucket_for;
use crate::access::policy::MAX_POLICY_BYTES;
use crate::access::{ObjectOwnership, Policy, PublicAccessBlock};
use crate::catalog::{BucketPolicy, Catalog, CatalogOp};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::xml::{self, PublicAccessBlockDoc};
use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::request::Req;
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use bytes::Bytes;
use std::sync::Arc;

/// Largest policy body read: S3's 20 KiB limit is checked by the compiler
/// (MalformedPolicy); anything far beyond it is not read to the end.
const MAX_POLICY_BODY_BYTES: usize = 4 * MAX_POLICY_BYTES;
/// Largest ownership or public-access-block document read.
const MAX_CONFIG_BODY_BYTES: usize = 64 * 1024;

fn malformed_policy(message: impl Into<String>) -> S3Error {
    S3Error::new(S3ErrorCode::MalformedPolicy).with_message(message.into())
}

/// Whether a policy's principal names someone this server knows (S3
/// refuses a policy naming an unknown principal).
pub fn principal_exists(catalog: &Catalog, p: &crate::access::principal::PrincipalPattern) -> bool {
    use crate::access::principal::PrincipalPattern as P;
    match p {
        P::Everyone => true,
        P::Account(id) => catalog.identity(*id).is_some(),
        P::User { account, user_name } => catalog
            .identity(*account)
            .is_some_and(|u| u.user_name == *user_name),
        P::Canonical(id) => catalog.identity_by_canonical_id(id).is_some(),
        P::AccessKey(k) => catalog.credential_by_access_key(k).is_some(),
    }
}

pub async fn put_policy(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let raw = read_small_body(conn, req, body, MAX_POLICY_BODY_BYTES)
        .await
        .map_err(|e| match e.code {
            S3ErrorCode::MalformedXML => malformed_policy(format!(
                "Policies must be less than {MAX_POLICY_BYTES} bytes"
            )),
            _ => e,
        })?;
    let text = String::from_utf8(raw).map_err(|_| malformed_policy("Policies must be UTF-8"))?;
    let compiled = Policy::compile(&text, &bucket.name).map_err(|e| malformed_policy(e.message))?;
    let unknown = ctx.with_catalog(|c| {
        compiled
            .principals()
            .find(|p| !principal_exists(c, p))
            .cloned()
    });
    if let Some(p) = unknown {
        return Err(malformed_policy(format!(
            "Invalid principal in policy: {p:?}"
        )));
    }
    let policy = BucketPolicy {
        text,
        compiled: Arc::new(compiled),
    };
    change_bucket(ctx, bucket.clone(), |name| CatalogOp::PutBucketPolicy {
        name,
        policy: Some(policy),
    })
    .await?;
    Ok(Response::new(204))
}

pub fn get_policy(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let Some(policy) = &bucket.policy else {
        return Err(
            S3Error::new(S3ErrorCode::NoSuchBucketPolicy).with("BucketName", bucket.name.clone())
        );
    };
    let mut resp = Response::new(200).header("Content-Type", "application/json");
    resp.body = crate::server::respond::Body::Full(Bytes::from(policy.text.clone()));
    Ok(resp)
}

/// DeleteBucketPolicy: 204, also when there was none.
pub async fn delete_policy(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    if bucket.policy.is_some() {
        change_bucket(ctx, bucket.clone(), |name| CatalogOp::PutBucketPolicy {
            name,
            policy: None,
        })
        .await?;
    }
    Ok(Response::new(204))
}

/// GetBucketPolicyStatus: whether the bucket policy is public (S3 looks
/// at the policy only).
pub fn get_policy_status(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let Some(policy) = &bucket.policy else {
        return Err(
            S3Error::new(S3ErrorCode::NoSuchBucketPolicy).with("BucketName", bucket.name.clone())
        );
    };
    Ok(Response::xml(
        200,
        xml::policy_status(policy.compiled.is_public),
    ))
}

pub async fn put_public_access_block(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    let d = xml::parse_public_access_block(&raw)?;
    let block = PublicAccessBlock {
        block_public_acls: d.block_public_acls,
        ignore_public_acls: d.ignore_public_acls,
        block_public_policy: d.block_public_policy,
        restrict_public_buckets: d.restrict_public_buckets,
    };
    change_bucket(ctx, bucket.clone(), |name| {
        CatalogOp::PutPublicAccessBlock {
            name,
            block: Some(block),
        }
    })
    .await?;
    Ok(Response::new(200))
}

pub fn get_public_access_block(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let Some(b) = bucket.public_access_block else {
        return Err(
            S3Error::new(S3ErrorCode::NoSuchPublicAccessBlockConfiguration)
                .with("BucketName", bucket.name.clone()),
        );
    };
    let doc = PublicAccessBlockDoc {
        block_public_acls: b.block_public_acls,
        ignore_public_acls: b.ignore_public_acls,
        block_public_policy: b.block_public_policy,
        restrict_public_buckets: b.restrict_public_buckets,
    };
    Ok(Response::xml(200, xml::public_access_block(&doc)))
}

/// DeletePublicAccessBlock: 204, also when there was none.
pub async fn delete_public_access_block(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    if bucket.public_access_block.is_some() {
        change_bucket(ctx, bucket.clone(), |name| {
            CatalogOp::PutPublicAccessBlock { name, block: None }
        })
        .await?;
    }
    Ok(Response::new(204))
}

pub async fn put_ownership_controls(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    let wanted = xml::parse_ownership_controls(&raw)?;
    let ownership = ObjectOwnership::parse(&wanted).ok_or_else(|| {
        S3Error::new(S3ErrorCode::MalformedXML)
            .with_message(format!("Invalid ObjectOwnership value: {wanted}"))
    })?;
    change_bucket(ctx, bucket.clone(), |name| CatalogOp::PutBucketOwnership {
        name,
        ownership: Some(ownership),
    })
    .await?;
    Ok(Response::new(200))
}

pub fn get_ownership_controls(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let Some(o) = bucket.ownership else {
        return Err(S3Error::new(S3ErrorCode::OwnershipControlsNotFoundError)
            .with("BucketName", bucket.name.clone()));
    };
    Ok(Response::xml(200, xml::ownership_controls(o.as_str())))
}

/// DeleteBucketOwnershipControls: 204, also when there were none; the
/// bucket then behaves as ObjectWriter (S3's setting before controls).
pub async fn delete_ownership_controls(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    if bucket.ownership.is_some() {
        change_bucket(ctx, bucket.clone(), |name| CatalogOp::PutBucketOwnership {
            name,
            ownership: None,
        })
        .await?;
    }
    Ok(Response::new(204))
}
