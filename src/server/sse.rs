//! Server-side encryption in the request path: which key a request's
//! object uses, a put sink that seals the body into chunks on its way to
//! the owner, and an object source that opens them on the way out.
//! The crypto and the chunk format are `crate::sse`.

use super::owner::PutSink;
use super::request::Req;
use super::respond::{ObjectSource, Response};
use super::shard::ShardCtx;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::shard::msg::ObjectView;
use crate::sse::chunks::{ChunkError, Opener, Sealer};
use crate::sse::{self, CustomerKey, Encryption, ObjectKeys};
use crate::store::{ObjectMeta, PutCondition, SseInfo, StoreError};
use bytes::Bytes;
use std::borrow::Cow;
use std::collections::VecDeque;

pub(super) fn master(ctx: &ShardCtx) -> Result<&sse::MasterKey, S3Error> {
    ctx.config.sse_master.as_ref().ok_or_else(|| {
        S3Error::new(S3ErrorCode::InternalError).with_message("no SSE master key loaded")
    })
}

/// The SSE-C key in `req`'s headers `names`, refused over plain HTTP unless
/// the server allows it (`--allow-sse-c-over-http`).
pub fn customer_key(
    ctx: &ShardCtx,
    req: &Req,
    names: sse::CustomerHeaders,
) -> Result<Option<CustomerKey>, S3Error> {
    let key = sse::customer_key(|n| req.header(n), names)?;
    if key.is_some() && !req.secure && !ctx.config.sse_c_over_http {
        return Err(sse::needs_tls());
    }
    Ok(key)
}

/// A write's encryption: its headers, else the bucket's default.
pub fn requested(
    ctx: &ShardCtx,
    req: &Req,
    bucket_default: Option<&crate::catalog::DefaultEncryption>,
) -> Result<Option<Encryption>, S3Error> {
    let enc = sse::requested(|n| req.header(n), bucket_default.map(|d| d.as_default()))?;
    if matches!(enc, Some(Encryption::Customer(_))) && !req.secure && !ctx.config.sse_c_over_http {
        return Err(sse::needs_tls());
    }
    Ok(enc)
}

/// New parameters and keys for an object written with `enc`. SSE-KMS may
/// first create the server's default key (once, through shard 0).
pub async fn new_object(
    ctx: &ShardCtx,
    enc: &Encryption,
) -> Result<(SseInfo, ObjectKeys), S3Error> {
    let mut info = sse::new_info(enc)?;
    let customer = match enc {
        Encryption::Customer(k) => Some(k),
        Encryption::S3 => None,
        Encryption::Kms(r) => {
            let data_key = super::kms::new_data_key(ctx, r, &mut info).await?;
            let keys = ObjectKeys::for_kms(&info, &data_key);
            return Ok((info, keys));
        }
    };
    let keys = ObjectKeys::for_object(&info, master(ctx)?, customer)?;
    Ok((info, keys))
}

/// The keys to read (or add parts to) an object with `info`, given the
/// request's SSE-C key; refuses a key for an object that is not SSE-C.
/// An SSE-KMS object's data key is opened only when `decrypt` (a HEAD
/// reads no content, so it does not need the key enabled).
pub fn keys_for(
    ctx: &ShardCtx,
    info: Option<&SseInfo>,
    customer: Option<&CustomerKey>,
    decrypt: bool,
) -> Result<Option<ObjectKeys>, S3Error> {
    use crate::store::SseKind;
    match info {
        None if customer.is_some() => Err(sse::key_not_applicable()),
        None => Ok(None),
        Some(i) if i.kind != SseKind::Customer && customer.is_some() => {
            Err(sse::key_not_applicable())
        }
        Some(i) if i.kind == SseKind::Kms => match decrypt {
            true => super::kms::object_keys(ctx, i).map(Some),
            false => Ok(None),
        },
        Some(i) => ObjectKeys::for_object(i, master(ctx)?, customer).map(Some),
    }
}

/// Adds the headers that describe `meta`'s encryption.
pub fn add_headers(resp: &mut Response, meta: &ObjectMeta) {
    add_info_headers(resp, meta.sse.as_ref());
}

/// Adds the headers that describe an object's (or upload's) encryption.
pub fn add_info_headers(resp: &mut Response, info: Option<&SseInfo>) {
    if let Some(info) = info {
        for (name, value) in sse::response_headers(info) {
            resp.push_header(name, value);
        }
    }
}

/// What a part needs to know of its upload: its encryption, the keys to
/// seal the part with (the request's SSE-C key for an SSE-C upload), and
/// its declared checksum.
pub struct PartUpload {
    pub sse: Option<SseInfo>,
    pub keys: Option<ObjectKeys>,
    pub multipart: Option<crate::store::MultipartDetails>,
}

/// The upload a part is for (also: NoSuchUpload, early).
pub async fn part_keys(
    ctx: &ShardCtx,
    req: &Req,
    owner: usize,
    bucket: crate::store::BucketId,
    key: &str,
    upload_id: crate::store::UploadId,
) -> Result<PartUpload, S3Error> {
    let customer = customer_key(ctx, req, sse::CUSTOMER_HEADERS)?;
    let page = super::uploads::list_parts(ctx, owner, bucket, key, upload_id, 0, 0).await?;
    // A part is encrypted as its upload is: a part that asks for SSE-S3 or
    // SSE-KMS of an upload that has neither would be stored unprotected.
    let asks = [
        "x-amz-server-side-encryption",
        sse::KMS_KEY_ID_HEADER,
        sse::KMS_CONTEXT_HEADER,
    ]
    .iter()
    .any(|h| req.header(h).is_some());
    let managed = page
        .sse
        .as_ref()
        .is_some_and(|s| s.kind != crate::store::SseKind::Customer);
    if asks && !managed {
        return Err(S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("A part is encrypted as its upload is; this upload was created without SSE-S3 or SSE-KMS.")
            .with("ArgumentName", "x-amz-server-side-encryption".to_string()));
    }
    let keys = keys_for(ctx, page.sse.as_ref(), customer.as_ref(), true)?;
    Ok(PartUpload {
        sse: page.sse,
        keys,
        multipart: page.multipart,
    })
}

fn chunk_error(e: ChunkError) -> S3Error {
    match e {
        ChunkError::Random => {
            S3Error::new(S3ErrorCode::InternalError).with_message("the OS random source failed")
        }
        ChunkError::Authentication | ChunkError::Length => S3Error::new(S3ErrorCode::InternalError),
    }
}

/// Where a body goes: the put sink, through a sealer when encrypted.
pub struct BodySink {
    inner: PutSink,
    sealer: Option<Sealer>,
    sealed: Vec<Bytes>,
}

impl BodySink {
    pub fn new(inner: PutSink, keys: Option<&ObjectKeys>) -> BodySink {
        BodySink {
            inner,
            sealer: keys.map(|k| Sealer::new(k.data.clone())),
            sealed: Vec::new(),
        }
    }

    pub async fn write(&mut self, piece: Bytes) -> Result<(), S3Error> {
        let Some(sealer) = self.sealer.as_mut() else {
            return self.inner.write(piece).await.map_err(S3Error::from);
        };
        sealer.push(&piece, &mut self.sealed).map_err(chunk_error)?;
        for chunk in self.sealed.drain(..) {
            self.inner.write(chunk).await.map_err(S3Error::from)?;
        }
        Ok(())
    }

    /// Seals the last chunk, then commits `meta`. A whole object's `sse`
    /// must be set exactly when this sink encrypts (the store checks its
    /// stored size against it); a part's encryption is its upload's.
    pub async fn commit(
        mut self,
        meta: ObjectMeta,
        cond: PutCondition,
    ) -> Result<ObjectView, S3Error> {
        if let Some(sealer) = self.sealer.take() {
            let last = sealer.finish().map_err(chunk_error)?;
            self.inner.write(last).await.map_err(S3Error::from)?;
        }
        self.inner.commit(meta, cond).await.map_err(S3Error::from)
    }
}

/// The plaintext sizes of an object's encrypted streams.
pub fn stream_sizes(meta: &ObjectMeta) -> Cow<'_, [u64]> {
    if meta.part_sizes.is_empty() {
        Cow::Owned(vec![meta.size])
    } else {
        Cow::Borrowed(&meta.part_sizes)
    }
}

/// The stored range a read of plaintext `[start, end)` needs.
pub fn stored_range(meta: &ObjectMeta, start: u64, end: u64) -> (u64, u64) {
    if start >= end {
        return (0, 0);
    }
    let w = sse::layout::window(&stream_sizes(meta), start, end);
    (w.stored_start, w.stored_end)
}

/// Opens the stored chunks of plaintext `[start, end)` as they stream in.
pub struct Decrypting {
    inner: ObjectSource,
    opener: Opener,
    ready: VecDeque<Bytes>,
    done: bool,
}

impl Decrypting {
    /// `inner` streams `stored_range(meta, start, end)`.
    pub fn new(
        inner: ObjectSource,
        keys: &ObjectKeys,
        meta: &ObjectMeta,
        start: u64,
        end: u64,
    ) -> Decrypting {
        let (chunks, skip) = if start < end {
            let w = sse::layout::window(&stream_sizes(meta), start, end);
            (w.chunks, w.skip)
        } else {
            (Vec::new(), 0)
        };
        Decrypting {
            inner,
            opener: Opener::new(keys.data.clone(), chunks, skip, end.saturating_sub(start)),
            ready: VecDeque::new(),
            done: false,
        }
    }

    pub async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Some(Ok(b));
            }
            if self.done {
                return None;
            }
            let outcome = match self.inner.next().await {
                Some(Ok(stored)) => self.opener.push(&stored, &mut self.ready),
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => {
                    self.done = true;
                    self.opener.finish()
                }
            };
            if let Err(e) = outcome {
                self.done = true;
                self.ready.clear();
                return Some(Err(StoreError::Corrupt {
                    path: Default::default(),
                    offset: 0,
                    what: match e {
                        ChunkError::Authentication => "encrypted chunk failed authentication",
                        ChunkError::Length | ChunkError::Random => {
                            "encrypted object shorter or longer than its chunks"
                        }
                    },
                }));
            }
        }
    }
}
