//! The value of a `C` or `V` row: one version's `ObjectEntry` without its
//! key (the row key holds it). A flags byte, the commit sequence number
//! and order, then the version's fields in the log's Commit record
//! encoding (so the index and the log share one encoding of `ObjectMeta`).

use std::rc::Rc;

use bytes::Bytes;

use crate::store::index::ObjectEntry;
use crate::store::record::{CommitRec, DecodeError};
use crate::store::types::BucketId;

/// The value's own format, before the flags.
const VALUE_VERSION: u8 = 1;
const FLAG_DELETE_MARKER: u8 = 1;

pub fn encode_entry(e: &ObjectEntry) -> Bytes {
    let mut out = Vec::with_capacity(64 + e.meta.etag.len() + 16 * e.extents.len());
    out.push(VALUE_VERSION);
    out.push(if e.delete_marker {
        FLAG_DELETE_MARKER
    } else {
        0
    });
    out.extend_from_slice(&e.commit_seq.to_le_bytes());
    out.extend_from_slice(&e.order.to_le_bytes());
    CommitRec::encode_into(&mut out, e.bucket, "", e.version_id, &e.meta, &e.extents);
    Bytes::from(out)
}

/// Decodes a row value; `bucket` and `key` come from the row key.
pub fn decode_entry(bucket: BucketId, key: &str, v: &[u8]) -> Result<Rc<ObjectEntry>, DecodeError> {
    if v.len() < 18 {
        return Err("index value truncated");
    }
    if v[0] != VALUE_VERSION {
        return Err("unknown index value version");
    }
    let flags = v[1];
    if flags & !FLAG_DELETE_MARKER != 0 {
        return Err("unknown index value flags");
    }
    let commit_seq = u64::from_le_bytes(v[2..10].try_into().map_err(|_| "index value truncated")?);
    let order = u64::from_le_bytes(v[10..18].try_into().map_err(|_| "index value truncated")?);
    let rec = CommitRec::decode(&v[18..])?;
    if rec.bucket != bucket || !rec.key.is_empty() {
        return Err("index value of another row");
    }
    if order > commit_seq {
        return Err("index value ordered after its record");
    }
    Ok(Rc::new(ObjectEntry {
        bucket,
        key: key.to_string(),
        version_id: rec.version_id,
        meta: rec.meta,
        extents: rec.extents,
        commit_seq,
        order,
        delete_marker: flags & FLAG_DELETE_MARKER != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::Extent;
    use crate::store::types::ObjectMeta;
    use proptest::prelude::*;

    #[test]
    fn an_entry_round_trips() {
        let e = ObjectEntry {
            bucket: 7,
            key: "photos/a.jpg".into(),
            version_id: 0x1234_5678_9abc,
            meta: ObjectMeta {
                size: 4096,
                etag: "0123456789abcdef0123456789abcdef".into(),
                mtime_millis: 1_700_000_000_000,
                content_type: Some("image/jpeg".into()),
                user_meta: vec![("a".into(), "b".into())],
                ..ObjectMeta::default()
            },
            extents: vec![Extent {
                segment: 3,
                offset: 8192,
                payload_len: 4096,
            }],
            commit_seq: 99,
            order: 42,
            delete_marker: false,
        };
        let back = decode_entry(7, "photos/a.jpg", &encode_entry(&e)).expect("decodes");
        assert_eq!(*back, e);
        let marker = ObjectEntry {
            delete_marker: true,
            extents: Vec::new(),
            ..e.clone()
        };
        assert_eq!(
            *decode_entry(7, "photos/a.jpg", &encode_entry(&marker)).expect("marker"),
            marker
        );
        assert!(
            decode_entry(8, "photos/a.jpg", &encode_entry(&e)).is_err(),
            "another bucket's value"
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(v in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_entry(1, "k", &v);
        }
    }
}
