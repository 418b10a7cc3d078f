//! Queues of received byte pieces, kept without copying but with a bound on
//! how many pieces they hold.
//!
//! Bodies travel as the `Bytes` of each socket read. A client that sends one
//! byte per TCP segment makes one-byte reads, and a queue holding a `Bytes`
//! (32 bytes, plus a reference on a 64 KiB read buffer) per byte would cost
//! far more memory than the bytes themselves. So a short piece is merged
//! (copied) into a short predecessor: every piece but the last is then at
//! least [`SMALL_PIECE_BYTES`] long, or short and followed by a long one,
//! and a queue of `n` bytes holds at most `2 n / SMALL_PIECE_BYTES + 1`
//! pieces. Pieces of ordinary reads are never copied.

use bytes::{Bytes, BytesMut};

/// Pieces shorter than this are merged into a short predecessor.
pub const SMALL_PIECE_BYTES: usize = 1024;

/// Appends `piece` to the queue whose last piece is `last`: merged into it
/// when both are short (then None), else returned for the caller to push.
pub fn merge_small(last: Option<&mut Bytes>, piece: Bytes) -> Option<Bytes> {
    match last {
        Some(last) if last.len() < SMALL_PIECE_BYTES && piece.len() < SMALL_PIECE_BYTES => {
            let mut merged = BytesMut::with_capacity(last.len() + piece.len());
            merged.extend_from_slice(last);
            merged.extend_from_slice(&piece);
            *last = merged.freeze();
            None
        }
        _ => Some(piece),
    }
}

/// The most pieces a queue built with [`merge_small`] holds for `bytes`.
pub fn max_pieces(bytes: usize) -> usize {
    2 * bytes / SMALL_PIECE_BYTES + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of piece sizes: the queue keeps the bytes in order,
        /// stays within `max_pieces`, and long pieces are not copied.
        #[test]
        fn queue_keeps_the_bytes_and_stays_bounded(
            sizes in proptest::collection::vec(prop_oneof![1usize..40, 1000usize..5000], 1..400)
        ) {
            let mut queue: Vec<Bytes> = Vec::new();
            let mut all = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                let piece = Bytes::from(vec![i as u8; *n]);
                all.extend_from_slice(&piece);
                let ptr = piece.as_ptr();
                if let Some(p) = merge_small(queue.last_mut(), piece) {
                    if p.len() >= SMALL_PIECE_BYTES {
                        prop_assert_eq!(p.as_ptr(), ptr, "a long piece was copied");
                    }
                    queue.push(p);
                }
                prop_assert!(queue.len() <= max_pieces(all.len()));
            }
            prop_assert_eq!(queue.concat(), all);
        }
    }

    #[test]
    fn one_byte_pieces_are_gathered() {
        let mut queue: Vec<Bytes> = Vec::new();
        for i in 0..100_000u32 {
            if let Some(p) = merge_small(queue.last_mut(), Bytes::from(vec![i as u8])) {
                queue.push(p);
            }
        }
        assert!(queue.len() <= max_pieces(100_000), "{} pieces", queue.len());
        assert_eq!(queue.iter().map(Bytes::len).sum::<usize>(), 100_000);
    }
}
