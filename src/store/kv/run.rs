//! Runs: immutable sorted files `run-NNNNNNNN.kv`, written once,
//! sequentially, with O_DIRECT, and read a block at a time.
//!
//! Layout: data blocks (block.rs) from offset 0; at `data_end` the metadata
//! (fence index, key range, Bloom filter) padded so that a fixed footer ends
//! the last 4 KiB block. Footer: magic, format version, footer length,
//! entries, tombstones, data_end, metadata length, CRC32C of the metadata
//! and its padding, reserved, footer CRC32C. The fence index and filter stay in RAM while the
//! run is open (pinned), so a lookup reads at most one block.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::block::{find_in_block, BlockBuilder, Entry, MAX_KEY_BYTES, MAX_SPAN_BYTES};
use super::cache::BlockCache;
use super::codec::{corrupt, put_bytes, put_u32, put_u64, put_varint, Reader};
use super::files::KvFiles;
use super::filter::{build_filter, key_hash, Filter};
use crate::store::align::{align_up, AlignedBuf, BLOCK_BYTES};
use crate::store::file::SegmentFile;
use crate::store::types::StoreError;

pub const RUN_MAGIC: u64 = u64::from_le_bytes(*b"RSKVRUN1");
pub const RUN_FORMAT_VERSION: u32 = 1;
pub const RUN_FOOTER_BYTES: usize = 64;
/// Staging buffer of a run writer: blocks go to disk in writes of this size.
pub const RUN_WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Largest metadata region a run may have (a filter for ~300M keys).
pub const MAX_RUN_META_BYTES: usize = 512 * 1024 * 1024;
const _: () = assert!(RUN_WRITE_BUFFER_BYTES >= MAX_SPAN_BYTES);

/// What a manifest records about a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunInfo {
    pub num: u64,
    pub file_bytes: u64,
    pub entries: u64,
    /// Bytes of data blocks (the size that places it in a merge class).
    pub data_bytes: u64,
}

/// The shortest key `s` with `prev < s <= next` (given `prev < next`).
fn separator(prev: &[u8], next: &[u8]) -> Vec<u8> {
    debug_assert!(prev < next);
    let lcp = prev.iter().zip(next).take_while(|(a, b)| a == b).count();
    next[..(lcp + 1).min(next.len())].to_vec()
}

pub struct RunWriter {
    num: u64,
    files: KvFiles,
    path: PathBuf,
    file: SegmentFile,
    buf: AlignedBuf,
    /// File bytes written before `buf`.
    file_off: u64,
    block: BlockBuilder,
    /// Meta: for each block, its separator and first 4 KiB block number.
    fences: Vec<u8>,
    blocks: u64,
    prev_last: Vec<u8>,
    first_key: Option<Vec<u8>>,
    last_key: Vec<u8>,
    hashes: Vec<u64>,
    entries: u64,
    tombstones: u64,
}

impl RunWriter {
    /// Creates `run-<num>.kv`, replacing any leftover of an earlier attempt.
    pub async fn create(files: &KvFiles, num: u64) -> Result<RunWriter, StoreError> {
        let path = files.run_path(num);
        files.remove(&path);
        let file = SegmentFile::open(&path, true, files.direct_io, &files.backing()).await?;
        Ok(RunWriter {
            num,
            files: files.clone(),
            path,
            file,
            buf: AlignedBuf::new(RUN_WRITE_BUFFER_BYTES),
            file_off: 0,
            block: BlockBuilder::default(),
            fences: Vec::new(),
            blocks: 0,
            prev_last: Vec::new(),
            first_key: None,
            last_key: Vec::new(),
            hashes: Vec::new(),
            entries: 0,
            tombstones: 0,
        })
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes of blocks finished so far.
    pub fn data_bytes(&self) -> u64 {
        self.file_off + self.buf.len() as u64
    }

    /// Adds an entry; keys must come in strictly increasing order.
    pub async fn add(
        &mut self,
        key: &[u8],
        seq: u64,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        assert!(
            self.first_key.is_none() || key > self.last_key.as_slice(),
            "run keys out of order"
        );
        if !self.block.fits(key, seq, value) {
            self.finish_block().await?;
        }
        if self.block.is_empty() {
            let sep = if self.blocks == 0 {
                Vec::new()
            } else {
                separator(&self.prev_last, key)
            };
            put_bytes(&mut self.fences, &sep);
            let start_block = self.data_bytes() / BLOCK_BYTES as u64;
            put_varint(&mut self.fences, start_block);
            self.blocks += 1;
        }
        self.block.add(key, seq, value);
        if self.first_key.is_none() {
            self.first_key = Some(key.to_vec());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.hashes.push(key_hash(key));
        self.entries += 1;
        self.tombstones += u64::from(value.is_none());
        Ok(())
    }

    async fn finish_block(&mut self) -> Result<(), StoreError> {
        if self.buf.remaining() < self.block.span_bytes() {
            self.write_buf().await?;
        }
        self.prev_last.clear();
        self.prev_last.extend_from_slice(self.block.last_key());
        self.block.finish_into(&mut self.buf);
        Ok(())
    }

    async fn write_buf(&mut self) -> Result<(), StoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        debug_assert_eq!(self.buf.len() % BLOCK_BYTES, 0);
        let buf = std::mem::replace(&mut self.buf, AlignedBuf::new(0));
        let len = buf.len() as u64;
        let (r, mut buf) = self.file.write_at(buf, self.file_off).await;
        r?;
        self.file_off += len;
        buf.set_len(0);
        self.buf = buf;
        Ok(())
    }

    /// Writes the metadata and footer and makes the run durable.
    pub async fn finish(mut self) -> Result<RunInfo, StoreError> {
        if !self.block.is_empty() {
            self.finish_block().await?;
        }
        let data_end = self.data_bytes();
        let region = self.meta_region(data_end);
        for chunk in region.chunks(RUN_WRITE_BUFFER_BYTES) {
            if self.buf.remaining() < chunk.len() {
                self.write_buf().await?;
            }
            self.buf.extend_from_slice(chunk);
        }
        self.write_buf().await?;
        self.file.sync_data().await?;
        let info = RunInfo {
            num: self.num,
            file_bytes: self.file_off,
            entries: self.entries,
            data_bytes: data_end,
        };
        debug_assert_eq!(info.file_bytes, data_end + region.len() as u64);
        Ok(info)
    }

    /// The metadata, zero padding and footer: a whole number of blocks.
    fn meta_region(&self, data_end: u64) -> Vec<u8> {
        let mut meta = Vec::new();
        put_varint(&mut meta, self.blocks);
        meta.extend_from_slice(&self.fences);
        put_bytes(&mut meta, self.first_key.as_deref().unwrap_or_default());
        put_bytes(&mut meta, &self.last_key);
        put_bytes(&mut meta, &build_filter(&self.hashes));
        let meta_len = meta.len();
        let total = align_up((meta_len + RUN_FOOTER_BYTES) as u64, BLOCK_BYTES as u64) as usize;
        // The CRC covers the padding too: every byte of a run is checked.
        meta.resize(total - RUN_FOOTER_BYTES, 0);
        let meta_crc = crc32c::crc32c(&meta);
        let footer_at = meta.len();
        put_u64(&mut meta, RUN_MAGIC);
        put_u32(&mut meta, RUN_FORMAT_VERSION);
        put_u32(&mut meta, RUN_FOOTER_BYTES as u32);
        put_u64(&mut meta, self.entries);
        put_u64(&mut meta, self.tombstones);
        put_u64(&mut meta, data_end);
        put_u64(&mut meta, meta_len as u64);
        put_u32(&mut meta, meta_crc);
        meta.resize(total - 4, 0);
        let crc = crc32c::crc32c(&meta[footer_at..]);
        put_u32(&mut meta, crc);
        debug_assert_eq!(meta.len() % BLOCK_BYTES, 0);
        meta
    }

    /// Gives up on the run (empty, or its writing failed) and removes its file.
    pub fn abandon(self) {
        let RunWriter {
            file, files, path, ..
        } = self;
        drop(file);
        files.remove(&path);
    }
}

/// An open run: its file and its pinned fence index and filter.
pub struct RunReader {
    info: RunInfo,
    path: PathBuf,
    file: SegmentFile,
    m: RunMeta,
}

/// A run's metadata, held in RAM while it is open.
struct RunMeta {
    filter: Filter,
    /// Concatenated separators; `fence_ends[i]` ends block i's.
    fence_keys: Vec<u8>,
    fence_ends: Vec<u32>,
    /// First 4 KiB block of each data block, then `data_end` in blocks.
    block_starts: Vec<u32>,
    first_key: Vec<u8>,
    last_key: Vec<u8>,
    tombstones: u64,
}

struct Footer {
    entries: u64,
    tombstones: u64,
    data_end: u64,
    meta_len: u64,
    meta_crc: u32,
}

fn parse_footer(f: &[u8]) -> Option<Footer> {
    debug_assert_eq!(f.len(), RUN_FOOTER_BYTES);
    if crc32c::crc32c(&f[..RUN_FOOTER_BYTES - 4])
        != super::codec::le_u32_at(f, RUN_FOOTER_BYTES - 4)
    {
        return None;
    }
    let mut r = Reader::new(f);
    let ok = r.u64()? == RUN_MAGIC
        && r.u32()? == RUN_FORMAT_VERSION
        && r.u32()? == RUN_FOOTER_BYTES as u32;
    ok.then_some(())?;
    Some(Footer {
        entries: r.u64()?,
        tombstones: r.u64()?,
        data_end: r.u64()?,
        meta_len: r.u64()?,
        meta_crc: r.u32()?,
    })
}

/// Reads exactly `len` bytes at `offset`; a short read is a truncated file.
async fn read_exact(
    file: &SegmentFile,
    path: &Path,
    offset: u64,
    len: usize,
) -> Result<Bytes, StoreError> {
    debug_assert_eq!(len % BLOCK_BYTES, 0);
    let (r, buf) = file.read_at(AlignedBuf::for_read(len), offset).await;
    if r? != len {
        return Err(corrupt(path, offset, "index run is shorter than recorded"));
    }
    Ok(buf.into_bytes())
}

impl RunReader {
    /// Opens a run a manifest names, checking its footer and metadata.
    pub async fn open(files: &KvFiles, info: RunInfo) -> Result<RunReader, StoreError> {
        let path = files.run_path(info.num);
        let file = SegmentFile::open(&path, false, files.direct_io, &files.backing()).await?;
        let len = info.file_bytes;
        if len < BLOCK_BYTES as u64 || !len.is_multiple_of(BLOCK_BYTES as u64) {
            return Err(corrupt(
                &path,
                0,
                "index run length in the manifest is not whole blocks",
            ));
        }
        let last = read_exact(&file, &path, len - BLOCK_BYTES as u64, BLOCK_BYTES).await?;
        let footer = parse_footer(&last[BLOCK_BYTES - RUN_FOOTER_BYTES..]).ok_or_else(|| {
            corrupt(
                &path,
                len - RUN_FOOTER_BYTES as u64,
                "index run footer fails its check",
            )
        })?;
        let region = footer.meta_len.saturating_add(RUN_FOOTER_BYTES as u64);
        let sane = footer.data_end.is_multiple_of(BLOCK_BYTES as u64)
            && footer.meta_len <= MAX_RUN_META_BYTES as u64
            && footer
                .data_end
                .checked_add(align_up(region, BLOCK_BYTES as u64))
                == Some(len)
            && footer.entries == info.entries
            && footer.data_end == info.data_bytes;
        if !sane {
            return Err(corrupt(
                &path,
                len - RUN_FOOTER_BYTES as u64,
                "index run footer disagrees with its manifest",
            ));
        }
        let region = read_exact(
            &file,
            &path,
            footer.data_end,
            (len - footer.data_end) as usize,
        )
        .await?;
        if crc32c::crc32c(&region[..region.len() - RUN_FOOTER_BYTES]) != footer.meta_crc {
            return Err(corrupt(
                &path,
                footer.data_end,
                "index run metadata fails its CRC",
            ));
        }
        let m = parse_meta(&region[..footer.meta_len as usize], &footer)
            .ok_or_else(|| corrupt(&path, footer.data_end, "index run metadata is malformed"))?;
        Ok(RunReader {
            info,
            path,
            file,
            m,
        })
    }

    pub fn info(&self) -> RunInfo {
        self.info
    }

    pub fn num(&self) -> u64 {
        self.info.num
    }

    pub fn tombstones(&self) -> u64 {
        self.m.tombstones
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// RAM held while the run is open: filter, fences, key range.
    pub fn pinned_bytes(&self) -> usize {
        self.m.filter.bytes()
            + self.m.fence_keys.len()
            + 4 * (self.m.fence_ends.len() + self.m.block_starts.len())
            + self.m.first_key.len()
            + self.m.last_key.len()
    }

    pub fn first_key(&self) -> &[u8] {
        &self.m.first_key
    }

    pub fn block_count(&self) -> usize {
        self.m.fence_ends.len()
    }

    fn fence(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.m.fence_ends[i - 1] as usize
        };
        &self.m.fence_keys[start..self.m.fence_ends[i] as usize]
    }

    /// The block that would hold `key`, or None when it is outside the run.
    pub fn block_for(&self, key: &[u8]) -> Option<usize> {
        if self.block_count() == 0
            || key < self.m.first_key.as_slice()
            || key > self.m.last_key.as_slice()
        {
            return None;
        }
        // The first block whose separator is above the key; the one before holds it.
        let (mut lo, mut hi) = (0, self.block_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.fence(mid) <= key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo.saturating_sub(1))
    }

    /// Byte offset and length of block `i`.
    pub fn block_span(&self, i: usize) -> (u64, usize) {
        let (a, b) = (
            self.m.block_starts[i] as u64,
            self.m.block_starts[i + 1] as u64,
        );
        (a * BLOCK_BYTES as u64, ((b - a) as usize) * BLOCK_BYTES)
    }

    /// Block `i`, verified, from the cache or the disk (and then cached).
    pub async fn read_block(
        &self,
        i: usize,
        cache: Option<&RefCell<BlockCache>>,
    ) -> Result<Bytes, StoreError> {
        let key = (self.info.num, i as u32);
        if let Some(b) = cache.and_then(|c| c.borrow_mut().get(key)) {
            return Ok(b);
        }
        let (offset, len) = self.block_span(i);
        let block = read_exact(&self.file, &self.path, offset, len).await?;
        super::block::verify_block(&block, &self.path, offset)?;
        if let Some(c) = cache {
            c.borrow_mut().insert(key, block.clone());
        }
        Ok(block)
    }

    /// Blocks `[first, last)` in one read, unverified (a merge's read-ahead;
    /// each block is verified when decoded).
    pub async fn read_blocks(&self, first: usize, last: usize) -> Result<Bytes, StoreError> {
        debug_assert!(first < last && last <= self.block_count());
        let offset = self.block_span(first).0;
        let end = self.m.block_starts[last] as u64 * BLOCK_BYTES as u64;
        read_exact(&self.file, &self.path, offset, (end - offset) as usize).await
    }

    /// The run's entry for `key` (value or tombstone), if it has one.
    pub async fn get(
        &self,
        key: &[u8],
        hash: u64,
        cache: Option<&RefCell<BlockCache>>,
    ) -> Result<Option<Entry>, StoreError> {
        if !self.m.filter.may_contain(hash) {
            return Ok(None);
        }
        let Some(i) = self.block_for(key) else {
            return Ok(None);
        };
        let block = self.read_block(i, cache).await?;
        find_in_block(&block, &self.path, self.block_span(i).0, key)
    }
}

fn parse_meta(meta: &[u8], footer: &Footer) -> Option<RunMeta> {
    let mut r = Reader::new(meta);
    let data_blocks = u32::try_from(footer.data_end / BLOCK_BYTES as u64).ok()?;
    let blocks = r.len_at_most(data_blocks as usize)?;
    let (mut fence_keys, mut fence_ends, mut block_starts) = (
        Vec::new(),
        Vec::with_capacity(blocks),
        Vec::with_capacity(blocks + 1),
    );
    for i in 0..blocks {
        let sep = r.bytes(MAX_KEY_BYTES)?;
        let start = u32::try_from(r.varint()?).ok()?;
        // `fence_keys` ends with the previous block's separator.
        let prev_sep_start = if i >= 2 {
            fence_ends[i - 2] as usize
        } else {
            0
        };
        let ordered = (i == 0 && sep.is_empty() && start == 0)
            || (i > 0 && sep > &fence_keys[prev_sep_start..] && start > *block_starts.last()?);
        if !ordered || start >= data_blocks {
            return None;
        }
        fence_keys.extend_from_slice(sep);
        fence_ends.push(u32::try_from(fence_keys.len()).ok()?);
        block_starts.push(start);
    }
    block_starts.push(data_blocks);
    let first_key = r.bytes(MAX_KEY_BYTES)?.to_vec();
    let last_key = r.bytes(MAX_KEY_BYTES)?.to_vec();
    let filter = Filter::decode(r.bytes(MAX_RUN_META_BYTES)?)?;
    let consistent = r.is_empty()
        && (blocks == 0) == (footer.entries == 0)
        && first_key <= last_key
        && (blocks == 0 || (data_blocks > 0 && (blocks as u64) <= footer.entries));
    consistent.then_some(RunMeta {
        filter,
        fence_keys,
        fence_ends,
        block_starts,
        first_key,
        last_key,
        tombstones: footer.tombstones,
    })
}
