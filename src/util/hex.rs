//! Lowercase hex, as SigV4 and ETags use it.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Writes lowercase hex of `bytes` into `out` (which must be twice as long).
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (i, &b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 0xf) as usize];
    }
}

/// Value of each hex digit (either case); `NOT_HEX` for any other byte.
const NIBBLE: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

/// Decodes hex (either case) into `out`; false unless `s` is exactly `2 * out.len()` hex digits.
pub fn decode_into(s: &[u8], out: &mut [u8]) -> bool {
    if s.len() != out.len() * 2 {
        return false;
    }
    // Checked once at the end: the table's NOT_HEX has bits no digit has.
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (h, l) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        bad |= h | l;
        *o = (h << 4) | (l & 0xf);
    }
    bad & 0xf0 == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let s = super::encode(&[0x00, 0xab, 0xff, 0x10]);
        assert_eq!(s, "00abff10");
        let mut out = [0u8; 4];
        assert!(super::decode_into(s.as_bytes(), &mut out));
        assert_eq!(out, [0x00, 0xab, 0xff, 0x10]);
        assert!(!super::decode_into(b"0g", &mut [0u8; 1]));
        assert!(!super::decode_into(b"00", &mut [0u8; 2]));
    }

    /// The table agrees with the digit definition for every byte pair.
    #[test]
    fn every_byte_pair_decodes_as_the_definition_says() {
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        for h in 0..=255u8 {
            for l in 0..=255u8 {
                let mut out = [0u8; 1];
                let ok = super::decode_into(&[h, l], &mut out);
                match (digit(h), digit(l)) {
                    (Some(a), Some(b)) => assert!(ok && out[0] == (a << 4) | b, "{h} {l}"),
                    _ => assert!(!ok, "{h} {l} accepted"),
                }
            }
        }
    }
}
