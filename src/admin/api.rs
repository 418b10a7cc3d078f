//! The JSON endpoints under `/_admin/api/v1/`: one routing table, then one
//! function per endpoint. Shapes and field names follow the seed.

use super::bucket_config::versioning_name;
use super::json::{done, human_size, json, parse, read_body, timestamp, ApiError, ApiResult};
use super::msg::{self, Usage};
use super::presign::{self, PresignInput, PresignedUrl, DEFAULT_EXPIRES_SECS, MAX_EXPIRES_SECS};
use crate::catalog::{Bucket, CatalogError, CatalogOp, CatalogOutcome, Credential};
use crate::http::{Method, RequestHead};
use crate::server::body::BodyReader;
use crate::server::catalog_service;
use crate::server::conn::Conn;
use crate::server::datadir::{generate_access_key, generate_secret_key};
use crate::server::owner;
use crate::server::read::ReadRequest;
use crate::server::shard::ShardCtx;
use crate::store::{BucketId, ListItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// Most objects one listing answer (or a bucket's detail view) carries.
pub const MAX_LIST_OBJECTS: usize = 1000;
/// Most keys one delete-objects call may name (as S3's DeleteObjects).
pub const MAX_DELETE_KEYS: usize = 1000;
/// Longest prefix a listing accepts.
pub const MAX_PREFIX_BYTES: usize = 1024;
/// Longest region name a bucket may be given.
pub const MAX_REGION_BYTES: usize = 32;

/// Routes `rest` (the path after `/_admin/api/v1/`, still percent-encoded).
pub async fn route(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    head: &RequestHead,
    rest: &str,
    body: &mut BodyReader,
) -> ApiResult {
    let m = head.method();
    let seg: Vec<&str> = rest.splitn(4, '/').collect();
    let query = parse_query(head.raw_query());
    match (m, seg.as_slice()) {
        (Method::Get, ["stats"]) => stats(ctx).await,
        (Method::Get, ["stats", "history"]) => Ok(json(
            200,
            &serde_json::json!({
                "interval_secs": super::history::HISTORY_INTERVAL_SECS,
                "points": msg::history_everywhere(ctx).await,
            }),
        )),
        (Method::Get, ["credentials"]) => Ok(list_credentials(ctx)),
        (Method::Post, ["credentials"]) => {
            create_credential(ctx, &read_body(conn, body).await?).await
        }
        (Method::Get, ["credentials", id]) => get_credential(ctx, parse_id(id)?).await,
        (Method::Put | Method::Post, ["credentials", id]) => {
            let id = parse_id(id)?;
            update_credential(ctx, id, &read_body(conn, body).await?).await
        }
        (Method::Delete, ["credentials", id]) => {
            let id = parse_id(id)?;
            change(ctx, CatalogOp::DeleteCredential { id }).await?;
            Ok(done())
        }
        (Method::Get, ["buckets"]) => list_buckets(ctx).await,
        (Method::Post, ["buckets"]) => create_bucket(ctx, &read_body(conn, body).await?).await,
        (Method::Get, ["buckets", b]) => get_bucket(ctx, &decode(b)?).await,
        (Method::Delete, ["buckets", b]) => {
            let name = bucket(ctx, &decode(b)?)?.name;
            change(ctx, CatalogOp::DeleteBucket { name }).await?;
            Ok(done())
        }
        (Method::Get, ["buckets", b, "objects"]) => list_objects(ctx, &decode(b)?, &query).await,
        (Method::Post, ["buckets", b, "delete-objects"]) => {
            let bytes = read_body(conn, body).await?;
            delete_objects(ctx, &decode(b)?, &bytes).await
        }
        (Method::Get, ["buckets", b, "objects", k]) => {
            get_object(ctx, &decode(b)?, &decode(k)?).await
        }
        (Method::Delete, ["buckets", b, "objects", k]) => {
            delete_object(ctx, &decode(b)?, &decode(k)?).await
        }
        (Method::Get, ["buckets", b, "multipart-uploads"]) => {
            let b = bucket(ctx, &decode(b)?)?;
            let uploads = multipart_uploads(ctx, &b).await;
            Ok(json(200, &serde_json::json!({ "uploads": uploads })))
        }
        (Method::Delete, ["buckets", b, "multipart-uploads", id]) => {
            let key = query.get("key").map(String::as_str).unwrap_or("");
            abort_upload(ctx, &decode(b)?, key, &decode(id)?).await
        }
        (Method::Get, ["buckets", b, "policy"]) => super::access::get_policy(ctx, &decode(b)?),
        (Method::Put, ["buckets", b, "policy"]) => {
            let bytes = read_body(conn, body).await?;
            super::access::put_policy(ctx, &decode(b)?, &bytes).await
        }
        (Method::Delete, ["buckets", b, "policy"]) => {
            super::access::delete_policy(ctx, &decode(b)?).await
        }
        (Method::Get, ["buckets", b, "acl"]) => super::access::get_acl(ctx, &decode(b)?),
        (Method::Put, ["buckets", b, "acl"]) => {
            let bytes = read_body(conn, body).await?;
            super::access::put_acl(ctx, &decode(b)?, &bytes).await
        }
        (Method::Get, ["buckets", b, "versioning"]) => {
            super::bucket_config::get_versioning(ctx, &decode(b)?)
        }
        (Method::Put, ["buckets", b, "versioning"]) => {
            let bytes = read_body(conn, body).await?;
            super::bucket_config::put_versioning(ctx, &decode(b)?, &bytes).await
        }
        (Method::Get, ["buckets", b, "lifecycle"]) => {
            super::bucket_config::get_lifecycle(ctx, &decode(b)?)
        }
        (Method::Put, ["buckets", b, "lifecycle"]) => {
            let bytes = read_body(conn, body).await?;
            super::bucket_config::put_lifecycle(ctx, &decode(b)?, &bytes).await
        }
        (Method::Delete, ["buckets", b, "lifecycle"]) => {
            super::bucket_config::delete_lifecycle(ctx, &decode(b)?).await
        }
        (Method::Get, ["kms", "keys"]) => super::kms::list(ctx),
        (Method::Post, ["kms", "keys"]) => {
            super::kms::create(ctx, &read_body(conn, body).await?).await
        }
        (Method::Get, ["kms", "keys", k]) => super::kms::describe(ctx, &decode(k)?),
        (Method::Post, ["kms", "keys", k, action]) => {
            let k = decode(k)?;
            match *action {
                "enable" => super::kms::set_enabled(ctx, &k, true).await,
                "disable" => super::kms::set_enabled(ctx, &k, false).await,
                "rotate" => super::kms::rotate(ctx, &k).await,
                "schedule-deletion" => {
                    let bytes = read_body(conn, body).await?;
                    super::kms::schedule_deletion(ctx, &k, &bytes).await
                }
                "cancel-deletion" => super::kms::cancel_deletion(ctx, &k).await,
                _ => Err(ApiError::not_found(format!(
                    "no endpoint POST /_admin/api/v1/{rest}"
                ))),
            }
        }
        (Method::Get, ["faults"]) => super::faults::list(ctx),
        (Method::Put, ["faults"]) => {
            super::faults::replace(ctx, &read_body(conn, body).await?).await
        }
        (Method::Delete, ["faults"]) => super::faults::clear(ctx).await,
        (Method::Get, ["rate-limits"]) => super::ratelimits::list(ctx),
        (Method::Put, ["rate-limits"]) => {
            super::ratelimits::replace(ctx, &read_body(conn, body).await?).await
        }
        (Method::Delete, ["rate-limits"]) => super::ratelimits::clear(ctx).await,
        (Method::Get, ["presigned-urls"]) => {
            let urls = msg::active_presigned(ctx).await;
            Ok(json(200, &serde_json::json!({ "urls": urls })))
        }
        (Method::Post, ["presigned-urls"]) => {
            let bytes = read_body(conn, body).await?;
            generate_presigned(ctx, head, &bytes).await
        }
        _ => Err(ApiError::not_found(format!(
            "no endpoint {} /_admin/api/v1/{rest}",
            head.method_str()
        ))),
    }
}

fn decode(s: &str) -> Result<String, ApiError> {
    let bytes = crate::auth::sigv4::percent_decode(s)
        .ok_or_else(|| ApiError::bad_request("malformed percent-encoding in the path"))?;
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("the path is not UTF-8"))
}

fn parse_query(raw: &str) -> HashMap<String, String> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((
                decode(&k.replace('+', " ")).ok()?,
                decode(&v.replace('+', " ")).ok()?,
            ))
        })
        .collect()
}

fn parse_id(s: &str) -> Result<u64, ApiError> {
    match s.parse::<u64>() {
        Ok(id) if id >= 1 => Ok(id),
        _ => Err(ApiError::bad_request(format!(
            "credential id must be an integer >= 1, not {s:?}"
        ))),
    }
}

pub(super) fn catalog_error(e: CatalogError) -> ApiError {
    use CatalogError as E;
    match e {
        E::BucketAlreadyOwnedByYou | E::BucketAlreadyExists => {
            ApiError::conflict("a bucket with this name already exists")
        }
        E::NoSuchBucket => ApiError::not_found("no such bucket"),
        E::BucketNotEmpty => {
            ApiError::conflict("the bucket is not empty; delete its objects first")
        }
        E::NoSuchCredential => ApiError::not_found("no such credential"),
        E::AccessKeyTaken => ApiError::conflict("another credential already uses this access_key"),
        E::CredentialOwnsBuckets => ApiError::conflict(
            "the credential still owns buckets; delete them (or deactivate the credential) first",
        ),
        E::RootCredentialImmutable => ApiError::new(
            403,
            "Forbidden",
            "the root credential cannot be deactivated or deleted",
        ),
        E::AclNotSupported => {
            ApiError::bad_request("the bucket's ACLs are disabled (BucketOwnerEnforced)")
        }
        E::InvalidBucketAclWithObjectOwnership => ApiError::bad_request(
            "BucketOwnerEnforced needs a bucket ACL that grants only the owner",
        ),
        E::PublicAccessBlocked => ApiError::new(
            403,
            "Forbidden",
            "the bucket's public access block refuses a public ACL or policy",
        ),
        E::Invalid(m) => ApiError::bad_request(m),
        E::Persist(m) => ApiError::internal(format!("the catalog could not be saved: {m}")),
        E::Busy(m) => ApiError::new(503, "ServiceUnavailable", m),
        E::Kms(e) => super::kms::kms_error(e),
    }
}

pub(super) async fn change(ctx: &ShardCtx, op: CatalogOp) -> Result<CatalogOutcome, ApiError> {
    catalog_service::change(ctx, op)
        .await
        .map_err(catalog_error)
}

pub(super) fn bucket(ctx: &ShardCtx, name: &str) -> Result<Bucket, ApiError> {
    ctx.with_catalog(|c| c.bucket(name).cloned())
        .ok_or_else(|| ApiError::not_found(format!("no bucket named {name:?}")))
}

// ---- stats -------------------------------------------------------------

async fn stats(ctx: &ShardCtx) -> ApiResult {
    let catalog = ctx.catalog();
    let counts = msg::bucket_stats_everywhere(ctx).await;
    let (mut objects, mut bytes) = (0u64, 0u64);
    for b in catalog.catalog.buckets() {
        let u = counts.get(&b.id).copied().unwrap_or_default();
        objects += u.objects;
        bytes += u.bytes;
    }
    let mut uploads = 0;
    for b in catalog.catalog.buckets() {
        uploads += multipart_uploads(ctx, b).await.len();
    }
    let presigned = msg::active_presigned(ctx).await.len();
    let process = super::process::process_stats();
    let now = crate::util::time::unix_now_millis() as f64 / 1000.0;
    let disk = super::process::disk_stats(&ctx.config.data_dir);
    Ok(json(
        200,
        &serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": env!("RINGSTORE_COMMIT"),
            "shards": ctx.shards(),
            "uptime_secs": (now - process.start_time_secs).max(0.0).round() as u64,
            "disk_capacity_bytes": disk.as_ref().map(|d| d.capacity_bytes),
            "disk_free_bytes": disk.as_ref().map(|d| d.free_bytes),
            "credentials": catalog.catalog.credentials().len(),
            "buckets": catalog.catalog.buckets().count(),
            "objects": objects,
            "total_storage": bytes,
            "total_storage_human": human_size(bytes),
            "active_multipart_uploads": uploads,
            "active_presigned_urls": presigned,
        }),
    ))
}

// ---- credentials -------------------------------------------------------

#[derive(Serialize)]
struct CredentialView {
    id: u64,
    access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    user_name: String,
    is_active: bool,
    created_at: String,
    /// S3's canonical user id (ACL grants, `Owner/ID`).
    canonical_id: String,
    /// The 12-digit account id policies name it by (`arn:aws:iam::<account>:user/<name>`).
    account_id: String,
}

fn credential_view(c: &Credential, with_secret: bool) -> CredentialView {
    CredentialView {
        id: c.id,
        access_key: c.access_key.clone(),
        secret_key: with_secret.then(|| c.secret_key.clone()),
        user_name: c.user_name.clone(),
        is_active: c.is_active,
        created_at: timestamp(c.created_millis),
        canonical_id: c.canonical_id.clone(),
        account_id: crate::access::principal::account_id(c.id),
    }
}

fn list_credentials(ctx: &ShardCtx) -> crate::server::respond::Response {
    let list: Vec<CredentialView> = ctx.with_catalog(|c| {
        c.credentials()
            .iter()
            .map(|c| credential_view(c, false))
            .collect()
    });
    json(200, &serde_json::json!({ "credentials": list }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCredential {
    user_name: Option<String>,
    access_key: Option<String>,
    secret_key: Option<String>,
}

async fn create_credential(ctx: &ShardCtx, body: &[u8]) -> ApiResult {
    let req: CreateCredential = parse(body)?;
    let op = CatalogOp::CreateCredential {
        user_name: req.user_name.unwrap_or_default(),
        access_key: req.access_key.unwrap_or_else(generate_access_key),
        secret_key: req.secret_key.unwrap_or_else(generate_secret_key),
    };
    match change(ctx, op).await? {
        CatalogOutcome::Credential(c) => Ok(json(201, &credential_view(&c, true))),
        other => Err(ApiError::internal(format!(
            "unexpected catalog outcome {other:?}"
        ))),
    }
}

async fn get_credential(ctx: &ShardCtx, id: u64) -> ApiResult {
    let catalog = ctx.catalog();
    let cred = catalog
        .catalog
        .credential(id)
        .ok_or_else(|| ApiError::not_found(format!("no credential with id {id}")))?;
    let counts = msg::bucket_stats_everywhere(ctx).await;
    let buckets: Vec<BucketView> = catalog
        .catalog
        .buckets()
        .filter(|b| b.owner_id == id)
        .map(|b| bucket_view(b, cred, &counts))
        .collect();
    #[derive(Serialize)]
    struct Detail {
        #[serde(flatten)]
        credential: CredentialView,
        bucket_count: usize,
        buckets: Vec<BucketView>,
    }
    Ok(json(
        200,
        &Detail {
            credential: credential_view(cred, false),
            bucket_count: buckets.len(),
            buckets,
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateCredential {
    user_name: Option<String>,
    is_active: Option<bool>,
}

async fn update_credential(ctx: &ShardCtx, id: u64, body: &[u8]) -> ApiResult {
    let req: UpdateCredential = parse(body)?;
    let op = CatalogOp::UpdateCredential {
        id,
        user_name: req.user_name,
        is_active: req.is_active,
    };
    change(ctx, op).await?;
    Ok(done())
}

// ---- buckets -----------------------------------------------------------

#[derive(Serialize)]
struct BucketView {
    name: String,
    region: String,
    owner: String,
    owner_id: u64,
    created_at: String,
    /// Keys whose current version is an object (what a listing shows).
    object_count: u64,
    /// Older versions kept by versioning, not in `object_count`.
    noncurrent_versions: u64,
    /// Bytes of every version, noncurrent ones included (what is stored).
    total_size: u64,
    total_size_human: String,
    /// "Enabled", "Suspended" or "Unversioned".
    versioning: &'static str,
}

fn bucket_view(b: &Bucket, owner: &Credential, counts: &HashMap<BucketId, Usage>) -> BucketView {
    let u = counts.get(&b.id).copied().unwrap_or_default();
    BucketView {
        name: b.name.clone(),
        region: b.region.clone(),
        owner: owner.user_name.clone(),
        owner_id: b.owner_id,
        created_at: timestamp(b.created_millis),
        object_count: u.objects,
        noncurrent_versions: u.noncurrent,
        total_size: u.bytes,
        total_size_human: human_size(u.bytes),
        versioning: versioning_name(b),
    }
}

fn owner_of(ctx: &ShardCtx, b: &Bucket) -> Credential {
    ctx.with_catalog(|c| c.credential(b.owner_id).cloned())
        .unwrap_or_else(|| Credential {
            id: b.owner_id,
            access_key: String::new(),
            secret_key: String::new(),
            user_name: String::new(),
            is_active: false,
            created_millis: 0,
            canonical_id: String::new(),
        })
}

async fn list_buckets(ctx: &ShardCtx) -> ApiResult {
    let catalog = ctx.catalog();
    let counts = msg::bucket_stats_everywhere(ctx).await;
    let list: Vec<BucketView> = catalog
        .catalog
        .buckets()
        .map(|b| bucket_view(b, &owner_of(ctx, b), &counts))
        .collect();
    Ok(json(200, &serde_json::json!({ "buckets": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBucket {
    name: String,
    owner_id: u64,
    region: Option<String>,
}

async fn create_bucket(ctx: &ShardCtx, body: &[u8]) -> ApiResult {
    let req: CreateBucket = parse(body)?;
    crate::s3::names::validate_bucket_name(&req.name)
        .map_err(|e| ApiError::bad_request(format!("invalid bucket name: {}", e.message)))?;
    let region = req.region.unwrap_or_else(|| ctx.config.region.clone());
    if region.is_empty()
        || region.len() > MAX_REGION_BYTES
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::bad_request(format!(
            "region must be 1..{MAX_REGION_BYTES} characters of a-z, 0-9 and '-'"
        )));
    }
    let Some(owner) =
        ctx.with_catalog(|c| c.identity(req.owner_id).map(|u| u.canonical_id.clone()))
    else {
        return Err(ApiError::not_found(format!(
            "owner_id {} names no credential",
            req.owner_id
        )));
    };
    let op = CatalogOp::CreateBucket {
        name: req.name.clone(),
        owner_id: req.owner_id,
        region,
        grants: crate::access::CannedAcl::Private.grants(&owner, &owner, true),
        ownership: Some(ctx.config.default_object_ownership),
        reset_acl_if_owned: false,
    };
    change(ctx, op).await?;
    let mut resp = get_bucket(ctx, &req.name).await?;
    resp.status = 201;
    Ok(resp)
}

async fn get_bucket(ctx: &ShardCtx, name: &str) -> ApiResult {
    let b = bucket(ctx, name)?;
    let counts = msg::bucket_stats_everywhere(ctx).await;
    let listing = list(ctx, &b, "", None).await?;
    #[derive(Serialize)]
    struct Detail {
        #[serde(flatten)]
        bucket: BucketView,
        objects: Vec<ObjectView>,
    }
    Ok(json(
        200,
        &Detail {
            bucket: bucket_view(&b, &owner_of(ctx, &b), &counts),
            objects: listing.objects,
        },
    ))
}

// ---- objects -----------------------------------------------------------

#[derive(Serialize)]
struct ObjectView {
    key: String,
    size: u64,
    size_human: String,
    content_type: Option<String>,
    etag: String,
    is_multipart: bool,
    created_at: String,
}

#[derive(Serialize)]
struct Listing {
    objects: Vec<ObjectView>,
    /// Roll-ups below the prefix when a delimiter was given.
    prefixes: Vec<String>,
    is_truncated: bool,
}

/// One merged page (MAX_LIST_OBJECTS) of a bucket's keys from every shard.
async fn list(
    ctx: &ShardCtx,
    b: &Bucket,
    prefix: &str,
    delimiter: Option<&str>,
) -> Result<Listing, ApiError> {
    let pages = owner::list_all(ctx, b.id, prefix, delimiter, None, MAX_LIST_OBJECTS + 1)
        .await
        .map_err(|e| ApiError::internal(e.message))?;
    let mut items: Vec<ListItem> = pages.into_iter().flatten().collect();
    let key_of = |i: &ListItem| match i {
        ListItem::Object { key, .. } => key.clone(),
        ListItem::CommonPrefix(p) => p.clone(),
    };
    items.sort_by_key(key_of);
    items.dedup_by_key(|i| key_of(i));
    let is_truncated = items.len() > MAX_LIST_OBJECTS;
    items.truncate(MAX_LIST_OBJECTS);
    let mut out = Listing {
        objects: Vec::new(),
        prefixes: Vec::new(),
        is_truncated,
    };
    for item in items {
        match item {
            ListItem::Object {
                key,
                size,
                etag,
                mtime_millis,
                content_type,
            } => out.objects.push(ObjectView {
                key,
                size,
                size_human: human_size(size),
                content_type,
                is_multipart: etag.contains('-'),
                etag,
                created_at: timestamp(mtime_millis),
            }),
            ListItem::CommonPrefix(p) => out.prefixes.push(p),
        }
    }
    Ok(out)
}

async fn list_objects(ctx: &ShardCtx, name: &str, q: &HashMap<String, String>) -> ApiResult {
    let b = bucket(ctx, name)?;
    let prefix = q.get("prefix").map(String::as_str).unwrap_or("");
    if prefix.len() > MAX_PREFIX_BYTES {
        return Err(ApiError::bad_request(format!(
            "prefix is longer than {MAX_PREFIX_BYTES} bytes"
        )));
    }
    let delimiter = q
        .get("delimiter")
        .map(String::as_str)
        .filter(|d| !d.is_empty());
    if delimiter.is_some_and(|d| d.chars().count() != 1) {
        return Err(ApiError::bad_request(
            "delimiter must be a single character",
        ));
    }
    Ok(json(200, &list(ctx, &b, prefix, delimiter).await?))
}

fn check_key(key: &str) -> Result<(), ApiError> {
    crate::s3::names::validate_key(key).map_err(|e| {
        ApiError::bad_request(if e.message.is_empty() {
            "object key is too long".to_string()
        } else {
            e.message
        })
    })
}

async fn get_object(ctx: &ShardCtx, bucket_name: &str, key: &str) -> ApiResult {
    let b = bucket(ctx, bucket_name)?;
    check_key(key)?;
    let shard = ctx.placement.owner(&b.name, key);
    let req = ReadRequest {
        head_only: true,
        ..Default::default()
    };
    let (v, _, _) = owner::read(ctx, shard, b.id, key, req).await.map_err(|e| {
        if e.code.status() == 404 {
            ApiError::not_found(format!("no object {key:?} in bucket {bucket_name:?}"))
        } else {
            ApiError::internal(e.message)
        }
    })?;
    let meta = &v.meta;
    let metadata: serde_json::Map<String, serde_json::Value> = meta
        .user_meta
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Ok(json(
        200,
        &serde_json::json!({
            "key": v.key,
            "size": meta.size,
            "size_human": human_size(meta.size),
            "content_type": meta.content_type,
            "etag": meta.etag,
            "is_multipart": !meta.part_sizes.is_empty(),
            "created_at": timestamp(meta.mtime_millis),
            "part_count": meta.part_sizes.len(),
            "metadata": metadata,
            "storage_path": format!("shard-{shard:03}/bucket-{}/{}", b.id, v.key),
            "updated_at": timestamp(meta.mtime_millis),
            "versions": key_versions(ctx, &b, key).await?,
        }),
    ))
}

/// Most versions of one key the object view lists (newest first).
const MAX_KEY_VERSIONS: usize = 100;

/// The key's versions and delete markers, newest first (one version,
/// `null`, in a bucket never versioned).
async fn key_versions(ctx: &ShardCtx, b: &Bucket, key: &str) -> Result<Vec<Value>, ApiError> {
    use crate::store::VersionItem;
    let pages = owner::list_versions_all(ctx, b.id, key, None, None, None, MAX_KEY_VERSIONS + 1)
        .await
        .map_err(|e| ApiError::internal(e.message))?;
    let (items, _) = crate::server::handlers::list::merge_version_pages(pages, MAX_KEY_VERSIONS);
    Ok(items
        .into_iter()
        .filter_map(|item| match item {
            VersionItem::Version {
                key: k,
                version_id,
                is_latest,
                delete_marker,
                size,
                etag,
                mtime_millis,
            } if k == key => Some(serde_json::json!({
                "version_id": crate::s3::model::version_id_string(version_id),
                "is_latest": is_latest,
                "delete_marker": delete_marker,
                "size": size,
                "size_human": human_size(size),
                "etag": etag,
                "created_at": timestamp(mtime_millis),
            })),
            _ => None,
        })
        .collect())
}

async fn delete_object(ctx: &ShardCtx, bucket_name: &str, key: &str) -> ApiResult {
    let b = bucket(ctx, bucket_name)?;
    check_key(key)?;
    let shard = ctx.placement.owner(&b.name, key);
    match owner::delete(ctx, shard, b.id, key, None).await {
        Ok(o) if o.existed => Ok(done()),
        Ok(_) => Err(ApiError::not_found(format!(
            "no object {key:?} in bucket {bucket_name:?}"
        ))),
        Err(e) => Err(store_error("delete", e)),
    }
}

/// Aborts a multipart upload (its parts are dropped), as S3's
/// AbortMultipartUpload: the key is a query parameter (keys hold slashes).
async fn abort_upload(ctx: &ShardCtx, bucket_name: &str, key: &str, id: &str) -> ApiResult {
    let b = bucket(ctx, bucket_name)?;
    check_key(key)?;
    let upload_id = crate::server::uploads::parse_upload_id(id)
        .map_err(|_| ApiError::not_found(format!("no upload {id:?} of {key:?}")))?;
    let shard = ctx.placement.owner(&b.name, key);
    match crate::server::uploads::abort(ctx, shard, b.id, key, upload_id).await {
        Ok(()) => Ok(done()),
        Err(crate::store::StoreError::NoSuchUpload) => Err(ApiError::not_found(format!(
            "no upload {id:?} of {key:?} in bucket {bucket_name:?}"
        ))),
        Err(e) => Err(store_error("abort", e)),
    }
}

/// A store's refusal as the API answers it: a bucket deleted meanwhile is
/// 404, one whose deletion held the write back is 503 (retry), the rest 500.
fn store_error(what: &str, e: crate::store::StoreError) -> ApiError {
    use crate::store::StoreError as E;
    match e {
        E::NoSuchBucket => ApiError::not_found("no such bucket"),
        E::BucketBusy => ApiError::new(
            503,
            "ServiceUnavailable",
            format!("{what} failed: {e}; retry"),
        ),
        e => ApiError::internal(format!("{what} failed: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteObjects {
    keys: Vec<String>,
}

async fn delete_objects(ctx: &ShardCtx, bucket_name: &str, body: &[u8]) -> ApiResult {
    let b = bucket(ctx, bucket_name)?;
    let req: DeleteObjects = parse(body)?;
    if req.keys.is_empty() || req.keys.len() > MAX_DELETE_KEYS {
        return Err(ApiError::bad_request(format!(
            "keys must list 1..{MAX_DELETE_KEYS} keys"
        )));
    }
    for k in &req.keys {
        check_key(k)?;
    }
    let mut deleted = Vec::new();
    for key in req.keys {
        let shard = ctx.placement.owner(&b.name, &key);
        match owner::delete(ctx, shard, b.id, &key, None).await {
            Ok(o) if o.existed => deleted.push(key),
            Ok(_) => {}
            Err(e) => return Err(store_error(&format!("delete of {key:?}"), e)),
        }
    }
    Ok(json(200, &serde_json::json!({ "deleted": deleted })))
}

// ---- multipart uploads ---------------------------------------------------

/// One in-progress multipart upload, in the seed's shape.
#[derive(Serialize, Debug, Clone)]
pub struct UploadView {
    pub upload_id: String,
    pub object_key: String,
    pub initiated_by: String,
    pub content_type: Option<String>,
    pub initiated_at: String,
    pub part_count: u64,
    pub total_size: u64,
    pub total_size_human: String,
}

/// The bucket's in-progress multipart uploads, gathered from every shard by
/// message, in key order. `initiated_by` is the user name of the credential
/// that initiated the upload (the bucket owner's for an upload from before
/// initiators were recorded).
async fn multipart_uploads(ctx: &ShardCtx, b: &Bucket) -> Vec<UploadView> {
    let name_of = |id: u64| {
        ctx.with_catalog(|c| {
            c.credential(id)
                .map(|c| c.user_name.clone())
                .unwrap_or_default()
        })
    };
    let mut uploads: Vec<UploadView> = super::msg::uploads_everywhere(ctx, b.id)
        .await
        .into_iter()
        .map(|u| UploadView {
            upload_id: crate::server::uploads::format_upload_id(u.upload_id),
            object_key: u.key,
            initiated_by: name_of(u.initiator.unwrap_or(b.owner_id)),
            content_type: u.content_type,
            initiated_at: timestamp(u.initiated_millis),
            part_count: u.part_count,
            total_size: u.total_size,
            total_size_human: human_size(u.total_size),
        })
        .collect();
    uploads.sort_by(|a, b| {
        a.object_key
            .cmp(&b.object_key)
            .then_with(|| a.upload_id.cmp(&b.upload_id))
    });
    uploads
}

// ---- presigned URLs ------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GeneratePresigned {
    bucket_name: String,
    object_key: String,
    method: Option<String>,
    expires_in: Option<i64>,
    access_key: String,
    /// false: not listed among the active URLs (the console's own
    /// downloads and uploads are not URLs a user handed out).
    #[serde(default = "listed_by_default")]
    listed: bool,
    /// A step of a multipart upload instead of a whole-object request.
    multipart: Option<MultipartStep>,
}

/// One multipart-upload request to presign: `create` (POST ?uploads),
/// `part` (PUT ?partNumber&uploadId), `complete` (POST ?uploadId) or
/// `abort` (DELETE ?uploadId).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultipartStep {
    step: String,
    upload_id: Option<String>,
    part_number: Option<u32>,
}

impl MultipartStep {
    /// The request's method, the S3 action it needs, and its signed query.
    fn request(&self) -> Result<(&'static str, crate::access::Action, String), ApiError> {
        use crate::access::Action;
        let upload_id = || -> Result<&str, ApiError> {
            self.upload_id
                .as_deref()
                .filter(|id| crate::server::uploads::parse_upload_id(id).is_ok())
                .ok_or_else(|| ApiError::bad_request("multipart.upload_id: an upload id is needed"))
        };
        Ok(match self.step.as_str() {
            "create" => ("POST", Action::PutObject, "uploads=".to_string()),
            "part" => {
                let n = self
                    .part_number
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request("multipart.part_number must be 1..10000")
                    })?;
                (
                    "PUT",
                    Action::PutObject,
                    format!("partNumber={n}&uploadId={}", upload_id()?),
                )
            }
            "complete" => (
                "POST",
                Action::PutObject,
                format!("uploadId={}", upload_id()?),
            ),
            "abort" => (
                "DELETE",
                Action::AbortMultipartUpload,
                format!("uploadId={}", upload_id()?),
            ),
            _ => {
                return Err(ApiError::bad_request(
                    "multipart.step must be create, part, complete or abort",
                ))
            }
        })
    }
}

fn listed_by_default() -> bool {
    true
}

async fn generate_presigned(ctx: &ShardCtx, head: &RequestHead, body: &[u8]) -> ApiResult {
    let req: GeneratePresigned = parse(body)?;
    let step = req
        .multipart
        .as_ref()
        .map(MultipartStep::request)
        .transpose()?;
    let method = match &step {
        Some((m, _, _)) => m,
        None => req.method.as_deref().unwrap_or("GET"),
    };
    if !matches!(method, "GET" | "PUT" | "POST" | "DELETE") {
        return Err(ApiError::bad_request(
            "method must be one of GET, PUT, POST, DELETE",
        ));
    }
    let expires = req.expires_in.unwrap_or(DEFAULT_EXPIRES_SECS);
    if !(1..=MAX_EXPIRES_SECS).contains(&expires) {
        return Err(ApiError::bad_request(format!(
            "expires_in must be 1..{MAX_EXPIRES_SECS} seconds"
        )));
    }
    check_key(&req.object_key)?;
    let b = bucket(ctx, &req.bucket_name)?;
    let cred = ctx
        .with_catalog(|c| c.credential_by_access_key(&req.access_key).cloned())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no credential with access_key {:?}",
                req.access_key
            ))
        })?;
    if !cred.is_active {
        return Err(ApiError::bad_request(
            "the credential is deactivated; its URLs would be refused",
        ));
    }
    let action = match (&step, method) {
        (Some((_, action, _)), _) => *action,
        (None, "GET") => crate::access::Action::GetObject,
        (None, "DELETE") => crate::access::Action::DeleteObject,
        (None, _) => crate::access::Action::PutObject,
    };
    if !crate::server::access::may_presign(ctx, &b, cred.id, action, &req.object_key) {
        return Err(ApiError::new(
            403,
            "Forbidden",
            "this credential may not access the bucket; S3 would refuse the URL",
        ));
    }
    let host = head
        .header("host")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::bad_request("a Host header is needed to sign the URL for it"))?;
    let now = crate::util::time::unix_now();
    let input = PresignInput {
        method,
        bucket: &b.name,
        key: &req.object_key,
        host,
        access_key: &cred.access_key,
        secret_key: &cred.secret_key,
        region: &ctx.config.region,
        now,
        expires_secs: expires,
    };
    // POST is a browser form (POST Object): a URL and the fields to send.
    let (url, fields) = if let Some((_, _, query)) = &step {
        let url = presign::presign_with_query(&input, query).map_err(ApiError::internal)?;
        (url, None)
    } else if method == "POST" {
        let (url, fields) = presign::presign_post(&input);
        let fields: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .map(|(n, v)| (n.to_string(), serde_json::Value::String(v)))
            .collect();
        (url, Some(fields))
    } else {
        (presign::presign(&input).map_err(ApiError::internal)?, None)
    };
    let expires_millis = (now + expires) * 1000;
    let record = PresignedUrl {
        bucket_name: b.name.clone(),
        object_key: req.object_key.clone(),
        method: method.to_string(),
        access_key: cred.access_key.clone(),
        expires_at: timestamp(expires_millis),
        created_at: timestamp(now * 1000),
        expires_millis,
    };
    let expires_at = record.expires_at.clone();
    if req.listed {
        msg::record_presigned(ctx, record).await;
    }
    let mut answer = serde_json::json!({ "url": url, "method": method, "expires_at": expires_at });
    if let Some(fields) = fields {
        answer["fields"] = serde_json::Value::Object(fields);
    }
    Ok(json(200, &answer))
}
