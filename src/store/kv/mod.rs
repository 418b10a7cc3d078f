//! `kv`: the ordered key → value map under the on-disk object index
//! (docs/INDEX.md, "kv: memtable, runs, manifest"). It knows nothing about
//! S3: the index layer encodes its tables as key prefixes.
//!
//! Writes go to the active memtable. `freeze(P)` makes it read-only at log
//! position P (the caller guarantees it holds exactly the log up to P);
//! `flush` writes the oldest frozen memtable as a run and names it in a new
//! manifest with P. `merge_step` merges runs. At open, the highest valid
//! manifest gives the runs and P; the caller replays the log from P. Files
//! no durable manifest names are removed at open.
//!
//! Everything runs on the shard's thread; all I/O goes through
//! `SegmentFile` (O_DIRECT io_uring files, or the simulated disk).

pub mod block;
pub mod cache;
pub mod codec;
pub mod files;
pub mod filter;
pub mod iter;
pub mod manifest;
pub mod memtable;
pub mod merge;
pub mod run;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;

use bytes::Bytes;

use self::block::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use self::cache::{BlockCache, BlockCacheStats};
use self::files::KvFiles;
use self::filter::key_hash;
use self::iter::{KvIter, RunCursor, Source};
use self::manifest::{read_manifest, write_manifest, Manifest};
use self::memtable::Memtable;
use self::merge::{merge_runs, pick_merge, MergePace};
use self::run::{RunInfo, RunReader, RunWriter};
use crate::store::file::Backing;
use crate::store::types::StoreError;

/// Default memtable budget (`--index-memtable-mib`).
pub const DEFAULT_MEMTABLE_BYTES: usize = 64 * 1024 * 1024;
/// Default block cache budget (`--index-cache-mib`).
pub const DEFAULT_INDEX_CACHE_BYTES: usize = 64 * 1024 * 1024;

pub struct KvConfig {
    /// The index directory (`DATA/shard-NNN/index`).
    pub dir: PathBuf,
    /// Real files, the simulated disk or memory: the store's backing.
    pub backing: Backing,
    pub direct_io: bool,
    /// When the active memtable holds this much, `memtable_full` says so.
    pub memtable_bytes: usize,
    pub cache_bytes: usize,
    pub merge_pace: MergePace,
}

impl KvConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KvConfig {
            dir: dir.into(),
            backing: Backing::Files,
            direct_io: true,
            memtable_bytes: DEFAULT_MEMTABLE_BYTES,
            cache_bytes: DEFAULT_INDEX_CACHE_BYTES,
            merge_pace: MergePace::FULL_SPEED,
        }
    }
}

/// Writes applied together, all with the sequence number of the log record
/// they come from.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub seq: u64,
    pub ops: Vec<(Vec<u8>, Option<Bytes>)>,
}

impl Batch {
    pub fn new(seq: u64) -> Self {
        Batch {
            seq,
            ops: Vec::new(),
        }
    }

    pub fn put(&mut self, key: &[u8], value: Bytes) -> &mut Self {
        self.ops.push((key.to_vec(), Some(value)));
        self
    }

    pub fn delete(&mut self, key: &[u8]) -> &mut Self {
        self.ops.push((key.to_vec(), None));
        self
    }
}

/// What `open` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The manifest in force (None: a fresh or unreadable index, P = 0).
    pub manifest: Option<u64>,
    /// Manifests that failed their checks (torn by a crash, or damaged).
    pub invalid_manifests: Vec<u64>,
    /// Run files no valid manifest names, removed.
    pub orphan_runs: Vec<u64>,
}

struct Frozen {
    table: Rc<RefCell<Memtable>>,
    log_position: u64,
    derived: Vec<u8>,
}

pub struct Kv {
    files: KvFiles,
    memtable_bytes: usize,
    merge_pace: MergePace,
    active: RefCell<Rc<RefCell<Memtable>>>,
    /// Oldest first.
    frozen: RefCell<VecDeque<Rc<Frozen>>>,
    /// Oldest first; replaced whole (readers hold a snapshot).
    runs: RefCell<Rc<Vec<Rc<RunReader>>>>,
    /// The durable manifest.
    manifest: RefCell<Manifest>,
    next_run: Cell<u64>,
    next_manifest: Cell<u64>,
    /// The newest freeze position (positions never go back).
    frozen_at: Cell<u64>,
    cache: Rc<RefCell<BlockCache>>,
    /// Held while a new manifest is written and installed (and for a
    /// whole flush, so flushes go one at a time in freeze order).
    install: futures_util::lock::Mutex<()>,
    merging: Cell<bool>,
    /// Merged-away runs, removed once no reader holds them.
    retired: RefCell<Vec<Rc<RunReader>>>,
    report: OpenReport,
}

impl Kv {
    /// Opens (creating if needed) the kv in `cfg.dir`. A damaged run named
    /// by the manifest is an error (`StoreError::Corrupt`): the caller
    /// rebuilds the index from the log.
    pub async fn open(cfg: KvConfig) -> Result<Kv, StoreError> {
        let files = KvFiles {
            dir: cfg.dir,
            backing: cfg.backing,
            direct_io: cfg.direct_io,
        };
        files.create_dir()?;
        let (run_files, manifest_files) = files.list()?;
        let mut report = OpenReport::default();
        let mut chosen = None;
        for &n in manifest_files.iter().rev() {
            match read_manifest(&files, n).await? {
                Some(m) => {
                    chosen = Some(m);
                    break;
                }
                None => report.invalid_manifests.push(n),
            }
        }
        if !report.invalid_manifests.is_empty() {
            tracing::warn!(dir = %files.dir.display(), invalid = ?report.invalid_manifests, "index manifests failed their checks (a torn last write, or damage)");
        }
        let m = chosen.unwrap_or(Manifest {
            next_run: 1,
            ..Manifest::default()
        });
        report.manifest = (m.number > 0).then_some(m.number);
        let mut runs = Vec::with_capacity(m.runs.len());
        for &info in &m.runs {
            runs.push(Rc::new(RunReader::open(&files, info).await?));
        }
        for &n in &manifest_files {
            if n != m.number {
                files.remove(&files.manifest_path(n));
            }
        }
        for &n in &run_files {
            if !m.runs.iter().any(|r| r.num == n) {
                files.remove(&files.run_path(n));
                report.orphan_runs.push(n);
            }
        }
        let next_manifest = manifest_files.last().map_or(1, |&n| n.max(m.number) + 1);
        Ok(Kv {
            files,
            memtable_bytes: cfg.memtable_bytes,
            merge_pace: cfg.merge_pace,
            active: RefCell::new(Rc::default()),
            frozen: RefCell::default(),
            runs: RefCell::new(Rc::new(runs)),
            next_run: Cell::new(m.next_run),
            next_manifest: Cell::new(next_manifest),
            frozen_at: Cell::new(m.log_position),
            manifest: RefCell::new(m),
            cache: Rc::new(RefCell::new(BlockCache::new(cfg.cache_bytes))),
            install: futures_util::lock::Mutex::new(()),
            merging: Cell::new(false),
            retired: RefCell::default(),
            report,
        })
    }

    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The log position the durable runs hold everything before: replay
    /// the log from here after `open`.
    pub fn log_position(&self) -> u64 {
        self.manifest.borrow().log_position
    }

    /// The derived counts stored with the durable manifest.
    pub fn derived(&self) -> Vec<u8> {
        self.manifest.borrow().derived.clone()
    }

    /// The newest value of `key` (None: absent or deleted).
    pub async fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        if let Some(v) = self.active.borrow().borrow().get(key) {
            return Ok(v.value.clone());
        }
        for f in self.frozen.borrow().iter().rev() {
            if let Some(v) = f.table.borrow().get(key) {
                return Ok(v.value.clone());
            }
        }
        let runs = self.runs.borrow().clone();
        let hash = key_hash(key);
        for run in runs.iter().rev() {
            if let Some(e) = run.get(key, hash, Some(&*self.cache)).await? {
                return Ok(e.value);
            }
        }
        Ok(None)
    }

    /// An ordered iterator over the live keys from `from` on (seekable).
    pub async fn scan(&self, from: &[u8]) -> Result<KvIter, StoreError> {
        let mut sources = vec![Source::Mem {
            table: self.active.borrow().clone(),
            head: None,
        }];
        for f in self.frozen.borrow().iter().rev() {
            sources.push(Source::Mem {
                table: f.table.clone(),
                head: None,
            });
        }
        let runs = self.runs.borrow().clone();
        for run in runs.iter().rev() {
            sources.push(Source::Run(RunCursor::new(
                run.clone(),
                Some(self.cache.clone()),
                false,
            )));
        }
        let mut it = KvIter::new(sources, false);
        it.seek(from).await?;
        Ok(it)
    }

    /// Applies a batch to the active memtable. A key or value over the
    /// limits refuses the whole batch (`TooLarge`), applying nothing.
    pub fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        let too_large = batch.ops.iter().any(|(k, v)| {
            k.len() > MAX_KEY_BYTES || v.as_ref().is_some_and(|v| v.len() > MAX_VALUE_BYTES)
        });
        if too_large {
            return Err(StoreError::TooLarge);
        }
        // Batches of different keys may come out of sequence order (writers
        // resume from one group commit in any order); one key's writes are
        // ordered by its key lock, which the memtable checks.
        let active = self.active.borrow();
        let mut table = active.borrow_mut();
        for (k, v) in &batch.ops {
            table.put(k, batch.seq, v.clone());
        }
        Ok(())
    }

    /// Whether the active memtable has reached its budget (time to freeze).
    pub fn memtable_full(&self) -> bool {
        self.active.borrow().borrow().bytes() >= self.memtable_bytes
    }

    /// Bytes of all memtables, active and frozen.
    pub fn memtable_bytes(&self) -> usize {
        let frozen: usize = self
            .frozen
            .borrow()
            .iter()
            .map(|f| f.table.borrow().bytes())
            .sum();
        self.active.borrow().borrow().bytes() + frozen
    }

    /// Makes the active memtable read-only as "the log up to `log_position`"
    /// with the index layer's counts as of then, and starts a new one.
    pub fn freeze(&self, log_position: u64, derived: Vec<u8>) {
        assert!(
            log_position >= self.frozen_at.get(),
            "freeze positions went back"
        );
        self.frozen_at.set(log_position);
        let old = self.active.replace(Rc::default());
        old.borrow_mut().freeze();
        self.frozen.borrow_mut().push_back(Rc::new(Frozen {
            table: old,
            log_position,
            derived,
        }));
    }

    pub fn frozen_count(&self) -> usize {
        self.frozen.borrow().len()
    }

    fn alloc_run(&self) -> u64 {
        let n = self.next_run.get();
        self.next_run.set(n + 1);
        n
    }

    /// Writes the oldest frozen memtable as a run and makes it durable in a
    /// new manifest. Ok(false): nothing was frozen. On an error the frozen
    /// memtable stays, to be flushed again.
    pub async fn flush(&self) -> Result<bool, StoreError> {
        let _install = self.install.lock().await;
        let Some(frozen) = self.frozen.borrow().front().cloned() else {
            return Ok(false);
        };
        let mut runs: Vec<Rc<RunReader>> = Vec::clone(&self.runs.borrow());
        if !frozen.table.borrow().is_empty() {
            // The oldest run needs no tombstones: nothing older holds their keys.
            let info = self.write_memtable(&frozen.table, runs.is_empty()).await?;
            if let Some(info) = info {
                runs.push(Rc::new(RunReader::open(&self.files, info).await?));
            }
        }
        let derived = frozen.derived.clone();
        self.install_manifest(runs, frozen.log_position, derived)
            .await?;
        let popped = self.frozen.borrow_mut().pop_front();
        debug_assert!(popped.is_some_and(|p| Rc::ptr_eq(&p, &frozen)));
        self.collect_retired();
        Ok(true)
    }

    async fn write_memtable(
        &self,
        table: &RefCell<Memtable>,
        drop_tombstones: bool,
    ) -> Result<Option<RunInfo>, StoreError> {
        let mut w = RunWriter::create(&self.files, self.alloc_run()).await?;
        let mut next = table.borrow().first_from(b"", true);
        while let Some(e) = next {
            if !(drop_tombstones && e.value.is_none()) {
                if let Err(err) = w.add(&e.key, e.seq, e.value.as_deref()).await {
                    w.abandon();
                    return Err(err);
                }
            }
            next = table.borrow().first_from(&e.key, false);
        }
        if w.entries() == 0 {
            w.abandon();
            return Ok(None);
        }
        w.finish().await.map(Some)
    }

    /// Writes a manifest naming `runs` and installs it once durable. On an
    /// error nothing in memory changes (the manifest may or may not have
    /// reached the disk: the next one gets a higher number either way).
    async fn install_manifest(
        &self,
        runs: Vec<Rc<RunReader>>,
        log_position: u64,
        derived: Vec<u8>,
    ) -> Result<(), StoreError> {
        let number = self.next_manifest.get();
        self.next_manifest.set(number + 1);
        let m = Manifest {
            number,
            log_position,
            next_run: self.next_run.get(),
            runs: runs.iter().map(|r| r.info()).collect(),
            derived,
        };
        debug_assert!(m.log_position >= self.manifest.borrow().log_position);
        write_manifest(&self.files, &m).await?;
        let old = self.manifest.replace(m).number;
        // Older manifests, including any whose write failed on the way.
        for n in old..number {
            self.files.remove(&self.files.manifest_path(n));
        }
        *self.runs.borrow_mut() = Rc::new(runs);
        Ok(())
    }

    /// Runs one merge if one is due. Ok(false): none due (or one running).
    pub async fn merge_step(&self) -> Result<bool, StoreError> {
        if self.merging.replace(true) {
            return Ok(false);
        }
        let r = self.merge_once().await;
        self.merging.set(false);
        r
    }

    async fn merge_once(&self) -> Result<bool, StoreError> {
        let runs = self.runs.borrow().clone();
        let infos: Vec<RunInfo> = runs.iter().map(|r| r.info()).collect();
        let Some(window) = pick_merge(&infos) else {
            return Ok(false);
        };
        let inputs: Vec<Rc<RunReader>> = runs[window.clone()].to_vec();
        drop(runs);
        let out = self.alloc_run();
        let merged = merge_runs(
            &self.files,
            &inputs,
            out,
            window.start == 0,
            self.merge_pace,
        )
        .await?;
        let merged = match merged {
            Some(info) => Some(Rc::new(RunReader::open(&self.files, info).await?)),
            None => None,
        };
        let _install = self.install.lock().await;
        let mut now: Vec<Rc<RunReader>> = Vec::clone(&self.runs.borrow());
        // Flushes only append newer runs meanwhile: the inputs are still adjacent.
        let start = now
            .iter()
            .position(|r| Rc::ptr_eq(r, &inputs[0]))
            .expect("merge inputs are installed");
        assert!(now[start..start + inputs.len()]
            .iter()
            .zip(&inputs)
            .all(|(a, b)| Rc::ptr_eq(a, b)));
        let replaced: Vec<Rc<RunReader>> =
            now.splice(start..start + inputs.len(), merged).collect();
        drop(replaced);
        let (position, derived) = {
            let m = self.manifest.borrow();
            (m.log_position, m.derived.clone())
        };
        self.install_manifest(now, position, derived).await?;
        self.retired.borrow_mut().extend(inputs);
        self.collect_retired();
        Ok(true)
    }

    /// Removes retired runs no reader holds any more.
    fn collect_retired(&self) {
        let gone: Vec<Rc<RunReader>> = {
            let mut retired = self.retired.borrow_mut();
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *retired)
                .into_iter()
                .partition(|r| Rc::strong_count(r) == 1);
            *retired = kept;
            gone
        };
        for run in gone {
            let (num, path) = (run.num(), run.path().to_path_buf());
            drop(run);
            self.files.remove(&path);
            self.cache.borrow_mut().forget_run(num);
        }
    }

    /// Bytes of the files the durable state names (its runs and manifest),
    /// in whole blocks.
    pub fn file_bytes(&self) -> u64 {
        let block = crate::store::align::BLOCK_BYTES as u64;
        let runs: u64 = self.runs.borrow().iter().map(|r| r.info().file_bytes).sum();
        let manifest = self.manifest.borrow().encode().len() as u64;
        runs.next_multiple_of(block) + manifest.next_multiple_of(block)
    }

    pub fn run_infos(&self) -> Vec<RunInfo> {
        self.runs.borrow().iter().map(|r| r.info()).collect()
    }

    /// RAM pinned by open runs (fences, filters, key ranges).
    pub fn pinned_bytes(&self) -> usize {
        self.runs.borrow().iter().map(|r| r.pinned_bytes()).sum()
    }

    pub fn cache_stats(&self) -> BlockCacheStats {
        self.cache.borrow().stats()
    }

    /// Ends this instance; retired runs no iterator holds are removed (any
    /// others are orphans the next open removes).
    pub fn close(self) {
        self.collect_retired();
    }
}
