//! Bucket sub-resources: versioning state, tags, CORS rules (enforced by
//! `server::cors`), lifecycle expiration rules (enforced by
//! `server::lifecycle`), default encryption, logging status (never on) and
//! the configurations ringstore has no way to set. ACLs are `acl.rs`;
//! policy, block public access and ownership controls `access_config.rs`.

use super::bucket::{catalog_error, read_small_body};
use super::bucket_for;
use crate::catalog::{Bucket, CatalogOp, DefaultEncryption};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;
use crate::s3::xml::{self, VersioningStatus};
use crate::server::body::BodyReader;
use crate::server::catalog_service::change;
use crate::server::conn::Conn;
use crate::server::request::Req;
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use crate::store::Versioning;
use std::sync::Arc;

/// Largest versioning or tagging document read.
const MAX_CONFIG_BODY_BYTES: usize = 64 * 1024;

pub fn get_versioning(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let status = match bucket.versioning() {
        Versioning::Enabled => Some(VersioningStatus::Enabled),
        Versioning::Suspended => Some(VersioningStatus::Suspended),
        Versioning::Unversioned => None,
    };
    Ok(Response::xml(200, xml::versioning_configuration(status)))
}

/// PutBucketVersioning: Enabled or Suspended, recorded in the catalog; every
/// shard's store follows it once the catalog reaches it.
pub async fn put_versioning(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    match xml::parse_versioning(&raw)? {
        None => {}
        Some(VersioningStatus::Enabled) => {
            change_bucket(ctx, bucket, |name| CatalogOp::EnableBucketVersioning {
                name,
            })
            .await?;
        }
        Some(VersioningStatus::Suspended) => {
            change_bucket(ctx, bucket, |name| CatalogOp::SuspendBucketVersioning {
                name,
            })
            .await?;
        }
    }
    Ok(Response::new(200))
}

pub fn get_tagging(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    if bucket.tags.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchTagSet).with("BucketName", bucket.name.clone()));
    }
    Ok(Response::xml(200, xml::tagging(&bucket.tags)))
}

pub async fn put_tagging(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        xml::parse_bucket_tagging,
        |name, tags| CatalogOp::PutBucketTagging { name, tags },
    )
    .await?;
    Ok(Response::new(204))
}

pub async fn delete_tagging(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketTagging {
        name,
        tags: Vec::new(),
    })
    .await
}

/// GetBucketEncryption: the default set by PutBucketEncryption.
pub fn get_encryption(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    match &bucket.default_encryption {
        Some(d) => Ok(Response::xml(200, xml::encryption_configuration(d))),
        None => Err(
            S3Error::new(S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError)
                .with("BucketName", bucket.name.clone()),
        ),
    }
}

/// PutBucketEncryption: SSE-S3 or SSE-KMS for objects written without
/// encryption headers.
pub async fn put_encryption(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        xml::parse_encryption_configuration,
        |name, default: DefaultEncryption| CatalogOp::PutBucketEncryption {
            name,
            default: Some(default),
        },
    )
    .await?;
    Ok(Response::new(200))
}

pub async fn delete_encryption(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketEncryption {
        name,
        default: None,
    })
    .await
}

/// A bucket configuration ringstore cannot hold (policy, public access block, ownership controls, website,
/// replication, object lock, notifications, request payment, transfer
/// acceleration): answered as S3 answers a bucket that has none.
pub fn get_unset_configuration(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    use S3ErrorCode as C;
    let bucket = bucket_for(ctx, req)?;
    let missing = match req.op {
        Operation::GetBucketWebsite => C::NoSuchWebsiteConfiguration,
        Operation::GetBucketReplication => C::ReplicationConfigurationNotFoundError,
        Operation::GetObjectLockConfiguration => C::ObjectLockConfigurationNotFoundError,
        Operation::GetBucketNotificationConfiguration => {
            return Ok(Response::xml(200, xml::notification_configuration()))
        }
        Operation::GetBucketRequestPayment => {
            return Ok(Response::xml(200, xml::request_payment_configuration()))
        }
        Operation::GetBucketAccelerateConfiguration => {
            return Ok(Response::xml(200, xml::accelerate_configuration()))
        }
        other => {
            debug_assert!(false, "{other:?} is not an unset configuration");
            return Err(S3Error::new(C::NotImplemented));
        }
    };
    Err(S3Error::new(missing).with("BucketName", bucket.name.clone()))
}

/// Server access logging is not offered: every bucket's status is "off".
pub fn get_logging(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    bucket_for(ctx, req)?;
    Ok(Response::xml(200, xml::bucket_logging_status()))
}

pub fn get_lifecycle(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    if bucket.lifecycle.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchLifecycleConfiguration)
            .with("BucketName", bucket.name.clone()));
    }
    Ok(Response::xml(
        200,
        xml::lifecycle_configuration(&bucket.lifecycle),
    ))
}

/// PutBucketLifecycleConfiguration: expiration rules, enforced by every
/// shard's lifecycle task (`server::lifecycle`).
pub async fn put_lifecycle(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        |body| {
            let mut rules = xml::parse_lifecycle_configuration(body)?;
            // S3 names a rule sent without an ID; the name is kept with it.
            for r in rules.iter_mut().filter(|r| r.id.is_none()) {
                r.id = Some(generated_rule_id());
            }
            Ok(rules)
        },
        |name, rules| CatalogOp::PutBucketLifecycle { name, rules },
    )
    .await?;
    Ok(Response::new(200))
}

/// A lifecycle rule ID for a rule sent without one: 48 characters of
/// base64 over random bytes, the form S3's generated IDs take.
pub(crate) fn generated_rule_id() -> String {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 36];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .expect("system random source");
    base64::engine::general_purpose::STANDARD.encode(raw)
}

pub async fn delete_lifecycle(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketLifecycle {
        name,
        rules: Vec::new(),
    })
    .await
}

pub fn get_cors(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    if bucket.cors.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchCORSConfiguration)
            .with("BucketName", bucket.name.clone()));
    }
    Ok(Response::xml(200, xml::cors_configuration(&bucket.cors)))
}

pub async fn put_cors(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        xml::parse_cors_configuration,
        |name, rules| CatalogOp::PutBucketCors { name, rules },
    )
    .await?;
    Ok(Response::new(200))
}

pub async fn delete_cors(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketCors {
        name,
        rules: Vec::new(),
    })
    .await
}

/// A bucket configuration PUT: the owner's document, parsed (with S3's
/// checks) and stored as the catalog change `op` makes of it.
async fn put_config<T>(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    parse: fn(&[u8]) -> Result<T, S3Error>,
    op: impl FnOnce(String, T) -> CatalogOp,
) -> Result<(), S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    let config = parse(&raw)?;
    change_bucket(ctx, bucket, |name| op(name, config)).await
}

/// DeleteBucket{Tagging,Encryption,Lifecycle,Cors}: the owner clears one
/// configuration (`op` sets it to empty); 204 as S3 answers.
async fn clear_config(
    ctx: &ShardCtx,
    req: &Req,
    op: impl FnOnce(String) -> CatalogOp,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    change_bucket(ctx, bucket, op).await?;
    Ok(Response::new(204))
}

/// Applies the catalog change `op` makes for the bucket's name; a refusal
/// becomes the S3 error for it.
pub(super) async fn change_bucket(
    ctx: &ShardCtx,
    bucket: Arc<Bucket>,
    op: impl FnOnce(String) -> CatalogOp,
) -> Result<(), S3Error> {
    let name = bucket.name.clone();
    change(ctx, op(name.clone()))
        .await
        .map_err(|e| catalog_error(e, &name))?;
    Ok(())
}
