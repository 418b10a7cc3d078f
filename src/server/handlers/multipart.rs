//! Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
//! AbortMultipartUpload, ListParts, ListMultipartUploads. Every upload lives
//! on the owner shard of its (bucket, key), so its parts and its completion
//! are records of one log and completion only references the parts' data.

use super::bucket::{owner_of, read_complete_body};
use super::bucket_for;
use super::object::{base_meta, digest_meta, key_of, put_response, receive_body_with};
use crate::auth::checksum;
use crate::catalog::Bucket;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::model::CompleteChecksum;
use crate::s3::xml;
use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::owner::PutSink;
use crate::server::request::{Principal, Req};
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use crate::server::sse::{self as server_sse, BodySink};
use crate::server::uploads::{self, format_upload_id, parse_upload_id};
use crate::shard::msg::PutTarget;
use crate::store::{
    ChecksumAlgorithm, ChecksumType, MultipartDetails, PutCondition, UploadId, UploadItem,
    MAX_PART_NUMBER,
};
use std::rc::Rc;

/// S3's default and maximum for max-parts and max-uploads.
pub const MAX_LIST_PARTS: usize = 1000;
pub const MAX_LIST_UPLOADS: usize = 1000;

fn upload_id_of(req: &Req) -> Result<UploadId, S3Error> {
    parse_upload_id(req.query.get("uploadId").unwrap_or(""))
}

/// `partNumber`: an integer in 1..=10000.
pub fn part_number_of(req: &Req) -> Result<u32, S3Error> {
    let raw = req.query.get("partNumber").unwrap_or("");
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Part number must be an integer between 1 and 10000, inclusive")
                .with("ArgumentName", "partNumber".to_string())
                .with("ArgumentValue", raw.to_string())
        })
}

/// The owner S3 shows for a credential id.
fn credential_owner(ctx: &ShardCtx, id: u64) -> xml::Owner {
    owner_of(ctx, id)
}

/// Who ListParts / ListMultipartUploads show as Initiator and Owner: the
/// credential that initiated the upload (the bucket owner for an upload
/// from before initiators were recorded).
fn upload_initiator(
    ctx: &ShardCtx,
    bucket: &Bucket,
    details: Option<&MultipartDetails>,
) -> xml::Owner {
    let id = details.and_then(|d| d.initiator).unwrap_or(bucket.owner_id);
    credential_owner(ctx, id)
}

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of
/// CreateMultipartUpload, with S3's defaults and refusals.
fn declared_checksum(req: &Req) -> Result<Option<(ChecksumAlgorithm, ChecksumType)>, S3Error> {
    let invalid = |m: String| S3Error::new(S3ErrorCode::InvalidRequest).with_message(m);
    let kind =
        match req.header("x-amz-checksum-type") {
            None => None,
            Some(v) => Some(checksum::checksum_type_from_name(v).ok_or_else(|| {
                invalid("Value for x-amz-checksum-type header is invalid.".into())
            })?),
        };
    let Some(name) = req.header("x-amz-checksum-algorithm") else {
        return match kind {
            None => Ok(None),
            Some(_) => Err(invalid(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
            )),
        };
    };
    let alg = checksum::algorithm_from_name(name).ok_or_else(|| {
        invalid("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]".into())
    })?;
    let kind = kind.unwrap_or_else(|| checksum::default_checksum_type(alg));
    if !checksum::type_allowed(alg, kind) {
        return Err(invalid(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            checksum::checksum_type_name(kind),
            checksum::algorithm_lower_name(alg)
        )));
    }
    Ok(Some((alg, kind)))
}

/// `x-amz-checksum-algorithm` / `-type` headers of an answer about an
/// upload that declared them.
fn add_declared_headers(resp: &mut Response, declared: Option<(ChecksumAlgorithm, ChecksumType)>) {
    if let Some((alg, kind)) = declared {
        resp.push_header("x-amz-checksum-algorithm", checksum::algorithm_name(alg));
        resp.push_header("x-amz-checksum-type", checksum::checksum_type_name(kind));
    }
}

/// A non-negative integer query argument capped at `max` (default `max`).
fn capped_arg(req: &Req, name: &str, max: usize) -> Result<usize, S3Error> {
    match req.query.get(name) {
        None => Ok(max),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as usize).min(max)),
            _ => Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message(format!(
                    "Provided {name} not an integer or within integer range"
                ))
                .with("ArgumentName", name.to_string())
                .with("ArgumentValue", v.to_string())),
        },
    }
}

pub async fn create(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let mut meta = base_meta(req)?;
    super::acl::check_object_acl_for_write(ctx, req, &bucket)?;
    meta.mtime_millis = crate::util::time::unix_now_millis();
    let declared = declared_checksum(req)?;
    let initiator = match req.principal {
        Principal::User { id } => Some(id),
        Principal::Anonymous => None,
    };
    meta.multipart = Some(Box::new(MultipartDetails {
        checksum: declared,
        part_checksums: Vec::new(),
        initiator,
    }));
    if let Some(enc) = server_sse::requested(ctx, req, bucket.default_encryption.as_ref())? {
        meta.sse = Some(server_sse::new_object(ctx, &enc).await?.0);
    }
    let sse = meta.sse.clone();
    let owner = ctx.placement.owner(&bucket.name, &key);
    let id = uploads::create(ctx, owner, bucket.id, &key, meta)
        .await
        .map_err(S3Error::from)?;
    let body = xml::initiate_multipart_upload(&xml::InitiateMultipartUpload {
        bucket: bucket.name.clone(),
        key,
        upload_id: format_upload_id(id),
    });
    let mut resp = Response::xml(200, body);
    server_sse::add_info_headers(&mut resp, sse.as_ref());
    add_declared_headers(&mut resp, declared);
    Ok(resp)
}

/// The checksum a part must be verified with, given what its upload
/// declared: the same algorithm as the request's (S3's InvalidRequest
/// otherwise); for a FULL_OBJECT upload a part sent without one gets the
/// upload's computed here (its CRC is needed to combine the object's).
fn part_checksum(
    req: &Req,
    declared: Option<(ChecksumAlgorithm, ChecksumType)>,
) -> Result<Option<ChecksumAlgorithm>, S3Error> {
    let Some((alg, kind)) = declared else {
        return Ok(None);
    };
    let headers: Vec<(&str, &[u8])> = req.head.headers().collect();
    let sent = checksum::requested_checksum(&headers)
        .map_err(S3Error::from)?
        .map(|(a, _)| a)
        .or(req.auth.as_ref().and_then(|a| a.trailer));
    match sent {
        Some(a) if a == alg => Ok(None),
        None if kind == ChecksumType::FullObject => Ok(Some(alg)),
        other => Err(
            S3Error::new(S3ErrorCode::InvalidRequest).with_message(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            checksum::algorithm_lower_name(alg),
            other.map_or("null", checksum::algorithm_lower_name)
        )),
        ),
    }
}

pub async fn upload_part(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let part_number = part_number_of(req)?;
    let upload_id = upload_id_of(req)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    let upload = server_sse::part_keys(ctx, req, owner, bucket.id, &key, upload_id).await?;
    let declared = upload.multipart.as_ref().and_then(|m| m.checksum);
    let computed = part_checksum(req, declared)?;
    let target = PutTarget::Part {
        upload_id,
        part_number,
    };
    let sink = PutSink::open(ctx, owner, bucket.id, &key, target)
        .await
        .map_err(S3Error::from)?;
    let mut sink = BodySink::new(sink, upload.keys.as_ref());
    let (done, size) =
        receive_body_with(conn, req, body, &mut sink, ctx.md5.open(), computed).await?;
    let mut meta = crate::store::ObjectMeta::default();
    digest_meta(&mut meta, done, size, upload.keys.as_ref());
    let view = sink.commit(meta, PutCondition::None).await?;
    let mut resp = put_response(&view.meta);
    if declared.is_none() {
        // S3 echoes a part's checksum only for an upload that declared one.
        resp.headers
            .retain(|(n, _)| !n.to_ascii_lowercase().starts_with("x-amz-checksum-"));
    }
    server_sse::add_info_headers(&mut resp, upload.sse.as_ref());
    Ok(resp)
}

pub async fn complete(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let upload_id = upload_id_of(req)?;
    let cond = super::object::put_condition(req)?;
    let expect = completion_checksum(req)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    super::object::precheck_condition(ctx, owner, bucket.id, &key, &cond).await?;
    let raw = read_complete_body(conn, req, body, xml::MAX_COMPLETE_BODY_BYTES).await?;
    let parts = xml::parse_complete_multipart(&raw)?;
    let view = uploads::complete(
        ctx,
        owner,
        bucket.id,
        &key,
        upload_id,
        parts,
        cond.clone(),
        expect,
    )
    .await
    .map_err(|e| super::object::commit_conflict(&cond, e))?;
    let location = format!(
        "/{}/{}",
        bucket.name,
        crate::s3::query::url_encode_key(&key)
    );
    let shown = view.meta.checksum.as_ref().map(|c| {
        let kind = if c.parts > 0 {
            ChecksumType::Composite
        } else {
            ChecksumType::FullObject
        };
        (c.algorithm, super::object::checksum_value(c), kind)
    });
    let body = xml::complete_multipart_upload(&xml::CompleteMultipartUploadResult {
        location,
        bucket: bucket.name.clone(),
        key,
        etag: view.meta.etag.clone(),
        checksum: shown.as_ref().map(|(alg, v, _)| (*alg, v.clone())),
        checksum_type: shown.as_ref().map(|(.., t)| *t),
    });
    let mut resp = Response::xml(200, body);
    if let Some((alg, value, kind)) = shown {
        resp.push_header(crate::auth::header_name(alg), value);
        resp.push_header("x-amz-checksum-type", checksum::checksum_type_name(kind));
    }
    server_sse::add_headers(&mut resp, &view.meta);
    super::object::add_written_version_header(&mut resp, &bucket, view.version_id);
    Ok(resp)
}

/// What a CompleteMultipartUpload request says of the object's checksum:
/// `x-amz-checksum-type` and at most one `x-amz-checksum-*` value (a
/// composite one as `base64-N`).
fn completion_checksum(req: &Req) -> Result<CompleteChecksum, S3Error> {
    let checksum_type = match req.header("x-amz-checksum-type") {
        None => None,
        Some(v) => Some(checksum::checksum_type_from_name(v).ok_or_else(|| {
            S3Error::new(S3ErrorCode::InvalidRequest)
                .with_message("Value for x-amz-checksum-type header is invalid.")
        })?),
    };
    let mut value = None;
    for (name, raw) in req.head.headers() {
        let Some(alg) = checksum::algorithm_from_header_name(name) else {
            continue;
        };
        if value.is_some() {
            return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        let text = std::str::from_utf8(raw).unwrap_or("").trim();
        // `value-N`: N is all digits after the last '-' (base64 has no '-').
        let (b64, count) = match text.rsplit_once('-') {
            Some((v, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (
                v,
                Some(n.parse::<u32>().map_err(|_| checksum_invalid(alg))?),
            ),
            _ => (text, None),
        };
        let digest = checksum::decode_checksum(alg, b64.as_bytes()).map_err(S3Error::from)?;
        value = Some((alg, digest, count));
    }
    Ok(CompleteChecksum {
        checksum_type,
        value,
    })
}

fn checksum_invalid(alg: ChecksumAlgorithm) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidRequest).with_message(format!(
        "Value for {} header is invalid.",
        checksum::header_name(alg)
    ))
}

pub async fn abort(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let upload_id = upload_id_of(req)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    uploads::abort(ctx, owner, bucket.id, &key, upload_id)
        .await
        .map_err(S3Error::from)?;
    Ok(Response::new(204))
}

pub async fn list_parts(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let key = key_of(req)?;
    let upload_id = upload_id_of(req)?;
    let max = capped_arg(req, "max-parts", MAX_LIST_PARTS)?;
    let marker = capped_arg(req, "part-number-marker", MAX_PART_NUMBER as usize)?;
    let marker = if req.query.get("part-number-marker").is_some() {
        marker as u32
    } else {
        0
    };
    let owner = ctx.placement.owner(&bucket.name, &key);
    let page = uploads::list_parts(ctx, owner, bucket.id, &key, upload_id, marker, max).await?;
    let declared = page.multipart.as_ref().and_then(|m| m.checksum);
    let parts: Vec<xml::PartEntry> = page
        .parts
        .iter()
        .map(|p| xml::PartEntry {
            part_number: p.part_number,
            last_modified_millis: p.mtime_millis,
            etag: p.etag.clone(),
            size: p.size,
            // S3 shows part checksums of an upload that declared an algorithm.
            checksum: declared
                .and(p.checksum.as_ref())
                .map(|c| (c.algorithm, super::object::b64(&c.digest))),
        })
        .collect();
    let initiator = upload_initiator(ctx, &bucket, page.multipart.as_ref());
    let body = xml::list_parts(&xml::ListPartsPage {
        bucket: bucket.name.clone(),
        key,
        upload_id: format_upload_id(upload_id),
        owner: initiator.clone(),
        initiator,
        part_number_marker: marker,
        next_part_number_marker: parts.last().map_or(0, |p| p.part_number),
        max_parts: max as u32,
        is_truncated: page.truncated,
        parts,
        checksum: declared,
    });
    Ok(Response::xml(200, body))
}

/// The first `max` distinct rows of the shards' sorted pages, and whether more exist.
pub fn merge_upload_pages(pages: Vec<Vec<UploadItem>>, max: usize) -> (Vec<UploadItem>, bool) {
    let mut all: Vec<UploadItem> = pages.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        let (ka, ia) = a.sort_key();
        let (kb, ib) = b.sort_key();
        ka.as_bytes().cmp(kb.as_bytes()).then(ia.cmp(&ib))
    });
    all.dedup();
    let truncated = all.len() > max;
    all.truncate(max);
    (all, truncated)
}

pub async fn list_uploads(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let q = |n: &str| req.query.get(n).map(str::to_string);
    let prefix = q("prefix").unwrap_or_default();
    let delimiter = q("delimiter").filter(|d| !d.is_empty());
    let max = capped_arg(req, "max-uploads", MAX_LIST_UPLOADS)?;
    let key_marker = q("key-marker").unwrap_or_default();
    let id_marker = q("upload-id-marker").unwrap_or_default();
    // Without an id marker, key-marker excludes every upload of that key.
    let marker = (!key_marker.is_empty()).then(|| {
        let id = parse_upload_id(&id_marker).unwrap_or(UploadId::MAX);
        (key_marker.as_str(), id)
    });
    let encoding_url = q("encoding-type").is_some_and(|e| e.eq_ignore_ascii_case("url"));
    let (items, truncated) = if max == 0 {
        (Vec::new(), false)
    } else {
        let pages = uploads::list_uploads_all(
            ctx,
            bucket.id,
            &prefix,
            delimiter.as_deref(),
            marker,
            max + 1,
        )
        .await?;
        merge_upload_pages(pages, max)
    };
    let mut page = xml::ListUploadsPage {
        bucket: bucket.name.clone(),
        key_marker: key_marker.clone(),
        upload_id_marker: id_marker.clone(),
        prefix,
        delimiter,
        max_uploads: max as u32,
        is_truncated: truncated,
        encoding_url,
        ..Default::default()
    };
    if truncated {
        if let Some(last) = items.last() {
            let (k, id) = last.sort_key();
            page.next_key_marker = Some(k.to_string());
            if let UploadItem::Upload { .. } = last {
                page.next_upload_id_marker = Some(format_upload_id(id));
            }
        }
    }
    for item in items {
        match item {
            UploadItem::Upload {
                key,
                upload_id,
                initiated_millis,
                initiator,
                checksum,
            } => {
                let who = credential_owner(ctx, initiator.unwrap_or(bucket.owner_id));
                page.uploads.push(xml::UploadEntry {
                    key,
                    upload_id: format_upload_id(upload_id),
                    initiated_millis,
                    owner: who.clone(),
                    initiator: who,
                    checksum,
                })
            }
            UploadItem::CommonPrefix(p) => page.common_prefixes.push(p),
        }
    }
    Ok(Response::xml(200, xml::list_multipart_uploads(&page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(k: &str, id: UploadId) -> UploadItem {
        UploadItem::Upload {
            key: k.into(),
            upload_id: id,
            initiated_millis: 0,
            initiator: None,
            checksum: None,
        }
    }

    #[test]
    fn upload_pages_merge_in_key_then_id_order() {
        let a = vec![up("a", 5), UploadItem::CommonPrefix("p/".into())];
        let b = vec![
            up("a", 2),
            UploadItem::CommonPrefix("p/".into()),
            up("z", 1),
        ];
        let (items, more) = merge_upload_pages(vec![a, b], 3);
        assert_eq!(
            items,
            vec![
                up("a", 2),
                up("a", 5),
                UploadItem::CommonPrefix("p/".into())
            ]
        );
        assert!(more);
    }

    #[test]
    fn upload_ids_round_trip_and_reject_junk() {
        let id = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
        assert_eq!(parse_upload_id(&format_upload_id(id)).ok(), Some(id));
        for junk in ["", "xyz", "+123", &"f".repeat(33), &format!("{:031x}", 5)] {
            assert!(parse_upload_id(junk).is_err(), "{junk}");
        }
    }
}
