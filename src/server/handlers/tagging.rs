//! Object tagging (Get/Put/Delete ?tagging, x-amz-tagging on PUT) and
//! GetObjectAttributes.

use super::bucket::read_small_body;
use super::bucket_for_object;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::names::validate_key;
use crate::s3::query::percent_decode;
use crate::s3::xml;
use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::owner;
use crate::server::read::ReadRequest;
use crate::server::request::Req;
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use crate::shard::msg::ObjectView;
use crate::store::ChecksumType;
use base64::Engine;
use std::rc::Rc;

/// S3's limits on object tags.
pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
const MAX_TAGGING_BODY_BYTES: usize = 64 * 1024;

fn invalid_tag(msg: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidTag).with_message(msg.to_string())
}

/// Checks S3's tag rules: at most 10, keys 1..=128 and values ..=256 characters, no duplicates.
pub fn validate_tags(tags: &[(String, String)]) -> Result<(), S3Error> {
    if tags.len() > MAX_OBJECT_TAGS {
        return Err(invalid_tag("Object tags cannot be greater than 10"));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    Ok(())
}

/// Parses the `x-amz-tagging` header (URL query form: `k1=v1&k2=v2`).
pub fn parse_tagging_header(raw: &str) -> Result<Vec<(String, String)>, S3Error> {
    let mut tags = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        tags.push((percent_decode(k, true)?, percent_decode(v, true)?));
    }
    validate_tags(&tags)?;
    Ok(tags)
}

/// Metadata of the request's object, wherever it lives, once the
/// requester may do the operation's action on it (its owner, ACL and tags
/// known; `request_tags`: the tags the request sets, for policy conditions).
pub(super) async fn object_view(
    ctx: &ShardCtx,
    req: &Req,
    request_tags: &[(String, String)],
) -> Result<(ObjectView, usize, u64, String), S3Error> {
    let (bucket, access) = bucket_for_object(ctx, req)?;
    let access = access.setting_tags(request_tags);
    let key = req.key.clone().unwrap_or_default();
    validate_key(&key)?;
    let owner = ctx.placement.owner(&bucket.name, &key);
    let head = ReadRequest {
        head_only: true,
        version_id: super::requested_version(req)?,
        ..Default::default()
    };
    let found = owner::read(ctx, owner, bucket.id, &key, head).await;
    let (view, _, _) = access.check(ctx, req, &bucket, &key, found, |r| &r.0.meta)?;
    Ok((view, owner, bucket.id, key))
}

/// `x-amz-version-id` of a tagging answer: the version whose tags these are.
fn version_header(resp: &mut Response, ctx: &ShardCtx, req: &Req, version_id: u128) {
    let name = req.bucket.as_deref().unwrap_or("");
    if let Ok(bucket) = super::existing_bucket(ctx, req, name, super::EXPECTED_OWNER) {
        super::object::add_version_header(resp, &bucket, req, version_id);
    }
}

pub async fn get_tagging(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let (view, ..) = object_view(ctx, req, &[]).await?;
    let mut resp = Response::xml(200, xml::tagging(&view.meta.tags));
    version_header(&mut resp, ctx, req, view.version_id);
    Ok(resp)
}

/// Replaces the tags of the request's object (or of the version it names);
/// returns the version changed.
async fn set_tags(
    ctx: &Rc<ShardCtx>,
    req: &Req,
    tags: Vec<(String, String)>,
) -> Result<u128, S3Error> {
    let (_, owner, bucket, key) = object_view(ctx, req, &tags).await?;
    let version = super::requested_version(req)?;
    let view = owner::set_tags(ctx, owner, bucket, &key, version, tags)
        .await
        .map_err(S3Error::from)?;
    Ok(view.version_id)
}

pub async fn put_tagging(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    // The bucket must exist before the body is read; the object's access
    // is decided with its tags and the new ones (`set_tags`).
    let name = req.bucket.as_deref().unwrap_or("");
    super::existing_bucket(ctx, req, name, super::EXPECTED_OWNER)?;
    let raw = read_small_body(conn, req, body, MAX_TAGGING_BODY_BYTES).await?;
    let tags = xml::parse_tagging(&raw)?;
    validate_tags(&tags)?;
    let version_id = set_tags(ctx, req, tags).await?;
    let mut resp = Response::new(200);
    version_header(&mut resp, ctx, req, version_id);
    Ok(resp)
}

pub async fn delete_tagging(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let version_id = set_tags(ctx, req, Vec::new()).await?;
    let mut resp = Response::new(204);
    version_header(&mut resp, ctx, req, version_id);
    Ok(resp)
}

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// S3's default and largest `x-amz-max-parts` of GetObjectAttributes.
const MAX_ATTRIBUTE_PARTS: u32 = 1000;

/// A non-negative integer header (S3's InvalidArgument otherwise).
fn count_header(req: &Req, name: &str) -> Result<Option<u32>, S3Error> {
    req.header(name)
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                S3Error::new(S3ErrorCode::InvalidArgument)
                    .with_message(format!(
                        "Provided {name} not an integer or within integer range"
                    ))
                    .with("ArgumentName", name.to_string())
                    .with("ArgumentValue", v.to_string())
            })
        })
        .transpose()
}

/// GetObjectAttributes' ObjectParts of a multipart object: the part count;
/// for an object with an additional checksum (composite or full-object)
/// also one page of its parts (size, the part's checksum), after
/// `x-amz-part-number-marker`, at most `x-amz-max-parts`, as ListParts
/// pages them. S3 lists no Part element for an object without one.
fn object_parts(req: &Req, m: &crate::store::ObjectMeta) -> Result<xml::ObjectPartsPage, S3Error> {
    let total = m.part_sizes.len() as u32;
    let digests = m
        .multipart
        .as_ref()
        .map_or(&[][..], |d| d.part_checksums.as_slice());
    let kept = m.checksum.as_ref();
    let Some(c) = kept.filter(|_| digests.len() == m.part_sizes.len()) else {
        return Ok(xml::ObjectPartsPage {
            total_parts: total,
            ..Default::default()
        });
    };
    let max = count_header(req, "x-amz-max-parts")?
        .unwrap_or(MAX_ATTRIBUTE_PARTS)
        .min(MAX_ATTRIBUTE_PARTS);
    let marker = count_header(req, "x-amz-part-number-marker")?.unwrap_or(0);
    let parts: Vec<xml::ObjectPartEntry> = (marker..total)
        .take(max as usize)
        .map(|i| xml::ObjectPartEntry {
            part_number: i + 1,
            size: m.part_sizes[i as usize],
            checksum: Some((c.algorithm, b64(&digests[i as usize]))),
        })
        .collect();
    let next = parts.last().map_or(marker, |p| p.part_number);
    Ok(xml::ObjectPartsPage {
        total_parts: total,
        listed: true,
        part_number_marker: marker,
        next_part_number_marker: next,
        max_parts: max,
        is_truncated: next < total,
        parts,
    })
}

/// GetObjectTorrent: S3 no longer serves torrents for new objects, so an
/// object that exists answers NotImplemented; a missing one NoSuchKey (the
/// key is looked up first, as S3 does).
pub async fn get_torrent(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    object_view(ctx, req, &[]).await?;
    Err(S3Error::new(S3ErrorCode::NotImplemented)
        .with_message(
            "A header or query you provided implies functionality that is not implemented.",
        )
        .with("Header", "torrent".to_string()))
}

pub async fn get_attributes(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    // SDKs send the list as one comma-separated header or as repeated headers.
    let wanted: Vec<String> = req
        .head
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-amz-object-attributes"))
        .flat_map(|(_, v)| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty"));
    }
    let has = |name: &str| wanted.iter().any(|w| w == name);
    let customer = crate::server::sse::customer_key(ctx, req, crate::sse::CUSTOMER_HEADERS)?;
    let (view, ..) = object_view(ctx, req, &[]).await?;
    // An SSE-C object's attributes need its key, as its data does.
    crate::server::sse::keys_for(ctx, view.meta.sse.as_ref(), customer.as_ref(), false)?;
    let m = &view.meta;
    let parts = if has("objectparts") && !m.part_sizes.is_empty() {
        Some(object_parts(req, m)?)
    } else {
        None
    };
    let attrs = xml::ObjectAttributes {
        etag: has("etag").then(|| m.etag.clone()),
        // Composite values appear here without their `-N`.
        checksum: if has("checksum") {
            m.checksum.as_ref().map(|c| {
                let kind = if c.parts > 0 {
                    ChecksumType::Composite
                } else {
                    ChecksumType::FullObject
                };
                (c.algorithm, b64(&c.digest), kind)
            })
        } else {
            None
        },
        parts,
        storage_class: has("storageclass"),
        object_size: has("objectsize").then_some(m.size),
    };
    let mut resp = Response::xml(200, xml::object_attributes(&attrs)).header(
        "Last-Modified",
        crate::util::time::http_date(m.mtime_millis / 1000),
    );
    version_header(&mut resp, ctx, req, view.version_id);
    Ok(resp)
}
