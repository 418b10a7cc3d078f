//! How the on-disk index's tables encode their rows as kv keys
//! (docs/INDEX.md, "Tables"): a table byte, the bucket id big-endian, the
//! object key escaped and terminated, then what the table adds. Byte order
//! of the encodings is the order of the tuples they encode.
//!
//! Escaping: `0x00` in a key becomes `0x00 0xFF` and a key ends with
//! `0x00 0x01`, so no encoded key is a prefix of another and a shorter key
//! sorts before its extensions, as strings do. The escaped form of a
//! prefix (no terminator) sorts at or before every key that starts with
//! it, and `0xFF` after it sorts after all of them (UTF-8 never holds 0xFF).

use crate::store::types::BucketId;

/// `C`: a key's current version.
pub const CURRENT: u8 = b'C';
/// `V`: a key's noncurrent versions, newest first.
pub const NONCURRENT: u8 = b'V';

const ESCAPE: u8 = 0x00;
const ESCAPED_NUL: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

/// Table byte and bucket id: the start of every row of `bucket` in `table`.
pub fn bucket_prefix(table: u8, bucket: BucketId) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + 64);
    out.push(table);
    out.extend_from_slice(&bucket.to_be_bytes());
    out
}

fn push_escaped(out: &mut Vec<u8>, key: &[u8]) {
    for &b in key {
        out.push(b);
        if b == ESCAPE {
            out.push(ESCAPED_NUL);
        }
    }
}

/// The rows of `bucket` whose object key starts with `prefix` all start
/// with this (and sort at or after it).
pub fn key_prefix(table: u8, bucket: BucketId, prefix: &str) -> Vec<u8> {
    let mut out = bucket_prefix(table, bucket);
    push_escaped(&mut out, prefix.as_bytes());
    out
}

/// Sorts after every row whose object key starts with `prefix`.
pub fn past_prefix(table: u8, bucket: BucketId, prefix: &str) -> Vec<u8> {
    let mut out = key_prefix(table, bucket, prefix);
    out.push(0xFF);
    out
}

/// The row of `key` itself (table `C`), or the start of its rows (`V`).
pub fn object_key(table: u8, bucket: BucketId, key: &str) -> Vec<u8> {
    let mut out = key_prefix(table, bucket, key);
    out.push(ESCAPE);
    out.push(TERMINATOR);
    out
}

/// The `V` row of `key`'s version of `order`: newest (highest order) first.
pub fn noncurrent_key(bucket: BucketId, key: &str, order: u64) -> Vec<u8> {
    let mut out = object_key(NONCURRENT, bucket, key);
    out.extend_from_slice(&(!order).to_be_bytes());
    out
}

/// A decoded `C` or `V` row key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRowKey {
    pub table: u8,
    pub bucket: BucketId,
    pub key: String,
    /// `V` rows: the version's order.
    pub order: Option<u64>,
}

/// Decodes a `C` or `V` row key; None for anything else or a malformed one.
pub fn decode_object_key(row: &[u8]) -> Option<ObjectRowKey> {
    let (&table, rest) = row.split_first()?;
    if table != CURRENT && table != NONCURRENT {
        return None;
    }
    let bucket = BucketId::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let mut rest = &rest[8..];
    let mut key = Vec::with_capacity(rest.len());
    loop {
        let (&b, tail) = rest.split_first()?;
        rest = tail;
        if b != ESCAPE {
            key.push(b);
            continue;
        }
        let (&next, tail) = rest.split_first()?;
        rest = tail;
        match next {
            ESCAPED_NUL => key.push(ESCAPE),
            TERMINATOR => break,
            _ => return None,
        }
    }
    let order = match table {
        CURRENT if rest.is_empty() => None,
        NONCURRENT if rest.len() == 8 => Some(!u64::from_be_bytes(rest.try_into().ok()?)),
        _ => return None,
    };
    Some(ObjectRowKey {
        table,
        bucket,
        key: String::from_utf8(key).ok()?,
        order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_key() -> impl Strategy<Value = String> {
        // Small alphabets make prefixes, NULs and 0x01s likely.
        proptest::collection::vec(
            prop_oneof![
                Just('\0'),
                Just('\u{1}'),
                Just('/'),
                Just('a'),
                Just('é'),
                Just('\u{10FFFF}')
            ],
            0..6,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #[test]
        fn encodings_sort_as_their_tuples(a in any_key(), b in any_key(), ba in 0u64..3, bb in 0u64..3, oa in any::<u64>(), ob in any::<u64>()) {
            let ca = object_key(CURRENT, ba, &a);
            let cb = object_key(CURRENT, bb, &b);
            prop_assert_eq!(ca.cmp(&cb), (ba, a.as_bytes()).cmp(&(bb, b.as_bytes())));
            let va = noncurrent_key(ba, &a, oa);
            let vb = noncurrent_key(bb, &b, ob);
            // Newest (highest order) first within a key.
            prop_assert_eq!(va.cmp(&vb), (ba, a.as_bytes(), std::cmp::Reverse(oa)).cmp(&(bb, b.as_bytes(), std::cmp::Reverse(ob))));
        }

        #[test]
        fn prefixes_bound_exactly_their_keys(k in any_key(), p in any_key(), b in 0u64..3) {
            let row = object_key(CURRENT, b, &k);
            let inside = k.starts_with(&p);
            prop_assert_eq!(row.starts_with(&key_prefix(CURRENT, b, &p)), inside);
            if inside {
                prop_assert!(row < past_prefix(CURRENT, b, &p));
            }
            // Seeking to a prefix's encoding finds the first key >= it.
            prop_assert_eq!(row >= key_prefix(CURRENT, b, &p), k.as_bytes() >= p.as_bytes());
        }

        #[test]
        fn keys_decode_back(k in any_key(), b in any::<u64>(), o in any::<u64>()) {
            let c = decode_object_key(&object_key(CURRENT, b, &k)).expect("C row");
            prop_assert_eq!(c, ObjectRowKey { table: CURRENT, bucket: b, key: k.clone(), order: None });
            let v = decode_object_key(&noncurrent_key(b, &k, o)).expect("V row");
            prop_assert_eq!(v, ObjectRowKey { table: NONCURRENT, bucket: b, key: k, order: Some(o) });
        }

        #[test]
        fn garbage_never_panics(row in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_object_key(&row);
        }
    }
}
