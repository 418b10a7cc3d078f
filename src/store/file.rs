//! The narrow storage interface under the log: a real O_DIRECT file, a
//! simulated disk that models volatile writes, power loss and injected
//! faults, or plain memory (`serve --memory`, no durability).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::align::{AlignedBuf, BLOCK_BYTES};
use super::types::StoreError;

/// Size of each write that zero-fills a new segment file.
pub const ZERO_FILL_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// A segment file: real (O_DIRECT when possible), simulated, or in memory.
pub enum SegmentFile {
    Direct(DirectFile),
    Sim(SimFile),
    Mem(MemFile),
}

/// Where a store's files live. Everything above `SegmentFile` (the log, its
/// index, compaction, the S3 handlers) runs the same over each.
#[derive(Clone, Default)]
pub enum Backing {
    /// Files in the shard's directory on the file system.
    #[default]
    Files,
    /// The simulated disk (tests): volatile writes, power cuts, faults.
    Sim(SimDiskHandle),
    /// Plain memory (`serve --memory`): nothing survives the process.
    Memory(MemDiskHandle),
}

impl Backing {
    /// Whether the files are on the file system (directories, fsync,
    /// statvfs and checkpoint files apply).
    pub fn is_files(&self) -> bool {
        matches!(self, Backing::Files)
    }
}

pub struct DirectFile {
    file: monoio::fs::File,
    path: PathBuf,
    direct: bool,
}

/// O_DIRECT segment files are opened O_DSYNC (see `DirectFile::open`).
const DSYNC_WRITES: bool = true;

fn io_err(op: &'static str, path: &Path, offset: u64, source: io::Error) -> StoreError {
    if source.raw_os_error() == Some(libc::ENOSPC) {
        return StoreError::NoSpace;
    }
    StoreError::Io {
        op,
        path: path.to_path_buf(),
        offset,
        source,
    }
}

impl SegmentFile {
    /// Opens (creating if asked) a segment file. With `direct_io`, O_DIRECT is
    /// tried first and dropped with a warning where the filesystem refuses it.
    pub async fn open(
        path: &Path,
        create: bool,
        direct_io: bool,
        backing: &Backing,
    ) -> Result<SegmentFile, StoreError> {
        match backing {
            Backing::Files => {}
            Backing::Sim(disk) => return SimFile::open(disk, path, create).map(SegmentFile::Sim),
            Backing::Memory(disk) => {
                return MemFile::open(disk, path, create).map(SegmentFile::Mem)
            }
        }
        if direct_io {
            match DirectFile::open(path, create, true).await {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::warn!(path = %path.display(), "O_DIRECT unsupported here; using buffered I/O");
                }
                r => {
                    return r
                        .map(SegmentFile::Direct)
                        .map_err(|e| io_err("open", path, 0, e))
                }
            }
        }
        DirectFile::open(path, create, false)
            .await
            .map(SegmentFile::Direct)
            .map_err(|e| io_err("open", path, 0, e))
    }

    pub fn path(&self) -> &Path {
        match self {
            SegmentFile::Direct(f) => &f.path,
            SegmentFile::Sim(f) => &f.path,
            SegmentFile::Mem(f) => &f.path,
        }
    }

    /// Writes all of `buf` (block-aligned length) at a block-aligned offset.
    pub async fn write_at(
        &self,
        buf: AlignedBuf,
        offset: u64,
    ) -> (Result<(), StoreError>, AlignedBuf) {
        debug_assert_eq!(offset % BLOCK_BYTES as u64, 0);
        debug_assert_eq!(buf.len() % BLOCK_BYTES, 0);
        match self {
            SegmentFile::Direct(f) => {
                let (r, buf) = f.file.write_all_at(buf, offset).await;
                (r.map_err(|e| io_err("write", &f.path, offset, e)), buf)
            }
            SegmentFile::Sim(f) => {
                let r = f.write_at(buf.as_slice(), offset);
                // Real I/O completes later: let a power cut land between write and sync.
                if f.interleaves() {
                    SimYield::new().await;
                }
                (r.map_err(|e| io_err("write", &f.path, offset, e)), buf)
            }
            SegmentFile::Mem(f) => {
                let r = f.write_at(buf.as_slice(), offset);
                (r.map_err(|e| io_err("write", &f.path, offset, e)), buf)
            }
        }
    }

    /// Reads up to `buf.capacity()` bytes at a block-aligned offset; returns the
    /// count (short only at end of file).
    pub async fn read_at(
        &self,
        mut buf: AlignedBuf,
        offset: u64,
    ) -> (Result<usize, StoreError>, AlignedBuf) {
        debug_assert_eq!(offset % BLOCK_BYTES as u64, 0);
        buf.set_len(0);
        match self {
            SegmentFile::Direct(f) => {
                let (r, buf) = f.file.read_at(buf, offset).await;
                (r.map_err(|e| io_err("read", &f.path, offset, e)), buf)
            }
            SegmentFile::Sim(f) => {
                if f.interleaves() {
                    SimYield::new().await;
                }
                let r = f.read_at(&mut buf, offset);
                (r.map_err(|e| io_err("read", &f.path, offset, e)), buf)
            }
            SegmentFile::Mem(f) => {
                let r = f.read_at(&mut buf, offset);
                (r.map_err(|e| io_err("read", &f.path, offset, e)), buf)
            }
        }
    }

    pub async fn sync_data(&self) -> Result<(), StoreError> {
        match self {
            SegmentFile::Direct(f) => f
                .file
                .sync_data()
                .await
                .map_err(|e| io_err("fdatasync", &f.path, 0, e)),
            SegmentFile::Sim(f) => {
                if f.interleaves() {
                    SimYield::new().await;
                }
                f.sync_data()
                    .map_err(|e| io_err("fdatasync", &f.path, 0, e))
            }
            // Memory is as durable as it will ever be.
            SegmentFile::Mem(_) => Ok(()),
        }
    }

    /// Preallocates `len` bytes from offset 0 so later flushes do not grow the file.
    pub fn allocate(&self, len: u64) -> Result<(), StoreError> {
        match self {
            SegmentFile::Direct(f) => {
                fallocate(f.file.as_raw_fd(), len).map_err(|e| io_err("fallocate", &f.path, 0, e))
            }
            SegmentFile::Sim(f) => f
                .allocate(len)
                .map_err(|e| io_err("fallocate", &f.path, 0, e)),
            SegmentFile::Mem(f) => f
                .allocate(len)
                .map_err(|e| io_err("fallocate", &f.path, 0, e)),
        }
    }

    /// Writes zeros over `[0, len)` and makes them durable, so that later
    /// log writes overwrite written blocks. On ext4, an O_DIRECT write into
    /// the unwritten extents `allocate` leaves needs an extent conversion:
    /// io_uring cannot complete it inline (it goes to an io-wq worker
    /// thread), and every fdatasync must also write the changed extent tree.
    /// Only for real O_DIRECT files; `len` a multiple of `ZERO_FILL_CHUNK_BYTES`
    /// or of the block size.
    pub async fn zero_fill(&self, len: u64) -> Result<(), StoreError> {
        debug_assert!(self.is_direct(), "zero-fill is for O_DIRECT segment files");
        debug_assert_eq!(len % BLOCK_BYTES as u64, 0);
        let mut zeros = AlignedBuf::new(ZERO_FILL_CHUNK_BYTES);
        let mut off = 0;
        while off < len {
            let n = (len - off).min(ZERO_FILL_CHUNK_BYTES as u64) as usize;
            zeros.set_len(n);
            let (r, buf) = self.write_at(zeros, off).await;
            zeros = buf;
            r?;
            off += n as u64;
        }
        debug_assert!(zeros.as_slice().iter().all(|&b| b == 0));
        self.sync_data().await
    }

    pub fn len(&self) -> Result<u64, StoreError> {
        match self {
            SegmentFile::Direct(f) => std::fs::metadata(&f.path)
                .map(|m| m.len())
                .map_err(|e| io_err("stat", &f.path, 0, e)),
            SegmentFile::Sim(f) => Ok(f
                .disk
                .borrow()
                .file(&f.path)
                .map_or(0, |d| d.current.len() as u64)),
            SegmentFile::Mem(f) => Ok(f.disk.borrow().len_of(&f.path)),
        }
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.len().map(|n| n == 0)
    }

    /// Whether a completed `write_at` is already on stable storage (O_DSYNC),
    /// so the log needs no separate flush after it. Memory has no stabler
    /// storage: a completed write there is as durable as it gets.
    pub fn writes_are_durable(&self) -> bool {
        DSYNC_WRITES && self.is_direct() || matches!(self, SegmentFile::Mem(_))
    }

    pub fn is_direct(&self) -> bool {
        matches!(self, SegmentFile::Direct(f) if f.direct)
    }
}

/// Yields to the executor once, to the BACK of its run queue, so simulated
/// I/O has a completion point where other tasks (and a test's power cut) run.
///
/// monoio re-queues a task that wakes itself during its own poll at the
/// FRONT, so a plain self-wake yields to nobody. Instead the waker is parked
/// in a per-thread list and a pump task wakes it from outside its poll
/// (which queues it at the back). Deterministic: no timers involved.
pub struct SimYield(bool);

impl SimYield {
    pub fn new() -> Self {
        SimYield(false)
    }
}

impl Default for SimYield {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default)]
struct Pump {
    parked: Vec<std::task::Waker>,
    pump: Option<std::task::Waker>,
    running: bool,
}

thread_local! {
    static PUMP: RefCell<Pump> = RefCell::new(Pump::default());
}

/// Forgets the pump of an earlier runtime on this thread. monoio does not
/// drop a finished runtime's pending tasks, so call this before each new
/// runtime that uses `SimYield` (the test helper `run` does).
pub fn reset_sim_pump() {
    // Drop the old wakers outside the borrow: dropping one may drop a task.
    let old = PUMP.with(|p| std::mem::take(&mut *p.borrow_mut()));
    drop(old);
}

/// Marks the pump stopped when its task is dropped.
struct PumpGuard;

impl Drop for PumpGuard {
    fn drop(&mut self) {
        // At thread exit the thread-local may already be gone, and a reset in
        // progress holds the borrow: nothing to do in either case.
        let old = PUMP.try_with(|p| p.try_borrow_mut().map(|mut p| std::mem::take(&mut *p)));
        drop(old);
    }
}

async fn pump_task() {
    let _guard = PumpGuard;
    std::future::poll_fn(|cx| {
        let parked = PUMP.with(|p| {
            let mut p = p.borrow_mut();
            p.pump = Some(cx.waker().clone());
            std::mem::take(&mut p.parked)
        });
        for w in parked {
            w.wake();
        }
        std::task::Poll::<()>::Pending
    })
    .await
}

impl std::future::Future for SimYield {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        let (start, pump) = PUMP.with(|p| {
            let mut p = p.borrow_mut();
            p.parked.push(cx.waker().clone());
            let start = !p.running;
            p.running = true;
            (start, p.pump.clone())
        });
        if start {
            monoio::spawn(pump_task());
        } else if let Some(w) = pump {
            w.wake();
        }
        std::task::Poll::Pending
    }
}

fn fallocate(fd: i32, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    match super::align::fallocate(fd, len) {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

impl DirectFile {
    async fn open(path: &Path, create: bool, direct: bool) -> io::Result<DirectFile> {
        let mut opts = monoio::fs::OpenOptions::new();
        opts.read(true)
            .write(true)
            .create(create)
            .mode(crate::util::private_fs::PRIVATE_FILE_MODE);
        if direct {
            // O_DSYNC: each log write is durable when it completes, so a
            // group commit is one io_uring write instead of a write plus an
            // fdatasync handed to an io-wq worker thread.
            opts.custom_flags(libc::O_DIRECT | if DSYNC_WRITES { libc::O_DSYNC } else { 0 });
        }
        let file = opts.open(path).await?;
        Ok(DirectFile {
            file,
            path: path.to_path_buf(),
            direct,
        })
    }
}

/// Lists segment ids (from `seg-NNNNNNNNNN.log` names) in a shard dir, ascending.
pub fn list_segments(dir: &Path, backing: &Backing) -> Result<Vec<u32>, StoreError> {
    let names = list_dir(dir, backing)?;
    let mut ids: Vec<u32> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Names of the files in `dir` (real, simulated or in memory), unsorted:
/// the index's kv layer finds its manifests and orphan runs with it.
pub fn list_dir(dir: &Path, backing: &Backing) -> Result<Vec<String>, StoreError> {
    match backing {
        Backing::Sim(disk) => Ok(disk.borrow().files_in(dir)),
        Backing::Memory(disk) => Ok(disk.borrow().files_in(dir)),
        Backing::Files => Ok(std::fs::read_dir(dir)
            .map_err(|e| io_err("readdir", dir, 0, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()),
    }
}

pub fn segment_name(id: u32) -> String {
    format!("seg-{id:010}.log")
}

fn parse_segment_name(name: &str) -> Option<u32> {
    name.strip_prefix("seg-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// Makes a new directory entry durable (fsync of the directory).
pub fn sync_dir(dir: &Path, backing: &Backing) -> Result<(), StoreError> {
    if !backing.is_files() {
        return Ok(());
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("fsync dir", dir, 0, e))
}

// ---------------------------------------------------------------------------
// Simulated disk

pub type SimDiskHandle = Rc<RefCell<SimDisk>>;

/// One simulated file: `durable` survives a power cut; `current` is what reads
/// see; `pending` lists the writes since the last completed sync.
#[derive(Default, Clone)]
pub struct SimFileData {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
}

/// Injected faults, counted over all files of a disk.
#[derive(Default, Clone, Debug)]
pub struct SimFaults {
    /// Fail the write with this 0-based index (EIO).
    pub eio_on_write: Option<u64>,
    /// Fail the sync with this 0-based index (EIO).
    pub eio_on_sync: Option<u64>,
    /// Total bytes the disk can hold (ENOSPC past it).
    pub capacity_bytes: Option<u64>,
    /// The write with this index lands only half its blocks and returns EIO.
    pub short_write: Option<u64>,
}

#[derive(Default)]
pub struct SimDisk {
    files: BTreeMap<PathBuf, SimFileData>,
    /// After a power cut the old incarnation's I/O all fails (EIO).
    pub dead: bool,
    pub faults: SimFaults,
    pub writes: u64,
    pub syncs: u64,
    /// Yield between a write and its sync (see `SimYield`), so concurrent
    /// tasks and power cuts interleave with I/O. Off by default.
    pub interleave: bool,
}

impl SimDisk {
    pub fn new_handle() -> SimDiskHandle {
        Rc::new(RefCell::new(SimDisk::default()))
    }

    /// A new disk holding this disk's durable state (what survives a power cut).
    pub fn durable_copy(&self) -> SimDiskHandle {
        let mut files = self.files.clone();
        for f in files.values_mut() {
            f.current = f.durable.clone();
            f.pending.clear();
        }
        Rc::new(RefCell::new(SimDisk {
            files,
            ..SimDisk::default()
        }))
    }

    fn file(&self, path: &Path) -> Option<&SimFileData> {
        self.files.get(path)
    }

    fn files_in(&self, dir: &Path) -> Vec<String> {
        self.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }

    /// Bytes every file on the disk takes.
    pub(crate) fn used_bytes(&self) -> u64 {
        self.files.values().map(|f| f.current.len() as u64).sum()
    }

    /// Bytes left before the injected capacity (None: no capacity set).
    pub fn free_bytes(&self) -> Option<u64> {
        let cap = self.faults.capacity_bytes?;
        Some(cap.saturating_sub(self.used_bytes()))
    }

    /// Raw durable+volatile contents, for tests that damage files.
    pub fn contents_mut(&mut self, path: &Path) -> Option<&mut Vec<u8>> {
        self.files.get_mut(path).map(|f| &mut f.current)
    }

    /// Puts a file on the disk, durable (tests: a stored log image).
    pub fn install(&mut self, path: &Path, bytes: Vec<u8>) {
        let f = SimFileData {
            durable: bytes.clone(),
            current: bytes,
            pending: Vec::new(),
        };
        self.files.insert(path.to_path_buf(), f);
    }

    /// Makes `current` the durable state of every file (as if fully synced).
    pub fn settle(&mut self) {
        for f in self.files.values_mut() {
            f.durable = f.current.clone();
            f.pending.clear();
        }
    }

    /// Power loss: every write since the last completed sync is dropped, kept
    /// or torn, block by block, deterministically from `seed`.
    pub fn power_cut(&mut self, seed: u64) {
        let mut rng = SplitMix(seed);
        for f in self.files.values_mut() {
            for (offset, data) in std::mem::take(&mut f.pending) {
                for (i, block) in data.chunks(BLOCK_BYTES).enumerate() {
                    let at = offset as usize + i * BLOCK_BYTES;
                    let keep = match rng.next_u64() % 3 {
                        0 => 0,
                        1 => block.len(),
                        _ => (rng.next_u64() as usize) % (block.len() + 1),
                    };
                    write_into(&mut f.durable, at, &block[..keep]);
                }
            }
            f.current = f.durable.clone();
        }
    }
}

fn write_into(dst: &mut Vec<u8>, at: usize, data: &[u8]) {
    if dst.len() < at + data.len() {
        dst.resize(at + data.len(), 0);
    }
    dst[at..at + data.len()].copy_from_slice(data);
}

/// A tiny deterministic PRNG (SplitMix64) for seeded simulations.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub struct SimFile {
    disk: SimDiskHandle,
    path: PathBuf,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl SimFile {
    fn open(disk: &SimDiskHandle, path: &Path, create: bool) -> Result<SimFile, StoreError> {
        let mut d = disk.borrow_mut();
        if !d.files.contains_key(path) {
            if !create {
                let e = io::Error::from_raw_os_error(libc::ENOENT);
                return Err(io_err("open", path, 0, e));
            }
            d.files.insert(path.to_path_buf(), SimFileData::default());
        }
        Ok(SimFile {
            disk: disk.clone(),
            path: path.to_path_buf(),
        })
    }

    fn interleaves(&self) -> bool {
        self.disk.borrow().interleave
    }

    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        if d.dead {
            return Err(eio());
        }
        let index = d.writes;
        d.writes += 1;
        if d.faults.eio_on_write == Some(index) {
            return Err(eio());
        }
        let grow = (offset + data.len() as u64)
            .saturating_sub(d.file(&self.path).map_or(0, |f| f.current.len() as u64));
        if let Some(cap) = d.faults.capacity_bytes {
            if d.used_bytes() + grow > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        let short = d.faults.short_write == Some(index);
        let data = if short {
            &data[..align_half(data.len())]
        } else {
            data
        };
        let f = d.files.get_mut(&self.path).ok_or_else(eio)?;
        write_into(&mut f.current, offset as usize, data);
        f.pending.push((offset, data.to_vec()));
        if short {
            return Err(eio());
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut AlignedBuf, offset: u64) -> io::Result<usize> {
        let d = self.disk.borrow();
        if d.dead {
            return Err(eio());
        }
        let f = d.file(&self.path).ok_or_else(eio)?;
        let start = (offset as usize).min(f.current.len());
        let n = (f.current.len() - start).min(buf.capacity());
        buf.full_mut()[..n].copy_from_slice(&f.current[start..start + n]);
        buf.set_len(n);
        Ok(n)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        if d.dead {
            return Err(eio());
        }
        let index = d.syncs;
        d.syncs += 1;
        if d.faults.eio_on_sync == Some(index) {
            return Err(eio());
        }
        let f = d.files.get_mut(&self.path).ok_or_else(eio)?;
        for (offset, data) in std::mem::take(&mut f.pending) {
            write_into(&mut f.durable, offset as usize, &data);
        }
        if f.durable.len() < f.current.len() {
            f.durable.resize(f.current.len(), 0);
        }
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        let have = d.file(&self.path).map_or(0, |f| f.current.len() as u64);
        let grow = len.saturating_sub(have);
        if let Some(cap) = d.faults.capacity_bytes {
            if d.used_bytes() + grow > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        let f = d.files.get_mut(&self.path).ok_or_else(eio)?;
        if (f.current.len() as u64) < len {
            f.current.resize(len as usize, 0);
            // Preallocation is metadata made durable with the file (fallocate + dir sync).
            f.durable.resize(len as usize, 0);
        }
        Ok(())
    }
}

fn align_half(len: usize) -> usize {
    (len / 2) / BLOCK_BYTES * BLOCK_BYTES
}

/// Removes a file that was created but could not be preallocated.
pub fn remove(path: &Path, backing: &Backing) {
    match backing {
        Backing::Sim(disk) => {
            disk.borrow_mut().files.remove(path);
        }
        Backing::Memory(disk) => disk.borrow_mut().remove(path),
        Backing::Files => {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Unlinks `path` and syncs `dir`, on a helper thread for real files: an
/// unlink of a large preallocated file and a directory fsync block for
/// milliseconds, which would stall every request on the calling shard.
pub async fn remove_durably(path: &Path, dir: &Path, backing: &Backing) -> Result<(), StoreError> {
    if !backing.is_files() {
        remove(path, backing);
        return Ok(());
    }
    let (owned_path, owned_dir) = (path.to_path_buf(), dir.to_path_buf());
    let (tx, rx) = futures_channel::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ringstore-unlink".into())
        .spawn(move || {
            remove(&owned_path, &Backing::Files);
            let _ = tx.send(sync_dir(&owned_dir, &Backing::Files));
        });
    if let Err(e) = spawned {
        return Err(io_err("spawn unlink thread", dir, 0, e));
    }
    rx.await.unwrap_or_else(|_| {
        let gone = std::io::Error::other("ended without an answer");
        Err(io_err("unlink thread", dir, 0, gone))
    })
}

impl SimDisk {
    /// What reads of `path` would see now.
    pub fn file_bytes(&self, path: &Path) -> Option<&[u8]> {
        self.files.get(path).map(|f| f.current.as_slice())
    }
}

// ---------------------------------------------------------------------------
// Memory disk (`serve --memory`)

pub type MemDiskHandle = Rc<RefCell<MemDisk>>;

/// Granule of a memory file: its bytes are allocated a page at a time, on
/// the first write into the page, so a preallocated segment costs memory
/// only as far as the log has written it.
pub const MEM_PAGE_BYTES: usize = 64 * 1024;

/// One shard's files in plain memory: one copy of each byte (no durable
/// image, no pending writes), no faults, sync a no-op. The sum of the
/// files' lengths (preallocation included, as on disk) stays within
/// `capacity_bytes`; past it writes and preallocation fail with ENOSPC.
pub struct MemDisk {
    files: BTreeMap<PathBuf, MemFileData>,
    capacity_bytes: u64,
    /// Sum of the files' lengths.
    used_bytes: u64,
}

#[derive(Default)]
struct MemFileData {
    len: u64,
    /// Page i holds bytes `[i * MEM_PAGE_BYTES, (i + 1) * MEM_PAGE_BYTES)`;
    /// None: never written, reads as zeros.
    pages: Vec<Option<Box<[u8]>>>,
}

impl MemDisk {
    pub fn new_handle(capacity_bytes: u64) -> MemDiskHandle {
        Rc::new(RefCell::new(MemDisk {
            files: BTreeMap::new(),
            capacity_bytes,
            used_bytes: 0,
        }))
    }

    /// Sum of the files' lengths (what the capacity bounds).
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Bytes of pages allocated (what the files cost in memory).
    pub fn resident_bytes(&self) -> u64 {
        let pages: usize = self
            .files
            .values()
            .map(|f| f.pages.iter().filter(|p| p.is_some()).count())
            .sum();
        (pages * MEM_PAGE_BYTES) as u64
    }

    fn len_of(&self, path: &Path) -> u64 {
        self.files.get(path).map_or(0, |f| f.len)
    }

    fn files_in(&self, dir: &Path) -> Vec<String> {
        self.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    }

    fn remove(&mut self, path: &Path) {
        if let Some(f) = self.files.remove(path) {
            debug_assert!(f.len <= self.used_bytes);
            self.used_bytes -= f.len;
        }
    }

    /// Grows `path` to `len` bytes (no pages allocated) if it is shorter.
    fn grow(&mut self, path: &Path, len: u64) -> io::Result<()> {
        let f = self.files.get_mut(path).ok_or_else(eio)?;
        let grow = len.saturating_sub(f.len);
        if self.used_bytes + grow > self.capacity_bytes {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        f.len += grow;
        self.used_bytes += grow;
        Ok(())
    }
}

/// A file of a `MemDisk`.
pub struct MemFile {
    disk: MemDiskHandle,
    path: PathBuf,
}

impl MemFile {
    fn open(disk: &MemDiskHandle, path: &Path, create: bool) -> Result<MemFile, StoreError> {
        let mut d = disk.borrow_mut();
        if !d.files.contains_key(path) {
            if !create {
                let e = io::Error::from_raw_os_error(libc::ENOENT);
                return Err(io_err("open", path, 0, e));
            }
            d.files.insert(path.to_path_buf(), MemFileData::default());
        }
        Ok(MemFile {
            disk: disk.clone(),
            path: path.to_path_buf(),
        })
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.disk.borrow_mut().grow(&self.path, len)
    }

    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut d = self.disk.borrow_mut();
        d.grow(&self.path, offset + data.len() as u64)?;
        let f = d.files.get_mut(&self.path).ok_or_else(eio)?;
        let mut at = offset as usize;
        let mut rest = data;
        while !rest.is_empty() {
            let (page, within) = (at / MEM_PAGE_BYTES, at % MEM_PAGE_BYTES);
            if f.pages.len() <= page {
                f.pages.resize_with(page + 1, || None);
            }
            let bytes =
                f.pages[page].get_or_insert_with(|| vec![0u8; MEM_PAGE_BYTES].into_boxed_slice());
            let n = rest.len().min(MEM_PAGE_BYTES - within);
            bytes[within..within + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at += n;
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut AlignedBuf, offset: u64) -> io::Result<usize> {
        let d = self.disk.borrow();
        let f = d.files.get(&self.path).ok_or_else(eio)?;
        let start = offset.min(f.len) as usize;
        let n = (f.len as usize - start).min(buf.capacity());
        let out = &mut buf.full_mut()[..n];
        let mut done = 0;
        while done < n {
            let at = start + done;
            let (page, within) = (at / MEM_PAGE_BYTES, at % MEM_PAGE_BYTES);
            let k = (n - done).min(MEM_PAGE_BYTES - within);
            match f.pages.get(page).and_then(|p| p.as_deref()) {
                Some(bytes) => out[done..done + k].copy_from_slice(&bytes[within..within + k]),
                None => out[done..done + k].fill(0),
            }
            done += k;
        }
        buf.set_len(n);
        Ok(n)
    }
}

#[cfg(test)]
mod mem_tests {
    use super::*;

    fn block(byte: u8, blocks: usize) -> AlignedBuf {
        let mut b = AlignedBuf::new(blocks * BLOCK_BYTES);
        b.extend_from_slice(&vec![byte; blocks * BLOCK_BYTES]);
        b
    }

    #[test]
    fn a_memory_file_is_sparse_bounded_and_reads_what_was_written() {
        crate::store::tests::run(async {
            let disk = MemDisk::new_handle(4 * MEM_PAGE_BYTES as u64);
            let backing = Backing::Memory(disk.clone());
            let path = Path::new("/mem/shard-000/seg-0000000001.log");
            let f = SegmentFile::open(path, true, true, &backing)
                .await
                .expect("open");
            f.allocate(3 * MEM_PAGE_BYTES as u64).expect("fits");
            assert_eq!(f.len().expect("len"), 3 * MEM_PAGE_BYTES as u64);
            assert_eq!(disk.borrow().resident_bytes(), 0, "preallocation is free");
            // A write across a page boundary.
            let at = (MEM_PAGE_BYTES - BLOCK_BYTES) as u64;
            let (r, _) = f.write_at(block(7, 2), at).await;
            r.expect("write");
            assert_eq!(disk.borrow().resident_bytes(), 2 * MEM_PAGE_BYTES as u64);
            let (r, buf) = f
                .read_at(AlignedBuf::new(4 * BLOCK_BYTES), at - BLOCK_BYTES as u64)
                .await;
            assert_eq!(r.expect("read"), 4 * BLOCK_BYTES);
            let want: Vec<u8> = [0u8, 7, 7, 0]
                .iter()
                .flat_map(|&b| vec![b; BLOCK_BYTES])
                .collect();
            assert_eq!(buf.as_slice(), &want[..]);
            // Past the capacity: ENOSPC, nothing grows.
            let g = SegmentFile::open(&path.with_extension("x"), true, true, &backing)
                .await
                .expect("open");
            assert!(matches!(
                g.allocate(2 * MEM_PAGE_BYTES as u64),
                Err(StoreError::NoSpace)
            ));
            g.allocate(MEM_PAGE_BYTES as u64)
                .expect("the last page fits");
            let (r, _) = g.write_at(block(1, 1), MEM_PAGE_BYTES as u64).await;
            assert!(matches!(r, Err(StoreError::NoSpace)));
            // Removing a file gives its bytes back.
            remove(path, &backing);
            assert_eq!(disk.borrow().used_bytes(), MEM_PAGE_BYTES as u64);
            assert_eq!(disk.borrow().resident_bytes(), 0);
            assert!(f.sync_data().await.is_ok() && f.writes_are_durable());
        });
    }
}
