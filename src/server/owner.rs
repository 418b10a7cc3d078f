//! Object operations at the owner shard, reached directly when this shard
//! owns the key and through the mesh otherwise. Handlers call the facade
//! functions here and never care which case they are in.

use super::catalog_service;
use super::read::{plan_read, ReadPlan, ReadRequest};
use super::respond::ObjectSource;
use super::shard::ShardCtx;
use crate::s3::error::{delete_marker_error, S3Error, S3ErrorCode};
use crate::shard::mesh::BODY_CHANNEL_DEPTH;
use crate::shard::msg::{BodyPiece, ObjectView, PutTarget, ReadReply, RemoteBody, ShardMsg};
use crate::store::{
    BucketId, DeleteOutcome, ListItem, ObjectEntry, ObjectMeta, ObjectWriter, PutCondition, Store,
    StoreError, VersionItem,
};
use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use std::rc::Rc;

fn view(entry: &ObjectEntry) -> ObjectView {
    ObjectView {
        key: entry.key.clone(),
        version_id: entry.version_id,
        meta: entry.meta.clone(),
    }
}

pub(super) fn shard_gone() -> S3Error {
    S3Error::new(S3ErrorCode::InternalError).with_message("a shard stopped answering")
}

pub(super) fn store_gone() -> StoreError {
    StoreError::Io {
        op: "mesh",
        path: Default::default(),
        offset: 0,
        source: std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "owner shard stopped answering",
        ),
    }
}

/// Serves one inbound mesh queue: each message runs as its own task,
/// except reads that finish without waiting (errors, HEADs, objects in the
/// record cache), which are answered inline: a forwarded small GET then
/// costs no task of its own.
pub async fn serve_mesh(ctx: Rc<ShardCtx>, mut rx: mpsc::Receiver<ShardMsg>) {
    while let Some(msg) = rx.next().await {
        // An answer to this shard's own request resumes work already noted
        // when the request came; only new work may start the spinner.
        if let ShardMsg::Deliver(deliver) = msg {
            deliver();
            continue;
        }
        crate::shard::spin::note_activity();
        match msg {
            msg @ ShardMsg::Read { .. } => serve_read(&ctx, msg),
            // In arrival order, before any task spawned for a later message.
            msg @ (ShardMsg::FenceBucket { .. } | ShardMsg::UnfenceBucket { .. }) => {
                serve_fence(&ctx, msg)
            }
            msg => {
                let ctx = ctx.clone();
                monoio::spawn(async move { handle_msg(&ctx, msg).await });
            }
        }
    }
}

async fn handle_msg(ctx: &Rc<ShardCtx>, msg: ShardMsg) {
    match msg {
        ShardMsg::Put {
            from,
            bucket,
            key,
            target,
            body,
            reply,
        } => {
            let r = put_from_channel(&ctx.store, bucket, &key, target, body).await;
            ctx.answer(from, reply, r);
        }
        ShardMsg::PutWhole {
            from,
            bucket,
            key,
            target,
            body,
            meta,
            cond,
            reply,
        } => {
            let r = put_whole(&ctx.store, bucket, &key, target, body, *meta, cond).await;
            ctx.answer(from, reply, r);
        }
        msg @ ShardMsg::Read { .. } => serve_read(ctx, msg),
        ShardMsg::Deliver(deliver) => deliver(),
        ShardMsg::Delete {
            bucket,
            key,
            version_id,
            reply,
        } => {
            let _ = reply.send(delete_local(&ctx.store, bucket, &key, version_id).await);
        }
        ShardMsg::SetTags {
            bucket,
            key,
            version_id,
            tags,
            reply,
        } => {
            let r = ctx
                .store
                .update_meta(bucket, &key, version_id, |m: &mut ObjectMeta| m.tags = tags)
                .await;
            let _ = reply.send(r.map(|e| view(&e)));
        }
        ShardMsg::ListVersions {
            bucket,
            prefix,
            delimiter,
            key_marker,
            version_marker,
            limit,
            reply,
        } => {
            let page = ctx
                .store
                .list_versions(
                    bucket,
                    &prefix,
                    delimiter.as_deref(),
                    key_marker.as_deref(),
                    version_marker,
                    limit,
                )
                .await;
            let _ = reply.send(page);
        }
        ShardMsg::List {
            bucket,
            prefix,
            delimiter,
            after,
            limit,
            reply,
        } => {
            let page = ctx
                .store
                .list(
                    bucket,
                    &prefix,
                    delimiter.as_deref(),
                    after.as_deref(),
                    limit,
                )
                .await;
            let _ = reply.send(page);
        }
        msg @ (ShardMsg::CreateUpload { .. }
        | ShardMsg::AbortUpload { .. }
        | ShardMsg::CompleteUpload { .. }
        | ShardMsg::ListParts { .. }
        | ShardMsg::ListUploads { .. }) => super::uploads::handle_msg(ctx, msg).await,
        ShardMsg::BucketStats { bucket, reply } => {
            let _ = reply.send(ctx.store.bucket_stats(bucket));
        }
        msg @ (ShardMsg::FenceBucket { .. } | ShardMsg::UnfenceBucket { .. }) => {
            serve_fence(ctx, msg)
        }
        ShardMsg::CatalogUpdate { catalog, reply } => {
            ctx.install_catalog(catalog);
            let _ = reply.send(());
        }
        ShardMsg::CatalogChange { op, reply } => {
            let _ = reply.send(catalog_service::apply_on_owner(ctx, op).await);
        }
        ShardMsg::Admin(m) => crate::admin::msg::handle(ctx, m),
    }
}

/// DeleteBucket's fence, set (or lifted) now, as the message arrives:
/// a fence and its lifting come on one queue in that order and must take
/// effect in it. The fence's answer waits for the bucket's writes in a task.
fn serve_fence(ctx: &Rc<ShardCtx>, msg: ShardMsg) {
    match msg {
        ShardMsg::FenceBucket {
            bucket,
            token,
            reply,
        } => {
            let answer =
                ctx.store
                    .fence_bucket(bucket, token, super::bucket_delete::FENCE_DRAIN_WAIT);
            monoio::spawn(async move {
                let _ = reply.send(answer.await);
            });
        }
        ShardMsg::UnfenceBucket { bucket, token } => ctx.store.unfence_bucket(bucket, token),
        _ => unreachable!("serve_fence is given fences only"),
    }
}

fn open_writer(
    store: &Store,
    bucket: BucketId,
    key: &str,
    target: PutTarget,
) -> Result<ObjectWriter, StoreError> {
    match target {
        PutTarget::Object => Ok(store.writer(bucket, key)),
        PutTarget::Part {
            upload_id,
            part_number,
        } => store.part_writer(bucket, key, upload_id, part_number),
    }
}

/// Commits an object, or a part (then `meta` carries the part's etag, checksum, mtime).
async fn finish_writer(
    w: ObjectWriter,
    meta: ObjectMeta,
    cond: PutCondition,
) -> Result<ObjectView, StoreError> {
    if w.part_target().is_none() {
        return w.commit(meta, cond).await.map(|e| view(&e));
    }
    let key = String::new();
    let part = w
        .commit_part(meta.etag, meta.checksum, meta.mtime_millis)
        .await?;
    Ok(ObjectView {
        key,
        version_id: crate::store::NULL_VERSION,
        meta: ObjectMeta {
            size: part.size,
            etag: part.etag,
            mtime_millis: part.mtime_millis,
            checksum: part.checksum,
            ..ObjectMeta::default()
        },
    })
}

async fn put_from_channel(
    store: &Store,
    bucket: BucketId,
    key: &str,
    target: PutTarget,
    mut body: mpsc::Receiver<BodyPiece>,
) -> Result<ObjectView, StoreError> {
    let mut writer = open_writer(store, bucket, key, target)?;
    while let Some(piece) = body.next().await {
        match piece {
            BodyPiece::Data(bytes) => writer.write(bytes).await?,
            BodyPiece::Finish(meta, cond) => return finish_writer(writer, *meta, cond).await,
        }
    }
    // The sender went away without Finish: the upload was aborted; nothing is committed.
    Err(StoreError::NotFound)
}

async fn put_whole(
    store: &Store,
    bucket: BucketId,
    key: &str,
    target: PutTarget,
    body: Vec<Bytes>,
    meta: ObjectMeta,
    cond: PutCondition,
) -> Result<ObjectView, StoreError> {
    let mut writer = open_writer(store, bucket, key, target)?;
    for piece in body {
        writer.write(piece).await?;
    }
    finish_writer(writer, meta, cond).await
}

/// A peer's read, [`ShardMsg::Read`]: see [`read_for_peer`].
fn serve_read(ctx: &Rc<ShardCtx>, msg: ShardMsg) {
    match msg {
        ShardMsg::Read {
            from,
            bucket,
            key,
            req,
            reply,
        } => read_for_peer(ctx, from, bucket, &key, &req, reply),
        _ => unreachable!("serve_read is given reads only"),
    }
}

/// Answers a peer's read: at once when the entry and the first piece are
/// at hand (or there is no body), else from a task that waits for the disk.
fn read_for_peer(
    ctx: &Rc<ShardCtx>,
    from: usize,
    bucket: BucketId,
    key: &str,
    req: &ReadRequest,
    reply: oneshot::Sender<ReadReply>,
) {
    // The common case, no allocation: the lookup is ready at its first poll.
    let ready = futures_util::FutureExt::now_or_never(read_local(&ctx.store, bucket, key, req));
    match ready {
        Some(found) => answer_peer_read(ctx, from, reply, found),
        None => {
            // It waits for the disk: the lookup is dropped and done again by a
            // task of its own (cloning to own its inputs only on this path).
            let (ctx, key, req) = (ctx.clone(), key.to_string(), req.clone());
            monoio::spawn(async move {
                let found = read_local(&ctx.store, bucket, &key, &req).await;
                answer_peer_read(&ctx, from, reply, found);
            });
        }
    }
}

fn answer_peer_read(
    ctx: &Rc<ShardCtx>,
    from: usize,
    reply: oneshot::Sender<ReadReply>,
    found: Result<LocalRead, S3Error>,
) {
    match found {
        Ok((v, plan, Some(mut reader))) => match reader.next_if_cached() {
            Some(first) => {
                ctx.answer(from, reply, peer_reply(v, plan, reader, Some(Ok(first))));
            }
            None => {
                let ctx = ctx.clone();
                monoio::spawn(async move {
                    let first = reader.next().await;
                    ctx.answer(from, reply, peer_reply(v, plan, reader, first));
                });
            }
        },
        Ok((v, plan, None)) => {
            let reply_value = ReadReply {
                result: Ok((v, plan)),
                body: None,
            };
            ctx.answer(from, reply, reply_value);
        }
        Err(e) => {
            let reply_value = ReadReply {
                result: Err(e),
                body: None,
            };
            ctx.answer(from, reply, reply_value);
        }
    }
}

/// The reply to a peer's read whose first piece has been read: the rest,
/// if any, streams from a task of its own.
fn peer_reply(
    v: ObjectView,
    plan: ReadPlan,
    mut reader: crate::store::ObjectReader,
    first: Option<Result<Bytes, StoreError>>,
) -> ReadReply {
    // Stored bytes, not the plan's: an encrypted object's are more.
    let more = matches!(first, Some(Ok(_))) && reader.remaining() > 0;
    let rest = more.then(|| {
        let (mut tx, rx) = mpsc::channel(BODY_CHANNEL_DEPTH);
        monoio::spawn(async move {
            while let Some(piece) = reader.next().await {
                let failed = piece.is_err();
                if tx.send(piece).await.is_err() || failed {
                    break;
                }
            }
        });
        rx
    });
    ReadReply {
        result: Ok((v, plan)),
        body: Some(RemoteBody { first, rest }),
    }
}

type LocalRead = (ObjectView, ReadPlan, Option<crate::store::ObjectReader>);

/// The object a read names: the key's current version, or the version
/// asked for. A delete marker answers as S3 does: 404 NoSuchKey when it is
/// current, 405 MethodNotAllowed when its version id was asked for.
async fn find_version(
    store: &Store,
    bucket: BucketId,
    key: &str,
    version_id: Option<u128>,
) -> Result<Rc<ObjectEntry>, S3Error> {
    let found = match version_id {
        None => store.current(bucket, key).await?,
        Some(v) => store.get_version(bucket, key, v).await?,
    };
    match (found, version_id) {
        (Some(e), _) if !e.delete_marker => Ok(e),
        (Some(m), None) => {
            Err(
                delete_marker_error(S3ErrorCode::NoSuchKey, m.version_id, m.meta.mtime_millis)
                    .with_message("The specified key does not exist.")
                    .with("Key", key.to_string()),
            )
        }
        (Some(m), Some(_)) => Err(delete_marker_error(
            S3ErrorCode::MethodNotAllowed,
            m.version_id,
            m.meta.mtime_millis,
        )),
        (None, None) => Err(S3Error::new(S3ErrorCode::NoSuchKey)
            .with_message("The specified key does not exist.")
            .with("Key", key.to_string())),
        (None, Some(v)) => Err(S3Error::new(S3ErrorCode::NoSuchVersion)
            .with("Key", key.to_string())
            .with("VersionId", crate::s3::model::version_id_string(v))),
    }
}

/// A delete at the owner: of one version, or as the bucket's versioning says.
async fn delete_local(
    store: &Store,
    bucket: BucketId,
    key: &str,
    version_id: Option<u128>,
) -> Result<DeleteOutcome, StoreError> {
    match version_id {
        Some(v) => store.delete_version(bucket, key, v).await,
        None => store.delete_object(bucket, key).await,
    }
}

async fn read_local(
    store: &Store,
    bucket: BucketId,
    key: &str,
    req: &ReadRequest,
) -> Result<LocalRead, S3Error> {
    let entry = find_version(store, bucket, key, req.version_id).await?;
    let plan = plan_read(&entry.meta, req)?;
    let v = view(&entry);
    if req.head_only || plan.not_modified() {
        return Ok((v, plan, None));
    }
    // An encrypted object is read as the chunks that hold the range.
    let (start, end) = match &entry.meta.sse {
        None => (plan.start, plan.end),
        Some(_) => super::sse::stored_range(&entry.meta, plan.start, plan.end),
    };
    let reader = store.reader(entry, start, end);
    Ok((v, plan, Some(reader)))
}

/// Reads an object wherever it lives.
pub async fn read(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    req: ReadRequest,
) -> Result<(ObjectView, ReadPlan, Option<ObjectSource>), S3Error> {
    if owner == ctx.id {
        let (v, plan, reader) = read_local(&ctx.store, bucket, key, &req).await?;
        return Ok((v, plan, reader.map(ObjectSource::Local)));
    }
    let (tx, rx) = oneshot::channel();
    let msg = ShardMsg::Read {
        from: ctx.id,
        bucket,
        key: key.to_string(),
        req: Box::new(req),
        reply: tx,
    };
    ctx.send(owner, msg).await.map_err(|_| shard_gone())?;
    let reply = rx.await.map_err(|_| shard_gone())?;
    let (v, plan) = reply.result?;
    Ok((v, plan, reply.body.map(ObjectSource::Remote)))
}

/// Where a PUT body goes: straight into this shard's log, or to the owner.
pub enum PutSink {
    Local(ObjectWriter),
    Remote(RemotePut),
}

/// A body bound for another shard. Up to `INLINE_PUT_BYTES` are held here
/// and travel with the commit in one message (a small PUT costs one hop and
/// one reply); past that the owner is asked to open a writer and the body
/// streams on a bounded channel.
pub struct RemotePut {
    /// This shard, where the owner delivers the reply.
    from: usize,
    peer: Option<mpsc::Sender<ShardMsg>>,
    bucket: BucketId,
    key: String,
    target: PutTarget,
    held: Vec<Bytes>,
    held_bytes: usize,
    stream: Option<(mpsc::Sender<BodyPiece>, PutReply)>,
}

type PutReply = oneshot::Receiver<Result<ObjectView, StoreError>>;

/// Bodies up to this size go to the owner in the commit message itself.
pub const INLINE_PUT_BYTES: usize = 64 * 1024;

impl RemotePut {
    async fn send(&mut self, msg: ShardMsg) -> Result<(), StoreError> {
        let peer = self.peer.as_mut().ok_or_else(store_gone)?;
        peer.send(msg).await.map_err(|_| store_gone())
    }

    /// Switches to streaming: the owner opens its writer; held pieces go first.
    async fn start_stream(&mut self) -> Result<(), StoreError> {
        debug_assert!(self.stream.is_none());
        let (mut tx, body) = mpsc::channel(BODY_CHANNEL_DEPTH);
        let (reply_tx, reply) = oneshot::channel();
        let msg = ShardMsg::Put {
            from: self.from,
            bucket: self.bucket,
            key: self.key.clone(),
            target: self.target,
            body,
            reply: reply_tx,
        };
        self.send(msg).await?;
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let mut reply = reply;
        for piece in held {
            if tx.send(BodyPiece::Data(piece)).await.is_err() {
                return Err(owner_refusal(&mut reply).await);
            }
        }
        self.stream = Some((tx, reply));
        Ok(())
    }

    async fn write(&mut self, piece: Bytes) -> Result<(), StoreError> {
        if self.stream.is_none() {
            if self.held_bytes + piece.len() <= INLINE_PUT_BYTES {
                self.held_bytes += piece.len();
                self.held.push(piece);
                return Ok(());
            }
            self.start_stream().await?;
        }
        let Some((tx, reply)) = self.stream.as_mut() else {
            return Err(store_gone());
        };
        if tx.send(BodyPiece::Data(piece)).await.is_err() {
            return Err(owner_refusal(reply).await);
        }
        Ok(())
    }

    async fn commit(
        mut self,
        meta: ObjectMeta,
        cond: PutCondition,
    ) -> Result<ObjectView, StoreError> {
        match self.stream.take() {
            Some((mut tx, reply)) => {
                let _ = tx.send(BodyPiece::Finish(Box::new(meta), cond)).await;
                reply.await.unwrap_or_else(|_| Err(store_gone()))
            }
            None => {
                let (reply_tx, reply) = oneshot::channel();
                let msg = ShardMsg::PutWhole {
                    from: self.from,
                    bucket: self.bucket,
                    key: std::mem::take(&mut self.key),
                    target: self.target,
                    body: std::mem::take(&mut self.held),
                    meta: Box::new(meta),
                    cond,
                    reply: reply_tx,
                };
                self.send(msg).await?;
                reply.await.unwrap_or_else(|_| Err(store_gone()))
            }
        }
    }
}

/// The owner stopped reading a body: its reply says why.
async fn owner_refusal(reply: &mut PutReply) -> StoreError {
    match reply.await {
        Ok(Err(e)) => e,
        _ => store_gone(),
    }
}

impl PutSink {
    pub async fn open(
        ctx: &ShardCtx,
        owner: usize,
        bucket: BucketId,
        key: &str,
        target: PutTarget,
    ) -> Result<PutSink, StoreError> {
        if owner == ctx.id {
            return open_writer(&ctx.store, bucket, key, target).map(PutSink::Local);
        }
        Ok(PutSink::Remote(RemotePut {
            from: ctx.id,
            peer: ctx.peer(owner),
            bucket,
            key: key.to_string(),
            target,
            held: Vec::new(),
            held_bytes: 0,
            stream: None,
        }))
    }

    pub async fn write(&mut self, piece: Bytes) -> Result<(), StoreError> {
        match self {
            PutSink::Local(w) => w.write(piece).await,
            PutSink::Remote(r) => r.write(piece).await,
        }
    }

    pub async fn commit(
        self,
        meta: ObjectMeta,
        cond: PutCondition,
    ) -> Result<ObjectView, StoreError> {
        match self {
            PutSink::Local(w) => finish_writer(w, meta, cond).await,
            PutSink::Remote(r) => r.commit(meta, cond).await,
        }
    }
}

/// Deletes an object (or one version of it) wherever it lives.
pub async fn delete(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    version_id: Option<u128>,
) -> Result<DeleteOutcome, StoreError> {
    if owner == ctx.id {
        return delete_local(&ctx.store, bucket, key, version_id).await;
    }
    let (tx, rx) = oneshot::channel();
    ctx.send(
        owner,
        ShardMsg::Delete {
            bucket,
            key: key.to_string(),
            version_id,
            reply: tx,
        },
    )
    .await
    .map_err(|_| store_gone())?;
    rx.await.unwrap_or_else(|_| Err(store_gone()))
}

/// Replaces an object's tags (of its current version, or of the version
/// named) wherever it lives.
pub async fn set_tags(
    ctx: &ShardCtx,
    owner: usize,
    bucket: BucketId,
    key: &str,
    version_id: Option<u128>,
    tags: Vec<(String, String)>,
) -> Result<ObjectView, StoreError> {
    if owner == ctx.id {
        return ctx
            .store
            .update_meta(bucket, key, version_id, |m: &mut ObjectMeta| m.tags = tags)
            .await
            .map(|e| view(&e));
    }
    let (tx, rx) = oneshot::channel();
    let msg = ShardMsg::SetTags {
        bucket,
        key: key.to_string(),
        version_id,
        tags,
        reply: tx,
    };
    ctx.send(owner, msg).await.map_err(|_| store_gone())?;
    rx.await.unwrap_or_else(|_| Err(store_gone()))
}

/// Asks every other shard with the message `ask` builds around a reply
/// sender, sends them all before waiting, and answers this shard's own part
/// with `local` meanwhile: this shard's answer first, then the others' in
/// shard order.
async fn ask_every_shard<T, F: std::future::Future<Output = T>>(
    ctx: &ShardCtx,
    ask: impl Fn(oneshot::Sender<T>) -> ShardMsg,
    local: impl FnOnce() -> F,
) -> Result<Vec<T>, S3Error> {
    let mut waits = Vec::with_capacity(ctx.shards());
    for shard in (0..ctx.shards()).filter(|&s| s != ctx.id) {
        let (tx, rx) = oneshot::channel();
        ctx.send(shard, ask(tx)).await.map_err(|_| shard_gone())?;
        waits.push(rx);
    }
    let mut answers = Vec::with_capacity(ctx.shards());
    answers.push(local().await);
    for rx in waits {
        answers.push(rx.await.map_err(|_| shard_gone())?);
    }
    Ok(answers)
}

/// One page of versions from every shard (this shard's first).
pub async fn list_versions_all(
    ctx: &ShardCtx,
    bucket: BucketId,
    prefix: &str,
    delimiter: Option<&str>,
    key_marker: Option<&str>,
    version_marker: Option<u128>,
    limit: usize,
) -> Result<Vec<Vec<VersionItem>>, S3Error> {
    let ask = |reply| ShardMsg::ListVersions {
        bucket,
        prefix: prefix.to_string(),
        delimiter: delimiter.map(str::to_string),
        key_marker: key_marker.map(str::to_string),
        version_marker,
        limit,
        reply,
    };
    let local = || {
        ctx.store
            .list_versions(bucket, prefix, delimiter, key_marker, version_marker, limit)
    };
    let pages = ask_every_shard(ctx, ask, local).await?;
    pages
        .into_iter()
        .map(|p| p.map_err(S3Error::from))
        .collect()
}

/// One listing page from every shard (this shard's first).
pub async fn list_all(
    ctx: &ShardCtx,
    bucket: BucketId,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Vec<ListItem>>, S3Error> {
    let ask = |reply| ShardMsg::List {
        bucket,
        prefix: prefix.to_string(),
        delimiter: delimiter.map(str::to_string),
        after: after.map(str::to_string),
        limit,
        reply,
    };
    let local = || ctx.store.list(bucket, prefix, delimiter, after, limit);
    let pages = ask_every_shard(ctx, ask, local).await?;
    pages
        .into_iter()
        .map(|p| p.map_err(S3Error::from))
        .collect()
}

/// (objects, bytes) of a bucket summed over every shard.
pub async fn bucket_stats_all(ctx: &ShardCtx, bucket: BucketId) -> Result<(u64, u64), S3Error> {
    let ask = |reply| ShardMsg::BucketStats { bucket, reply };
    let all = ask_every_shard(ctx, ask, || async { ctx.store.bucket_stats(bucket) }).await?;
    Ok(all
        .into_iter()
        .fold((0, 0), |(objects, bytes), (o, b)| (objects + o, bytes + b)))
}
