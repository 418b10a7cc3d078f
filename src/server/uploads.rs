//! Multipart upload operations at the owner shard of (bucket, key), reached
//! directly or through the mesh (like `owner.rs` for objects), and the S3
//! rules of completion, which run on the owner under the key lock.

use super::owner::{shard_gone, store_gone};
use super::shard::ShardCtx;
use crate::auth::checksum::composite;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::model::CompletedPart;
use crate::shard::msg::{ObjectView, PartsPage, Reply, ShardMsg};
use crate::store::{
    BucketId, ObjectMeta, StoreError, StoredChecksum, Upload, UploadId, UploadItem,
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
            reply,
        } => {
            let _ = reply.send(complete_local(ctx, bucket, &key, upload_id, &parts, &cond).await);
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

pub async fn complete(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
    parts: Vec<CompletedPart>,
    cond: crate::store::PutCondition,
) -> Result<ObjectView, S3Error> {
    if owner == ctx.id {
        return complete_local(ctx, bucket, key, upload_id, &parts, &cond).await;
    }
    let key = key.to_string();
    ask(ctx, owner, |reply| ShardMsg::CompleteUpload {
        bucket,
        key,
        upload_id,
        parts,
        cond,
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
            sse: u.meta.sse,
        }
    })
}

async fn complete_local(
    ctx: &ShardCtx,
    bucket: BucketId,
    key: &str,
    upload_id: UploadId,
    parts: &[CompletedPart],
    cond: &crate::store::PutCondition,
) -> Result<ObjectView, S3Error> {
    let entry = ctx
        .store
        .complete_upload(bucket, key, upload_id, cond, |u| plan_completion(u, parts))
        .await?;
    Ok(ObjectView {
        key: entry.key.clone(),
        version_id: entry.version_id,
        meta: entry.meta.clone(),
    })
}

fn invalid_part(p: &CompletedPart) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidPart)
        .with("PartNumber", p.part_number.to_string())
        .with("ETag", p.etag.clone())
}

/// S3's rules for CompleteMultipartUpload, checked against the upload's
/// acknowledged parts: ascending order, existence with matching ETag (and
/// checksum, when sent), 5 MiB minimum for every part but the last.
/// Returns the part numbers and the object's metadata (multipart ETag,
/// composite checksum).
pub fn plan_completion(
    u: &Upload,
    want: &[CompletedPart],
) -> Result<(Vec<u32>, ObjectMeta), S3Error> {
    if want
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(S3Error::new(S3ErrorCode::InvalidPartOrder));
    }
    let mut md5s = Md5::new();
    let mut digests = Vec::with_capacity(want.len());
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
        digests.push(p.checksum.clone());
    }
    let mut meta = u.meta.clone();
    meta.etag = format!(
        "{}-{}",
        crate::util::hex::encode(&md5s.finalize()),
        want.len()
    );
    meta.checksum = composite_checksum(&digests);
    meta.mtime_millis = crate::util::time::unix_now_millis();
    Ok((want.iter().map(|w| w.part_number).collect(), meta))
}

/// S3's composite checksum (`checksum of the part checksums`-N) when every
/// part carries one of the same algorithm.
fn composite_checksum(parts: &[Option<StoredChecksum>]) -> Option<StoredChecksum> {
    let alg = parts.first()?.as_ref()?.algorithm;
    let digests: Option<Vec<Vec<u8>>> = parts
        .iter()
        .map(|c| {
            c.as_ref()
                .filter(|c| c.algorithm == alg)
                .map(|c| c.digest.clone())
        })
        .collect();
    Some(StoredChecksum {
        algorithm: alg,
        digest: composite(alg, &digests?),
        parts: parts.len() as u32,
    })
}
