//! The SSE-KMS key service in the request path: which key a write uses
//! (creating the server's default key once), wrapping and opening data
//! keys against this shard's catalog snapshot (no lock, no I/O), the S3
//! errors for keys that are missing, disabled or pending deletion, and
//! shard 0's task that destroys keys whose waiting period has ended.

use super::catalog_service;
use super::shard::ShardCtx;
use crate::catalog::{CatalogError, CatalogOp, ROOT_CREDENTIAL_ID};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::sse::kms::{self, KeyState, KmsError, KmsKey, KmsOp, KmsRequest};
use crate::sse::ObjectKeys;
use crate::store::{SseInfo, SseKind, WRAPPED_DATA_KEY_BYTES};
use ring::aead::LessSafeKey;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// How often shard 0 looks for keys past their deletion date.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(1);

/// Most key versions a shard keeps opened.
pub const MAX_CACHED_KEY_VERSIONS: usize = 1024;
/// Most objects whose keys a shard keeps opened (each entry under 1 KiB:
/// AES-GCM and HMAC key schedules, the 60-byte wrapped key that finds it,
/// the key id and context; a few MiB per shard at most).
pub const MAX_CACHED_DATA_KEYS: usize = 4096;

/// A shard's opened key versions and data keys, so a GET of an SSE-KMS
/// object costs what an SSE-S3 one does. Dropped whole when the catalog
/// changes (a disabled, rotated or deleted key's entries go with it) or a
/// map is full; every use checks the key's state in the snapshot first, so
/// the cache never lets a disabled key work.
#[derive(Default)]
pub struct KmsCache {
    catalog_version: u64,
    versions: HashMap<(String, u32), Rc<LessSafeKey>>,
    /// By wrapped data key: the object's keys and what they were opened
    /// with (key id, version, context, seed), which a hit must match.
    data_keys: HashMap<[u8; WRAPPED_DATA_KEY_BYTES], OpenedObject>,
}

struct OpenedObject {
    keys: ObjectKeys,
    key_id: String,
    version: u32,
    context: Option<String>,
    seed: [u8; 32],
}

impl KmsCache {
    fn follow(&mut self, catalog_version: u64) {
        if self.catalog_version != catalog_version {
            self.versions.clear();
            self.data_keys.clear();
            self.catalog_version = catalog_version;
        }
    }
}

/// `key`'s version `version`, opened (from the cache if there).
fn version_key(ctx: &ShardCtx, key: &KmsKey, version: u32) -> Result<Rc<LessSafeKey>, S3Error> {
    let mut cache = ctx.kms_cache.borrow_mut();
    cache.follow(ctx.catalog_version());
    if let Some(k) = cache.versions.get(&(key.id.clone(), version)) {
        return Ok(k.clone());
    }
    let master = super::sse::master(ctx)?;
    let k = Rc::new(kms::version_key(master, key, version).map_err(crypto_error)?);
    if cache.versions.len() >= MAX_CACHED_KEY_VERSIONS {
        cache.versions.clear();
    }
    cache.versions.insert((key.id.clone(), version), k.clone());
    Ok(k)
}

/// The account every key's ARN names (the root credential's).
pub fn account(_ctx: &ShardCtx) -> String {
    crate::access::principal::account_id(ROOT_CREDENTIAL_ID)
}

pub fn key_arn(ctx: &ShardCtx, id: &str) -> String {
    kms::arn(&ctx.config.region, &account(ctx), id)
}

fn not_found(given: &str) -> S3Error {
    S3Error::new(S3ErrorCode::KmsNotFound).with_message(format!("Key '{given}' does not exist"))
}

/// The S3 error for using `key` now, if it cannot be used.
fn unusable(ctx: &ShardCtx, key: &KmsKey, now: i64) -> Option<S3Error> {
    let arn = key_arn(ctx, &key.id);
    match key.state {
        KeyState::Enabled => None,
        _ if key.destroyed(now) => Some(
            S3Error::new(S3ErrorCode::KmsNotFound)
                .with_message(format!("Key '{arn}' does not exist: it was deleted")),
        ),
        KeyState::Disabled => {
            Some(S3Error::new(S3ErrorCode::KmsDisabled).with_message(format!("{arn} is disabled.")))
        }
        KeyState::PendingDeletion => Some(
            S3Error::new(S3ErrorCode::KmsInvalidState)
                .with_message(format!("{arn} is pending deletion.")),
        ),
    }
}

fn crypto_error(e: kms::KmsCryptoError) -> S3Error {
    S3Error::new(S3ErrorCode::InternalError).with_message(match e {
        kms::KmsCryptoError::Random => "the OS random source failed",
        kms::KmsCryptoError::Authentication => {
            "a KMS key or data key failed authentication (damaged key store or master key)"
        }
    })
}

/// Wraps a fresh data key for `info` (an SSE-KMS object's) under the key
/// `r` names, or the server's default key; sets `info.kms`.
pub async fn new_data_key(
    ctx: &ShardCtx,
    r: &KmsRequest,
    info: &mut SseInfo,
) -> Result<[u8; 32], S3Error> {
    debug_assert_eq!(info.kind, SseKind::Kms);
    let given = match &r.key {
        Some(k) => k.clone(),
        None => {
            ensure_default_key(ctx).await?;
            kms::DEFAULT_KEY_ALIAS.to_string()
        }
    };
    let now = crate::util::time::unix_now_millis();
    let (env, data) = ctx.with_catalog(|c| {
        let key = kms::resolve(c.kms_keys(), &given).ok_or_else(|| not_found(&given))?;
        if let Some(e) = unusable(ctx, key, now) {
            return Err(e);
        }
        let version = key.current().version;
        let wrapping = version_key(ctx, key, version)?;
        kms::wrap_data_key(&wrapping, &key.id, version, key_arn(ctx, &key.id), r)
            .map_err(crypto_error)
    })?;
    info.kms = Some(Box::new(env));
    Ok(data)
}

/// The keys of SSE-KMS object `info` (its data key opened, the content
/// key derived), if its key is enabled.
pub fn object_keys(ctx: &ShardCtx, info: &SseInfo) -> Result<ObjectKeys, S3Error> {
    let Some(env) = info.kms.as_deref() else {
        return Err(S3Error::new(S3ErrorCode::InternalError)
            .with_message("an SSE-KMS object without its data key"));
    };
    let now = crate::util::time::unix_now_millis();
    let id = kms::id_of_arn(&env.key_arn).unwrap_or(&env.key_arn);
    ctx.with_catalog(|c| {
        let key = c
            .kms_keys()
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| not_found(&env.key_arn))?;
        if let Some(e) = unusable(ctx, key, now) {
            return Err(e);
        }
        let cached = {
            let mut cache = ctx.kms_cache.borrow_mut();
            cache.follow(ctx.catalog_version());
            cache
                .data_keys
                .get(&env.wrapped_data_key)
                .filter(|o| {
                    o.key_id == key.id
                        && o.version == env.key_version
                        && o.context == env.context
                        && o.seed == info.seed
                })
                .map(|o| o.keys.clone())
        };
        if let Some(k) = cached {
            return Ok(k);
        }
        let wrapping = version_key(ctx, key, env.key_version)?;
        let mut data = kms::unwrap_data_key(&wrapping, &key.id, env).map_err(crypto_error)?;
        let keys = ObjectKeys::for_kms(info, &data);
        data.fill(0);
        let mut cache = ctx.kms_cache.borrow_mut();
        if cache.data_keys.len() >= MAX_CACHED_DATA_KEYS {
            cache.data_keys.clear();
        }
        let opened = OpenedObject {
            keys: keys.clone(),
            key_id: key.id.clone(),
            version: env.key_version,
            context: env.context.clone(),
            seed: info.seed,
        };
        cache.data_keys.insert(env.wrapped_data_key, opened);
        Ok(keys)
    })
}

/// Creates the server's default key (`alias/aws/s3`) unless it exists.
async fn ensure_default_key(ctx: &ShardCtx) -> Result<(), S3Error> {
    let exists = ctx.with_catalog(|c| kms::resolve(c.kms_keys(), kms::DEFAULT_KEY_ALIAS).is_some());
    if exists {
        return Ok(());
    }
    let key = kms::new_key(
        super::sse::master(ctx)?,
        Some(kms::DEFAULT_KEY_ALIAS.to_string()),
        "Default key for SSE-KMS writes that name no key".to_string(),
        crate::util::time::unix_now_millis(),
    )
    .map_err(crypto_error)?;
    match catalog_service::change(ctx, CatalogOp::Kms(KmsOp::Create(Box::new(key)))).await {
        // Another request created it first: theirs is the default.
        Ok(_) | Err(CatalogError::Kms(KmsError::AliasTaken(_))) => Ok(()),
        Err(e) => Err(S3Error::new(S3ErrorCode::InternalError)
            .with_message(format!("the default KMS key could not be created: {e:?}"))),
    }
}

/// Shard 0: destroys keys whose waiting period has ended, as it ends
/// (their objects already fail to read: `KmsKey::destroyed`).
pub async fn purge_task(ctx: std::rc::Rc<ShardCtx>) {
    debug_assert_eq!(ctx.id, 0);
    loop {
        monoio::time::sleep(PURGE_INTERVAL).await;
        let now = crate::util::time::unix_now_millis();
        let due = ctx.with_catalog(|c| c.kms_keys().iter().any(|k| k.destroyed(now)));
        if due {
            if let Err(e) = catalog_service::change(&ctx, CatalogOp::Kms(KmsOp::Purge)).await {
                tracing::warn!("destroying KMS keys past their deletion date failed: {e:?}");
            }
        }
    }
}
