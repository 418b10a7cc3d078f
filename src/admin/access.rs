//! Admin API views of a bucket's access state: its policy (show, set,
//! remove) and its ACL with ownership controls and block public access
//! (show, set the ACL). The API key stands outside S3's access control;
//! what is set here is checked by the same rules as the S3 operations.

use super::api::{bucket, change};
use super::json::{done, json, ApiError, ApiResult};
use crate::access::{CannedAcl, Grant, Grantee, Group, Permission, Policy};
use crate::catalog::{BucketPolicy, CatalogOp};
use crate::server::shard::ShardCtx;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn get_policy(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    let policy = b
        .policy
        .as_ref()
        .map(|p| serde_json::from_str::<serde_json::Value>(&p.text))
        .transpose()
        .map_err(|e| ApiError::internal(format!("stored policy: {e}")))?;
    let is_public = b.policy.as_ref().is_some_and(|p| p.compiled.is_public);
    Ok(json(
        200,
        &serde_json::json!({ "policy": policy, "is_public": is_public }),
    ))
}

/// Sets the bucket policy: the body is the policy document itself.
pub async fn put_policy(ctx: &ShardCtx, name: &str, body: &[u8]) -> ApiResult {
    let b = bucket(ctx, name)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the policy must be UTF-8 JSON"))?
        .to_string();
    let compiled = Policy::compile(&text, &b.name)
        .map_err(|e| ApiError::bad_request(format!("MalformedPolicy: {e}")))?;
    let unknown = ctx.with_catalog(|c| {
        compiled
            .principals()
            .find(|p| !crate::server::handlers::access_config::principal_exists(c, p))
            .cloned()
    });
    if let Some(p) = unknown {
        return Err(ApiError::bad_request(format!(
            "MalformedPolicy: Invalid principal in policy: {p:?}"
        )));
    }
    let op = CatalogOp::PutBucketPolicy {
        name: b.name.clone(),
        policy: Some(BucketPolicy {
            text,
            compiled: Arc::new(compiled),
        }),
    };
    change(ctx, op).await?;
    get_policy(ctx, name)
}

pub async fn delete_policy(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    let op = CatalogOp::PutBucketPolicy {
        name: b.name,
        policy: None,
    };
    change(ctx, op).await?;
    Ok(done())
}

/// One grant as the API shows and takes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantView {
    /// A canonical user id, or…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// …a group: AllUsers, AuthenticatedUsers or LogDelivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    /// READ, WRITE, READ_ACP, WRITE_ACP or FULL_CONTROL.
    permission: String,
}

fn grant_view(g: &Grant) -> GrantView {
    let (id, group) = match &g.grantee {
        Grantee::User(id) => (Some(id.clone()), None),
        Grantee::Group(group) => (None, Some(format!("{group:?}"))),
    };
    GrantView {
        id,
        group,
        permission: g.permission.as_str().to_string(),
    }
}

pub fn get_acl(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    let owner = ctx.with_catalog(|c| c.identity(b.owner_id).map(|u| u.canonical_id.clone()));
    let grants: Vec<GrantView> = b.grants().iter().map(grant_view).collect();
    Ok(json(
        200,
        &serde_json::json!({
            "owner_id": owner,
            "grants": grants,
            "object_ownership": b.ownership.map(|o| o.as_str()),
            "public_access_block": b.public_access_block,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAcl {
    /// A canned ACL (`private`, `public-read`, …), or…
    canned: Option<String>,
    /// …the grants themselves.
    grants: Option<Vec<GrantView>>,
}

fn grant_from(ctx: &ShardCtx, v: GrantView) -> Result<Grant, ApiError> {
    let permission = Permission::parse(&v.permission)
        .ok_or_else(|| ApiError::bad_request(format!("unknown permission {:?}", v.permission)))?;
    let grantee = match (v.id, v.group) {
        (Some(id), None) => {
            if ctx.with_catalog(|c| c.identity_by_canonical_id(&id).is_none()) {
                return Err(ApiError::bad_request(format!(
                    "no credential has canonical id {id:?}"
                )));
            }
            Grantee::User(id.to_ascii_lowercase())
        }
        (None, Some(g)) => Grantee::Group(match g.as_str() {
            "AllUsers" => Group::AllUsers,
            "AuthenticatedUsers" => Group::AuthenticatedUsers,
            "LogDelivery" => Group::LogDelivery,
            _ => return Err(ApiError::bad_request(format!("unknown group {g:?}"))),
        }),
        _ => {
            return Err(ApiError::bad_request(
                "a grant names exactly one of id, group",
            ))
        }
    };
    Ok(Grant {
        grantee,
        permission,
    })
}

/// Sets the bucket ACL from `{"canned": "..."}` or `{"grants": [...]}`.
pub async fn put_acl(ctx: &ShardCtx, name: &str, body: &[u8]) -> ApiResult {
    let b = bucket(ctx, name)?;
    let req: SetAcl = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let owner = ctx
        .with_catalog(|c| c.identity(b.owner_id).map(|u| u.canonical_id.clone()))
        .unwrap_or_default();
    let grants = match (req.canned, req.grants) {
        (Some(c), None) => CannedAcl::parse(&c)
            .ok_or_else(|| ApiError::bad_request(format!("unknown canned ACL {c:?}")))?
            .grants(&owner, &owner, true),
        (None, Some(g)) => g
            .into_iter()
            .map(|g| grant_from(ctx, g))
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::bad_request("give exactly one of canned, grants")),
    };
    let op = CatalogOp::PutBucketAcl {
        name: b.name.clone(),
        grants,
    };
    change(ctx, op).await?;
    get_acl(ctx, name)
}
