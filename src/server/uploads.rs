//! Multipart upload operations at the owner shard of (bucket, key), reached
//! directly or through the mesh (like `owner.rs` for objects), and the S3
//! rules of completion, which run on the owner under the key lock.

use super::owner::{shard_gone, store_gone};
use super::shard::ShardCtx;
use crate::auth::checksum::{
    algorithm_lower_name, checksum_type_name, composite, full_object_crc, header_name, type_allowed,
};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::model::{CompleteChecksum, CompletedPart};
use crate::shard::msg::{ObjectView, PartsPage, Reply, ShardMsg};
use crate::store::{
    BucketId, ChecksumAlgorithm, ChecksumType, MultipartDetails, ObjectMeta, PartInfo, StoreError,
    StoredChecksum, Upload, UploadId, UploadItem,
};
use base64::Engine;
use futures_channel::oneshot;
use md5::{Digest, Md5};
use std::rc::Rc;

/// S3's minimum size of every part but the last (5 MiB).
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;

/// Upload ids are 128 random bits, written as 32 lowercase hex digits.
pub fn format_upload_id(id: UploadId) -> String {
    format!("{id:032x}")
}

/// The upload id a client sent; anything malformed names no upload.
pub fn parse_upload_id(s: &str) -> Result<UploadId, S3Error> {
    let ok = s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| u128::from_str_radix(s, 16).ok())
        .flatten()
        .ok_or_else(no_such_upload)
}

pub fn no_such_upload() -> S3Error {
    S3Error::new(S3ErrorCode::NoSuchUpload)
}

/// Sends `make(reply)` to `owner` and awaits the answer.
async fn ask<T>(
    ctx: &ShardCtx,
    owner: usize,
    make: impl FnOnce(Reply<T>) -> ShardMsg,
) -> Result<T, ()> {
    let (tx, rx) = oneshot::channel();
    ctx.send(owner, make(tx)).await?;
    rx.await.map_err(|_| ())
}

pub async fn handle_msg(ctx: &Rc<ShardCtx>, msg: ShardMsg) {
    let store = &ctx.store;
    match msg {
        ShardMsg::CreateUpload {
            bucket,
            key,
            meta,
            reply,
        } => {
            let _ = reply.send(store.create_upload(bucket, &key, *meta).await);
        }
        ShardMsg::AbortUpload {
            bucket,
            key,
            upload_id,
            reply,
        } => {
            let _ = reply.send(store.abort_upload(bucket, &key, upload_id).await);
        }
        ShardMsg::CompleteUpload {
            bucket,
            key,
            upload_id,
            parts,
            cond,
            checksum,
            reply,
        } => {
            let done = complete_local(ctx, bucket, &key, upload_id, &parts, &cond, &checksum).await;
            let _ = reply.send(done);
        }
        ShardMsg::ListParts {
            bucket,
            key,
            upload_id,
            after,
            limit,
            reply,
        } => {
            let _ = reply.send(parts_local(ctx, bucket, &key, upload_id, after, limit));
        }
        ShardMsg::ListUploads {
            bucket,
            prefix,
            delimiter,
            marker,
            limit,
            reply,
        } => {
            let marker = marker.as_ref().map(|(k, id)| (k.as_str(), *id));
            let _ = reply.send(store.list_uploads(
                bucket,
                &prefix,
                delimiter.as_deref(),
                marker,
                limit,
            ));
        }
        _ => unreachable!("not a multipart message"),
    }
}

pub async fn create(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    meta: ObjectMeta,
) -> Result<UploadId, StoreError> {
    if owner == ctx.id {
        return ctx.store.create_upload(bucket, key, meta).await;
    }
    let key = key.to_string();
    ask(ctx, owner, |reply| ShardMsg::CreateUpload {
        bucket,
        key,
        meta: Box::new(meta),
        reply,
    })
    .await
    .unwrap_or_else(|_| Err(store_gone()))
}

pub async fn abort(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
) -> Result<(), StoreError> {
    if owner == ctx.id {
        return ctx.store.abort_upload(bucket, key, upload_id).await;
    }
    let key = key.to_string();
    ask(ctx, owner, |reply| ShardMsg::AbortUpload {
        bucket,
        key,
        upload_id,
        reply,
    })
    .await
    .unwrap_or_else(|_| Err(store_gone()))
}

// The Complete request's parts travel to the owning shard as they are (one
// message field each), so they stay separate arguments here.
#[allow(clippy::too_many_arguments)]
pub async fn complete(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
    parts: Vec<CompletedPart>,
    cond: crate::store::PutCondition,
    checksum: CompleteChecksum,
) -> Result<ObjectView, S3Error> {
    if owner == ctx.id {
        return complete_local(ctx, bucket, key, upload_id, &parts, &cond, &checksum).await;
    }
    let key = key.to_string();
    ask(ctx, owner, |reply| ShardMsg::CompleteUpload {
        bucket,
        key,
        upload_id,
        parts,
        cond,
        checksum,
        reply,
    })
    .await
    .unwrap_or_else(|_| Err(shard_gone()))
}

pub async fn list_parts(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
    after: u32,
    limit: usize,
) -> Result<PartsPage, S3Error> {
    let page = if owner == ctx.id {
        parts_local(ctx, bucket, key, upload_id, after, limit)
    } else {
        let key = key.to_string();
        ask(ctx, owner, |reply| ShardMsg::ListParts {
            bucket,
            key,
            upload_id,
            after,
            limit,
            reply,
        })
        .await
        .map_err(|_| shard_gone())?
    };
    page.ok_or_else(no_such_upload)
}

/// One ListMultipartUploads page from every shard.
pub async fn list_uploads_all(
    ctx: &ShardCtx,
    bucket: BucketId,
    prefix: &str,
    delimiter: Option<&str>,
    marker: Option<(&str, UploadId)>,
    limit: usize,
) -> Result<Vec<Vec<UploadItem>>, S3Error> {
    let mut waits = Vec::with_capacity(ctx.shards());
    for shard in (0..ctx.shards()).filter(|&s| s != ctx.id) {
        let (tx, rx) = oneshot::channel();
        let msg = ShardMsg::ListUploads {
            bucket,
            prefix: prefix.to_string(),
            delimiter: delimiter.map(str::to_string),
            marker: marker.map(|(k, id)| (k.to_string(), id)),
            limit,
            reply: tx,
        };
        ctx.send(shard, msg).await.map_err(|_| shard_gone())?;
        waits.push(rx);
    }
    let mut pages = vec![ctx
        .store
        .list_uploads(bucket, prefix, delimiter, marker, limit)];
    for rx in waits {
        pages.push(rx.await.map_err(|_| shard_gone())?);
    }
    Ok(pages)
}

/// A part's plaintext size (the store counts an encrypted part's chunks).
fn part_plain_size(u: &Upload, p: &crate::store::PartInfo) -> u64 {
    match u.meta.sse {
        None => p.size,
        Some(_) => crate::sse::layout::plain_len(p.size).unwrap_or(p.size),
    }
}

fn parts_local(
    ctx: &ShardCtx,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
    after: u32,
    limit: usize,
) -> Option<PartsPage> {
    ctx.store.with_upload(bucket, key, upload_id, |u| {
        let mut parts: Vec<_> = u
            .parts
            .range(after.saturating_add(1)..)
            .take(limit + 1)
            .map(|(_, p)| {
                let mut p = p.clone();
                p.size = part_plain_size(u, &p);
                p
            })
            .collect();
        let truncated = parts.len() > limit;
        parts.truncate(limit);
        PartsPage {
            parts,
            truncated,
            sse: u.meta.sse.clone(),
            multipart: u.meta.multipart.as_deref().cloned(),
        }
    })
}

/// How many completions a shard remembers for retries (each holds the
/// object's metadata: a few KiB at most).
pub const MAX_REMEMBERED_COMPLETIONS: usize = 1024;

/// One completion remembered: what was asked and what it made.
struct Completion {
    bucket: BucketId,
    key: String,
    upload_id: UploadId,
    parts: Vec<(u32, String)>,
    view: ObjectView,
}

/// The last [`MAX_REMEMBERED_COMPLETIONS`] completions of a shard. An SDK
/// that lost the answer to CompleteMultipartUpload retries it; S3 answers
/// the retry (same upload, same parts) with the same result instead of
/// NoSuchUpload. Kept in memory: after a restart a retry is NoSuchUpload.
#[derive(Default)]
pub struct RecentCompletions {
    done: std::collections::VecDeque<Completion>,
}

fn part_list(parts: &[CompletedPart]) -> Vec<(u32, String)> {
    parts
        .iter()
        .map(|p| (p.part_number, p.etag.clone()))
        .collect()
}

impl RecentCompletions {
    fn remember(
        &mut self,
        bucket: BucketId,
        key: &str,
        upload_id: UploadId,
        parts: &[CompletedPart],
        view: &ObjectView,
    ) {
        if self.done.len() == MAX_REMEMBERED_COMPLETIONS {
            self.done.pop_front();
        }
        self.done.push_back(Completion {
            bucket,
            key: key.to_string(),
            upload_id,
            parts: part_list(parts),
            view: view.clone(),
        });
        debug_assert!(self.done.len() <= MAX_REMEMBERED_COMPLETIONS);
    }

    /// The result of an earlier completion of this upload with these parts.
    fn find(
        &self,
        bucket: BucketId,
        key: &str,
        upload_id: UploadId,
        parts: &[CompletedPart],
    ) -> Option<ObjectView> {
        let asked = part_list(parts);
        self.done
            .iter()
            .rev()
            .find(|c| c.upload_id == upload_id && c.bucket == bucket && c.key == key)
            .filter(|c| c.parts == asked)
            .map(|c| c.view.clone())
    }
}

async fn complete_local(
    ctx: &ShardCtx,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
    parts: &[CompletedPart],
    cond: &crate::store::PutCondition,
    checksum: &CompleteChecksum,
) -> Result<ObjectView, S3Error> {
    let done = ctx
        .store
        .complete_upload(bucket, key, upload_id, cond, |u| {
            plan_completion(u, parts, checksum)
        })
        .await;
    let entry = match done {
        Ok(entry) => entry,
        Err(e) if e.code == S3ErrorCode::NoSuchUpload => {
            let again = ctx
                .completed_uploads
                .borrow()
                .find(bucket, key, upload_id, parts);
            return again.ok_or(e);
        }
        Err(e) => return Err(e),
    };
    let view = ObjectView {
        key: entry.key.clone(),
        version_id: entry.version_id,
        meta: entry.meta.clone(),
    };
    ctx.completed_uploads
        .borrow_mut()
        .remember(bucket, key, upload_id, parts, &view);
    Ok(view)
}

fn invalid_part(p: &CompletedPart) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidPart)
        .with("PartNumber", p.part_number.to_string())
        .with("ETag", p.etag.clone())
}

/// S3's rules for CompleteMultipartUpload, checked against the upload's
/// acknowledged parts: ascending order, existence with matching ETag (and
/// checksum, when sent), 5 MiB minimum for every part but the last, and
/// the object checksum the upload declared ([`object_checksum`]).
/// Returns the part numbers and the object's metadata (multipart ETag,
/// checksum).
pub fn plan_completion(
    u: &Upload,
    want: &[CompletedPart],
    expect: &CompleteChecksum,
) -> Result<(Vec<u32>, ObjectMeta), S3Error> {
    if want
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(S3Error::new(S3ErrorCode::InvalidPartOrder));
    }
    let mut md5s = Md5::new();
    let mut chosen = Vec::with_capacity(want.len());
    for (i, w) in want.iter().enumerate() {
        let p = u.parts.get(&w.part_number).ok_or_else(|| invalid_part(w))?;
        if p.etag != w.etag {
            return Err(invalid_part(w));
        }
        for (alg, b64) in &w.checksums {
            let stored = p.checksum.as_ref().filter(|c| c.algorithm == *alg);
            let same = stored.is_some_and(|c| {
                base64::engine::general_purpose::STANDARD.encode(&c.digest) == *b64
            });
            if !same {
                return Err(invalid_part(w));
            }
        }
        let size = part_plain_size(u, p);
        if i + 1 < want.len() && size < MIN_PART_BYTES {
            return Err(S3Error::new(S3ErrorCode::EntityTooSmall)
                .with("ProposedSize", size.to_string())
                .with("MinSizeAllowed", MIN_PART_BYTES.to_string())
                .with("PartNumber", w.part_number.to_string())
                .with("ETag", p.etag.clone()));
        }
        let mut raw = [0u8; 16];
        let ok = crate::util::hex::decode_into(p.etag.as_bytes(), &mut raw);
        debug_assert!(ok, "part etag is our own hex md5");
        md5s.update(raw);
        chosen.push((w, p, size));
    }
    let mut meta = u.meta.clone();
    meta.etag = format!(
        "{}-{}",
        crate::util::hex::encode(&md5s.finalize()),
        want.len()
    );
    let details = u.meta.multipart.as_deref().cloned().unwrap_or_default();
    let (checksum, part_checksums) = object_checksum(details.checksum, &chosen)?;
    check_expected(expect, details.checksum, checksum.as_ref())?;
    meta.checksum = checksum;
    meta.multipart = Some(Box::new(MultipartDetails {
        part_checksums,
        ..details
    }));
    meta.mtime_millis = crate::util::time::unix_now_millis();
    Ok((want.iter().map(|w| w.part_number).collect(), meta))
}

type ChosenPart<'a> = (&'a CompletedPart, &'a PartInfo, u64);

fn upload_mode_error(declared: Option<(ChecksumAlgorithm, ChecksumType)>) -> S3Error {
    let mode = declared.map_or("null", |(_, t)| checksum_type_name(t));
    S3Error::new(S3ErrorCode::InvalidRequest).with_message(format!(
        "The upload was created using the {mode} checksum mode. The complete request must use the same checksum mode."
    ))
}

/// The object's checksum, and the part checksums the object keeps (what
/// GetObjectAttributes lists for its parts, as S3 lists them for any object
/// with an additional checksum, full-object CRC64NVME uploads included):
/// - declared COMPOSITE: every listed part must name its checksum (S3's
///   InvalidRequest otherwise); the checksum of the part checksums, `-N`;
/// - declared FULL_OBJECT: the parts' CRCs combined (never re-read);
/// - nothing declared: when every part carried a CRC of one algorithm
///   (the SDKs' default), their full-object combination; else none.
///   S3 computes a CRC64NVME of such an object instead; combining the CRCs
///   the client sent costs no second pass and is still a whole-object
///   checksum the client can verify.
fn object_checksum(
    declared: Option<(ChecksumAlgorithm, ChecksumType)>,
    chosen: &[ChosenPart],
) -> Result<(Option<StoredChecksum>, Vec<Vec<u8>>), S3Error> {
    let digest_of = |alg: ChecksumAlgorithm, (w, p, _): &ChosenPart| {
        p.checksum
            .as_ref()
            .filter(|c| c.algorithm == alg)
            .map(|c| c.digest.clone())
            .ok_or_else(|| invalid_part(w))
    };
    type Kept = (Option<StoredChecksum>, Vec<Vec<u8>>);
    let full = |alg: ChecksumAlgorithm| -> Result<Kept, S3Error> {
        let digests = chosen
            .iter()
            .map(|c| digest_of(alg, c))
            .collect::<Result<Vec<_>, _>>()?;
        let with_sizes: Vec<(&[u8], u64)> = digests
            .iter()
            .zip(chosen)
            .map(|(d, (_, _, size))| (d.as_slice(), *size))
            .collect();
        let checksum = full_object_crc(alg, &with_sizes).map(|digest| StoredChecksum {
            algorithm: alg,
            digest,
            parts: 0,
        });
        // The part CRCs are kept only beside the object CRC they make.
        let kept = if checksum.is_some() {
            digests
        } else {
            Vec::new()
        };
        Ok((checksum, kept))
    };
    match declared {
        Some((alg, ChecksumType::Composite)) => {
            if let Some((w, ..)) = chosen
                .iter()
                .find(|(w, ..)| !w.checksums.iter().any(|(a, _)| *a == alg))
            {
                return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(format!(
                    "The upload was created using a {} checksum. The complete request must include the checksum for each part. It was missing for part {} in the request.",
                    algorithm_lower_name(alg),
                    w.part_number
                )));
            }
            let digests = chosen
                .iter()
                .map(|c| digest_of(alg, c))
                .collect::<Result<Vec<_>, _>>()?;
            let checksum = StoredChecksum {
                algorithm: alg,
                digest: composite(alg, &digests),
                parts: chosen.len() as u32,
            };
            Ok((Some(checksum), digests))
        }
        Some((alg, ChecksumType::FullObject)) => full(alg),
        None => {
            let first = chosen.first().and_then(|(_, p, _)| p.checksum.as_ref());
            let alg = first.map(|c| c.algorithm);
            let same = alg.is_some_and(|a| {
                chosen
                    .iter()
                    .all(|(_, p, _)| p.checksum.as_ref().is_some_and(|c| c.algorithm == a))
            });
            match alg {
                Some(a) if same && type_allowed(a, ChecksumType::FullObject) => full(a),
                _ => Ok((None, Vec::new())),
            }
        }
    }
}

/// The Complete request's `x-amz-checksum-type` must be the upload's, and
/// its `x-amz-checksum-*` value the object's (BadDigest otherwise).
fn check_expected(
    expect: &CompleteChecksum,
    declared: Option<(ChecksumAlgorithm, ChecksumType)>,
    got: Option<&StoredChecksum>,
) -> Result<(), S3Error> {
    // An upload that declared nothing is a full-object one in S3 (its
    // default CRC64NVME), so FULL_OBJECT is never a mismatch there.
    if let Some(t) = expect.checksum_type {
        let declared_type = declared.map_or(ChecksumType::FullObject, |(_, t)| t);
        if declared_type != t {
            return Err(upload_mode_error(declared));
        }
    }
    let Some((alg, digest, count)) = &expect.value else {
        return Ok(());
    };
    let Some(got) = got.filter(|c| c.algorithm == *alg) else {
        return Err(
            S3Error::new(S3ErrorCode::InvalidRequest).with_message(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            got.map_or("null", |c| algorithm_lower_name(c.algorithm)),
            algorithm_lower_name(*alg)
        )),
        );
    };
    let count_ok = count.is_none_or(|n| n == got.parts);
    if !count_ok || *digest != got.digest {
        return Err(S3Error::from(crate::auth::AuthError::BadDigest(
            header_name(*alg),
        )));
    }
    Ok(())
}
