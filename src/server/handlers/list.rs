//! ListObjectsV2 and ListObjects (v1): every shard lists its own keys in
//! UTF-8 byte order (with delimiter roll-up), and the accepting shard merges
//! the pages. The continuation token is the last returned key or prefix, so
//! paging is stateless and never repeats or skips an entry.

use super::{bucket_for, Access};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::xml;
use crate::server::handlers::bucket::owner_id_string;
use crate::server::owner::list_all;
use crate::server::request::Req;
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use crate::store::ListItem;
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

pub async fn list_objects(ctx: &ShardCtx, req: &Req, v2: bool) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Read)?;
    let prefix = req.query.get("prefix").unwrap_or("").to_string();
    let delimiter = req
        .query
        .get("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let max = max_keys(req)?;
    let url_encoding = match req.query.get("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                .with_message("Invalid Encoding Method specified in Request")
                .with("ArgumentName", "encoding-type".to_string()))
        }
    };
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
    let (items, truncated) = if max == 0 {
        (Vec::new(), false)
    } else {
        let pages = list_all(
            ctx,
            bucket.id,
            &prefix,
            delimiter.as_deref(),
            after.as_deref(),
            max + 1,
        )
        .await?;
        merge_pages(pages, max)
    };
    let last = items.last().map(|i| i.sort_key().to_string());
    let owner = (!v2 || req.query.get("fetch-owner").is_some_and(|v| v == "true")).then(|| {
        let name = ctx.with_catalog(|c| {
            c.credential(bucket.owner_id)
                .map(|c| c.user_name.clone())
                .unwrap_or_default()
        });
        xml::Owner {
            id: owner_id_string(bucket.owner_id),
            display_name: name,
        }
    });
    let mut contents = Vec::new();
    let mut common_prefixes = Vec::new();
    for item in items {
        match item {
            ListItem::Object {
                key,
                size,
                etag,
                mtime_millis,
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
