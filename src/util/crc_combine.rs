//! CRC combination: the CRC of `A ‖ B` from `crc(A)`, `crc(B)` and the
//! length of `B`, without the bytes (zlib's `crc32_combine`, generalised
//! to any reflected CRC whose init and final XOR are equal, which covers
//! CRC-32, CRC-32C and CRC-64/NVME). S3's full-object multipart checksums
//! are the parts' CRCs combined this way, so completion never re-reads a
//! part.
//!
//! Arithmetic is in GF(2)[x] modulo the generator, in the reflected bit
//! order the CRCs use: the most significant bit of the register is x^0.

/// A reflected CRC: register width in bits and the reflected generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc {
    pub width: u32,
    pub poly: u64,
}

/// CRC-32 (ISO-HDLC, zlib's).
pub const CRC32: Crc = Crc {
    width: 32,
    poly: 0xEDB8_8320,
};
/// CRC-32C (Castagnoli).
pub const CRC32C: Crc = Crc {
    width: 32,
    poly: 0x82F6_3B78,
};
/// CRC-64/NVME.
pub const CRC64NVME: Crc = Crc {
    width: 64,
    poly: 0x9A6C_9329_AC4B_C9B5,
};

impl Crc {
    /// x^0 in the reflected representation.
    fn one(self) -> u64 {
        1u64 << (self.width - 1)
    }

    /// a·b mod P.
    fn mul(self, a: u64, mut b: u64) -> u64 {
        let mut m = self.one();
        let mut p = 0u64;
        loop {
            if a & m != 0 {
                p ^= b;
                if a & (m - 1) == 0 {
                    return p;
                }
            }
            m >>= 1;
            if m == 0 {
                return p;
            }
            b = if b & 1 != 0 {
                (b >> 1) ^ self.poly
            } else {
                b >> 1
            };
        }
    }

    /// x^(8·bytes) mod P, by squaring x^(2^k) up through the length's bits.
    fn shift_for(self, bytes: u64) -> u64 {
        let mut power = self.one() >> 8; // x^8: one byte
        let mut p = self.one();
        let mut n = bytes;
        while n != 0 {
            if n & 1 != 0 {
                p = self.mul(power, p);
            }
            power = self.mul(power, power);
            n >>= 1;
        }
        p
    }

    /// The CRC of `A ‖ B` given `crc(A)`, `crc(B)` and `len(B)` in bytes.
    pub fn combine(self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        debug_assert!(self.width == 64 || crc_a >> self.width == 0);
        debug_assert!(self.width == 64 || crc_b >> self.width == 0);
        if len_b == 0 {
            return crc_a;
        }
        self.mul(self.shift_for(len_b), crc_a) ^ crc_b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(d: &[u8]) -> u64 {
        u64::from(crc32fast::hash(d))
    }
    fn crc32c(d: &[u8]) -> u64 {
        u64::from(crc32c::crc32c(d))
    }
    fn crc64(d: &[u8]) -> u64 {
        let mut h = crc64fast_nvme::Digest::new();
        h.write(d);
        h.sum64()
    }

    /// A CRC's whole-message function, widened to u64.
    type CrcOf = fn(&[u8]) -> u64;

    /// The catalogue check values ("123456789") split at every point: the
    /// combination equals the CRC of the whole.
    #[test]
    fn golden_check_values_combine_at_every_split() {
        let data = b"123456789";
        let cases: [(Crc, CrcOf, u64); 3] = [
            (CRC32, crc32, 0xCBF4_3926),
            (CRC32C, crc32c, 0xE306_9283),
            (CRC64NVME, crc64, 0xAE8B_1486_0A79_9888),
        ];
        for (crc, f, check) in cases {
            assert_eq!(f(data), check);
            for cut in 0..=data.len() {
                let (a, b) = data.split_at(cut);
                assert_eq!(
                    crc.combine(f(a), f(b), b.len() as u64),
                    check,
                    "{crc:?} at {cut}"
                );
            }
        }
    }

    /// Golden vectors at multipart sizes: 5 MiB + 1 of one byte pattern,
    /// combined from a 5 MiB part and a 1-byte part, and three parts.
    #[test]
    fn combines_multipart_sized_parts() {
        let mib = 1 << 20;
        let data: Vec<u8> = (0..5 * mib + 1).map(|i| (i * 31 % 251) as u8).collect();
        for (crc, f) in [
            (CRC32, crc32 as fn(&[u8]) -> u64),
            (CRC32C, crc32c),
            (CRC64NVME, crc64),
        ] {
            let (a, b) = data.split_at(5 * mib);
            assert_eq!(crc.combine(f(a), f(b), 1), f(&data));
            let parts = [&data[..mib], &data[mib..3 * mib], &data[3 * mib..]];
            let combined = parts
                .iter()
                .fold(f(b""), |acc, p| crc.combine(acc, f(p), p.len() as u64));
            assert_eq!(combined, f(&data), "{crc:?}");
        }
    }

    proptest::proptest! {
        /// For any data and any split points, folding the parts' CRCs
        /// equals the CRC of the concatenation.
        #[test]
        fn combination_equals_crc_of_concatenation(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            cuts in proptest::collection::vec(0usize..4096, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.push(0);
            cuts.push(data.len());
            cuts.sort_unstable();
            for (crc, f) in [
                (CRC32, crc32 as fn(&[u8]) -> u64),
                (CRC32C, crc32c),
                (CRC64NVME, crc64),
            ] {
                let combined = cuts
                    .windows(2)
                    .map(|w| &data[w[0]..w[1]])
                    .fold(f(b""), |acc, p| crc.combine(acc, f(p), p.len() as u64));
                proptest::prop_assert_eq!(combined, f(&data));
            }
        }
    }
}
