//! Object writes racing DeleteBucket and CreateBucket of one bucket name
//! (tests/durability.rs: a stress test, and a phase of the kill -9 loop).
//!
//! Workers own keys and loop: write the key (PUT, CopyObject or a
//! multipart upload), then usually DELETE it; bucket workers loop
//! DeleteBucket and, when the bucket is gone, CreateBucket. Every request
//! is stamped with a logical clock when it is sent and when its answer
//! arrives. What must hold, in S3's terms (a write answered 200 is in its
//! bucket, so DeleteBucket answers BucketNotEmpty; or the write answers
//! NoSuchBucket):
//!
//! - No delete succeeded over an acknowledged object: DeleteBucket D
//!   answered 204 although a write W of key k was acknowledged before D's
//!   answer, no DELETE of k was sent between W's sending and D's answer,
//!   and no CreateBucket could have come between D and W (one whose
//!   interval overlaps [D sent, W answered]); W then came before D, so D
//!   deleted a bucket holding W's object (or some other delete did).
//! - Every key reads back as its last acknowledged write (or absent after
//!   an acknowledged DELETE), or as a write whose answer never came, or
//!   absent if a DeleteBucket answered 204 after that write was sent. A
//!   write answered NoSuchBucket/NoSuchUpload is never seen.
//!
//! Nothing here is timing-dependent: the checks hold for every
//! interleaving, and only the clock's order is used.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::common::pattern;

/// The bucket that is deleted and re-created.
pub const RACE_BUCKET: &str = "race";
/// Copy sources live here; never deleted.
pub const RACE_SOURCE_BUCKET: &str = "race-src";
/// Keys each writer owns (it writes one at a time, alternating).
const KEYS_PER_WRITER: u64 = 2;
/// Object sizes: small, forwarded whole, and streamed to the owner
/// (above its 64 KiB inline limit). Never empty, so bytes name the write.
const SIZES: [usize; 5] = [64, 777, 4096, 70_000, 100_003];
/// Keeps the race's choices apart from the other workers'.
const RACE_SALT: u64 = 0x7261_6365;
/// An answer that never came (the server was killed) ends at "never".
const NEVER: u64 = u64::MAX;

/// How a write ended: in the bucket, refused with nothing written, or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Acked,
    Refused,
    Unknown,
}

/// One request on a key: a write of `value` (None: a DELETE).
#[derive(Debug, Clone, Copy)]
struct KeyOp {
    value: Option<u64>,
    sent: u64,
    answered: u64,
    outcome: Outcome,
}

#[derive(Default)]
struct Model {
    /// Every request on each key, in sending order (one worker per key).
    keys: BTreeMap<String, Vec<KeyOp>>,
    /// DeleteBuckets answered 204, or unanswered (answered = NEVER).
    deletes: Vec<(u64, u64)>,
    /// CreateBuckets that created the bucket, or unanswered.
    creates: Vec<(u64, u64)>,
    /// Answers no live server may give in this race.
    unexpected: Vec<String>,
}

/// Totals over the run, to show the race happened.
#[derive(Debug, Default, Clone, Copy)]
pub struct RaceCounts {
    pub writes_acked: u64,
    pub writes_refused: u64,
    pub deletes_ok: u64,
    pub deletes_not_empty: u64,
    pub creates_ok: u64,
}

#[derive(Default)]
pub struct Race {
    clock: AtomicU64,
    model: Mutex<Model>,
    pub counts: Mutex<RaceCounts>,
}

pub type SharedRace = Arc<Race>;

fn value_bytes(value: u64) -> Vec<u8> {
    pattern(SIZES[(value % SIZES.len() as u64) as usize], value)
}

/// What a request's answer was: Ok, an S3 error code, or no answer.
enum Answer<T> {
    Ok(T),
    Code(String),
    Gone,
}

fn answer<T, E: ProvideErrorMetadata, R>(r: Result<T, SdkError<E, R>>) -> Answer<T> {
    match r {
        Ok(v) => Answer::Ok(v),
        Err(e @ SdkError::ServiceError(_)) => Answer::Code(e.code().unwrap_or("?").to_string()),
        Err(_) => Answer::Gone,
    }
}

impl Race {
    fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn record(&self, key: &str, op: KeyOp) {
        let mut m = self.model.lock().expect("lock");
        m.keys.entry(key.to_string()).or_default().push(op);
        drop(m);
        let mut c = self.counts.lock().expect("lock");
        match (op.value, op.outcome) {
            (Some(_), Outcome::Acked) => c.writes_acked += 1,
            (Some(_), Outcome::Refused) => c.writes_refused += 1,
            _ => {}
        }
    }

    fn unexpected(&self, what: String) {
        self.model.lock().expect("lock").unexpected.push(what);
    }

    /// A write's outcome from its answer; Err when the server is gone.
    fn write_outcome<T>(&self, what: &str, a: &Answer<T>) -> Result<Outcome, ()> {
        match a {
            Answer::Ok(_) => Ok(Outcome::Acked),
            Answer::Code(c) if c == "NoSuchBucket" || c == "NoSuchUpload" => Ok(Outcome::Refused),
            // Retried by the SDK and still held back by a delete: nothing written.
            Answer::Code(c) if c == "ServiceUnavailable" => Ok(Outcome::Refused),
            Answer::Code(c) => {
                self.unexpected(format!("{what}: {c}"));
                Ok(Outcome::Unknown)
            }
            Answer::Gone => Err(()),
        }
    }
}

/// One writer: `rounds` times (or until the server dies), write one of its
/// keys with a PUT, a CopyObject or a one-part multipart upload, then
/// DELETE it three times in four. Returns the rounds it finished.
pub async fn writer(
    s3: aws_sdk_s3::Client,
    worker: u64,
    seed: u64,
    race: SharedRace,
    rounds: u64,
) -> u64 {
    for n in 0..rounds {
        let r = crate::mix(seed ^ RACE_SALT ^ (worker << 48) ^ n);
        let key = format!("r{worker}/k{}", n % KEYS_PER_WRITER);
        let value = r >> 1;
        let wrote = match r % 8 {
            0 => copy(&s3, worker, &key, value, &race).await,
            1 => multipart(&s3, &key, value, &race).await,
            _ => put(&s3, &key, value, &race).await,
        };
        let Ok(outcome) = wrote else {
            return n; // the server is gone
        };
        let delete_it = outcome == Outcome::Acked && !(r >> 40).is_multiple_of(4);
        if delete_it && delete(&s3, &key, &race).await.is_err() {
            return n;
        }
    }
    rounds
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, value: u64, race: &Race) -> Result<Outcome, ()> {
    let sent = race.now();
    let a = answer(
        s3.put_object()
            .bucket(RACE_BUCKET)
            .key(key)
            .body(ByteStream::from(value_bytes(value)))
            .send()
            .await,
    );
    finish_write(race, key, value, sent, "PUT", &a)
}

fn finish_write<T>(
    race: &Race,
    key: &str,
    value: u64,
    sent: u64,
    what: &str,
    a: &Answer<T>,
) -> Result<Outcome, ()> {
    let answered = race.now();
    let (outcome, answered) = match race.write_outcome(what, a) {
        Ok(o) => (o, answered),
        Err(()) => (Outcome::Unknown, NEVER),
    };
    let op = KeyOp {
        value: Some(value),
        sent,
        answered,
        outcome,
    };
    race.record(key, op);
    if answered == NEVER {
        return Err(());
    }
    Ok(outcome)
}

/// CopyObject from a source written just before (in a bucket never deleted).
async fn copy(
    s3: &aws_sdk_s3::Client,
    worker: u64,
    key: &str,
    value: u64,
    race: &Race,
) -> Result<Outcome, ()> {
    let source = format!("src/{worker}");
    let wrote = s3
        .put_object()
        .bucket(RACE_SOURCE_BUCKET)
        .key(&source)
        .body(ByteStream::from(value_bytes(value)))
        .send()
        .await;
    match answer(wrote) {
        Answer::Ok(_) => {}
        Answer::Code(c) => {
            race.unexpected(format!("PUT of a copy source: {c}"));
            return Ok(Outcome::Refused);
        }
        Answer::Gone => return Err(()),
    }
    let sent = race.now();
    let a = answer(
        s3.copy_object()
            .bucket(RACE_BUCKET)
            .key(key)
            .copy_source(format!("{RACE_SOURCE_BUCKET}/{source}"))
            .send()
            .await,
    );
    finish_write(race, key, value, sent, "CopyObject", &a)
}

/// Create, one part, Complete: the object is written by the Complete, but
/// the write's interval starts at the Create.
async fn multipart(
    s3: &aws_sdk_s3::Client,
    key: &str,
    value: u64,
    race: &Race,
) -> Result<Outcome, ()> {
    let sent = race.now();
    let created = s3
        .create_multipart_upload()
        .bucket(RACE_BUCKET)
        .key(key)
        .send()
        .await;
    let id = match answer(created) {
        Answer::Ok(out) => out.upload_id().unwrap_or_default().to_string(),
        a => return finish_write(race, key, value, sent, "CreateMultipartUpload", &a),
    };
    let part = s3
        .upload_part()
        .bucket(RACE_BUCKET)
        .key(key)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(value_bytes(value)))
        .send()
        .await;
    let etag = match answer(part) {
        Answer::Ok(out) => out.e_tag().unwrap_or_default().to_string(),
        a => return finish_write(race, key, value, sent, "UploadPart", &a),
    };
    let parts = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
        .build();
    let a = answer(
        s3.complete_multipart_upload()
            .bucket(RACE_BUCKET)
            .key(key)
            .upload_id(&id)
            .multipart_upload(parts)
            .send()
            .await,
    );
    finish_write(race, key, value, sent, "CompleteMultipartUpload", &a)
}

async fn delete(s3: &aws_sdk_s3::Client, key: &str, race: &Race) -> Result<(), ()> {
    let sent = race.now();
    let a = answer(s3.delete_object().bucket(RACE_BUCKET).key(key).send().await);
    let answered = race.now();
    let (outcome, answered) = match &a {
        Answer::Ok(_) => (Outcome::Acked, answered),
        // The bucket was gone: nothing to delete, nothing deleted.
        Answer::Code(c) if c == "NoSuchBucket" || c == "ServiceUnavailable" => {
            (Outcome::Refused, answered)
        }
        Answer::Code(c) => {
            race.unexpected(format!("DELETE: {c}"));
            (Outcome::Unknown, answered)
        }
        Answer::Gone => (Outcome::Unknown, NEVER),
    };
    let op = KeyOp {
        value: None,
        sent,
        answered,
        outcome,
    };
    race.record(key, op);
    if answered == NEVER {
        Err(())
    } else {
        Ok(())
    }
}

/// One bucket worker: DeleteBucket, and CreateBucket when the bucket is gone,
/// until `stop` (or the server dies).
pub async fn bucket_worker(s3: aws_sdk_s3::Client, race: SharedRace, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = race.now();
        let a = answer(s3.delete_bucket().bucket(RACE_BUCKET).send().await);
        let answered = race.now();
        let gone = match a {
            Answer::Ok(_) => {
                race.model
                    .lock()
                    .expect("lock")
                    .deletes
                    .push((sent, answered));
                race.counts.lock().expect("lock").deletes_ok += 1;
                true
            }
            Answer::Code(c) if c == "BucketNotEmpty" => {
                race.counts.lock().expect("lock").deletes_not_empty += 1;
                false
            }
            Answer::Code(c) if c == "NoSuchBucket" => true,
            // Held back too long by writes (503 after the SDK's retries): nothing deleted.
            Answer::Code(c) if c == "ServiceUnavailable" => false,
            Answer::Code(c) => {
                race.unexpected(format!("DeleteBucket: {c}"));
                race.model.lock().expect("lock").deletes.push((sent, NEVER));
                false
            }
            Answer::Gone => {
                race.model.lock().expect("lock").deletes.push((sent, NEVER));
                return;
            }
        };
        if gone && create_bucket(&s3, &race).await.is_err() {
            return;
        }
    }
}

/// CreateBucket of the race bucket (already there is fine); Err when the server is gone.
async fn create_bucket(s3: &aws_sdk_s3::Client, race: &Race) -> Result<(), ()> {
    let sent = race.now();
    let a = answer(s3.create_bucket().bucket(RACE_BUCKET).send().await);
    let answered = race.now();
    let created = match a {
        Answer::Ok(_) => Some(answered),
        Answer::Code(c) if c == "BucketAlreadyOwnedByYou" => None,
        Answer::Code(c) => {
            race.unexpected(format!("CreateBucket: {c}"));
            Some(NEVER)
        }
        Answer::Gone => Some(NEVER),
    };
    if let Some(answered) = created {
        race.model
            .lock()
            .expect("lock")
            .creates
            .push((sent, answered));
        if answered != NEVER {
            race.counts.lock().expect("lock").creates_ok += 1;
        }
    }
    if created == Some(NEVER) {
        return Err(());
    }
    Ok(())
}

/// Creates the source bucket (once, before any worker runs).
pub async fn setup(s3: &aws_sdk_s3::Client) {
    for b in [RACE_BUCKET, RACE_SOURCE_BUCKET] {
        s3.create_bucket().bucket(b).send().await.expect("create");
    }
}

/// After the workers stopped (or the server was killed and restarted):
/// re-creates the bucket if it is gone, reads every key and checks the
/// model. Returns the violations found (empty: all held); the keys' states
/// as read become the next round's starting point.
pub async fn check(s3: &aws_sdk_s3::Client, race: &Race) -> Vec<String> {
    create_bucket(s3, race).await.expect("the server answers");
    let keys: Vec<String> = race
        .model
        .lock()
        .expect("lock")
        .keys
        .keys()
        .cloned()
        .collect();
    let mut seen = BTreeMap::new();
    for key in keys {
        seen.insert(key.clone(), read(s3, &key).await);
    }
    let now = race.now();
    let mut m = race.model.lock().expect("lock");
    let mut violations = std::mem::take(&mut m.unexpected);
    let mut holds = BTreeMap::new();
    for (key, ops) in &m.keys {
        violations.extend(deletes_over_acked_write(key, ops, &m.deletes, &m.creates));
        match check_read(key, ops, &m.deletes, &seen[key]) {
            Ok(v) => {
                holds.insert(key.clone(), v);
            }
            Err(v) => violations.push(v),
        }
    }
    // What was read is where the next round starts.
    for (key, ops) in m.keys.iter_mut() {
        *ops = vec![KeyOp {
            value: holds.get(key).copied().flatten(),
            sent: now,
            answered: now,
            outcome: Outcome::Acked,
        }];
    }
    m.deletes.clear();
    m.creates.clear();
    violations
}

async fn read(s3: &aws_sdk_s3::Client, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket(RACE_BUCKET).key(key).send().await {
        Ok(got) => Some(
            got.body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .to_vec(),
        ),
        Err(e) => {
            assert_eq!(e.code(), Some("NoSuchKey"), "GET {key}: {e:?}");
            None
        }
    }
}

/// The first check: a 204 DeleteBucket over a write acknowledged before it.
fn deletes_over_acked_write(
    key: &str,
    ops: &[KeyOp],
    deletes: &[(u64, u64)],
    creates: &[(u64, u64)],
) -> Vec<String> {
    let mut out = Vec::new();
    for &(d_sent, d_answered) in deletes.iter().filter(|d| d.1 != NEVER) {
        // The last write acknowledged before the delete's answer.
        let Some(w) = ops
            .iter()
            .rev()
            .find(|o| o.value.is_some() && o.outcome == Outcome::Acked && o.answered < d_answered)
        else {
            continue;
        };
        let deleted_since = ops
            .iter()
            .any(|o| o.value.is_none() && o.sent > w.sent && o.sent < d_answered);
        // A create between the delete and the write would put the write after the delete.
        let recreated = creates
            .iter()
            .any(|&(c_sent, c_answered)| c_sent < w.answered && c_answered > d_sent);
        if !deleted_since && !recreated {
            out.push(format!(
                "{key}: DeleteBucket (sent {d_sent}, answered 204 at {d_answered}) over the \
                 write acknowledged at {} (value {:?}) that no DELETE removed",
                w.answered, w.value
            ));
        }
    }
    out
}

/// The second check: what `key` reads as is a state the model allows.
/// Ok: which write it holds (None: absent).
fn check_read(
    key: &str,
    ops: &[KeyOp],
    deletes: &[(u64, u64)],
    seen: &Option<Vec<u8>>,
) -> Result<Option<u64>, String> {
    let last = ops.iter().rposition(|o| o.outcome == Outcome::Acked);
    // Requests after the last acknowledged one whose answer never came may have landed.
    let after = last.map_or(0, |i| i + 1);
    let mut allowed: Vec<Option<u64>> = ops[after..]
        .iter()
        .filter(|o| o.outcome == Outcome::Unknown)
        .map(|o| o.value)
        .collect();
    match last.map(|i| ops[i]) {
        Some(acked) => {
            allowed.push(acked.value);
            // A 204 DeleteBucket answered after the write was sent may have removed it.
            if deletes.iter().any(|d| d.1 > acked.sent) {
                allowed.push(None);
            }
        }
        None => allowed.push(None),
    }
    let read = match seen {
        None => None,
        Some(bytes) => {
            let holds = allowed
                .iter()
                .flatten()
                .copied()
                .find(|v| value_bytes(*v) == *bytes);
            if holds.is_none() {
                return Err(format!(
                    "{key}: read {} bytes that are none of the writes it may hold \
                     ({allowed:?}): a refused write, or one from a deleted bucket",
                    bytes.len()
                ));
            }
            holds
        }
    };
    if !allowed.contains(&read) {
        return Err(format!(
            "{key}: absent, but only {allowed:?} may be there (requests {ops:?})"
        ));
    }
    Ok(read)
}
