//! SSE-KMS's built-in key service: named keys whose material never leaves
//! the host, and the envelope that wraps each object's data key under one.
//!
//! A key has an id (UUID form), an optional alias (`alias/name`), an ARN
//! `arn:aws:kms:<region>:<account>:key/<id>`, a state and a rotation
//! history: every rotation adds a version with fresh material, and every
//! version stays, so what an old version wrapped still opens. Material is
//! 32 random bytes from `ring`'s `SystemRandom`, kept in the catalog
//! (`catalog.json`, mode 0600, written crash-safe) only wrapped under a key
//! derived from the SSE-S3 master key (`sse-master.key`); its `Debug` and
//! `Serialize` never show it unwrapped, and no API answer carries it.
//!
//! Keys live in the catalog so they reach every shard the way buckets do:
//! shard 0 applies a change ([`apply`]), persists it and installs the new
//! snapshot on every shard before answering; the request path only reads
//! its shard's snapshot.
//!
//! An object's data key is 32 random bytes wrapped (AES-256-GCM) under the
//! key's current version, with the key id, the version and the encryption
//! context as additional data: the wrong key, version or context fails to
//! open it. The content key is then derived from the data key as SSE-S3's
//! is from the master key, so the content is exactly SSE-S3's chunk layout.

use super::{derive, MasterKey};
use crate::store::{KmsEnvelope, WRAPPED_DATA_KEY_BYTES};
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most keys the service holds.
pub const MAX_KMS_KEYS: usize = 10_000;
/// Most versions (rotations) one key keeps.
pub const MAX_KEY_VERSIONS: usize = 10_000;
/// Longest alias, `alias/` included (AWS's limit).
pub const MAX_ALIAS_BYTES: usize = 256;
/// Longest description (AWS's limit).
pub const MAX_DESCRIPTION_BYTES: usize = 8192;
/// AWS's bounds on a deletion's waiting period, in days.
pub const MIN_PENDING_WINDOW_DAYS: u32 = 7;
pub const MAX_PENDING_WINDOW_DAYS: u32 = 30;
pub const MILLIS_PER_DAY: i64 = 86_400_000;
/// `--kms-min-deletion-wait-secs`'s default: KMS's 7 days.
pub const DEFAULT_MIN_DELETION_WAIT_SECS: u64 = MIN_PENDING_WINDOW_DAYS as u64 * 86_400;
/// The alias of the key used when a write asks for aws:kms without naming
/// a key and its bucket's default names none (S3's `aws/s3`).
pub const DEFAULT_KEY_ALIAS: &str = "alias/aws/s3";
/// Bytes of a key version's wrapped material: nonce, 32 bytes, GCM tag.
const WRAPPED_MATERIAL_BYTES: usize = NONCE_LEN + 32 + 16;

/// A key's state, as KMS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
}

impl KeyState {
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// One version's material, wrapped under the master key's KMS wrapping
/// key. Serialized as base64; never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedMaterial([u8; WRAPPED_MATERIAL_BYTES]);

impl std::fmt::Debug for WrappedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappedMaterial(..)")
    }
}

impl Serialize for WrappedMaterial {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for WrappedMaterial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(WrappedMaterial)
            .ok_or_else(|| serde::de::Error::custom("wrapped KMS key material of the wrong size"))
    }
}

/// One version of a key: created by the key's creation or a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    pub version: u32,
    pub created_millis: i64,
    pub material: WrappedMaterial,
}

/// A key of the key service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKey {
    pub id: String,
    /// `alias/<name>` (None: no alias).
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub description: String,
    pub created_millis: i64,
    pub state: KeyState,
    /// PendingDeletion: when the material is destroyed.
    #[serde(default)]
    pub deletion_millis: Option<i64>,
    /// Oldest first; the last is current. Never empty.
    pub versions: Vec<KeyVersion>,
}

impl KmsKey {
    pub fn current(&self) -> &KeyVersion {
        // A key is created with a version and versions are only added.
        self.versions.last().expect("a key has a version")
    }

    pub fn version(&self, v: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|k| k.version == v)
    }

    /// Past its deletion date: as good as destroyed, whether or not shard
    /// 0 has purged it yet.
    pub fn destroyed(&self, now_millis: i64) -> bool {
        self.state == KeyState::PendingDeletion
            && self.deletion_millis.is_some_and(|d| d <= now_millis)
    }
}

/// The ARN of key `id` in `region` for `account`.
pub fn arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:key/{id}")
}

/// The key that `given` (an id, a key ARN, `alias/x` or an alias ARN)
/// names, if the service holds it.
pub fn resolve<'a>(keys: &'a [KmsKey], given: &str) -> Option<&'a KmsKey> {
    let given = given.trim();
    let name = match given.strip_prefix("arn:aws:kms:") {
        // region:account:key/<id> or region:account:alias/<name>
        Some(rest) => {
            let resource = rest.splitn(3, ':').nth(2)?;
            if let Some(id) = resource.strip_prefix("key/") {
                return keys.iter().find(|k| k.id == id);
            }
            resource
        }
        None => given,
    };
    if name.starts_with("alias/") {
        keys.iter().find(|k| k.alias.as_deref() == Some(name))
    } else {
        keys.iter().find(|k| k.id == name)
    }
}

/// Why a key-service change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsError {
    NotFound(String),
    /// The change is not allowed in the key's state (as KMS's
    /// KMSInvalidStateException).
    InvalidState(String),
    AliasTaken(String),
    Invalid(String),
}

/// A change to the key service. Everything random (ids, material) is made
/// by the caller, so applying a change is deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsOp {
    Create(Box<KmsKey>),
    SetEnabled {
        key: String,
        enabled: bool,
    },
    /// Adds version `version` (which must be the next) made with `material`.
    Rotate {
        key: String,
        version: u32,
        material: WrappedMaterial,
    },
    ScheduleDeletion {
        key: String,
        deletion_millis: i64,
    },
    CancelDeletion {
        key: String,
    },
    /// Destroys every key whose deletion date has passed.
    Purge,
}

fn check_alias(alias: &str) -> Result<(), KmsError> {
    let Some(name) = alias.strip_prefix("alias/") else {
        return Err(KmsError::Invalid("an alias starts with 'alias/'".into()));
    };
    let ok = !name.is_empty()
        && alias.len() <= MAX_ALIAS_BYTES
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
    if !ok {
        return Err(KmsError::Invalid(format!(
            "an alias is 'alias/' and 1..{} of A-Z a-z 0-9 / _ -",
            MAX_ALIAS_BYTES - 6
        )));
    }
    Ok(())
}

fn key_mut<'a>(keys: &'a mut [KmsKey], given: &str) -> Result<&'a mut KmsKey, KmsError> {
    let id = resolve(keys, given)
        .map(|k| k.id.clone())
        .ok_or_else(|| KmsError::NotFound(given.to_string()))?;
    keys.iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| KmsError::NotFound(given.to_string()))
}

/// Applies `op` at `now_millis`; on error `keys` is unchanged. Returns
/// the key changed (None for a purge).
pub fn apply(
    keys: &mut Vec<KmsKey>,
    op: KmsOp,
    now_millis: i64,
) -> Result<Option<KmsKey>, KmsError> {
    let key = match op {
        KmsOp::Create(key) => {
            if keys.len() >= MAX_KMS_KEYS {
                return Err(KmsError::Invalid(format!(
                    "the key service holds at most {MAX_KMS_KEYS} keys"
                )));
            }
            if let Some(a) = &key.alias {
                check_alias(a)?;
                if keys.iter().any(|k| k.alias.as_ref() == Some(a)) {
                    return Err(KmsError::AliasTaken(a.clone()));
                }
            }
            if key.description.len() > MAX_DESCRIPTION_BYTES {
                return Err(KmsError::Invalid(format!(
                    "a description is at most {MAX_DESCRIPTION_BYTES} bytes"
                )));
            }
            assert!(!key.versions.is_empty(), "a new key has its first version");
            assert!(keys.iter().all(|k| k.id != key.id), "key ids are unique");
            keys.push(*key);
            keys.last_mut().expect("just pushed")
        }
        KmsOp::SetEnabled { key, enabled } => {
            let k = key_mut(keys, &key)?;
            if k.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending deletion; cancel the deletion first",
                    k.id
                )));
            }
            k.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            k
        }
        KmsOp::Rotate {
            key,
            version,
            material,
        } => {
            let k = key_mut(keys, &key)?;
            if k.state != KeyState::Enabled {
                return Err(KmsError::InvalidState(format!(
                    "{} is {}; only an enabled key rotates",
                    k.id,
                    k.state.name()
                )));
            }
            if k.versions.len() >= MAX_KEY_VERSIONS {
                return Err(KmsError::Invalid(format!(
                    "a key keeps at most {MAX_KEY_VERSIONS} versions"
                )));
            }
            // The material is bound to its version number: a rotation that
            // raced this one took it.
            if version != k.current().version + 1 {
                return Err(KmsError::InvalidState(format!(
                    "{} was rotated meanwhile; rotate again",
                    k.id
                )));
            }
            k.versions.push(KeyVersion {
                version,
                created_millis: now_millis,
                material,
            });
            k
        }
        KmsOp::ScheduleDeletion {
            key,
            deletion_millis,
        } => {
            let k = key_mut(keys, &key)?;
            if k.state == KeyState::PendingDeletion {
                return Err(KmsError::InvalidState(format!(
                    "{} is already pending deletion",
                    k.id
                )));
            }
            k.state = KeyState::PendingDeletion;
            k.deletion_millis = Some(deletion_millis);
            k
        }
        KmsOp::CancelDeletion { key } => {
            let k = key_mut(keys, &key)?;
            if k.state != KeyState::PendingDeletion || k.destroyed(now_millis) {
                return Err(KmsError::InvalidState(format!(
                    "{} is not pending deletion",
                    k.id
                )));
            }
            // As KMS: a key whose deletion is cancelled comes back disabled.
            k.state = KeyState::Disabled;
            k.deletion_millis = None;
            k
        }
        KmsOp::Purge => {
            keys.retain(|k| !k.destroyed(now_millis));
            return Ok(None);
        }
    };
    Ok(Some(key.clone()))
}

/// A key made from 32 bytes of `label` material by HKDF of the master key.
fn master_derived(master: &MasterKey, label: &'static [u8]) -> LessSafeKey {
    let k = derive(&master.0, &[0u8; 32], label);
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).expect("a 32-byte AES-256 key"))
}

fn random<const N: usize>() -> Result<[u8; N], KmsCryptoError> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KmsCryptoError::Random)?;
    Ok(b)
}

/// Why material or a data key could not be made or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsCryptoError {
    /// The OS random source failed.
    Random,
    /// Wrapped bytes failed authentication: another master key, key,
    /// version or context, or damage.
    Authentication,
}

/// `nonce ‖ AES-256-GCM(secret) ‖ tag` with `aad`.
fn seal<const N: usize>(
    key: &LessSafeKey,
    secret: &[u8; 32],
    aad: &[u8],
) -> Result<[u8; N], KmsCryptoError> {
    debug_assert_eq!(N, NONCE_LEN + 32 + 16);
    let nonce: [u8; NONCE_LEN] = random()?;
    let mut buf = secret.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| KmsCryptoError::Authentication)?;
    let mut out = [0u8; N];
    out[..NONCE_LEN].copy_from_slice(&nonce);
    out[NONCE_LEN..].copy_from_slice(&buf);
    Ok(out)
}

fn open(key: &LessSafeKey, sealed: &[u8], aad: &[u8]) -> Result<[u8; 32], KmsCryptoError> {
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| KmsCryptoError::Authentication)?;
    let mut buf = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| KmsCryptoError::Authentication)?;
    plain.try_into().map_err(|_| KmsCryptoError::Authentication)
}

fn material_aad(key_id: &str, version: u32) -> Vec<u8> {
    let mut a = b"ringstore kms material v1\0".to_vec();
    a.extend_from_slice(key_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_le_bytes());
    a
}

const WRAP_LABEL: &[u8] = b"ringstore kms wrap v1";

/// Fresh material for version `version` of key `key_id`, wrapped.
pub fn new_material(
    master: &MasterKey,
    key_id: &str,
    version: u32,
) -> Result<WrappedMaterial, KmsCryptoError> {
    let mut secret: [u8; 32] = random()?;
    let wrapped = seal(
        &master_derived(master, WRAP_LABEL),
        &secret,
        &material_aad(key_id, version),
    );
    secret.fill(0);
    wrapped.map(WrappedMaterial)
}

fn material_secret(
    master: &MasterKey,
    key_id: &str,
    v: &KeyVersion,
) -> Result<[u8; 32], KmsCryptoError> {
    open(
        &master_derived(master, WRAP_LABEL),
        &v.material.0,
        &material_aad(key_id, v.version),
    )
}

fn unwrap_material(
    master: &MasterKey,
    key_id: &str,
    v: &KeyVersion,
) -> Result<LessSafeKey, KmsCryptoError> {
    let mut secret = material_secret(master, key_id, v)?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &secret).expect("32-byte key"));
    secret.fill(0);
    Ok(key)
}

/// A new key (first version made) with a random UUID-form id.
pub fn new_key(
    master: &MasterKey,
    alias: Option<String>,
    description: String,
    now_millis: i64,
) -> Result<KmsKey, KmsCryptoError> {
    let r: [u8; 16] = random()?;
    let h = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let id = format!(
        "{}-{}-{}-{}-{}",
        h(&r[0..4]),
        h(&r[4..6]),
        h(&r[6..8]),
        h(&r[8..10]),
        h(&r[10..16])
    );
    let material = new_material(master, &id, 1)?;
    Ok(KmsKey {
        id,
        alias,
        description,
        created_millis: now_millis,
        state: KeyState::Enabled,
        deletion_millis: None,
        versions: vec![KeyVersion {
            version: 1,
            created_millis: now_millis,
            material,
        }],
    })
}

fn data_key_aad(key_id: &str, version: u32, context: Option<&str>) -> Vec<u8> {
    let mut a = b"ringstore kms data key v1\0".to_vec();
    a.extend_from_slice(key_id.as_bytes());
    a.push(0);
    a.extend_from_slice(&version.to_le_bytes());
    if let Some(c) = context {
        a.push(1);
        a.extend_from_slice(c.as_bytes());
    }
    a
}

/// What a write asks of the key service besides the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KmsRequest {
    /// The key as named (id, ARN or alias); None: the bucket's default,
    /// else the server's default key.
    pub key: Option<String>,
    pub context: Option<String>,
    pub bucket_key_enabled: bool,
    pub dsse: bool,
}

/// The AES-256-GCM key of `key`'s version `version`: its material opened
/// from under the master key (what a shard caches, `server::kms`).
pub fn version_key(
    master: &MasterKey,
    key: &KmsKey,
    version: u32,
) -> Result<LessSafeKey, KmsCryptoError> {
    let v = key.version(version).ok_or(KmsCryptoError::Authentication)?;
    unwrap_material(master, &key.id, v)
}

/// A fresh data key wrapped under `wrapping`, version `version` of key
/// `key_id`: the envelope to store and the data key to derive the content
/// key from.
pub fn wrap_data_key(
    wrapping: &LessSafeKey,
    key_id: &str,
    version: u32,
    key_arn: String,
    req: &KmsRequest,
) -> Result<(KmsEnvelope, [u8; 32]), KmsCryptoError> {
    let data: [u8; 32] = random()?;
    let wrapped_data_key: [u8; WRAPPED_DATA_KEY_BYTES] = seal(
        wrapping,
        &data,
        &data_key_aad(key_id, version, req.context.as_deref()),
    )?;
    Ok((
        KmsEnvelope {
            key_arn,
            key_version: version,
            wrapped_data_key,
            context: req.context.clone(),
            bucket_key_enabled: req.bucket_key_enabled,
            dsse: req.dsse,
        },
        data,
    ))
}

/// The data key `env` wraps, given its key version's key `wrapping`.
pub fn unwrap_data_key(
    wrapping: &LessSafeKey,
    key_id: &str,
    env: &KmsEnvelope,
) -> Result<[u8; 32], KmsCryptoError> {
    open(
        wrapping,
        &env.wrapped_data_key,
        &data_key_aad(key_id, env.key_version, env.context.as_deref()),
    )
}

/// `wrap_data_key` under `key`'s current version, unwrapping it first.
pub fn new_data_key(
    master: &MasterKey,
    key: &KmsKey,
    key_arn: String,
    req: &KmsRequest,
) -> Result<(KmsEnvelope, [u8; 32]), KmsCryptoError> {
    let v = key.current().version;
    let wrapping = version_key(master, key, v)?;
    wrap_data_key(&wrapping, &key.id, v, key_arn, req)
}

/// `unwrap_data_key` for `key` (the key its ARN names), unwrapping the
/// version's key first.
pub fn open_data_key(
    master: &MasterKey,
    key: &KmsKey,
    env: &KmsEnvelope,
) -> Result<[u8; 32], KmsCryptoError> {
    let wrapping = version_key(master, key, env.key_version)?;
    unwrap_data_key(&wrapping, &key.id, env)
}

/// The key id in a key ARN (what envelopes store).
pub fn id_of_arn(arn: &str) -> Option<&str> {
    arn.rsplit_once(":key/").map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_bytes([7; 32])
    }

    fn ring_with(alias: &str) -> (Vec<KmsKey>, String) {
        let k = new_key(&master(), Some(alias.into()), "d".into(), 1000).expect("key");
        let id = k.id.clone();
        let mut keys = Vec::new();
        apply(&mut keys, KmsOp::Create(Box::new(k)), 1000).expect("create");
        (keys, id)
    }

    #[test]
    fn keys_resolve_by_id_arn_and_alias() {
        let (keys, id) = ring_with("alias/app");
        assert_eq!(id.len(), 36);
        let a = arn("us-east-1", "000000000001", &id);
        for name in [
            id.as_str(),
            a.as_str(),
            "alias/app",
            "arn:aws:kms:us-east-1:000000000001:alias/app",
        ] {
            assert_eq!(
                resolve(&keys, name).map(|k| k.id.as_str()),
                Some(id.as_str()),
                "{name}"
            );
        }
        for name in [
            "alias/other",
            "nope",
            "arn:aws:kms:",
            "arn:aws:kms:r:a:key/x",
        ] {
            assert!(resolve(&keys, name).is_none(), "{name}");
        }
        assert_eq!(id_of_arn(&a), Some(id.as_str()));
    }

    #[test]
    fn aliases_are_checked_and_unique() {
        let (mut keys, _) = ring_with("alias/app");
        let again = new_key(&master(), Some("alias/app".into()), String::new(), 1).expect("key");
        assert!(matches!(
            apply(&mut keys, KmsOp::Create(Box::new(again)), 1),
            Err(KmsError::AliasTaken(_))
        ));
        for bad in ["app", "alias/", "alias/a b", "alias/é"] {
            let k = new_key(&master(), Some(bad.into()), String::new(), 1).expect("key");
            assert!(
                matches!(
                    apply(&mut keys, KmsOp::Create(Box::new(k)), 1),
                    Err(KmsError::Invalid(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn data_keys_open_only_with_their_key_version_and_context() {
        let (mut keys, id) = ring_with("alias/app");
        let req = KmsRequest {
            context: Some(r#"{"a":"b"}"#.into()),
            ..KmsRequest::default()
        };
        let (env, data) = new_data_key(&master(), &keys[0], "arn".into(), &req).expect("wrap");
        assert_eq!(env.key_version, 1);
        assert_eq!(
            open_data_key(&master(), &keys[0], &env).expect("open"),
            data
        );
        // Another context, or another master key, does not open it.
        let mut other = env.clone();
        other.context = Some(r#"{"a":"c"}"#.into());
        assert_eq!(
            open_data_key(&master(), &keys[0], &other),
            Err(KmsCryptoError::Authentication)
        );
        assert_eq!(
            open_data_key(&MasterKey::from_bytes([8; 32]), &keys[0], &env),
            Err(KmsCryptoError::Authentication)
        );
        // Rotation: new data keys use version 2, old envelopes still open.
        let m2 = new_material(&master(), &id, 2).expect("material");
        let stale = KmsOp::Rotate {
            key: id.clone(),
            version: 3,
            material: m2.clone(),
        };
        assert!(matches!(
            apply(&mut keys, stale, 2000),
            Err(KmsError::InvalidState(_))
        ));
        let rotate = KmsOp::Rotate {
            key: id.clone(),
            version: 2,
            material: m2,
        };
        apply(&mut keys, rotate, 2000).expect("rotate");
        assert_eq!(keys[0].versions.len(), 2);
        let (env2, data2) = new_data_key(&master(), &keys[0], "arn".into(), &req).expect("wrap");
        assert_eq!(env2.key_version, 2);
        assert_eq!(
            open_data_key(&master(), &keys[0], &env2).expect("open"),
            data2
        );
        assert_eq!(open_data_key(&master(), &keys[0], &env).expect("old"), data);
        assert_ne!(data, data2);
    }

    #[test]
    fn state_changes_follow_kms() {
        let (mut keys, id) = ring_with("alias/app");
        let set = |enabled| KmsOp::SetEnabled {
            key: id.clone(),
            enabled,
        };
        apply(&mut keys, set(false), 1).expect("disable");
        assert_eq!(keys[0].state, KeyState::Disabled);
        let m = new_material(&master(), &id, 2).expect("material");
        assert!(matches!(
            apply(
                &mut keys,
                KmsOp::Rotate {
                    key: id.clone(),
                    version: 2,
                    material: m
                },
                1
            ),
            Err(KmsError::InvalidState(_))
        ));
        apply(&mut keys, set(true), 1).expect("enable");
        let del = KmsOp::ScheduleDeletion {
            key: "alias/app".into(),
            deletion_millis: 5000,
        };
        apply(&mut keys, del.clone(), 1).expect("schedule");
        assert!(matches!(
            apply(&mut keys, set(true), 1),
            Err(KmsError::InvalidState(_))
        ));
        assert!(matches!(
            apply(&mut keys, del, 1),
            Err(KmsError::InvalidState(_))
        ));
        apply(&mut keys, KmsOp::CancelDeletion { key: id.clone() }, 1).expect("cancel");
        assert_eq!(
            keys[0].state,
            KeyState::Disabled,
            "cancelled deletion leaves it disabled"
        );
        assert_eq!(keys[0].deletion_millis, None);
        let del = KmsOp::ScheduleDeletion {
            key: id.clone(),
            deletion_millis: 5000,
        };
        apply(&mut keys, del, 1).expect("schedule");
        apply(&mut keys, KmsOp::Purge, 4999).expect("purge early");
        assert_eq!(keys.len(), 1, "kept until its date");
        assert!(!keys[0].destroyed(4999) && keys[0].destroyed(5000));
        assert!(matches!(
            apply(&mut keys, KmsOp::CancelDeletion { key: id.clone() }, 5000),
            Err(KmsError::InvalidState(_))
        ));
        apply(&mut keys, KmsOp::Purge, 5000).expect("purge");
        assert!(keys.is_empty());
        assert!(matches!(
            apply(&mut keys, set(true), 1),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn material_is_never_serialized_or_shown_in_clear() {
        let k = new_key(&master(), None, String::new(), 1).expect("key");
        let secret = material_secret(&master(), &k.id, k.current()).expect("unwrap");
        let json = serde_json::to_string(&k).expect("json");
        let debug = format!("{k:?}");
        assert!(debug.contains("WrappedMaterial(..)"));
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        for shown in [&json, &debug] {
            assert!(!shown.contains(&b64) && !shown.contains(&hex), "{shown}");
        }
        assert!(!json.as_bytes().windows(32).any(|w| w == secret));
        let back: KmsKey = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, k);
        // The stored form opens only under the master key it was made with.
        assert!(unwrap_material(&MasterKey::from_bytes([1; 32]), &k.id, k.current()).is_err());
    }
}
