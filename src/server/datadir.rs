//! The data dir's small files: `format.json` (format version, shard count,
//! placement seed), `credentials.json` (root credential and admin API key)
//! and `catalog.json` (buckets and credentials), all mode 0600.

use crate::catalog::persist::{read_json, write_json};
use crate::catalog::{CatalogData, Credential, ROOT_CREDENTIAL_ID};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the data dir layout (the log records carry their own version too).
pub const DATA_DIR_FORMAT_VERSION: u32 = 1;
/// Every file of the data dir is private to the server's user (see `util::private_fs`).
pub const SECRET_FILE_MODE: u32 = crate::util::private_fs::PRIVATE_FILE_MODE;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FormatFile {
    pub format_version: u32,
    pub shards: u32,
    pub placement_seed: u64,
    pub created_millis: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RootCredentials {
    pub access_key: String,
    pub secret_key: String,
    pub admin_api_key: String,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // SystemRandom reads getrandom(2); failure means the OS has no entropy source at all.
    SystemRandom::new()
        .fill(&mut out)
        .expect("the OS random source failed");
    out
}

/// An access key in AWS's shape: 20 characters of A-Z2-7.
pub fn generate_access_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = random_bytes::<20>();
    let mut key = String::from("RS");
    key.extend(
        bytes[..18]
            .iter()
            .map(|b| ALPHABET[(b & 31) as usize] as char),
    );
    key
}

/// A secret key in AWS's shape: 40 characters of base64.
pub fn generate_secret_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(random_bytes::<30>())
}

/// An admin API key: 32 random bytes, hex.
pub fn generate_api_key() -> String {
    format!("rsk_{}", crate::util::hex::encode(&random_bytes::<32>()))
}

/// Opens or creates `format.json`; refuses a shard count other than the recorded one.
pub fn open_format(dir: &Path, shards: u32) -> Result<FormatFile, String> {
    let path = dir.join("format.json");
    if let Some(f) = read_json::<FormatFile>(&path)? {
        if f.format_version != DATA_DIR_FORMAT_VERSION {
            return Err(format!(
                "{} has format version {}, this build reads {DATA_DIR_FORMAT_VERSION}",
                dir.display(),
                f.format_version
            ));
        }
        if f.shards != shards {
            return Err(format!(
                "{} was formatted for {} shards; start with --shards {} (resharding is not supported yet)",
                dir.display(),
                f.shards,
                f.shards
            ));
        }
        return Ok(f);
    }
    let f = FormatFile {
        format_version: DATA_DIR_FORMAT_VERSION,
        shards,
        placement_seed: u64::from_le_bytes(random_bytes::<8>()),
        created_millis: crate::util::time::unix_now_millis(),
    };
    write_json(&path, &f, SECRET_FILE_MODE)?;
    Ok(f)
}

/// The shard count recorded in `dir`, if it was formatted.
pub fn recorded_shards(dir: &Path) -> Result<Option<u32>, String> {
    Ok(read_json::<FormatFile>(&dir.join("format.json"))?.map(|f| f.shards))
}

/// Loads `credentials.json`, creating it on first start. Environment values
/// (RINGSTORE_ACCESS_KEY / RINGSTORE_SECRET_KEY) override and are saved.
/// Returns the credentials and whether they were newly generated.
pub fn open_root_credentials(
    dir: &Path,
    env_access: Option<String>,
    env_secret: Option<String>,
) -> Result<(RootCredentials, bool), String> {
    let path = dir.join("credentials.json");
    let existing = read_json::<RootCredentials>(&path)?;
    let created = existing.is_none();
    let mut creds = existing.unwrap_or_else(|| RootCredentials {
        access_key: generate_access_key(),
        secret_key: generate_secret_key(),
        admin_api_key: generate_api_key(),
    });
    let mut changed = created;
    if let Some(a) = env_access.filter(|a| !a.is_empty()) {
        changed |= creds.access_key != a;
        creds.access_key = a;
    }
    if let Some(s) = env_secret.filter(|s| !s.is_empty()) {
        changed |= creds.secret_key != s;
        creds.secret_key = s;
    }
    if changed {
        write_json(&path, &creds, SECRET_FILE_MODE)?;
    }
    Ok((creds, created))
}

/// Loads `catalog.json` (empty on first start) and makes its root credential match `root`.
pub fn open_catalog(dir: &Path, root: &RootCredentials) -> Result<CatalogData, String> {
    let path = dir.join("catalog.json");
    let mut data = read_json::<CatalogData>(&path)?.unwrap_or_default();
    let root_cred = Credential {
        id: ROOT_CREDENTIAL_ID,
        access_key: root.access_key.clone(),
        secret_key: root.secret_key.clone(),
        user_name: "root".into(),
        is_active: true,
        created_millis: crate::util::time::unix_now_millis(),
        canonical_id: String::new(),
    };
    match data
        .credentials
        .iter_mut()
        .find(|c| c.id == ROOT_CREDENTIAL_ID)
    {
        Some(c) => {
            c.access_key = root_cred.access_key;
            c.secret_key = root_cred.secret_key;
            c.is_active = true;
        }
        None => data.credentials.insert(0, root_cred),
    }
    // Another credential must not hold the root's access key.
    data.credentials
        .retain(|c| c.id == ROOT_CREDENTIAL_ID || c.access_key != root.access_key);
    data.next_bucket_id = data.next_bucket_id.max(1);
    data.next_credential_id = data.next_credential_id.max(ROOT_CREDENTIAL_ID + 1);
    // Canonical ids for every credential, grants for old canned ACLs.
    crate::catalog::migrate_access(&mut data);
    save_catalog(dir, &data)?;
    Ok(data)
}

pub fn save_catalog(dir: &Path, data: &CatalogData) -> Result<(), String> {
    write_json(&dir.join("catalog.json"), data, SECRET_FILE_MODE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_generates_and_keeps_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, created) = open_root_credentials(dir.path(), None, None).expect("create");
        assert!(created);
        assert_eq!(a.access_key.len(), 20);
        assert_eq!(a.secret_key.len(), 40);
        let mode = std::fs::metadata(dir.path().join("credentials.json"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, created) = open_root_credentials(dir.path(), None, None).expect("reopen");
        assert!(!created);
        assert_eq!(a, b);
        let (c, _) =
            open_root_credentials(dir.path(), Some("ENVKEY".into()), Some("envsecret".into()))
                .expect("env");
        assert_eq!(
            (c.access_key.as_str(), c.secret_key.as_str()),
            ("ENVKEY", "envsecret")
        );
        assert_eq!(c.admin_api_key, a.admin_api_key);
    }

    #[test]
    fn shard_count_is_fixed_at_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = open_format(dir.path(), 2).expect("format");
        assert_eq!(open_format(dir.path(), 2).expect("reopen"), f);
        let err = open_format(dir.path(), 3).expect_err("must refuse");
        assert!(err.contains("--shards 2"), "{err}");
    }
}
