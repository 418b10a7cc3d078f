//! Admin API views of a bucket's versioning and lifecycle (show, set,
//! remove), so the console and `ringstore admin` can do what S3's
//! PutBucketVersioning and PutBucketLifecycleConfiguration do. The checks
//! are S3's: the lifecycle document is S3's XML, parsed by the same code.

use super::api::{bucket, change};
use super::json::{done, json, ApiError, ApiResult};
use crate::catalog::{Bucket, CatalogOp};
use crate::server::shard::ShardCtx;
use crate::store::Versioning;
use serde::Deserialize;

/// How the API names a bucket's versioning state.
pub fn versioning_name(b: &Bucket) -> &'static str {
    match b.versioning() {
        Versioning::Enabled => "Enabled",
        Versioning::Suspended => "Suspended",
        Versioning::Unversioned => "Unversioned",
    }
}

pub fn get_versioning(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    Ok(json(
        200,
        &serde_json::json!({ "status": versioning_name(&b) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetVersioning {
    status: String,
}

/// Enables or suspends versioning (as S3, it cannot be turned off again).
pub async fn put_versioning(ctx: &ShardCtx, name: &str, body: &[u8]) -> ApiResult {
    let req: SetVersioning = super::json::parse(body)?;
    let b = bucket(ctx, name)?;
    let op = match req.status.as_str() {
        "Enabled" => CatalogOp::EnableBucketVersioning { name: b.name },
        "Suspended" => CatalogOp::SuspendBucketVersioning { name: b.name },
        _ => {
            return Err(ApiError::bad_request(
                "status must be Enabled or Suspended (versioning cannot be turned off once on)",
            ))
        }
    };
    change(ctx, op).await?;
    get_versioning(ctx, name)
}

/// The rules as the catalog holds them, and the S3 document
/// (GetBucketLifecycleConfiguration's answer) that sets them again.
pub fn get_lifecycle(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    let document =
        (!b.lifecycle.is_empty()).then(|| crate::s3::xml::lifecycle_configuration(&b.lifecycle));
    Ok(json(
        200,
        &serde_json::json!({ "rules": b.lifecycle, "document": document }),
    ))
}

/// Replaces the rules: the body is an S3 `LifecycleConfiguration` XML
/// document, checked as PutBucketLifecycleConfiguration checks it.
pub async fn put_lifecycle(ctx: &ShardCtx, name: &str, body: &[u8]) -> ApiResult {
    let b = bucket(ctx, name)?;
    let mut rules = crate::s3::xml::parse_lifecycle_configuration(body)
        .map_err(|e| ApiError::bad_request(format!("{}: {}", e.code.as_str(), e.message)))?;
    for r in rules.iter_mut().filter(|r| r.id.is_none()) {
        r.id = Some(crate::server::handlers::bucket_config::generated_rule_id());
    }
    change(
        ctx,
        CatalogOp::PutBucketLifecycle {
            name: b.name,
            rules,
        },
    )
    .await?;
    get_lifecycle(ctx, name)
}

pub async fn delete_lifecycle(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    change(
        ctx,
        CatalogOp::PutBucketLifecycle {
            name: b.name,
            rules: Vec::new(),
        },
    )
    .await?;
    Ok(done())
}
