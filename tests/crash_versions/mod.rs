//! Object versions in the kill -9 crash loop (tests/durability.rs): workers
//! on a versioning-enabled bucket write versions, delete markers and
//! version deletes; after each restart every key's version list must be
//! exactly what was acknowledged, in order, plus at most the effect of the
//! op in flight at the kill, and every version must read back byte for byte.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::primitives::ByteStream;

use crate::common::pattern;

pub const VERSIONED_BUCKET: &str = "crash-versions";
pub const VERSION_WORKERS: u64 = 2;
const KEYS_PER_WORKER: u64 = 4;
/// Version bodies: small, so the listing checks stay cheap across cycles.
const MAX_VERSION_BYTES: u64 = 40_000;
/// A key with more versions than this gets version deletes only.
const MAX_VERSIONS_PER_KEY: usize = 12;
const SALT: u64 = 0x7665_7273_696f_6e73;

/// One version as acknowledged: its id and data (None: a delete marker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    id: String,
    data: Option<Vec<u8>>,
}

/// The op a worker had in flight when the server died.
#[derive(Clone, Debug)]
enum Pending {
    Put(Vec<u8>),
    Marker,
    RemoveVersion(String),
}

#[derive(Default)]
pub struct VersionModel {
    /// key -> versions, newest first.
    keys: HashMap<String, Vec<Version>>,
    inflight: HashMap<String, Pending>,
    pub acknowledged: u64,
}

pub type SharedVersions = Arc<Mutex<VersionModel>>;

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes versions, markers and version deletes on its own keys until the
/// server dies.
pub async fn version_worker(s3: aws_sdk_s3::Client, worker: u64, seed: u64, model: SharedVersions) {
    for n in 0u64.. {
        let r = mix(seed ^ SALT ^ (worker << 40) ^ n);
        let key = format!("v{worker}/k{}", r % KEYS_PER_WORKER);
        let versions = model
            .lock()
            .expect("lock")
            .keys
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let op = match (r >> 16) % 10 {
            _ if versions.len() >= MAX_VERSIONS_PER_KEY => {
                Pending::RemoveVersion(versions[(r >> 24) as usize % versions.len()].id.clone())
            }
            0..=5 => Pending::Put(pattern(((r >> 24) % MAX_VERSION_BYTES) as usize, r)),
            6 | 7 => Pending::Marker,
            _ if versions.is_empty() => Pending::Marker,
            _ => Pending::RemoveVersion(versions[(r >> 24) as usize % versions.len()].id.clone()),
        };
        model
            .lock()
            .expect("lock")
            .inflight
            .insert(key.clone(), op.clone());
        let done: Option<Option<Version>> = match &op {
            Pending::Put(data) => s3
                .put_object()
                .bucket(VERSIONED_BUCKET)
                .key(&key)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .ok()
                .map(|o| {
                    Some(Version {
                        id: o.version_id().expect("version id").to_string(),
                        data: Some(data.clone()),
                    })
                }),
            Pending::Marker => s3
                .delete_object()
                .bucket(VERSIONED_BUCKET)
                .key(&key)
                .send()
                .await
                .ok()
                .map(|o| {
                    assert_eq!(o.delete_marker(), Some(true));
                    Some(Version {
                        id: o.version_id().expect("marker id").to_string(),
                        data: None,
                    })
                }),
            Pending::RemoveVersion(id) => s3
                .delete_object()
                .bucket(VERSIONED_BUCKET)
                .key(&key)
                .version_id(id)
                .send()
                .await
                .ok()
                .map(|_| None),
        };
        let Some(done) = done else {
            return; // the server is gone; the op stays in flight
        };
        let mut m = model.lock().expect("lock");
        m.inflight.remove(&key);
        m.acknowledged += 1;
        let versions = m.keys.entry(key.clone()).or_default();
        match (done, &op) {
            (Some(v), _) => versions.insert(0, v),
            (None, Pending::RemoveVersion(id)) => versions.retain(|v| &v.id != id),
            (None, _) => unreachable!("puts and markers return a version"),
        }
    }
}

/// Every (key, version id, is a marker) of the bucket, as listed.
async fn listed(s3: &aws_sdk_s3::Client) -> HashMap<String, Vec<(String, bool, i64)>> {
    let mut out: HashMap<String, Vec<(String, bool, i64)>> = HashMap::new();
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(VERSIONED_BUCKET)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .expect("list versions");
        let mut rows: Vec<(String, String, bool, bool)> = Vec::new();
        for v in page.versions() {
            rows.push((
                v.key().expect("key").into(),
                v.version_id().expect("id").into(),
                false,
                v.is_latest() == Some(true),
            ));
        }
        for m in page.delete_markers() {
            rows.push((
                m.key().expect("key").into(),
                m.version_id().expect("id").into(),
                true,
                m.is_latest() == Some(true),
            ));
        }
        for (key, id, marker, latest) in rows {
            // Ids are time-ordered hex: newest first is descending order.
            let seq = i64::from(latest);
            out.entry(key).or_default().push((id, marker, seq));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
    for versions in out.values_mut() {
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        let latest = versions.iter().filter(|v| v.2 == 1).count();
        assert_eq!(latest, 1, "exactly one latest version: {versions:?}");
        assert_eq!(
            versions[0].2, 1,
            "the newest id is the latest: {versions:?}"
        );
    }
    out
}

async fn read_version(s3: &aws_sdk_s3::Client, key: &str, id: &str) -> Vec<u8> {
    let got = s3
        .get_object()
        .bucket(VERSIONED_BUCKET)
        .key(key)
        .version_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{key} version {id}: {e:?}"));
    got.body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// After a restart: each key's versions are the acknowledged ones, plus
/// the in-flight op's effect at most; every version reads back. Adopts
/// what it saw as the new acknowledged state.
pub async fn check_after_restart(s3: &aws_sdk_s3::Client, model: &SharedVersions) {
    let seen = listed(s3).await;
    let (acked, inflight) = {
        let m = model.lock().expect("lock");
        (m.keys.clone(), m.inflight.clone())
    };
    let mut keys: Vec<&String> = acked.keys().chain(seen.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut adopted = HashMap::new();
    for key in keys {
        let want = acked.get(key).cloned().unwrap_or_default();
        let got = seen.get(key).cloned().unwrap_or_default();
        let got_ids: Vec<&str> = got.iter().map(|v| v.0.as_str()).collect();
        let want_ids: Vec<&str> = want.iter().map(|v| v.id.as_str()).collect();
        let mut now = want.clone();
        match inflight.get(key) {
            _ if got_ids == want_ids => {}
            // The op in flight landed: one new version on top.
            Some(p @ (Pending::Put(_) | Pending::Marker))
                if got_ids.len() == want_ids.len() + 1 && got_ids[1..] == want_ids[..] =>
            {
                let (id, marker, _) = &got[0];
                let data = match p {
                    Pending::Put(data) => {
                        assert!(!marker, "{key}: in-flight PUT became a marker");
                        Some(data.clone())
                    }
                    _ => {
                        assert!(*marker, "{key}: in-flight DELETE became an object");
                        None
                    }
                };
                now.insert(
                    0,
                    Version {
                        id: id.clone(),
                        data,
                    },
                );
            }
            Some(Pending::RemoveVersion(id))
                if want_ids.iter().filter(|w| *w != id).eq(got_ids.iter()) =>
            {
                now.retain(|v| &v.id != id);
            }
            _ => panic!(
                "{key}: versions after restart {got_ids:?}, acknowledged {want_ids:?}, \
                 in flight {:?}",
                inflight.get(key).map(|p| match p {
                    Pending::Put(_) => "put".to_string(),
                    Pending::Marker => "marker".to_string(),
                    Pending::RemoveVersion(id) => format!("remove {id}"),
                })
            ),
        }
        for (v, (_, marker, _)) in now.iter().zip(&got) {
            assert_eq!(v.data.is_none(), *marker, "{key} {}", v.id);
            if let Some(data) = &v.data {
                let bytes = read_version(s3, key, &v.id).await;
                assert!(bytes == *data, "{key} version {} differs", v.id);
            }
        }
        if !now.is_empty() {
            adopted.insert(key.clone(), now);
        }
    }
    let mut m = model.lock().expect("lock");
    m.keys = adopted;
    m.inflight.clear();
}
