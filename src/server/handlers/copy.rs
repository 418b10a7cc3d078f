//! Server-side copy: CopyObject and UploadPartCopy. The accepting shard
//! pumps the source's read stream (from its owner) into the destination's
//! put sink (to its owner), hashing as it goes; no cross-shard call nests
//! inside another.

use super::multipart::part_number_of;
use super::object::{base_meta, digest_meta, key_of};
use super::{bucket_for, bucket_named_for_object, check_version_id, SOURCE_EXPECTED_OWNER};
use crate::access::Action;
use crate::auth::{BodyDigests, PayloadMode};
use crate::s3::conditional::{evaluate_copy_source, CondOutcome};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::names::validate_key;
use crate::s3::query::percent_decode;
use crate::s3::xml;
use crate::server::md5_batch::{Md5Stream, MAX_BACKLOG_BYTES as MAX_MD5_BACKLOG_BYTES};
use crate::server::owner::{self, PutSink};
use crate::server::read::ReadRequest;
use crate::server::request::Req;
use crate::server::respond::{ObjectSource, Response};
use crate::server::shard::ShardCtx;
use crate::server::sse::{self as server_sse, BodySink};
use crate::server::uploads::parse_upload_id;
use crate::shard::msg::{ObjectView, PutTarget};
use crate::store::{ObjectMeta, PutCondition};
use std::rc::Rc;

/// Largest copy source S3 accepts in one CopyObject (5 GiB).
pub const MAX_COPY_SOURCE_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded.
/// Returns (bucket, key, the version named if any).
pub fn parse_copy_source(raw: &str) -> Result<(String, String, Option<u128>), S3Error> {
    let invalid = || {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
            .with("ArgumentName", "x-amz-copy-source".to_string())
            .with("ArgumentValue", raw.to_string())
    };
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let mut version_id = None;
    for param in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(v) = param.strip_prefix("versionId=") {
            version_id = Some(check_version_id(
                "x-amz-copy-source",
                &percent_decode(v, false)?,
            )?);
        }
    }
    let path = percent_decode(path.trim_start_matches('/'), false)?;
    let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    validate_key(key)?;
    Ok((bucket.to_string(), key.to_string(), version_id))
}

/// `x-amz-copy-source-range: bytes=first-last` (both required, first ≤ last).
fn parse_copy_range(raw: &str) -> Result<(u64, u64), S3Error> {
    let parsed = raw
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        .filter(|(a, b)| a <= b);
    parsed.ok_or_else(|| {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
            .with("ArgumentName", "x-amz-copy-source-range".to_string())
            .with("ArgumentValue", raw.to_string())
    })
}

/// The copy source as requested: its metadata and its byte stream
/// (`range` inclusive), after the copy-source conditionals held.
async fn open_source(
    ctx: &ShardCtx,
    req: &Req,
    range: Option<(u64, u64)>,
) -> Result<(CopySource, ObjectSource, u64), S3Error> {
    let raw = req.header("x-amz-copy-source").unwrap_or("");
    let (bucket_name, key, version_id) = parse_copy_source(raw)?;
    // The source is read as a GetObject of its own: its bucket's policy,
    // its owner and ACL decide, and its owner may be named by the header.
    let action = match version_id {
        Some(_) => Action::GetObjectVersion,
        None => Action::GetObject,
    };
    let (bucket, access) =
        bucket_named_for_object(ctx, req, &bucket_name, &key, action, SOURCE_EXPECTED_OWNER)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    let read = ReadRequest {
        range: range.map(|(a, b)| format!("bytes={a}-{b}")),
        version_id,
        ..ReadRequest::default()
    };
    let customer = server_sse::customer_key(ctx, req, crate::sse::COPY_SOURCE_HEADERS)?;
    let found = owner::read(ctx, owner, bucket.id, &key, read).await;
    let (view, plan, source) = access.check(ctx, req, &bucket, &key, found, |r| &r.0.meta)?;
    let keys = server_sse::keys_for(ctx, view.meta.sse.as_ref(), customer.as_ref(), true)?;
    // x-amz-copy-source-version-id, where S3 sends it.
    let source_version = (bucket.versioning() != crate::store::Versioning::Unversioned
        || version_id.is_some())
    .then_some(view.version_id);
    if let Some((_, last)) = range {
        if last >= view.meta.size {
            return Err(S3Error::new(S3ErrorCode::InvalidRange)
                .with_message("The requested range is not satisfiable")
                .with("ActualObjectSize", view.meta.size.to_string()));
        }
    }
    let h = |n: &str| req.header(n);
    let outcome = evaluate_copy_source(
        h("x-amz-copy-source-if-match"),
        h("x-amz-copy-source-if-none-match"),
        h("x-amz-copy-source-if-modified-since"),
        h("x-amz-copy-source-if-unmodified-since"),
        &view.meta.etag,
        view.meta.mtime_millis / 1000,
    );
    if outcome != CondOutcome::Proceed {
        return Err(S3Error::new(S3ErrorCode::PreconditionFailed)
            .with_message("At least one of the pre-conditions you specified did not hold"));
    }
    let len = plan.len();
    // Only HEAD and 304 plans come without a stream; this read is neither.
    let source = source.ok_or_else(|| S3Error::new(S3ErrorCode::InternalError))?;
    let source = match &keys {
        Some(k) => ObjectSource::Decrypt(Box::new(server_sse::Decrypting::new(
            source, k, &view.meta, plan.start, plan.end,
        ))),
        None => source,
    };
    Ok((
        CopySource {
            view,
            version: source_version,
        },
        source,
        len,
    ))
}

/// What a copy read: the source version, and the id to report for it.
struct CopySource {
    view: ObjectView,
    version: Option<u128>,
}

fn add_source_version(resp: &mut Response, src: &CopySource) {
    if let Some(v) = src.version {
        resp.push_header(
            "x-amz-copy-source-version-id",
            crate::s3::model::version_id_string(v),
        );
    }
}

/// Pumps `len` bytes from `source` into `sink`; returns the new object's
/// digests as metadata. The MD5 (ETag) goes through the shard's batched
/// hasher, as for PUT bodies.
async fn pump(
    source: &mut ObjectSource,
    sink: &mut BodySink,
    len: u64,
    checksum: Option<crate::store::ChecksumAlgorithm>,
    mut md5: Md5Stream,
    keys: Option<&crate::sse::ObjectKeys>,
) -> Result<ObjectMeta, S3Error> {
    let mut digests = BodyDigests::new(&PayloadMode::Unsigned, None, checksum.map(|a| (a, None)))
        .map_err(S3Error::from)?
        .without_md5();
    let mut copied = 0u64;
    while let Some(piece) = source.next().await {
        let piece = piece.map_err(S3Error::from)?;
        copied += piece.len() as u64;
        digests.update(&piece);
        md5.feed(piece.clone());
        sink.write(piece).await?;
        if md5.backlog() > MAX_MD5_BACKLOG_BYTES {
            md5.caught_up().await;
        }
    }
    if copied != len {
        return Err(S3Error::new(S3ErrorCode::InternalError)
            .with_message("The copy source changed while it was being copied"));
    }
    let md5 = md5.finish().await;
    let done = digests.finish_with_md5(md5).map_err(S3Error::from)?;
    let mut meta = ObjectMeta::default();
    digest_meta(&mut meta, done, copied, keys);
    Ok(meta)
}

fn copy_result(meta: &ObjectMeta, part: bool) -> Response {
    let r = xml::CopyResult {
        etag: meta.etag.clone(),
        last_modified_millis: meta.mtime_millis,
    };
    let body = if part {
        xml::copy_part_result(&r)
    } else {
        xml::copy_object_result(&r)
    };
    Response::xml(200, body)
}

pub async fn copy_object(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let replace = match req.header("x-amz-metadata-directive").map(str::trim) {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("COPY") => false,
        Some(d) if d.eq_ignore_ascii_case("REPLACE") => true,
        Some(d) => {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Unknown metadata directive.")
                .with("ArgumentName", "x-amz-metadata-directive".to_string())
                .with("ArgumentValue", d.to_string()))
        }
    };
    let (src_bucket, src_key, src_version) =
        parse_copy_source(req.header("x-amz-copy-source").unwrap_or(""))?;
    // The copy's encryption is what it asks for, never the source's.
    let explicit = server_sse::requested(ctx, req, None)?;
    // Copying a named version onto its own key restores it (a new version).
    if src_bucket == bucket.name
        && src_key == key
        && src_version.is_none()
        && !replace
        && explicit.is_none()
    {
        return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    super::acl::check_object_acl_for_write(ctx, req, &bucket)?;
    let (copied_from, mut source, len) = open_source(ctx, req, None).await?;
    let src = &copied_from.view;
    if len > MAX_COPY_SOURCE_BYTES {
        return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_COPY_SOURCE_BYTES}"
        )));
    }
    let mut meta = if replace {
        base_meta(req)?
    } else {
        src.meta.clone()
    };
    let default = bucket
        .default_encryption
        .as_ref()
        .map(|d| crate::sse::from_default(d.as_default(), None));
    let keys = match explicit.as_ref().or(default.as_ref()) {
        Some(enc) => {
            let (info, keys) = server_sse::new_object(ctx, enc).await?;
            meta.sse = Some(info);
            Some(keys)
        }
        None => {
            meta.sse = None;
            None
        }
    };
    let owner = ctx.placement.owner(&bucket.name, &key);
    let sink = PutSink::open(ctx, owner, bucket.id, &key, PutTarget::Object)
        .await
        .map_err(S3Error::from)?;
    let mut sink = BodySink::new(sink, keys.as_ref());
    let alg = src.meta.checksum.as_ref().map(|c| c.algorithm);
    let digests = pump(
        &mut source,
        &mut sink,
        len,
        alg,
        ctx.md5.open(),
        keys.as_ref(),
    )
    .await?;
    meta.etag = digests.etag;
    meta.size = digests.size;
    meta.mtime_millis = digests.mtime_millis;
    meta.checksum = digests.checksum;
    // The copy is one part, whatever the source was.
    meta.part_sizes.clear();
    meta.multipart = None;
    let view = sink.commit(meta, PutCondition::None).await?;
    let mut resp = copy_result(&view.meta, false);
    server_sse::add_headers(&mut resp, &view.meta);
    add_source_version(&mut resp, &copied_from);
    super::object::add_written_version_header(&mut resp, &bucket, view.version_id);
    Ok(resp)
}

pub async fn upload_part_copy(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let part_number = part_number_of(req)?;
    let upload_id = parse_upload_id(req.query.get("uploadId").unwrap_or(""))?;
    let range = req
        .header("x-amz-copy-source-range")
        .map(parse_copy_range)
        .transpose()?;
    let (copied_from, mut source, len) = open_source(ctx, req, range).await?;
    if len > MAX_COPY_SOURCE_BYTES {
        return Err(S3Error::new(S3ErrorCode::EntityTooLarge));
    }
    let owner = ctx.placement.owner(&bucket.name, &key);
    let upload = server_sse::part_keys(ctx, req, owner, bucket.id, &key, upload_id).await?;
    // A part of an upload that declared a checksum gets it, as S3 computes.
    let declared = upload.multipart.as_ref().and_then(|m| m.checksum);
    let target = PutTarget::Part {
        upload_id,
        part_number,
    };
    let sink = PutSink::open(ctx, owner, bucket.id, &key, target)
        .await
        .map_err(S3Error::from)?;
    let mut sink = BodySink::new(sink, upload.keys.as_ref());
    let meta = pump(
        &mut source,
        &mut sink,
        len,
        declared.map(|(alg, _)| alg),
        ctx.md5.open(),
        upload.keys.as_ref(),
    )
    .await?;
    let view = sink.commit(meta, PutCondition::None).await?;
    let mut resp = copy_result(&view.meta, true);
    server_sse::add_info_headers(&mut resp, upload.sse.as_ref());
    add_source_version(&mut resp, &copied_from);
    if let Some(c) = &view.meta.checksum {
        resp.push_header(
            crate::auth::header_name(c.algorithm),
            super::object::b64(&c.digest),
        );
    }
    Ok(resp)
}
