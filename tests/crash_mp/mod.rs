//! Multipart uploads in the kill -9 crash loop (tests/durability.rs): the
//! load, the model of what was acknowledged, and the check after a restart.
//!
//! What must hold after a restart:
//! - an object whose CompleteMultipartUpload was acknowledged reads back byte
//!   for byte with its multipart ETag (`"<md5 of part md5s>-N"`);
//! - an object whose Complete was in flight is the previous acknowledged
//!   object or the new one (whole), and its upload is listed exactly when
//!   the Complete did not land;
//! - an upload whose Create was acknowledged and that was not ended is
//!   listed by ListMultipartUploads, and ListParts shows every acknowledged
//!   part (ETag and size) plus, at most, the part that was in flight;
//! - nothing else is listed but an upload whose Create was in flight, with
//!   no parts.
//!
//! Uploads still open are completed over their acknowledged parts (or
//! aborted) after `MP_KEEP_CYCLES` restarts, so they are checked across more
//! than one recovery, and completing after a crash is exercised too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use md5::{Digest, Md5};

use crate::common::pattern;

/// Keys each multipart worker cycles through.
pub const MP_KEYS_PER_WORKER: u64 = 3;
pub const MP_WORKERS: u64 = 2;
/// Every part but the last: S3's minimum part size, kept at the minimum so
/// 20 cycles stay cheap.
const MP_PART_BYTES: usize = 5 * 1024 * 1024;
/// The last part is 1..=this many bytes.
const MP_LAST_PART_MAX_BYTES: u64 = 1024 * 1024;
/// An upload left open is resolved (completed or aborted) after this many restarts.
const MP_KEEP_CYCLES: u64 = 2;
/// Keeps the multipart workers' choices apart from the PUT workers'.
const MP_SALT: u64 = 0x6d70_7570_6c6f_6164;

#[derive(Clone, PartialEq, Eq)]
struct MpObject {
    data: Vec<u8>,
    /// Quoted, as S3 sends it.
    etag: String,
}

#[derive(Clone, PartialEq, Eq, Debug)]
struct PartModel {
    /// Quoted MD5 of the part.
    etag: String,
    size: i64,
    /// `pattern(size, seed)` is its data.
    seed: u64,
}

impl PartModel {
    fn data(&self) -> Vec<u8> {
        pattern(self.size as usize, self.seed)
    }
}

struct OpenUpload {
    key: String,
    /// The crash cycle that created it.
    born: u64,
    parts: BTreeMap<i32, PartModel>,
    /// An UploadPart in flight at the kill.
    inflight_part: Option<(i32, PartModel)>,
    /// Complete or Abort in flight: it may or may not be listed.
    ending: bool,
}

/// What the multipart workers had acknowledged, and what was in flight.
#[derive(Default)]
pub struct MpModel {
    /// The acknowledged object of each key (None: absent).
    acked: HashMap<String, Option<MpObject>>,
    /// Complete in flight at the kill: key -> (upload id, the object it makes).
    completing: HashMap<String, (String, MpObject)>,
    /// Uploads whose Create was acknowledged and that were not seen to end.
    open: BTreeMap<String, OpenUpload>,
    /// Keys with a Create in flight (its upload id never reached us).
    creating: HashSet<String>,
    pub completed: u64,
    pub aborted: u64,
    /// Uploads resolved after a restart (completed over surviving parts).
    pub completed_after_restart: u64,
}

pub type SharedMp = Arc<Mutex<MpModel>>;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", hex(&Md5::digest(data)))
}

/// S3's multipart ETag: MD5 of the concatenated part MD5s, then `-N`.
fn multipart_etag(parts: &[Vec<u8>]) -> String {
    let mut h = Md5::new();
    for p in parts {
        h.update(Md5::digest(p));
    }
    format!("\"{}-{}\"", hex(&h.finalize()), parts.len())
}

/// A failed request: the server was killed (no answer); an S3 error answer
/// from a live server is a bug and fails the test.
fn gone<E: std::fmt::Debug>(e: SdkError<E>) {
    if let SdkError::ServiceError(s) = &e {
        panic!("the server answered an error: {:?}", s.err());
    }
}

fn completed_parts(parts: &BTreeMap<i32, PartModel>) -> CompletedMultipartUpload {
    let parts = parts
        .iter()
        .map(|(n, p)| {
            CompletedPart::builder()
                .part_number(*n)
                .e_tag(&p.etag)
                .build()
        })
        .collect();
    CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build()
}

/// One worker: Create, 2-3 parts, then Complete (most), Abort or leave
/// open, over keys of its own, until the server dies. Returns uploads run.
pub async fn mp_worker(
    s3: aws_sdk_s3::Client,
    bucket: &'static str,
    worker: u64,
    seed: u64,
    cycle: u64,
    model: SharedMp,
) -> u64 {
    for n in 0u64.. {
        let r = crate::mix(seed ^ MP_SALT ^ (worker << 48) ^ n);
        let key = format!("m{worker}/k{}", r % MP_KEYS_PER_WORKER);
        if run_upload(&s3, bucket, &key, r, cycle, &model)
            .await
            .is_err()
        {
            return n;
        }
    }
    unreachable!("the loop ends when the server is killed")
}

async fn run_upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    r: u64,
    cycle: u64,
    model: &SharedMp,
) -> Result<(), ()> {
    model.lock().expect("lock").creating.insert(key.to_string());
    let out = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(gone)?;
    let id = out.upload_id().expect("upload id").to_string();
    {
        let mut m = model.lock().expect("lock");
        m.creating.remove(key);
        let u = OpenUpload {
            key: key.to_string(),
            born: cycle,
            parts: BTreeMap::new(),
            inflight_part: None,
            ending: false,
        };
        m.open.insert(id.clone(), u);
    }
    let count = 2 + (r >> 8) % 2;
    for n in 1..=count as i32 {
        let size = if (n as u64) < count {
            MP_PART_BYTES as i64
        } else {
            1 + ((r >> 16) % MP_LAST_PART_MAX_BYTES) as i64
        };
        let part_seed = crate::mix(r ^ n as u64);
        let data = pattern(size as usize, part_seed);
        let part = PartModel {
            etag: quoted_md5(&data),
            size,
            seed: part_seed,
        };
        open_mut(model, &id, |u| u.inflight_part = Some((n, part.clone())));
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(gone)?;
        assert_eq!(out.e_tag(), Some(part.etag.as_str()), "{key} part {n}");
        open_mut(model, &id, |u| {
            u.inflight_part = None;
            u.parts.insert(n, part);
        });
    }
    match (r >> 40) % 8 {
        0 => abort(s3, bucket, key, &id, model).await,
        1 => Ok(()), // left open: checked after the restart
        _ => complete(s3, bucket, key, &id, model).await,
    }
}

fn open_mut(model: &SharedMp, id: &str, f: impl FnOnce(&mut OpenUpload)) {
    let mut m = model.lock().expect("lock");
    f(m.open.get_mut(id).expect("open upload in the model"));
}

async fn abort(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    model: &SharedMp,
) -> Result<(), ()> {
    open_mut(model, id, |u| u.ending = true);
    s3.abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await
        .map_err(gone)?;
    let mut m = model.lock().expect("lock");
    m.open.remove(id);
    m.aborted += 1;
    Ok(())
}

/// Completes upload `id` over all its acknowledged parts.
async fn complete(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    model: &SharedMp,
) -> Result<(), ()> {
    let (parts, obj) = {
        let mut m = model.lock().expect("lock");
        let u = m.open.get_mut(id).expect("open upload");
        u.ending = true;
        let datas: Vec<Vec<u8>> = u.parts.values().map(PartModel::data).collect();
        let obj = MpObject {
            data: datas.concat(),
            etag: multipart_etag(&datas),
        };
        let parts = u.parts.clone();
        m.completing
            .insert(key.to_string(), (id.to_string(), obj.clone()));
        (parts, obj)
    };
    let out = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed_parts(&parts))
        .send()
        .await
        .map_err(gone)?;
    assert_eq!(
        out.e_tag(),
        Some(obj.etag.as_str()),
        "{key}: Complete's ETag"
    );
    let mut m = model.lock().expect("lock");
    m.completing.remove(key);
    m.open.remove(id);
    m.acked.insert(key.to_string(), Some(obj));
    m.completed += 1;
    Ok(())
}

/// GET: the bytes and the ETag, or None for NoSuchKey.
async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<MpObject> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(got) => {
            let etag = got.e_tag().expect("etag").to_string();
            let data = got.body.collect().await.expect("body").into_bytes();
            Some(MpObject {
                data: data.to_vec(),
                etag,
            })
        }
        Err(e) => {
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e);
            assert_eq!(code, Some("NoSuchKey"), "{key}: GET failed: {e:?}");
            None
        }
    }
}

/// Every upload listed under the multipart workers' prefix: id -> key.
async fn listed_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix("m")
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .expect("list uploads");
        for u in page.uploads() {
            let id = u.upload_id().expect("upload id").to_string();
            out.insert(id, u.key().expect("upload key").to_string());
        }
        if page.is_truncated() != Some(true) {
            return out;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
    }
}

/// ListParts of one upload: part number -> (quoted ETag, size).
async fn listed_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
) -> BTreeMap<i32, (String, i64)> {
    let out = s3
        .list_parts()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await
        .expect("list parts");
    assert_ne!(out.is_truncated(), Some(true), "a handful of parts");
    out.parts()
        .iter()
        .map(|p| {
            let n = p.part_number().expect("part number");
            (
                n,
                (
                    p.e_tag().expect("etag").to_string(),
                    p.size().expect("size"),
                ),
            )
        })
        .collect()
}

/// Checks the objects of the multipart keys against the model and adopts
/// what it saw. Returns the keys checked.
async fn check_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    model: &SharedMp,
    listed: &HashMap<String, String>,
) -> usize {
    let (acked, completing) = {
        let m = model.lock().expect("lock");
        (m.acked.clone(), m.completing.clone())
    };
    let mut keys: Vec<&String> = acked.keys().chain(completing.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in &keys {
        let got = get_object(s3, bucket, key).await;
        let want = acked.get(*key).cloned().flatten();
        let new = completing.get(*key);
        let ok = got == want || new.is_some_and(|(_, obj)| got.as_ref() == Some(obj));
        assert!(
            ok,
            "{key}: {:?} after restart; acknowledged {:?}, completing {:?}",
            got.as_ref().map(|o| (o.data.len(), &o.etag)),
            want.as_ref().map(|o| (o.data.len(), &o.etag)),
            new.map(|(_, o)| (o.data.len(), &o.etag))
        );
        if let Some(obj) = &got {
            let parts = obj.etag.trim_matches('"').rsplit_once('-').map(|(_, n)| n);
            assert!(
                parts.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
                "{key}: ETag {} is not a multipart ETag",
                obj.etag
            );
        }
        if let Some((id, obj)) = new.filter(|(_, obj)| Some(obj) != want.as_ref()) {
            let landed = got.as_ref() == Some(obj);
            assert_eq!(
                listed.contains_key(id),
                !landed,
                "{key}: upload {id} listed {} after its Complete {}",
                listed.contains_key(id),
                if landed { "landed" } else { "was lost" }
            );
        }
        model
            .lock()
            .expect("lock")
            .acked
            .insert(key.to_string(), got);
    }
    model.lock().expect("lock").completing.clear();
    keys.len()
}

/// Checks the listed uploads and their parts against the model; adopts the
/// part in flight if it is listed and forgets uploads that ended.
async fn check_uploads(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    model: &SharedMp,
    listed: &HashMap<String, String>,
) {
    let ids: Vec<(String, bool)> = {
        let m = model.lock().expect("lock");
        m.open
            .iter()
            .map(|(id, u)| (id.clone(), u.ending))
            .collect()
    };
    for (id, ending) in ids {
        if !listed.contains_key(&id) {
            assert!(
                ending,
                "upload {id} (not ended) is not listed after the restart"
            );
            model.lock().expect("lock").open.remove(&id);
        }
    }
    let creating = model.lock().expect("lock").creating.clone();
    for (id, key) in listed {
        let known = model
            .lock()
            .expect("lock")
            .open
            .get(id)
            .map(|u| (u.key.clone(), u.parts.clone(), u.inflight_part.clone()));
        let parts = listed_parts(s3, bucket, key, id).await;
        let Some((ukey, acked, inflight)) = known else {
            assert!(
                creating.contains(key),
                "{key}: upload {id} is listed but was never created"
            );
            assert!(
                parts.is_empty(),
                "{key}: unacknowledged upload {id} has parts"
            );
            continue;
        };
        assert_eq!(&ukey, key, "upload {id} listed under another key");
        for (n, p) in &acked {
            assert_eq!(
                parts.get(n),
                Some(&(p.etag.clone(), p.size)),
                "{key}: acknowledged part {n} of {id} after restart"
            );
        }
        let extra: Vec<_> = parts.keys().filter(|n| !acked.contains_key(n)).collect();
        let fits = |n: &&i32| {
            inflight
                .as_ref()
                .is_some_and(|(m, p)| *m == **n && parts.get(n) == Some(&(p.etag.clone(), p.size)))
        };
        assert!(
            extra.iter().all(fits),
            "{key}: upload {id} lists parts {extra:?} never acknowledged"
        );
        let mut m = model.lock().expect("lock");
        let u = m.open.get_mut(id).expect("open");
        if let Some((n, p)) = u.inflight_part.take() {
            if parts.contains_key(&n) {
                u.parts.insert(n, p);
            }
        }
        u.ending = false;
    }
    model.lock().expect("lock").creating.clear();
}

/// After a restart: checks objects, listed uploads and parts; then resolves
/// uploads older than `MP_KEEP_CYCLES` (and ones whose Create was in flight).
pub async fn check_after_restart(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    model: &SharedMp,
    cycle: u64,
) {
    let listed = listed_uploads(s3, bucket).await;
    check_objects(s3, bucket, model, &listed).await;
    check_uploads(s3, bucket, model, &listed).await;
    for (id, key) in &listed {
        let known = model
            .lock()
            .expect("lock")
            .open
            .get(id)
            .map(|u| (u.born, u.parts.clone()));
        match known {
            None => {
                s3.abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .expect("abort unacknowledged upload");
            }
            Some((born, _)) if born + MP_KEEP_CYCLES > cycle => {}
            Some((_, parts)) => resolve(s3, bucket, key, id, parts, model).await,
        }
    }
}

/// Completes an upload that survived restarts over its leading run of parts
/// (1..=k, as the worker uploads them) and checks the object; aborts it if it has none.
async fn resolve(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: BTreeMap<i32, PartModel>,
    model: &SharedMp,
) {
    let run: BTreeMap<i32, PartModel> = parts
        .into_iter()
        .enumerate()
        .take_while(|(i, (n, _))| *n == *i as i32 + 1)
        .map(|(_, p)| p)
        .collect();
    if run.is_empty() {
        s3.abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .send()
            .await
            .expect("abort");
        let mut m = model.lock().expect("lock");
        m.open.remove(id);
        m.aborted += 1;
        return;
    }
    let datas: Vec<Vec<u8>> = run.values().map(PartModel::data).collect();
    let want = MpObject {
        data: datas.concat(),
        etag: multipart_etag(&datas),
    };
    let out = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed_parts(&run))
        .send()
        .await;
    // Every part but the last the worker sends is 5 MiB, so any leading run assembles.
    let out =
        out.unwrap_or_else(|e| panic!("{key}: completing upload {id} after a restart: {e:?}"));
    assert_eq!(
        out.e_tag(),
        Some(want.etag.as_str()),
        "{key}: ETag of an upload completed after a restart"
    );
    let got = get_object(s3, bucket, key).await;
    assert!(
        got.as_ref() == Some(&want),
        "{key}: upload {id} completed after a restart reads back wrong"
    );
    let mut m = model.lock().expect("lock");
    m.open.remove(id);
    m.acked.insert(key.to_string(), Some(want));
    m.completed_after_restart += 1;
}
