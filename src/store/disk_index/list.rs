//! Listings over the on-disk index: ListObjects (table `C`), ListObjectVersions
//! (`C` with each key's `V` rows beside it), the lifecycle's key walk, and a
//! walk of every version of a bucket. The rules are `index::Index`'s; a
//! roll-up is skipped with one seek in every source (the skipped keys are
//! not read).

use std::ops::Bound;
use std::rc::Rc;

use super::keys::{decode_object_key, key_prefix, object_key, CURRENT, NONCURRENT};
use super::rows::Rows;
use super::DiskIndex;
use crate::store::index::{
    common_prefix, prefix_successor, rest_of_marker_key, start_cursor, version_row, ObjectEntry,
};
use crate::store::types::{BucketId, ListItem, StoreError, VersionItem};

/// Where a listing cursor starts in table `table`.
fn cursor_row(table: u8, bucket: BucketId, cursor: &Bound<String>) -> Vec<u8> {
    match cursor {
        Bound::Included(s) => key_prefix(table, bucket, s),
        Bound::Excluded(s) => {
            // Encodings are prefix-free: the first row after `s`'s own.
            let mut row = object_key(table, bucket, s);
            row.push(0);
            row
        }
        Bound::Unbounded => key_prefix(table, bucket, ""),
    }
}

impl DiskIndex {
    /// The `C` row at the head of `rows` if it is `bucket`'s: its key and entry.
    fn current_row(
        &self,
        rows: &Rows,
        bucket: BucketId,
    ) -> Result<Option<(String, Rc<ObjectEntry>)>, StoreError> {
        let Some((row, v)) = rows.head() else {
            return Ok(None);
        };
        let Some(rk) = decode_object_key(row) else {
            if row.first() == Some(&CURRENT) {
                return Err(self.corrupt("index row key"));
            }
            return Ok(None);
        };
        if rk.table != CURRENT || rk.bucket != bucket {
            return Ok(None);
        }
        let e = self.decode(bucket, &rk.key, v)?;
        Ok(Some((rk.key, e)))
    }

    /// Lists `bucket` in UTF-8 byte order: keys under `prefix`, rolled up at
    /// the first `delimiter` after the prefix, strictly after `after`, at most
    /// `limit` rows (roll-ups count).
    pub async fn list(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListItem>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || self.is_bucket_empty(bucket) {
            return Ok(out);
        }
        let Some(cursor) = start_cursor(after, prefix, delimiter) else {
            return Ok(out);
        };
        let mut rows = Rows::open(&self.kv, &cursor_row(CURRENT, bucket, &cursor)).await?;
        while out.len() < limit {
            let Some((key, e)) = self.current_row(&rows, bucket)? else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            // A key whose current version is a delete marker is not listed,
            // and does not make its roll-up appear: only an object does.
            if e.delete_marker {
                rows.advance().await?;
                continue;
            }
            match common_prefix(&key, prefix, delimiter) {
                Some(cp) => {
                    if after.is_none_or(|a| cp > a) {
                        out.push(ListItem::CommonPrefix(cp.to_string()));
                    }
                    match prefix_successor(cp) {
                        Some(next) => rows.seek(&key_prefix(CURRENT, bucket, &next)).await?,
                        None => break,
                    }
                }
                None => {
                    out.push(ListItem::Object {
                        size: e.meta.size,
                        etag: e.meta.etag.clone(),
                        mtime_millis: e.meta.mtime_millis,
                        content_type: e.meta.content_type.clone(),
                        key,
                    });
                    rows.advance().await?;
                }
            }
        }
        Ok(out)
    }

    /// Lists `bucket`'s versions for ListObjectVersions, as
    /// `index::Index::list_versions` does.
    pub async fn list_versions(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<u128>,
        limit: usize,
    ) -> Result<Vec<VersionItem>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || self.is_bucket_empty(bucket) {
            return Ok(out);
        }
        if let (Some(k), Some(v)) = (key_marker, version_marker) {
            let versions = self.versions(bucket, k).await?;
            if !rest_of_marker_key(&versions, (k, v), prefix, delimiter, limit, &mut out) {
                return Ok(out);
            }
        }
        let Some(cursor) = start_cursor(key_marker, prefix, delimiter) else {
            return Ok(out);
        };
        let mut rows = Rows::open(&self.kv, &cursor_row(CURRENT, bucket, &cursor)).await?;
        let mut older = Rows::open(&self.kv, &cursor_row(NONCURRENT, bucket, &cursor)).await?;
        while out.len() < limit {
            let Some((key, cur)) = self.current_row(&rows, bucket)? else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            match common_prefix(&key, prefix, delimiter) {
                Some(cp) => {
                    if key_marker.is_none_or(|a| cp > a) {
                        out.push(VersionItem::CommonPrefix(cp.to_string()));
                    }
                    match prefix_successor(cp) {
                        Some(next) => rows.seek(&key_prefix(CURRENT, bucket, &next)).await?,
                        None => break,
                    }
                }
                None => {
                    out.push(version_row(&cur, true));
                    let start = object_key(NONCURRENT, bucket, &key);
                    older.seek(&start).await?;
                    while out.len() < limit {
                        let Some((r, v)) = older.head() else { break };
                        if !r.starts_with(&start) {
                            break;
                        }
                        let e = self.decode(bucket, &key, v)?;
                        out.push(version_row(&e, false));
                        older.advance().await?;
                    }
                    rows.advance().await?;
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` keys of `bucket` after `after`, in order, whatever
    /// their current version (lifecycle walks markers too).
    pub async fn keys_after(
        &self,
        bucket: BucketId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || self.is_bucket_empty(bucket) {
            return Ok(out);
        }
        let cursor = match after {
            Some(a) => Bound::Excluded(a.to_string()),
            None => Bound::Unbounded,
        };
        let mut rows = Rows::open(&self.kv, &cursor_row(CURRENT, bucket, &cursor)).await?;
        while out.len() < limit {
            let Some((row, _)) = rows.head() else { break };
            match decode_object_key(row) {
                Some(rk) if rk.table == CURRENT && rk.bucket == bucket => out.push(rk.key),
                Some(_) => break,
                None if row.first() == Some(&CURRENT) => return Err(self.corrupt("index row key")),
                None => break,
            }
            rows.advance().await?;
        }
        Ok(out)
    }
}

/// Every version of one bucket in (key, newest first) order, streamed.
pub struct VersionWalk<'a> {
    index: &'a DiskIndex,
    bucket: BucketId,
    current: Rows,
    older: Rows,
    /// The key whose noncurrent versions come next, if any.
    in_key: Option<String>,
}

impl<'a> VersionWalk<'a> {
    pub async fn new(
        index: &'a DiskIndex,
        bucket: BucketId,
    ) -> Result<VersionWalk<'a>, StoreError> {
        let from = Bound::Unbounded;
        Ok(VersionWalk {
            index,
            bucket,
            current: Rows::open(&index.kv, &cursor_row(CURRENT, bucket, &from)).await?,
            older: Rows::open(&index.kv, &cursor_row(NONCURRENT, bucket, &from)).await?,
            in_key: None,
        })
    }

    /// The next version, and whether it is its key's current one.
    pub async fn next_row(&mut self) -> Result<Option<(bool, Rc<ObjectEntry>)>, StoreError> {
        if let Some(key) = &self.in_key {
            let start = object_key(NONCURRENT, self.bucket, key);
            self.older.seek(&start).await?;
            if let Some((r, v)) = self.older.head() {
                if r.starts_with(&start) {
                    let e = self.index.decode(self.bucket, key, v)?;
                    self.older.advance().await?;
                    return Ok(Some((false, e)));
                }
            }
            self.in_key = None;
        }
        let Some((key, e)) = self.index.current_row(&self.current, self.bucket)? else {
            return Ok(None);
        };
        self.current.advance().await?;
        self.in_key = Some(key);
        Ok(Some((true, e)))
    }

    pub async fn next(&mut self) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        Ok(self.next_row().await?.map(|(_, e)| e))
    }
}
