//! The SSE-KMS key service's endpoints under `/_admin/api/v1/kms/keys`:
//! create, list, describe, enable, disable, rotate, schedule and cancel
//! deletion. A key is named in the path by id, ARN or alias (percent-
//! encode the `/` of `alias/x`). Answers describe keys; none carries
//! key material, wrapped or not.

use super::api::change;
use super::json::{json, parse, timestamp, ApiError, ApiResult};
use crate::catalog::{CatalogOp, CatalogOutcome};
use crate::server::kms::key_arn;
use crate::server::shard::ShardCtx;
use crate::sse::kms::{self, KmsError, KmsKey, KmsOp};
use serde::{Deserialize, Serialize};

/// Waiting period of a deletion that names none (KMS's default).
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = kms::MAX_PENDING_WINDOW_DAYS;

#[derive(Serialize)]
struct VersionView {
    version: u32,
    created_at: String,
}

#[derive(Serialize)]
struct KeyView {
    id: String,
    arn: String,
    alias: Option<String>,
    description: String,
    state: &'static str,
    enabled: bool,
    created_at: String,
    deletion_date: Option<String>,
    current_version: u32,
    versions: Vec<VersionView>,
}

fn view(ctx: &ShardCtx, k: &KmsKey) -> KeyView {
    KeyView {
        id: k.id.clone(),
        arn: key_arn(ctx, &k.id),
        alias: k.alias.clone(),
        description: k.description.clone(),
        state: k.state.name(),
        enabled: k.state == kms::KeyState::Enabled,
        created_at: timestamp(k.created_millis),
        deletion_date: k.deletion_millis.map(timestamp),
        current_version: k.current().version,
        versions: k
            .versions
            .iter()
            .map(|v| VersionView {
                version: v.version,
                created_at: timestamp(v.created_millis),
            })
            .collect(),
    }
}

pub(super) fn kms_error(e: KmsError) -> ApiError {
    match e {
        KmsError::NotFound(k) => ApiError::not_found(format!("no KMS key {k:?}")),
        KmsError::InvalidState(m) => ApiError::conflict(m),
        KmsError::AliasTaken(a) => ApiError::conflict(format!("the alias {a} is taken")),
        KmsError::Invalid(m) => ApiError::bad_request(m),
    }
}

pub fn list(ctx: &ShardCtx) -> ApiResult {
    let keys: Vec<KeyView> =
        ctx.with_catalog(|c| c.kms_keys().iter().map(|k| view(ctx, k)).collect());
    Ok(json(200, &serde_json::json!({ "keys": keys })))
}

pub fn describe(ctx: &ShardCtx, name: &str) -> ApiResult {
    ctx.with_catalog(|c| {
        kms::resolve(c.kms_keys(), name)
            .map(|k| json(200, &view(ctx, k)))
            .ok_or_else(|| kms_error(KmsError::NotFound(name.to_string())))
    })
}

fn master(ctx: &ShardCtx) -> Result<&crate::sse::MasterKey, ApiError> {
    ctx.config
        .sse_master
        .as_ref()
        .ok_or_else(|| ApiError::internal("no SSE master key loaded"))
}

fn crypto(e: kms::KmsCryptoError) -> ApiError {
    ApiError::internal(format!("key material could not be made: {e:?}"))
}

async fn apply(ctx: &ShardCtx, op: KmsOp, status: u16) -> ApiResult {
    match change(ctx, CatalogOp::Kms(op)).await? {
        CatalogOutcome::KmsKey(k) => Ok(json(status, &view(ctx, &k))),
        other => Err(ApiError::internal(format!(
            "unexpected catalog outcome {other:?}"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    alias: Option<String>,
    description: Option<String>,
}

pub async fn create(ctx: &ShardCtx, body: &[u8]) -> ApiResult {
    let req: CreateKey = if body.iter().all(u8::is_ascii_whitespace) {
        CreateKey {
            alias: None,
            description: None,
        }
    } else {
        parse(body)?
    };
    // `name` is taken to mean `alias/name`, as `aws kms create-alias` users write it.
    let alias = req.alias.map(|a| {
        if a.starts_with("alias/") {
            a
        } else {
            format!("alias/{a}")
        }
    });
    if alias.as_deref() == Some(kms::DEFAULT_KEY_ALIAS) {
        return Err(ApiError::bad_request(format!(
            "{} is the server's default key; it is created on first use",
            kms::DEFAULT_KEY_ALIAS
        )));
    }
    let key = kms::new_key(
        master(ctx)?,
        alias,
        req.description.unwrap_or_default(),
        crate::util::time::unix_now_millis(),
    )
    .map_err(crypto)?;
    apply(ctx, KmsOp::Create(Box::new(key)), 201).await
}

pub async fn set_enabled(ctx: &ShardCtx, name: &str, enabled: bool) -> ApiResult {
    let key = name.to_string();
    apply(ctx, KmsOp::SetEnabled { key, enabled }, 200).await
}

pub async fn rotate(ctx: &ShardCtx, name: &str) -> ApiResult {
    let (id, next) = ctx
        .with_catalog(|c| {
            kms::resolve(c.kms_keys(), name).map(|k| (k.id.clone(), k.current().version + 1))
        })
        .ok_or_else(|| kms_error(KmsError::NotFound(name.to_string())))?;
    let material = kms::new_material(master(ctx)?, &id, next).map_err(crypto)?;
    let op = KmsOp::Rotate {
        key: id,
        version: next,
        material,
    };
    apply(ctx, op, 200).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScheduleDeletion {
    pending_window_days: Option<u32>,
    /// Seconds instead of days: at least the server's
    /// `--kms-min-deletion-wait-secs`.
    pending_window_secs: Option<u64>,
}

pub async fn schedule_deletion(ctx: &ShardCtx, name: &str, body: &[u8]) -> ApiResult {
    let req: ScheduleDeletion = if body.iter().all(u8::is_ascii_whitespace) {
        ScheduleDeletion::default()
    } else {
        parse(body)?
    };
    let max_secs = u64::from(kms::MAX_PENDING_WINDOW_DAYS) * 86_400;
    let min_secs = ctx.config.kms_min_deletion_wait.as_secs();
    let secs = match (req.pending_window_days, req.pending_window_secs) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give pending_window_days or pending_window_secs, not both",
            ))
        }
        (Some(d), None) => u64::from(d) * 86_400,
        (None, Some(s)) => s,
        (None, None) => u64::from(DEFAULT_PENDING_WINDOW_DAYS) * 86_400,
    };
    if secs < min_secs || secs > max_secs {
        return Err(ApiError::bad_request(format!(
            "the waiting period must be {min_secs}..{max_secs} seconds ({}..{} days)",
            min_secs as f64 / 86_400.0,
            kms::MAX_PENDING_WINDOW_DAYS
        )));
    }
    let deletion_millis = crate::util::time::unix_now_millis() + (secs as i64) * 1000;
    let key = name.to_string();
    apply(
        ctx,
        KmsOp::ScheduleDeletion {
            key,
            deletion_millis,
        },
        200,
    )
    .await
}

pub async fn cancel_deletion(ctx: &ShardCtx, name: &str) -> ApiResult {
    let key = name.to_string();
    apply(ctx, KmsOp::CancelDeletion { key }, 200).await
}
