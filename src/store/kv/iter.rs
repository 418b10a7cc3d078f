//! The merged iterator: one ordered, seekable view over the memtables and
//! runs. Where several sources hold a key, the newest source's entry wins;
//! tombstones hide the key. Listing's roll-ups `seek` past a prefix in every
//! source at once.
//!
//! No RefCell borrow is held across an await: a memtable source re-finds
//! its position (the first key after the last one returned) on each step, so
//! writes to the active memtable during a scan are seen if they land ahead
//! of it. Runs are pinned (`Rc`) while an iterator holds them.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

use super::block::{decode_block, Entry};
use super::cache::BlockCache;
use super::memtable::Memtable;
use super::run::RunReader;
use crate::store::types::StoreError;

/// Bytes a merge reads from a run at once.
pub const MERGE_READ_BYTES: usize = 256 * 1024;

/// A position in one run, a decoded block at a time.
pub struct RunCursor {
    run: Rc<RunReader>,
    /// Point reads and scans go through the cache; merges read ahead instead.
    cache: Option<Rc<RefCell<BlockCache>>>,
    read_ahead: bool,
    block: usize,
    entries: Vec<Entry>,
    pos: usize,
    /// Read-ahead: the bytes of blocks `[chunk_first, chunk_end)`.
    chunk: Bytes,
    chunk_first: usize,
    chunk_end: usize,
}

impl RunCursor {
    pub fn new(
        run: Rc<RunReader>,
        cache: Option<Rc<RefCell<BlockCache>>>,
        read_ahead: bool,
    ) -> Self {
        let block = run.block_count();
        RunCursor {
            run,
            cache,
            read_ahead,
            block,
            entries: Vec::new(),
            pos: 0,
            chunk: Bytes::new(),
            chunk_first: 0,
            chunk_end: 0,
        }
    }

    pub fn run(&self) -> &Rc<RunReader> {
        &self.run
    }

    pub fn head(&self) -> Option<&Entry> {
        self.entries.get(self.pos)
    }

    async fn load(&mut self, i: usize) -> Result<(), StoreError> {
        debug_assert!(i < self.run.block_count());
        let (offset, len) = self.run.block_span(i);
        let block = if self.read_ahead {
            if !(self.chunk_first..self.chunk_end).contains(&i) {
                let mut end = i + 1;
                while end < self.run.block_count()
                    && (self.run.block_span(end).0 - offset) < MERGE_READ_BYTES as u64
                {
                    end += 1;
                }
                self.chunk = self.run.read_blocks(i, end).await?;
                (self.chunk_first, self.chunk_end) = (i, end);
            }
            let at = (offset - self.run.block_span(self.chunk_first).0) as usize;
            self.chunk.slice(at..at + len)
        } else {
            self.run.read_block(i, self.cache.as_deref()).await?
        };
        self.entries = decode_block(&block, self.run.path(), offset)?;
        self.block = i;
        self.pos = 0;
        Ok(())
    }

    /// Moves to the first entry at or after `key`.
    pub async fn seek(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.entries.clear();
        self.pos = 0;
        // A key before the run starts at its first block; one after it, nowhere.
        let before = self.run.block_count() > 0 && key < self.run.first_key();
        let Some(b) = (if before {
            Some(0)
        } else {
            self.run.block_for(key)
        }) else {
            self.block = self.run.block_count();
            return Ok(());
        };
        self.load(b).await?;
        self.pos = self.entries.partition_point(|e| e.key.as_slice() < key);
        self.skip_exhausted().await
    }

    pub async fn advance(&mut self) -> Result<(), StoreError> {
        debug_assert!(self.head().is_some());
        self.pos += 1;
        self.skip_exhausted().await
    }

    async fn skip_exhausted(&mut self) -> Result<(), StoreError> {
        while self.pos >= self.entries.len() && !self.entries.is_empty() {
            if self.block + 1 >= self.run.block_count() {
                self.entries.clear();
                self.pos = 0;
                return Ok(());
            }
            self.load(self.block + 1).await?;
        }
        Ok(())
    }
}

/// One source of a merged iterator.
pub enum Source {
    Mem {
        table: Rc<RefCell<Memtable>>,
        head: Option<Entry>,
    },
    Run(RunCursor),
}

impl Source {
    pub fn head(&self) -> Option<&Entry> {
        match self {
            Source::Mem { head, .. } => head.as_ref(),
            Source::Run(c) => c.head(),
        }
    }

    pub async fn seek(&mut self, key: &[u8]) -> Result<(), StoreError> {
        match self {
            Source::Mem { table, head } => {
                *head = table.borrow().first_from(key, true);
                Ok(())
            }
            Source::Run(c) => c.seek(key).await,
        }
    }

    pub async fn advance(&mut self) -> Result<(), StoreError> {
        match self {
            Source::Mem { table, head } => {
                let last = head.take().expect("advance past the end");
                *head = table.borrow().first_from(&last.key, false);
                Ok(())
            }
            Source::Run(c) => c.advance().await,
        }
    }
}

/// A merged, ordered, seekable iterator over sources given newest first.
pub struct KvIter {
    sources: Vec<Source>,
    /// Tombstones are returned (merges) or hidden (reads).
    tombstones: bool,
}

impl KvIter {
    pub fn new(sources: Vec<Source>, tombstones: bool) -> Self {
        KvIter {
            sources,
            tombstones,
        }
    }

    /// Positions every source at the first key at or after `key`.
    pub async fn seek(&mut self, key: &[u8]) -> Result<(), StoreError> {
        for s in &mut self.sources {
            s.seek(key).await?;
        }
        Ok(())
    }

    /// The next key and its value (tombstoned keys skipped).
    pub async fn next(&mut self) -> Result<Option<(Vec<u8>, Bytes)>, StoreError> {
        debug_assert!(!self.tombstones);
        loop {
            match self.next_entry().await? {
                None => return Ok(None),
                Some(Entry {
                    key,
                    value: Some(v),
                    ..
                }) => return Ok(Some((key, v))),
                Some(_) => continue,
            }
        }
    }

    /// The next key's newest entry, tombstone or not.
    pub async fn next_entry(&mut self) -> Result<Option<Entry>, StoreError> {
        let mut best: Option<usize> = None;
        for (i, s) in self.sources.iter().enumerate() {
            let Some(h) = s.head() else { continue };
            // Strictly smaller only: on a tie the newer (earlier) source wins.
            if best.is_none_or(|b| h.key < self.sources[b].head().expect("best has a head").key) {
                best = Some(i);
            }
        }
        let Some(b) = best else { return Ok(None) };
        let winner = self.sources[b].head().expect("best has a head").clone();
        for s in &mut self.sources {
            if let Some(h) = s.head().filter(|h| h.key == winner.key) {
                debug_assert!(h.seq <= winner.seq, "an older source holds a newer write");
                s.advance().await?;
            }
        }
        Ok(Some(winner))
    }
}
