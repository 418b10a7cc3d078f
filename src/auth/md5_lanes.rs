//! MD5 of up to sixteen independent messages at once.
//!
//! One MD5 stream cannot go faster than its 64-step dependency chain per
//! block, but the ETag of every PUT is an MD5, and a shard has many uploads
//! in flight. With AVX-512 one instruction advances the same step of sixteen
//! messages, each in its own 32-bit lane, for about the cost of one scalar
//! step. [`compress_lanes`] is that kernel; [`LaneState`] is one message's
//! running state (chaining value, partial block, length), kept outside the
//! kernel so a scheduler (`server::md5_batch`) can put whichever messages
//! have data into lanes for each step.
//!
//! Without AVX-512 the same calls run the scalar compression lane by lane.

/// Messages advanced by one call of [`compress_lanes`].
pub const LANES: usize = 16;
/// MD5 block size.
pub const BLOCK: usize = 64;

/// A block for every lane, by reference: the kernel loads each straight
/// from where the message's bytes are (unused lanes may point anywhere).
pub type LaneBlocks<'a> = [&'a [u8; BLOCK]; LANES];

/// A block for lanes with nothing to hash.
pub static IDLE_BLOCK: [u8; BLOCK] = [0; BLOCK];

/// Chaining values in lane-major order: `words[i][lane]` is word `i` (A, B,
/// C, D) of `lane`'s state, the layout the vector kernel loads directly.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct LaneWords {
    pub words: [[u32; LANES]; 4],
}

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-step additive constants: floor(|sin(i + 1)| * 2^32).
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Left-rotation amounts per step.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Message word used by step `i`.
const fn word_index(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// One message's MD5 in progress: chaining value, the bytes of an
/// unfinished block, and the length so far.
#[derive(Clone, Copy)]
pub struct LaneState {
    pub h: [u32; 4],
    pub partial: [u8; BLOCK],
    pub partial_len: usize,
    pub length: u64,
}

impl Default for LaneState {
    fn default() -> Self {
        LaneState::new()
    }
}

impl LaneState {
    pub const fn new() -> LaneState {
        LaneState {
            h: INIT,
            partial: [0; BLOCK],
            partial_len: 0,
            length: 0,
        }
    }

    /// The final block(s): the partial block, 0x80, zeros, the bit length.
    /// Returns the bytes and how many blocks (1 or 2) they hold.
    pub fn padding(&self) -> ([u8; 2 * BLOCK], usize) {
        debug_assert!(self.partial_len < BLOCK);
        let mut out = [0u8; 2 * BLOCK];
        out[..self.partial_len].copy_from_slice(&self.partial[..self.partial_len]);
        out[self.partial_len] = 0x80;
        let blocks = if self.partial_len < BLOCK - 8 { 1 } else { 2 };
        let end = blocks * BLOCK;
        out[end - 8..end].copy_from_slice(&(self.length.wrapping_mul(8)).to_le_bytes());
        (out, blocks)
    }

    /// The digest of a state whose padding has been compressed.
    pub fn digest(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, w) in self.h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// Which compression code runs here, chosen once at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// One lane after another.
    Scalar,
    /// AVX-512: 16 lanes in ZMM registers, or 8 in YMM registers when at
    /// most eight are busy (on AMD Zen 4 a YMM step has half the latency of
    /// a ZMM one, so a sparse step costs about half).
    Avx512,
}

impl Kernel {
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return Kernel::Avx512;
        }
        Kernel::Scalar
    }
}

/// Compresses `blocks[lane]` into `state` for every lane whose bit is set
/// in `mask`; other lanes keep their state. `kernel` must come from
/// [`Kernel::detect`] (checked once by the caller, not per block).
pub fn compress_lanes(kernel: Kernel, state: &mut LaneWords, blocks: &LaneBlocks<'_>, mask: u16) {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx512 {
        debug_assert_eq!(Kernel::detect(), Kernel::Avx512);
        // SAFETY: the caller checked AVX-512F and VL support (asserted above).
        unsafe {
            if mask >> 8 == 0 {
                avx512::compress8(state, blocks, mask as u8)
            } else {
                avx512::compress16(state, blocks, mask)
            }
        };
        return;
    }
    for (lane, block) in blocks.iter().enumerate() {
        if mask & (1 << lane) != 0 {
            let mut h = [0u32; 4];
            for (w, v) in h.iter_mut().enumerate() {
                *v = state.words[w][lane];
            }
            compress_scalar(&mut h, std::slice::from_ref(*block));
            for (w, v) in h.iter().enumerate() {
                state.words[w][lane] = *v;
            }
        }
    }
}

/// One message's blocks, one after another: the fastest scalar code here
/// (md-5's assembly on x86-64, measured 733 MiB/s against 650 MiB/s for one
/// busy lane of the vector kernel; benches/sigv4.rs `md5_lanes_1MiB`).
pub fn compress_scalar(h: &mut [u32; 4], blocks: &[[u8; BLOCK]]) {
    #[cfg(target_arch = "x86_64")]
    md5_asm::compress(h, blocks);
    #[cfg(not(target_arch = "x86_64"))]
    for block in blocks {
        compress_one(h, block);
    }
}

/// The portable MD5 compression of one block (the reference the other
/// kernels are tested against).
pub fn compress_one(h: &mut [u32; 4], block: &[u8; BLOCK]) {
    let mut m = [0u32; 16];
    for (i, w) in m.iter_mut().enumerate() {
        *w = u32::from_le_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ]);
    }
    let [mut a, mut b, mut c, mut d] = *h;
    for i in 0..64 {
        let f = match i / 16 {
            0 => (b & c) | (!b & d),
            1 => (d & b) | (!d & c),
            2 => b ^ c ^ d,
            _ => c ^ (b | !d),
        };
        let t = a
            .wrapping_add(f)
            .wrapping_add(K[i])
            .wrapping_add(m[word_index(i)]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(t.rotate_left(S[i]));
    }
    h[0] = h[0].wrapping_add(a);
    h[1] = h[1].wrapping_add(b);
    h[2] = h[2].wrapping_add(c);
    h[3] = h[3].wrapping_add(d);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{LaneBlocks, LaneWords, K};
    use std::arch::x86_64::*;

    /// Transposes sixteen rows of sixteen u32 so `out[w]` holds word `w` of
    /// every row (the four-stage unpack / 128-bit shuffle pattern).
    #[target_feature(enable = "avx512f")]
    fn transpose(r: [__m512i; 16]) -> [__m512i; 16] {
        let mut t = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        // u[4i + j], 128-bit lane k: column 4k + j of rows 4i..4i+3.
        let mut u = [_mm512_setzero_si512(); 16];
        for i in 0..4 {
            u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
            u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
            u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
        }
        let mut out = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let v0 = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(u[j], u[4 + j]);
            let v2 = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(u[8 + j], u[12 + j]);
            out[j] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            out[4 + j] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            out[8 + j] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            out[12 + j] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        out
    }

    /// One MD5 step for all lanes. `ops` names one vector width's
    /// ternary-logic, add, rotate and broadcast intrinsics; `imm` is the
    /// ternary-logic truth table of the round function over (b, c, d).
    macro_rules! step {
        ([$tern:ident, $add:ident, $rol:ident, $set1:ident, $opaque:ident], $imm:literal, $s:literal, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr) => {{
            // a + m + k does not wait for b (the previous step's result);
            // summed apart (and hidden from LLVM, which would otherwise
            // reassociate k back behind f), the chain through b is four
            // operations — ternary logic, add, rotate, add — not five.
            let amk = $opaque($add($a, $add($m, $set1($k as i32))));
            let f = $tern::<$imm>($b, $c, $d);
            $a = $add($b, $rol::<$s>($add(f, amk)));
        }};
    }

    /// `x`, unseen by the optimiser (no instruction is emitted).
    #[target_feature(enable = "avx512f")]
    fn opaque512(mut x: __m512i) -> __m512i {
        // SAFETY: an empty asm block; it only names the register.
        unsafe {
            std::arch::asm!("/* {0} */", inout(zmm_reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }

    /// [`opaque512`] for YMM registers.
    #[target_feature(enable = "avx512f,avx512vl")]
    fn opaque256(mut x: __m256i) -> __m256i {
        // SAFETY: as in `opaque512`.
        unsafe {
            std::arch::asm!("/* {0} */", inout(ymm_reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        x
    }

    /// Four steps of one round with the rotation amounts of that round; the
    /// roles of a, b, c, d rotate from step to step.
    macro_rules! four {
        ($ops:tt, $imm:literal, [$s0:literal, $s1:literal, $s2:literal, $s3:literal], $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $i:expr, $g:expr) => {{
            step!($ops, $imm, $s0, $a, $b, $c, $d, $m[$g($i)], K[$i]);
            step!($ops, $imm, $s1, $d, $a, $b, $c, $m[$g($i + 1)], K[$i + 1]);
            step!($ops, $imm, $s2, $c, $d, $a, $b, $m[$g($i + 2)], K[$i + 2]);
            step!($ops, $imm, $s3, $b, $c, $d, $a, $m[$g($i + 3)], K[$i + 3]);
        }};
    }

    /// The 64 steps of one block over message words `m`, on the vector
    /// width whose intrinsics `ops` names (see `step!`). Truth tables over
    /// (b, c, d): F = b ? c : d; G = d ? b : c; H = b ^ c ^ d; I = c ^ (b | !d).
    macro_rules! md5_rounds {
        ($ops:tt, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident) => {{
            let g1 = |i: usize| i;
            let g2 = |i: usize| (5 * i + 1) % 16;
            let g3 = |i: usize| (3 * i + 5) % 16;
            let g4 = |i: usize| (7 * i) % 16;
            for i in [0, 4, 8, 12] {
                four!($ops, 0xCA, [7, 12, 17, 22], $a, $b, $c, $d, $m, i, g1);
            }
            for i in [16, 20, 24, 28] {
                four!($ops, 0xE4, [5, 9, 14, 20], $a, $b, $c, $d, $m, i, g2);
            }
            for i in [32, 36, 40, 44] {
                four!($ops, 0x96, [4, 11, 16, 23], $a, $b, $c, $d, $m, i, g3);
            }
            for i in [48, 52, 56, 60] {
                four!($ops, 0x39, [6, 10, 15, 21], $a, $b, $c, $d, $m, i, g4);
            }
        }};
    }

    /// One block in each of up to 16 lanes, in ZMM registers.
    #[target_feature(enable = "avx512f")]
    pub fn compress16(state: &mut LaneWords, blocks: &LaneBlocks<'_>, mask: u16) {
        // SAFETY (all loads and stores below): each block is 64 bytes,
        // `state.words` rows are 16 u32 at 64-byte alignment (repr(align(64))).
        let mut rows = [_mm512_setzero_si512(); 16];
        for (lane, row) in rows.iter_mut().enumerate() {
            *row = unsafe { _mm512_loadu_si512(blocks[lane].as_ptr().cast()) };
        }
        let m = transpose(rows);
        let h: [__m512i; 4] = unsafe {
            [
                _mm512_load_si512(state.words[0].as_ptr().cast()),
                _mm512_load_si512(state.words[1].as_ptr().cast()),
                _mm512_load_si512(state.words[2].as_ptr().cast()),
                _mm512_load_si512(state.words[3].as_ptr().cast()),
            ]
        };
        let [mut a, mut b, mut c, mut d] = h;
        md5_rounds!(
            [
                _mm512_ternarylogic_epi32,
                _mm512_add_epi32,
                _mm512_rol_epi32,
                _mm512_set1_epi32,
                opaque512
            ],
            a,
            b,
            c,
            d,
            m
        );
        let k = mask as __mmask16;
        for (w, v) in [a, b, c, d].into_iter().enumerate() {
            let sum = _mm512_mask_add_epi32(h[w], k, h[w], v);
            unsafe { _mm512_store_si512(state.words[w].as_mut_ptr().cast(), sum) };
        }
    }

    /// Transposes two 8x8 u32 matrices: `out[w]` holds word `w` of lanes 0..8.
    #[target_feature(enable = "avx2")]
    fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
        let t: [__m256i; 8] = [
            _mm256_unpacklo_epi32(r[0], r[1]),
            _mm256_unpackhi_epi32(r[0], r[1]),
            _mm256_unpacklo_epi32(r[2], r[3]),
            _mm256_unpackhi_epi32(r[2], r[3]),
            _mm256_unpacklo_epi32(r[4], r[5]),
            _mm256_unpackhi_epi32(r[4], r[5]),
            _mm256_unpacklo_epi32(r[6], r[7]),
            _mm256_unpackhi_epi32(r[6], r[7]),
        ];
        // u[j] (rows 0..4) and u[4 + j] (rows 4..8), 128-bit half k: column 4k + j.
        let u: [__m256i; 8] = [
            _mm256_unpacklo_epi64(t[0], t[2]),
            _mm256_unpackhi_epi64(t[0], t[2]),
            _mm256_unpacklo_epi64(t[1], t[3]),
            _mm256_unpackhi_epi64(t[1], t[3]),
            _mm256_unpacklo_epi64(t[4], t[6]),
            _mm256_unpackhi_epi64(t[4], t[6]),
            _mm256_unpacklo_epi64(t[5], t[7]),
            _mm256_unpackhi_epi64(t[5], t[7]),
        ];
        [
            _mm256_permute2x128_si256::<0x20>(u[0], u[4]),
            _mm256_permute2x128_si256::<0x20>(u[1], u[5]),
            _mm256_permute2x128_si256::<0x20>(u[2], u[6]),
            _mm256_permute2x128_si256::<0x20>(u[3], u[7]),
            _mm256_permute2x128_si256::<0x31>(u[0], u[4]),
            _mm256_permute2x128_si256::<0x31>(u[1], u[5]),
            _mm256_permute2x128_si256::<0x31>(u[2], u[6]),
            _mm256_permute2x128_si256::<0x31>(u[3], u[7]),
        ]
    }

    /// [`compress16`] for lanes 0..8 only, in YMM registers.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub fn compress8(state: &mut LaneWords, blocks: &LaneBlocks<'_>, mask: u8) {
        let mut lo = [_mm256_setzero_si256(); 8];
        let mut hi = [_mm256_setzero_si256(); 8];
        for lane in 0..8 {
            // SAFETY: each block row is 64 bytes: two unaligned 32-byte loads.
            unsafe {
                lo[lane] = _mm256_loadu_si256(blocks[lane].as_ptr().cast());
                hi[lane] = _mm256_loadu_si256(blocks[lane][32..].as_ptr().cast());
            }
        }
        let (lo, hi) = (transpose8(lo), transpose8(hi));
        let m: [__m256i; 16] = std::array::from_fn(|w| if w < 8 { lo[w] } else { hi[w - 8] });
        // SAFETY: each state row is 16 u32 at 64-byte alignment; lanes 0..8
        // are its first 32 bytes.
        let h: [__m256i; 4] = unsafe {
            [
                _mm256_load_si256(state.words[0].as_ptr().cast()),
                _mm256_load_si256(state.words[1].as_ptr().cast()),
                _mm256_load_si256(state.words[2].as_ptr().cast()),
                _mm256_load_si256(state.words[3].as_ptr().cast()),
            ]
        };
        let [mut a, mut b, mut c, mut d] = h;
        md5_rounds!(
            [
                _mm256_ternarylogic_epi32,
                _mm256_add_epi32,
                _mm256_rol_epi32,
                _mm256_set1_epi32,
                opaque256
            ],
            a,
            b,
            c,
            d,
            m
        );
        for (w, v) in [a, b, c, d].into_iter().enumerate() {
            let sum = _mm256_mask_add_epi32(h[w], mask, h[w], v);
            // SAFETY: as for the loads above.
            unsafe { _mm256_store_si256(state.words[w].as_mut_ptr().cast(), sum) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    /// Hashes `msgs` through the lane kernel the way a scheduler would:
    /// whole blocks while they last, then the padding, all lanes at once.
    fn md5_lanes(kernel: Kernel, msgs: &[&[u8]]) -> Vec<[u8; 16]> {
        assert!(msgs.len() <= LANES);
        let mut states: Vec<LaneState> = msgs
            .iter()
            .map(|m| LaneState {
                length: m.len() as u64,
                ..LaneState::new()
            })
            .collect();
        let mut words = LaneWords {
            words: [[0; LANES]; 4],
        };
        for (lane, s) in states.iter().enumerate() {
            for w in 0..4 {
                words.words[w][lane] = s.h[w];
            }
        }
        // Full blocks, then each message's padding blocks.
        let streams: Vec<Vec<[u8; BLOCK]>> = msgs
            .iter()
            .zip(&mut states)
            .map(|(m, s)| {
                let full = m.len() / BLOCK * BLOCK;
                let mut blocks: Vec<[u8; BLOCK]> = m[..full]
                    .chunks(BLOCK)
                    .map(|c| c.try_into().expect("block"))
                    .collect();
                s.partial_len = m.len() - full;
                s.partial[..s.partial_len].copy_from_slice(&m[full..]);
                let (pad, n) = s.padding();
                for b in 0..n {
                    blocks.push(pad[b * BLOCK..(b + 1) * BLOCK].try_into().expect("block"));
                }
                blocks
            })
            .collect();
        let longest = streams.iter().map(Vec::len).max().unwrap_or(0);
        for step in 0..longest {
            let mut blocks: LaneBlocks = [&IDLE_BLOCK; LANES];
            let mut mask = 0u16;
            for (lane, s) in streams.iter().enumerate() {
                if let Some(b) = s.get(step) {
                    blocks[lane] = b;
                    mask |= 1 << lane;
                }
            }
            compress_lanes(kernel, &mut words, &blocks, mask);
        }
        states
            .iter_mut()
            .enumerate()
            .map(|(lane, s)| {
                for w in 0..4 {
                    s.h[w] = words.words[w][lane];
                }
                s.digest()
            })
            .collect()
    }

    fn reference(m: &[u8]) -> [u8; 16] {
        md5::Md5::digest(m).into()
    }

    #[test]
    fn portable_and_scalar_compression_agree() {
        let data: Vec<u8> = (0..64 * 37u32).map(|i| (i * 13 + 5) as u8).collect();
        let (blocks, rest) = data.as_chunks::<BLOCK>();
        assert!(rest.is_empty());
        let mut portable = INIT;
        for b in blocks {
            compress_one(&mut portable, b);
        }
        let mut scalar = INIT;
        compress_scalar(&mut scalar, blocks);
        assert_eq!(portable, scalar);
    }

    #[test]
    fn known_answers() {
        for kernel in [Kernel::Scalar, Kernel::detect()] {
            let got = md5_lanes(
                kernel,
                &[b"", b"abc", b"The quick brown fox jumps over the lazy dog"],
            );
            assert_eq!(
                crate::util::hex::encode(&got[0]),
                "d41d8cd98f00b204e9800998ecf8427e"
            );
            assert_eq!(
                crate::util::hex::encode(&got[1]),
                "900150983cd24fb0d6963f7d28e17f72"
            );
            assert_eq!(
                crate::util::hex::encode(&got[2]),
                "9e107d9d372bb6826bd81d3542a419d6"
            );
        }
    }

    #[test]
    fn every_length_near_block_edges_matches_md5() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 31 + 7) as u8).collect();
        for kernel in [Kernel::Scalar, Kernel::detect()] {
            // Sixteen different lengths per call, covering 0..=200 and the
            // one- and two-block padding cases.
            let lens: Vec<usize> = (0..=200).chain([1000, 4095, 4096]).collect();
            // Groups of 16 start in ZMM and end in YMM as lanes finish;
            // groups of 5 run in YMM only.
            for group in lens.chunks(LANES).chain(lens.chunks(5)) {
                let msgs: Vec<&[u8]> = group
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| &data[i..i + n.min(4096 - i)])
                    .collect();
                let got = md5_lanes(kernel, &msgs);
                for (m, g) in msgs.iter().zip(&got) {
                    assert_eq!(*g, reference(m), "len {} kernel {kernel:?}", m.len());
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn random_messages_in_random_lanes_match_md5(
            msgs in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..700), 1..=LANES)
        ) {
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            let got = md5_lanes(Kernel::detect(), &refs);
            for (m, g) in refs.iter().zip(&got) {
                proptest::prop_assert_eq!(*g, reference(m));
            }
        }
    }
}
