//! Object operations: PutObject (streamed, verified, durable before the
//! answer), GetObject / HeadObject, DeleteObject, DeleteObjects.

use super::bucket::read_small_body;
use super::{
    body_digests, bucket_for, bucket_for_object, check_version_id, existing_bucket,
    requested_version, require_integrity_header, EXPECTED_OWNER,
};
use crate::access::Action;
use crate::auth::{header_name, BodyDigestsResult};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::model::version_id_string;
use crate::s3::names::{validate_key, MAX_USER_METADATA_BYTES};
use crate::s3::router::Operation;
use crate::s3::xml;
use crate::server::access::{authorize, Question};
use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::md5_batch::{Md5Stream, MAX_BACKLOG_BYTES as MAX_MD5_BACKLOG_BYTES};
use crate::server::owner::{self, PutSink};
use crate::server::read::ReadRequest;
use crate::server::request::{body_error, Req};
use crate::server::respond::{Body, ObjectSource, Response};
use crate::server::shard::ShardCtx;
use crate::server::sse::{self as server_sse, BodySink};
use crate::shard::msg::PutTarget;
use crate::store::DeleteOutcome;
use crate::store::{ChecksumType, ObjectMeta, PutCondition, StoredChecksum};
use base64::Engine;
use std::borrow::Cow;
use std::rc::Rc;

/// Largest single PUT S3 accepts (5 GiB).
pub const MAX_PUT_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Largest DeleteObjects request body (1000 keys of 1024 bytes fit well below).
const MAX_DELETE_BODY_BYTES: usize = 2 * 1024 * 1024;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn key_of(req: &Req) -> Result<String, S3Error> {
    let key = req.key.clone().unwrap_or_default();
    validate_key(&key)?;
    Ok(key)
}

/// x-amz-meta-* headers, names lowercased without the prefix; S3's 2 KiB limit.
fn user_metadata(req: &Req) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    let mut total = 0usize;
    for (name, value) in req.head.headers() {
        let lower = name.to_ascii_lowercase();
        if let Some(meta_name) = lower.strip_prefix("x-amz-meta-") {
            let value = String::from_utf8_lossy(value).trim().to_string();
            total += meta_name.len() + value.len();
            out.push((meta_name.to_string(), value));
        }
    }
    if total > MAX_USER_METADATA_BYTES {
        return Err(S3Error::new(S3ErrorCode::MetadataTooLarge)
            .with_message("Your metadata headers exceed the maximum allowed metadata size.")
            .with("MaxSizeAllowed", MAX_USER_METADATA_BYTES.to_string())
            .with("Size", total.to_string()));
    }
    Ok(out)
}

/// Content-Encoding as stored: the transfer-only `aws-chunked` token
/// removed; without one, exactly as sent (`deflate, gzip` keeps its space).
fn stored_content_encoding(req: &Req) -> Option<String> {
    let raw = req.header("content-encoding")?;
    let chunked = |t: &str| t.trim().eq_ignore_ascii_case("aws-chunked");
    if !raw.split(',').any(chunked) {
        return Some(raw.to_string());
    }
    let kept: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

pub(crate) fn put_condition(req: &Req) -> Result<PutCondition, S3Error> {
    if let Some(v) = req.header("if-none-match") {
        if v.trim() == "*" {
            return Ok(PutCondition::IfNoneMatchStar);
        }
        return Err(S3Error::new(S3ErrorCode::NotImplemented)
            .with_message("If-None-Match on writes supports only '*'")
            .with("Header", "If-None-Match".to_string()));
    }
    if let Some(v) = req.header("if-match") {
        return Ok(PutCondition::IfMatch(
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_string(),
        ));
    }
    Ok(PutCondition::None)
}

/// A conditional write's condition checked when the request arrives,
/// before its body is read: 412 PreconditionFailed when it does not hold
/// (If-None-Match: * on a key that exists, If-Match on another ETag), 404
/// NoSuchKey for If-Match on a key that does not exist. The store checks
/// it again at commit, atomically; a condition that held here but not
/// there lost a race to a concurrent write (see [`commit_conflict`]).
pub(crate) async fn precheck_condition(
    ctx: &ShardCtx,
    owner: usize,
    bucket: u64,
    key: &str,
    cond: &PutCondition,
) -> Result<(), S3Error> {
    if *cond == PutCondition::None {
        return Ok(());
    }
    let head = ReadRequest {
        head_only: true,
        ..Default::default()
    };
    let current = match owner::read(ctx, owner, bucket, key, head).await {
        Ok((view, ..)) => Some(view.meta.etag),
        // Absent, or its current version is a delete marker.
        Err(e) if e.code == S3ErrorCode::NoSuchKey => None,
        Err(e) => return Err(e),
    };
    match (cond, current) {
        (PutCondition::IfNoneMatchStar, Some(_)) => {
            Err(S3Error::new(S3ErrorCode::PreconditionFailed)
                .with("Condition", "If-None-Match".to_string()))
        }
        (PutCondition::IfMatch(_), None) => Err(S3Error::new(S3ErrorCode::NoSuchKey)),
        (PutCondition::IfMatch(want), Some(etag)) if *want != etag => {
            Err(S3Error::new(S3ErrorCode::PreconditionFailed)
                .with("Condition", "If-Match".to_string()))
        }
        _ => Ok(()),
    }
}

/// A conditional write that passed [`precheck_condition`] and failed at
/// commit: another write or delete of the key won the race. S3 answers
/// 409 ConditionalRequestConflict (retry), not 412.
pub(crate) fn commit_conflict(cond: &PutCondition, e: S3Error) -> S3Error {
    let lost_race = *cond != PutCondition::None
        && matches!(
            e.code,
            S3ErrorCode::PreconditionFailed | S3ErrorCode::NoSuchKey
        );
    if lost_race {
        S3Error::new(S3ErrorCode::ConditionalRequestConflict)
    } else {
        e
    }
}

/// The payload size the client announced (decoded size for aws-chunked).
fn declared_size(req: &Req) -> Result<Option<u64>, S3Error> {
    if let Some(a) = &req.auth {
        if let Some(n) = a.decoded_content_length {
            return Ok(Some(n));
        }
    }
    match req.header("content-length") {
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            S3Error::new(S3ErrorCode::BadRequest).with_message("invalid Content-Length")
        }),
        // A form's file (POST Object) has no length of its own.
        None if req.header("transfer-encoding").is_some() || req.op == Operation::PostObject => {
            Ok(None)
        }
        None => Err(S3Error::new(S3ErrorCode::MissingContentLength)
            .with_message("You must provide the Content-Length HTTP header.")),
    }
}

pub fn base_meta(req: &Req) -> Result<ObjectMeta, S3Error> {
    check_storage_class(req)?;
    let h = |n: &str| req.header(n).map(str::to_string);
    Ok(ObjectMeta {
        content_type: h("content-type"),
        cache_control: h("cache-control"),
        content_disposition: h("content-disposition"),
        content_encoding: stored_content_encoding(req),
        content_language: h("content-language"),
        expires: h("expires"),
        user_meta: user_metadata(req)?,
        tags: match req.header("x-amz-tagging") {
            Some(raw) => super::tagging::parse_tagging_header(raw)?,
            None => Vec::new(),
        },
        ..Default::default()
    })
}

/// The storage classes S3 names. Objects are kept alike whatever the
/// class; a name outside this list is S3's InvalidStorageClass.
const STORAGE_CLASSES: [&str; 12] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
    "FSX_OPENZFS",
];

fn check_storage_class(req: &Req) -> Result<(), S3Error> {
    match req.header("x-amz-storage-class") {
        Some(class) if !STORAGE_CLASSES.contains(&class) => {
            Err(S3Error::new(S3ErrorCode::InvalidStorageClass)
                .with("StorageClassRequested", class.to_string()))
        }
        _ => Ok(()),
    }
}

fn too_large() -> S3Error {
    S3Error::new(S3ErrorCode::EntityTooLarge)
        .with_message("Your proposed upload exceeds the maximum allowed size")
        .with("MaxSizeAllowed", MAX_PUT_OBJECT_BYTES.to_string())
}

/// Streams a PUT or UploadPart body into `sink`, verifying it as it
/// arrives; the digests are checked only once the whole body (and any
/// trailer) is in. The MD5 (ETag) goes through the shard's batched hasher,
/// `md5`. Returns the verified digests and the body size.
pub async fn receive_body(
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    sink: &mut BodySink,
    md5: Md5Stream,
) -> Result<(BodyDigestsResult, u64), S3Error> {
    receive_body_with(conn, req, body, sink, md5, None).await
}

/// [`receive_body`], also computing the `server_side` checksum when the
/// request names none (see [`super::body_digests_with`]).
pub async fn receive_body_with(
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    sink: &mut BodySink,
    mut md5: Md5Stream,
    server_side: Option<crate::types::ChecksumAlgorithm>,
) -> Result<(BodyDigestsResult, u64), S3Error> {
    let size = declared_size(req)?;
    if size.is_some_and(|n| n > MAX_PUT_OBJECT_BYTES) {
        return Err(too_large());
    }
    let mut digests = super::body_digests_with(req, server_side)?.without_md5();
    let trailer_alg = req.auth.as_ref().and_then(|a| a.trailer);
    req.send_continue(conn).await.map_err(body_error)?;
    while let Some(piece) = body.next(conn).await.map_err(body_error)? {
        if body.delivered > MAX_PUT_OBJECT_BYTES {
            return Err(too_large());
        }
        digests.update(&piece);
        md5.feed(piece.clone());
        sink.write(piece).await?;
        if md5.backlog() > MAX_MD5_BACKLOG_BYTES {
            md5.caught_up().await;
        }
    }
    if size.is_some_and(|expected| body.delivered != expected) {
        return Err(S3Error::new(S3ErrorCode::IncompleteBody).with_message(
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        ));
    }
    // A trailing checksum is compared once the trailer has arrived.
    if let (Some(alg), Some(dec)) = (trailer_alg, body.aws_decoder()) {
        if let Some(value) = dec.trailer(header_name(alg)) {
            digests
                .expect_checksum(alg, value.as_bytes())
                .map_err(S3Error::from)?;
        }
    }
    let md5 = md5.finish().await;
    let done = digests.finish_with_md5(md5).map_err(S3Error::from)?;
    Ok((done, body.delivered))
}

/// ETag and checksum of a verified body, as stored metadata. An
/// encrypted object's ETag comes from its keys (`sse::ObjectKeys::etag_digest`).
pub fn digest_meta(
    meta: &mut ObjectMeta,
    done: BodyDigestsResult,
    size: u64,
    keys: Option<&crate::sse::ObjectKeys>,
) {
    let md5 = keys.map_or(done.md5, |k| k.etag_digest(done.md5));
    meta.etag = crate::util::hex::encode(&md5);
    meta.size = size;
    meta.mtime_millis = crate::util::time::unix_now_millis();
    meta.checksum = done.checksum.map(|(algorithm, digest)| StoredChecksum {
        algorithm,
        digest,
        parts: 0,
    });
}

/// `x-amz-version-id` where S3 names the version: in a bucket whose
/// versioning is Enabled or Suspended, or when the request named a
/// `versionId` itself.
pub fn add_version_header(
    resp: &mut Response,
    bucket: &crate::catalog::Bucket,
    req: &Req,
    version_id: u128,
) {
    if bucket.versioning() != crate::store::Versioning::Unversioned
        || req.query.get("versionId").is_some()
    {
        resp.push_header("x-amz-version-id", version_id_string(version_id));
    }
}

/// `x-amz-version-id` of a write (PUT, copy, completion): only where
/// versioning is Enabled; a write into a Suspended bucket is the key's null
/// version and S3 names no version for it.
pub fn add_written_version_header(
    resp: &mut Response,
    bucket: &crate::catalog::Bucket,
    version_id: u128,
) {
    if bucket.versioning() == crate::store::Versioning::Enabled {
        resp.push_header("x-amz-version-id", version_id_string(version_id));
    }
}

/// A checksum as S3 shows it in headers: base64, `-N` after a composite one.
pub fn checksum_value(c: &StoredChecksum) -> String {
    if c.parts > 0 {
        format!("{}-{}", b64(&c.digest), c.parts)
    } else {
        b64(&c.digest)
    }
}

/// The answer to a PUT or UploadPart: ETag and the flexible checksum.
pub fn put_response(meta: &ObjectMeta) -> Response {
    let mut resp = Response::new(200).header("ETag", format!("\"{}\"", meta.etag));
    if let Some(c) = &meta.checksum {
        resp.push_header(header_name(c.algorithm), b64(&c.digest));
    }
    server_sse::add_headers(&mut resp, meta);
    resp
}

pub async fn put(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let mut meta = base_meta(req)?;
    super::acl::check_object_acl_for_write(ctx, req, &bucket)?;
    let cond = put_condition(req)?;
    // Fail fast on bad headers before a forward is opened.
    declared_size(req)?
        .filter(|&n| n > MAX_PUT_OBJECT_BYTES)
        .map_or(Ok(()), |_| Err(too_large()))?;
    body_digests(req)?;
    let encryption = server_sse::requested(ctx, req, bucket.default_encryption.as_ref())?;
    let keys = match &encryption {
        Some(enc) => {
            let (info, keys) = server_sse::new_object(ctx, enc).await?;
            meta.sse = Some(info);
            Some(keys)
        }
        None => None,
    };
    let owner = ctx.placement.owner(&bucket.name, &key);
    precheck_condition(ctx, owner, bucket.id, &key, &cond).await?;
    let sink = PutSink::open(ctx, owner, bucket.id, &key, PutTarget::Object)
        .await
        .map_err(S3Error::from)?;
    let mut sink = BodySink::new(sink, keys.as_ref());
    let (done, size) = receive_body(conn, req, body, &mut sink, ctx.md5.open()).await?;
    digest_meta(&mut meta, done, size, keys.as_ref());
    let view = sink
        .commit(meta, cond.clone())
        .await
        .map_err(|e| commit_conflict(&cond, e))?;
    let mut resp = put_response(&view.meta);
    add_written_version_header(&mut resp, &bucket, view.version_id);
    Ok(resp)
}

fn read_request(req: &Req, head_only: bool) -> Result<ReadRequest, S3Error> {
    let h = |n: &str| req.header(n).map(str::to_string);
    Ok(ReadRequest {
        head_only,
        version_id: requested_version(req)?,
        range: h("range"),
        part_number: req.query.get("partNumber").map(str::to_string),
        if_match: h("if-match"),
        if_none_match: h("if-none-match"),
        if_modified_since: h("if-modified-since"),
        if_unmodified_since: h("if-unmodified-since"),
    })
}

/// Standard object headers (ETag, Last-Modified, content-*, user metadata).
/// `"etag"`, as the ETag header carries it.
fn quoted(etag: &str) -> String {
    let mut q = String::with_capacity(etag.len() + 2);
    q.push('"');
    q.push_str(etag);
    q.push('"');
    q
}

fn object_headers(resp: &mut Response, meta: &ObjectMeta) {
    resp.push_header("ETag", quoted(&meta.etag));
    resp.push_header(
        "Last-Modified",
        crate::util::time::http_date(meta.mtime_millis / 1000),
    );
    resp.push_header("Accept-Ranges", "bytes");
    resp.push_header(
        "Content-Type",
        match &meta.content_type {
            Some(t) => Cow::Owned(t.clone()),
            None => Cow::Borrowed("binary/octet-stream"),
        },
    );
    let optional = [
        ("Cache-Control", &meta.cache_control),
        ("Content-Disposition", &meta.content_disposition),
        ("Content-Encoding", &meta.content_encoding),
        ("Content-Language", &meta.content_language),
        ("Expires", &meta.expires),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            resp.push_header(name, v.clone());
        }
    }
    for (name, value) in &meta.user_meta {
        resp.push_header(format!("x-amz-meta-{name}"), value.clone());
    }
    if !meta.tags.is_empty() {
        resp.push_header("x-amz-tagging-count", meta.tags.len().to_string());
    }
}

/// response-* query overrides of GET (S3 honours them on signed requests).
fn apply_overrides(resp: &mut Response, req: &Req) {
    const OVERRIDES: [(&str, &str); 6] = [
        ("response-content-type", "Content-Type"),
        ("response-content-language", "Content-Language"),
        ("response-expires", "Expires"),
        ("response-cache-control", "Cache-Control"),
        ("response-content-disposition", "Content-Disposition"),
        ("response-content-encoding", "Content-Encoding"),
    ];
    for (param, header) in OVERRIDES {
        if let Some(v) = req.query.get(param) {
            resp.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(header));
            resp.push_header(header, v.to_string());
        }
    }
}

pub async fn get(ctx: &Rc<ShardCtx>, req: &Req, head_only: bool) -> Result<Response, S3Error> {
    let (bucket, access) = bucket_for_object(ctx, req)?;
    let key = key_of(req)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    let customer = server_sse::customer_key(ctx, req, crate::sse::CUSTOMER_HEADERS)?;
    // As S3: a read names no encryption but an SSE-C key.
    if req.header("x-amz-server-side-encryption").is_some() {
        return Err(S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message(
                "x-amz-server-side-encryption header is not supported for this operation.",
            )
            .with("ArgumentName", "x-amz-server-side-encryption".to_string()));
    }
    let lookup = read_request(req, head_only || access.denied())?;
    let read = owner::read(ctx, owner, bucket.id, &key, lookup).await;
    let (view, plan, source) = access.check(ctx, req, &bucket, &key, read, |r| &r.0.meta)?;
    let decrypt = source.is_some();
    let keys = server_sse::keys_for(ctx, view.meta.sse.as_ref(), customer.as_ref(), decrypt)?;
    let mut resp = Response::new(plan.status);
    object_headers(&mut resp, &view.meta);
    server_sse::add_headers(&mut resp, &view.meta);
    add_version_header(&mut resp, &bucket, req, view.version_id);
    if plan.not_modified() {
        resp.headers
            .retain(|(n, _)| n == "ETag" || n == "Last-Modified");
        return Ok(resp);
    }
    if let Some(cr) = &plan.content_range {
        resp.push_header("Content-Range", cr.clone());
    }
    if let Some(n) = plan.parts_count {
        resp.push_header("x-amz-mp-parts-count", n.to_string());
    }
    if req
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("enabled"))
    {
        add_checksum_headers(&mut resp, req, &view.meta, &plan);
    }
    apply_overrides(&mut resp, req);
    resp.body = match source {
        Some(source) => Body::Object {
            source: match &keys {
                Some(k) => ObjectSource::Decrypt(Box::new(server_sse::Decrypting::new(
                    source, k, &view.meta, plan.start, plan.end,
                ))),
                None => source,
            },
            len: plan.len(),
        },
        None => Body::HeadOnly { len: plan.len() },
    };
    Ok(resp)
}

/// Checksum mode: the object's checksum when the whole object is read; for
/// `?partNumber=N` of a composite object, that part's checksum (S3 keeps
/// them); a range or a part of any other object has none to give.
fn add_checksum_headers(
    resp: &mut Response,
    req: &Req,
    meta: &ObjectMeta,
    plan: &crate::server::read::ReadPlan,
) {
    let Some(c) = &meta.checksum else {
        return;
    };
    let whole = plan.start == 0 && plan.end == meta.size;
    let (value, kind) = if whole {
        let kind = if c.parts > 0 {
            ChecksumType::Composite
        } else {
            ChecksumType::FullObject
        };
        (checksum_value(c), kind)
    } else {
        let part = req
            .query
            .get("partNumber")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1));
        let digests = meta.multipart.as_ref().map(|m| m.part_checksums.as_slice());
        match (part, digests) {
            (Some(i), Some(d)) if c.parts > 0 && i < d.len() => {
                (b64(&d[i]), ChecksumType::Composite)
            }
            _ => return,
        }
    };
    resp.push_header(header_name(c.algorithm), value);
    resp.push_header(
        "x-amz-checksum-type",
        crate::auth::checksum::checksum_type_name(kind),
    );
}

/// The headers of a delete's answer: what was written or removed.
fn delete_headers(resp: &mut Response, outcome: &DeleteOutcome) {
    if outcome.delete_marker {
        resp.push_header("x-amz-delete-marker", "true");
    }
    if let Some(v) = outcome.version_id {
        resp.push_header("x-amz-version-id", version_id_string(v));
    }
}

/// DeleteObject: without a versionId, as the bucket's versioning says
/// (remove, or write a delete marker); with one, that version goes for
/// good. 204 either way, also when there was nothing to delete.
pub async fn delete(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let version_id = requested_version(req)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    let outcome = owner::delete(ctx, owner, bucket.id, &key, version_id)
        .await
        .map_err(S3Error::from)?;
    let mut resp = Response::new(204);
    delete_headers(&mut resp, &outcome);
    Ok(resp)
}

pub async fn delete_many(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let name = req.bucket.clone().unwrap_or_default();
    let bucket = existing_bucket(ctx, req, &name, EXPECTED_OWNER)?;
    require_integrity_header(req)?;
    let raw = read_small_body(conn, req, body, MAX_DELETE_BODY_BYTES).await?;
    let request = xml::parse_delete(&raw)?;
    // Each key is its own DeleteObject (or DeleteObjectVersion) question.
    let allowed: Vec<bool> = request
        .objects
        .iter()
        .map(|(key, version)| {
            let action = match version {
                Some(_) => Action::DeleteObjectVersion,
                None => Action::DeleteObject,
            };
            authorize(
                ctx,
                req,
                &bucket,
                &Question::new(action, Some(key.as_str())),
            )
            .is_ok()
        })
        .collect();
    // Deletes run concurrently so group commit makes them share flushes.
    let bucket_id = bucket.id;
    let futures = request
        .objects
        .iter()
        .zip(allowed)
        .map(|((key, version), allowed)| {
            let ctx = ctx.clone();
            let bucket_name = bucket.name.clone();
            let key = key.clone();
            let version = version.clone();
            async move {
                if let Err(e) = validate_key(&key) {
                    return (key, version, Err(e));
                }
                if !allowed {
                    return (key, version, Err(crate::server::request::access_denied()));
                }
                let version_id = match version.as_deref().map(|v| check_version_id("VersionId", v))
                {
                    None => None,
                    Some(Ok(v)) => Some(v),
                    Some(Err(e)) => return (key, version, Err(e)),
                };
                let owner = ctx.placement.owner(&bucket_name, &key);
                let r = owner::delete(&ctx, owner, bucket_id, &key, version_id)
                    .await
                    .map_err(S3Error::from);
                (key, version, r)
            }
        });
    let results = futures_util::future::join_all(futures).await;
    let mut result = xml::DeleteResult {
        quiet: request.quiet,
        ..Default::default()
    };
    for (key, version_id, r) in results {
        match r {
            // S3's Deleted element: the version named (as sent), and for a
            // delete marker written or removed, DeleteMarker with its id.
            Ok(outcome) => result.deleted.push(xml::DeletedEntry {
                key,
                delete_marker: outcome.delete_marker,
                delete_marker_version_id: outcome
                    .delete_marker
                    .then(|| outcome.version_id.map(version_id_string))
                    .flatten(),
                version_id,
            }),
            Err(e) => result.errors.push(xml::DeleteErrorEntry {
                key,
                version_id,
                code: e.code.as_str().to_string(),
                message: e.message.clone(),
            }),
        }
    }
    Ok(Response::xml(200, xml::delete_result(&result)))
}
