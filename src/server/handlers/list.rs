//! ListObjectsV2, ListObjects (v1) and ListObjectVersions: every shard lists its own keys in
//! UTF-8 byte order (with delimiter roll-up), and the accepting shard merges
//! the pages. The continuation token is the last returned key or prefix, so
//! paging is stateless and never repeats or skips an entry.

use super::{bucket_for, check_version_id};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::model::version_id_string;
use crate::s3::xml;
use crate::server::handlers::bucket::owner_of;
use crate::server::owner::{list_all, list_versions_all};
use crate::server::request::Req;
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use crate::store::{BucketId, ListItem, VersionItem};
use base64::Engine;

/// S3's cap on max-keys.
pub const MAX_LIST_KEYS: usize = 1000;

/// The first `max` distinct items of the shards' sorted pages, and whether more exist.
///
/// Each page must hold a shard's first `max + 1` items after the marker; then
/// every item of the global first `max + 1` is in some page, so the merge is exact.
pub fn merge_pages(pages: Vec<Vec<ListItem>>, max: usize) -> (Vec<ListItem>, bool) {
    let mut all: Vec<ListItem> = pages.into_iter().flatten().collect();
    all.sort_by(|a, b| a.sort_key().as_bytes().cmp(b.sort_key().as_bytes()));
    // The same common prefix may come from several shards.
    all.dedup_by(|a, b| a.sort_key() == b.sort_key());
    let truncated = all.len() > max;
    all.truncate(max);
    (all, truncated)
}

fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    let invalid = || {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("The continuation token provided is incorrect")
            .with("ArgumentName", "continuation-token".to_string())
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

fn max_keys(req: &Req) -> Result<usize, S3Error> {
    match req.query.get("max-keys") {
        None => Ok(MAX_LIST_KEYS),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok((n as usize).min(MAX_LIST_KEYS)),
            _ => Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Provided max-keys not an integer or within integer range")
                .with("ArgumentName", "max-keys".to_string())
                .with("ArgumentValue", v.to_string())),
        },
    }
}

/// What every listing reads from the query.
struct ListParams {
    prefix: String,
    delimiter: Option<String>,
    max: usize,
    url_encoding: bool,
}

fn list_params(req: &Req) -> Result<ListParams, S3Error> {
    let url_encoding = match req.query.get("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Invalid Encoding Method specified in Request")
                .with("ArgumentName", "encoding-type".to_string()))
        }
    };
    Ok(ListParams {
        prefix: req.query.get("prefix").unwrap_or("").to_string(),
        delimiter: req
            .query
            .get("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        max: max_keys(req)?,
        url_encoding,
    })
}

/// The bucket's first `p.max` entries after `after`, merged from every
/// shard, and whether more exist.
async fn list_page(
    ctx: &ShardCtx,
    bucket: BucketId,
    p: &ListParams,
    after: Option<&str>,
) -> Result<(Vec<ListItem>, bool), S3Error> {
    if p.max == 0 {
        return Ok((Vec::new(), false));
    }
    let pages = list_all(
        ctx,
        bucket,
        &p.prefix,
        p.delimiter.as_deref(),
        after,
        p.max + 1,
    )
    .await?;
    Ok(merge_pages(pages, p.max))
}

/// Object entries (each showing `owner`, if given) and common prefixes.
fn split_items(
    items: Vec<ListItem>,
    owner: Option<xml::Owner>,
) -> (Vec<xml::ObjectEntry>, Vec<String>) {
    let mut contents = Vec::new();
    let mut common_prefixes = Vec::new();
    for item in items {
        match item {
            ListItem::Object {
                key,
                size,
                etag,
                mtime_millis,
                ..
            } => contents.push(xml::ObjectEntry {
                key,
                last_modified_millis: mtime_millis,
                etag,
                size,
                owner: owner.clone(),
            }),
            ListItem::CommonPrefix(p) => common_prefixes.push(p),
        }
    }
    (contents, common_prefixes)
}

pub async fn list_objects(ctx: &ShardCtx, req: &Req, v2: bool) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let params = list_params(req)?;
    let token = if v2 {
        req.query.get("continuation-token").map(str::to_string)
    } else {
        None
    };
    let start_after = if v2 {
        req.query.get("start-after")
    } else {
        req.query.get("marker")
    }
    .map(str::to_string);
    let after = match &token {
        Some(t) => Some(decode_token(t)?),
        None => start_after.clone().filter(|s| !s.is_empty()),
    };
    let (items, truncated) = list_page(ctx, bucket.id, &params, after.as_deref()).await?;
    let last = items.last().map(|i| i.sort_key().to_string());
    let owner = (!v2 || req.query.get("fetch-owner").is_some_and(|v| v == "true"))
        .then(|| owner_of(ctx, bucket.owner_id));
    let (contents, common_prefixes) = split_items(items, owner);
    let ListParams {
        prefix,
        delimiter,
        max,
        url_encoding,
    } = params;
    let body = if v2 {
        xml::list_objects_v2(&xml::ListV2Page {
            bucket: bucket.name.clone(),
            prefix,
            delimiter,
            max_keys: max as u32,
            is_truncated: truncated,
            continuation_token: token,
            next_continuation_token: if truncated {
                last.as_deref().map(encode_token)
            } else {
                None
            },
            start_after,
            encoding_url: url_encoding,
            contents,
            common_prefixes,
        })
    } else {
        // S3 returns NextMarker only when a delimiter was given.
        let next_marker = if truncated && delimiter.is_some() {
            last
        } else {
            None
        };
        xml::list_objects_v1(&xml::ListV1Page {
            bucket: bucket.name.clone(),
            prefix,
            marker: start_after.unwrap_or_default(),
            next_marker,
            delimiter,
            max_keys: max as u32,
            is_truncated: truncated,
            encoding_url: url_encoding,
            contents,
            common_prefixes,
        })
    };
    Ok(Response::xml(200, body))
}

/// The first `max` rows of the shards' version pages, and whether more
/// exist. A key's versions all live on one shard, so a stable sort by key
/// keeps them newest first; only common prefixes repeat across shards.
pub fn merge_version_pages(pages: Vec<Vec<VersionItem>>, max: usize) -> (Vec<VersionItem>, bool) {
    let mut all: Vec<VersionItem> = pages.into_iter().flatten().collect();
    all.sort_by(|a, b| a.sort_key().as_bytes().cmp(b.sort_key().as_bytes()));
    all.dedup_by(|a, b| {
        matches!((&*a, &*b), (VersionItem::CommonPrefix(x), VersionItem::CommonPrefix(y)) if x == y)
    });
    let truncated = all.len() > max;
    all.truncate(max);
    (all, truncated)
}

/// ListObjectVersions: every version and delete marker, each key's newest
/// first; key-marker and version-id-marker resume after a version.
pub async fn list_versions(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let params = list_params(req)?;
    let key_marker = req.query.get("key-marker").unwrap_or("").to_string();
    let version_id_marker = req.query.get("version-id-marker").unwrap_or("").to_string();
    let mut version_marker = None;
    if !version_id_marker.is_empty() {
        if key_marker.is_empty() {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("A version-id marker cannot be specified without a key marker.")
                .with("ArgumentName", "version-id-marker".to_string())
                .with("ArgumentValue", version_id_marker));
        }
        version_marker = Some(check_version_id("version-id-marker", &version_id_marker)?);
    }
    let after = Some(key_marker.as_str()).filter(|k| !k.is_empty());
    let (items, truncated) = if params.max == 0 {
        (Vec::new(), false)
    } else {
        let pages = list_versions_all(
            ctx,
            bucket.id,
            &params.prefix,
            params.delimiter.as_deref(),
            after,
            version_marker,
            params.max + 1,
        )
        .await?;
        merge_version_pages(pages, params.max)
    };
    let (next_key_marker, next_version_id_marker) = match items.last() {
        Some(VersionItem::Version {
            key, version_id, ..
        }) if truncated => (Some(key.clone()), Some(version_id_string(*version_id))),
        Some(VersionItem::CommonPrefix(p)) if truncated => (Some(p.clone()), None),
        _ => (None, None),
    };
    let owner = owner_of(ctx, bucket.owner_id);
    let mut versions = Vec::new();
    let mut common_prefixes = Vec::new();
    for item in items {
        match item {
            VersionItem::Version {
                key,
                version_id,
                is_latest,
                delete_marker,
                size,
                etag,
                mtime_millis,
            } => versions.push(xml::VersionEntry {
                key,
                version_id: version_id_string(version_id),
                is_latest,
                delete_marker,
                last_modified_millis: mtime_millis,
                etag,
                size,
                owner: Some(owner.clone()),
            }),
            VersionItem::CommonPrefix(p) => common_prefixes.push(p),
        }
    }
    let body = xml::list_object_versions(&xml::ListVersionsPage {
        bucket: bucket.name.clone(),
        prefix: params.prefix,
        key_marker,
        version_id_marker,
        next_key_marker,
        next_version_id_marker,
        delimiter: params.delimiter,
        max_keys: params.max as u32,
        is_truncated: truncated,
        encoding_url: params.url_encoding,
        versions,
        common_prefixes,
    });
    Ok(Response::xml(200, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obj(k: &str) -> ListItem {
        ListItem::Object {
            key: k.to_string(),
            size: 1,
            etag: "e".into(),
            mtime_millis: 0,
            content_type: None,
        }
    }

    #[test]
    fn merges_and_dedups_prefixes() {
        let a = vec![obj("a"), ListItem::CommonPrefix("p/".into()), obj("z")];
        let b = vec![obj("b"), ListItem::CommonPrefix("p/".into())];
        let (items, more) = merge_pages(vec![a, b], 3);
        let keys: Vec<&str> = items.iter().map(|i| i.sort_key()).collect();
        assert_eq!(keys, ["a", "b", "p/"]);
        assert!(more);
    }

    proptest! {
        /// Splitting a sorted key set across shards and merging their first
        /// max+1 entries gives exactly the first max entries of the whole set.
        #[test]
        fn merge_equals_global_order(keys in proptest::collection::btree_set("[a-c/é]{1,4}", 0..40), shards in 1usize..4, max in 1usize..10) {
            let mut pages: Vec<Vec<ListItem>> = vec![Vec::new(); shards];
            for (i, k) in keys.iter().enumerate() {
                pages[(i * 7 + k.len()) % shards].push(obj(k));
            }
            let mut all: Vec<&String> = keys.iter().collect();
            all.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let pages: Vec<Vec<ListItem>> = pages.into_iter().map(|mut p| { p.truncate(max + 1); p }).collect();
            let (items, more) = merge_pages(pages, max);
            let got: Vec<&str> = items.iter().map(|i| i.sort_key()).collect();
            let want: Vec<&str> = all.iter().take(max).map(|s| s.as_str()).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(more, keys.len() > max);
        }
    }
}
