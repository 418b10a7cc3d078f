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

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case) into `out`; false unless `s` is exactly `2 * out.len()` hex digits.
pub fn decode_into(s: &[u8], out: &mut [u8]) -> bool {
    if s.len() != out.len() * 2 {
        return false;
    }
    for (i, pair) in s.chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => out[i] = (h << 4) | l,
            _ => return false,
        }
    }
    true
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
}
