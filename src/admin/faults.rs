//! `/_admin/api/v1/faults`: the fault-injection rules (docs/faults.md),
//! listed, replaced and cleared live. A change is validated whole, then
//! each shard gets its own copy by message.

use super::json::{json, parse, ApiError, ApiResult};
use super::msg;
use crate::faults::FaultRules;
use crate::server::shard::ShardCtx;

/// The rules this shard holds (every shard holds the same once a change
/// has reached them all).
pub fn list(ctx: &ShardCtx) -> ApiResult {
    let (rules, loaded_at) = ctx.faults.listing();
    Ok(json(
        200,
        &serde_json::json!({
            "rules": rules.rules,
            "loaded_secs_ago": loaded_at.elapsed().as_secs_f64(),
            "header": ctx.config.faults_header,
        }),
    ))
}

/// Replaces every rule with the body's (`{"rules": [...]}`); a bad rule
/// changes nothing and its error names the rule and the field.
pub async fn replace(ctx: &ShardCtx, body: &[u8]) -> ApiResult {
    let rules: FaultRules = parse(body)?;
    rules.validate().map_err(ApiError::bad_request)?;
    install(ctx, rules).await
}

/// Removes every rule: fault injection off.
pub async fn clear(ctx: &ShardCtx) -> ApiResult {
    install(ctx, FaultRules::default()).await
}

async fn install(ctx: &ShardCtx, rules: FaultRules) -> ApiResult {
    let count = rules.rules.len();
    let answered = msg::set_faults_everywhere(ctx, rules).await;
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
    tracing::info!(rules = count, "fault rules replaced through the admin API");
    list(ctx)
}
