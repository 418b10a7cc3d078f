//! Manifests: `manifest-NNNNNNNN`, each a complete description of the
//! durable index — its runs (oldest first), the log position P up to which
//! they hold every record, the next run number and the index layer's
//! derived counts (an opaque blob). A new state is a new, higher-numbered
//! file (O_DIRECT, fdatasync, directory fsync); the highest-numbered file
//! whose CRC checks is the manifest; older ones are removed once a newer
//! one is durable.
//!
//! Layout: magic u64, format version u32, body length u32; body: number,
//! log position, next run (u64 each), run count u32, per run (num,
//! file bytes, entries, data bytes: u64 each), derived length u32, derived
//! bytes; then a CRC32C of all of it; zero padding to whole blocks.

use super::codec::{put_u32, put_u64, Reader};
use super::files::KvFiles;
use super::run::RunInfo;
use crate::store::align::{align_up, AlignedBuf, BLOCK_BYTES};
use crate::store::file::SegmentFile;
use crate::store::types::StoreError;

pub const MANIFEST_MAGIC: u64 = u64::from_le_bytes(*b"RSKVMAN1");
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
const MANIFEST_HEADER_BYTES: usize = 16;
const RUN_RECORD_BYTES: usize = 32;
/// Most runs one manifest may name (merges keep the count far below).
pub const MAX_MANIFEST_RUNS: usize = 4096;
/// Largest derived-counts blob.
pub const MAX_DERIVED_BYTES: usize = 64 * 1024 * 1024;
/// Largest manifest file.
pub const MAX_MANIFEST_BYTES: usize = align_up(
    (MANIFEST_HEADER_BYTES + 28 + MAX_MANIFEST_RUNS * RUN_RECORD_BYTES + 4 + MAX_DERIVED_BYTES + 4)
        as u64,
    BLOCK_BYTES as u64,
) as usize;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub number: u64,
    /// Every log record before this position is in the runs.
    pub log_position: u64,
    pub next_run: u64,
    /// Oldest first.
    pub runs: Vec<RunInfo>,
    /// The index layer's counts as of `log_position`.
    pub derived: Vec<u8>,
}

impl Manifest {
    /// The file image: whole blocks.
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.runs.len() <= MAX_MANIFEST_RUNS,
            "{} runs",
            self.runs.len()
        );
        assert!(
            self.derived.len() <= MAX_DERIVED_BYTES,
            "{} derived bytes",
            self.derived.len()
        );
        debug_assert!(self.runs.iter().all(|r| r.num < self.next_run));
        let mut out = Vec::new();
        put_u64(&mut out, MANIFEST_MAGIC);
        put_u32(&mut out, MANIFEST_FORMAT_VERSION);
        put_u32(&mut out, 0); // body length, patched below
        put_u64(&mut out, self.number);
        put_u64(&mut out, self.log_position);
        put_u64(&mut out, self.next_run);
        put_u32(&mut out, self.runs.len() as u32);
        for r in &self.runs {
            for v in [r.num, r.file_bytes, r.entries, r.data_bytes] {
                put_u64(&mut out, v);
            }
        }
        put_u32(&mut out, self.derived.len() as u32);
        out.extend_from_slice(&self.derived);
        let body = (out.len() - MANIFEST_HEADER_BYTES) as u32;
        out[12..16].copy_from_slice(&body.to_le_bytes());
        let crc = crc32c::crc32c(&out);
        put_u32(&mut out, crc);
        out.resize(align_up(out.len() as u64, BLOCK_BYTES as u64) as usize, 0);
        debug_assert!(out.len() <= MAX_MANIFEST_BYTES);
        out
    }

    /// None when the bytes are not a whole, valid manifest (torn, damaged,
    /// or another format).
    pub fn decode(b: &[u8]) -> Option<Manifest> {
        let mut r = Reader::new(b);
        if r.u64()? != MANIFEST_MAGIC || r.u32()? != MANIFEST_FORMAT_VERSION {
            return None;
        }
        let body = r.u32()? as usize;
        let end = MANIFEST_HEADER_BYTES.checked_add(body)?;
        let crc = u32::from_le_bytes(b.get(end..end.checked_add(4)?)?.try_into().ok()?);
        if crc32c::crc32c(&b[..end]) != crc {
            return None;
        }
        let mut r = Reader::new(&b[MANIFEST_HEADER_BYTES..end]);
        let (number, log_position, next_run) = (r.u64()?, r.u64()?, r.u64()?);
        let count = r.u32()? as usize;
        if count > MAX_MANIFEST_RUNS {
            return None;
        }
        let mut runs = Vec::with_capacity(count);
        for _ in 0..count {
            let info = RunInfo {
                num: r.u64()?,
                file_bytes: r.u64()?,
                entries: r.u64()?,
                data_bytes: r.u64()?,
            };
            let fresh = info.num < next_run && runs.iter().all(|o: &RunInfo| o.num != info.num);
            fresh.then_some(())?;
            runs.push(info);
        }
        let derived_len = r.u32()? as usize;
        if derived_len > MAX_DERIVED_BYTES {
            return None;
        }
        let derived = r.take(derived_len)?.to_vec();
        r.is_empty().then_some(Manifest {
            number,
            log_position,
            next_run,
            runs,
            derived,
        })
    }
}

/// Writes manifest `m.number` and makes it durable (file and directory).
pub async fn write_manifest(files: &KvFiles, m: &Manifest) -> Result<(), StoreError> {
    let path = files.manifest_path(m.number);
    let image = m.encode();
    files.remove(&path);
    let file = SegmentFile::open(&path, true, files.direct_io, &files.backing()).await?;
    let mut buf = AlignedBuf::new(image.len());
    buf.extend_from_slice(&image);
    let (r, _) = file.write_at(buf, 0).await;
    r?;
    file.sync_data().await?;
    files.sync_dir().await
}

/// Manifest `number`: Ok(None) when it is torn or damaged.
pub async fn read_manifest(files: &KvFiles, number: u64) -> Result<Option<Manifest>, StoreError> {
    let path = files.manifest_path(number);
    let file = SegmentFile::open(&path, false, files.direct_io, &files.backing()).await?;
    let len = file.len()?;
    if len == 0 || len > MAX_MANIFEST_BYTES as u64 {
        return Ok(None);
    }
    let cap = align_up(len, BLOCK_BYTES as u64) as usize;
    let (r, buf) = file.read_at(AlignedBuf::for_read(cap), 0).await;
    r?;
    Ok(Manifest::decode(buf.as_slice()).filter(|m| m.number == number))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            number: 12,
            log_position: 0x1234_5678_9abc,
            next_run: 40,
            runs: vec![
                RunInfo {
                    num: 3,
                    file_bytes: 81_920,
                    entries: 1000,
                    data_bytes: 65_536,
                },
                RunInfo {
                    num: 39,
                    file_bytes: 8192,
                    entries: 1,
                    data_bytes: 4096,
                },
            ],
            derived: b"counts".to_vec(),
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let image = m.encode();
        assert_eq!(image.len(), BLOCK_BYTES);
        assert_eq!(Manifest::decode(&image), Some(m));
        let empty = Manifest {
            next_run: 1,
            ..Manifest::default()
        };
        assert_eq!(Manifest::decode(&empty.encode()), Some(empty));
    }

    #[test]
    fn any_damaged_or_missing_byte_is_refused() {
        let image = sample().encode();
        let used = MANIFEST_HEADER_BYTES + 28 + 2 * RUN_RECORD_BYTES + 4 + 6 + 4;
        for at in 0..used {
            let mut bad = image.clone();
            bad[at] ^= 0x01;
            assert_eq!(Manifest::decode(&bad), None, "flip at {at}");
        }
        for len in 0..used {
            assert_eq!(Manifest::decode(&image[..len]), None, "cut at {len}");
        }
    }

    #[test]
    fn a_run_numbered_past_next_run_or_twice_is_refused() {
        let mut m = sample();
        m.runs[1].num = 3;
        let mut image = m.encode();
        assert_eq!(Manifest::decode(&image), None);
        m.runs[1].num = 40;
        m.next_run = 41;
        image = m.encode();
        // Patch next_run back to 40 and fix the CRC: a well-formed lie.
        image[32..40].copy_from_slice(&40u64.to_le_bytes());
        let end =
            MANIFEST_HEADER_BYTES + u32::from_le_bytes(image[12..16].try_into().unwrap()) as usize;
        let crc = crc32c::crc32c(&image[..end]);
        image[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Manifest::decode(&image), None);
    }
}
