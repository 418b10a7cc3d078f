//! `/_admin/api/v1/rate-limits`: the rate limits in force
//! (docs/rate-limits.md): the `serve` flags' defaults, and limits for
//! named credentials and buckets, replaced and cleared live. A change is
//! validated whole, then each shard gets its own copy by message.

use super::json::{json, ApiError, ApiResult};
use super::msg;
use crate::ratelimit::Named;
use crate::server::shard::ShardCtx;

/// The limits this shard holds (every shard holds the same once a change
/// has reached them all).
pub fn list(ctx: &ShardCtx) -> ApiResult {
    let (defaults, named) = ctx.limits.listing();
    Ok(json(
        200,
        &serde_json::json!({
            "defaults": defaults,
            "credentials": named.credentials,
            "buckets": named.buckets,
            "shards": ctx.shards(),
        }),
    ))
}

/// Replaces every named limit with the body's (`{"credentials": {...},
/// "buckets": {...}}`); a bad body changes nothing and its error names the
/// field.
pub async fn replace(ctx: &ShardCtx, body: &[u8]) -> ApiResult {
    let value: serde_json::Value = super::json::parse(body)?;
    let named = Named::from_json(&value).map_err(ApiError::bad_request)?;
    install(ctx, named).await
}

/// Removes every named limit (the `serve` flags' defaults stay).
pub async fn clear(ctx: &ShardCtx) -> ApiResult {
    install(ctx, Named::default()).await
}

async fn install(ctx: &ShardCtx, named: Named) -> ApiResult {
    let count = named.credentials.len() + named.buckets.len();
    let answered = msg::set_rate_limits_everywhere(ctx, named).await;
    if answered < ctx.shards() {
        return Err(ApiError::new(
            503,
            "ServiceUnavailable",
            format!(
                "{answered} of {} shards took the change; repeat it",
                ctx.shards()
            ),
        ));
    }
    tracing::info!(
        limits = count,
        "named rate limits replaced through the admin API"
    );
    list(ctx)
}
