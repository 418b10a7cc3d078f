//! Block-aligned heap buffers for O_DIRECT I/O, and a per-shard pool of them.
//!
//! This is the only module of the store with `unsafe` code.

use std::alloc::{self, Layout};
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

/// The device block size and the DMA alignment every O_DIRECT buffer, offset
/// and length must respect.
pub const BLOCK_BYTES: usize = 4096;

/// Round `n` up to a multiple of `align` (a power of two).
pub const fn align_up(n: u64, align: u64) -> u64 {
    (n + align - 1) & !(align - 1)
}

/// Round `n` down to a multiple of `align` (a power of two).
pub const fn align_down(n: u64, align: u64) -> u64 {
    n & !(align - 1)
}

/// A heap buffer aligned to `BLOCK_BYTES`, whose capacity is a multiple of
/// `BLOCK_BYTES`. `len` counts the meaningful bytes.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
    /// Bytes `[0, init)` are initialised; `len <= init <= capacity`. Buffers
    /// from `new` start fully initialised (zeroed); `for_read` buffers start
    /// with nothing initialised and the kernel's read fills them.
    init: usize,
}

impl AlignedBuf {
    /// A buffer of at least `min_bytes` capacity (rounded up to whole blocks).
    /// A zeroed buffer of at least `min_bytes` capacity (rounded up to whole blocks).
    pub fn new(min_bytes: usize) -> Self {
        Self::alloc(min_bytes, true)
    }

    /// A buffer for a read to fill: not zeroed first (zeroing a 256 KiB read
    /// buffer was ~19 % of a GET 1 MiB's CPU). Only the bytes a read reports
    /// become visible; anything else is zeroed on first access.
    pub fn for_read(min_bytes: usize) -> Self {
        Self::alloc(min_bytes, false)
    }

    fn alloc(min_bytes: usize, zeroed: bool) -> Self {
        let capacity = align_up(min_bytes.max(1) as u64, BLOCK_BYTES as u64) as usize;
        let layout = Self::layout(capacity);
        // SAFETY: layout has a non-zero size. Uninitialised bytes are never
        // exposed: `init` tracks what has been written.
        let raw = unsafe {
            if zeroed {
                alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc(layout)
            }
        };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        debug_assert_eq!(ptr.as_ptr() as usize % BLOCK_BYTES, 0);
        AlignedBuf {
            ptr,
            capacity,
            len: 0,
            init: if zeroed { capacity } else { 0 },
        }
    }

    /// Zeroes `[init, upto)` so everything below `upto` is initialised.
    fn init_to(&mut self, upto: usize) {
        debug_assert!(upto <= self.capacity);
        if upto > self.init {
            // SAFETY: [init, upto) lies inside the allocation; writing zeroes
            // through the raw pointer initialises it.
            unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(self.init), 0, upto - self.init) };
            self.init = upto;
        }
    }

    fn layout(capacity: usize) -> Layout {
        Layout::from_size_align(capacity, BLOCK_BYTES).expect("aligned buffer layout")
    }

    pub fn alignment(&self) -> usize {
        BLOCK_BYTES
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the meaningful length (bytes not yet written read as zero).
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity,
            "len {len} > capacity {}",
            self.capacity
        );
        self.init_to(len);
        self.len = len;
    }

    /// Room left after `len`.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// The whole capacity, initialised (zero or previously written bytes).
    pub fn full_mut(&mut self) -> &mut [u8] {
        self.init_to(self.capacity);
        // SAFETY: ptr owns `capacity` initialised bytes, borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    pub fn as_slice(&self) -> &[u8] {
        debug_assert!(self.len <= self.init);
        // SAFETY: ptr owns `init` >= len initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// Appends `data`; panics if it does not fit (callers check `remaining`).
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        assert!(data.len() <= self.remaining(), "aligned buffer overflow");
        let start = self.len;
        self.full_mut()[start..start + data.len()].copy_from_slice(data);
        self.len += data.len();
    }

    /// Zeroes everything from `from` to the end of the capacity.
    pub fn zero_from(&mut self, from: usize) {
        self.full_mut()[from..].fill(0);
    }

    /// Zero-copy conversion into `Bytes` (the buffer becomes the owner).
    pub fn into_bytes(self) -> bytes::Bytes {
        bytes::Bytes::from_owner(self)
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated in `new` with exactly this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.capacity)) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AlignedBuf(len {}, capacity {})",
            self.len, self.capacity
        )
    }
}

// SAFETY: AlignedBuf uniquely owns its heap allocation (like Vec<u8>); moving it
// to another thread moves that ownership. Needed by `Bytes::from_owner`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared references only allow reading the initialised bytes.
unsafe impl Sync for AlignedBuf {}

// SAFETY: read_ptr points at `len` initialised bytes that stay valid while the
// buffer is owned by the in-flight operation (the heap block never moves).
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

// SAFETY: write_ptr points at `capacity` writable bytes that stay valid while the
// buffer is owned by the in-flight operation; set_init records the bytes the
// operation wrote as initialised (monoio calls it with the read's byte count).
unsafe impl monoio::buf::IoBufMut for AlignedBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn bytes_total(&mut self) -> usize {
        self.capacity
    }

    unsafe fn set_init(&mut self, init_len: usize) {
        assert!(init_len <= self.capacity, "read past the buffer");
        self.init = self.init.max(init_len);
        self.len = init_len;
    }
}

/// A per-shard pool of equally sized aligned buffers, allocated at start.
/// `take` hands out a pooled buffer or allocates a new one while fewer than
/// `max_buffers` are out; `give` returns one (emptied) for reuse.
pub struct BufferPool {
    buf_bytes: usize,
    max_buffers: usize,
    free: RefCell<Vec<AlignedBuf>>,
    outstanding: Cell<usize>,
}

impl BufferPool {
    pub fn new(buf_bytes: usize, preallocate: usize, max_buffers: usize) -> Self {
        assert!(preallocate <= max_buffers);
        let free = (0..preallocate)
            .map(|_| AlignedBuf::new(buf_bytes))
            .collect();
        BufferPool {
            buf_bytes,
            max_buffers,
            free: RefCell::new(free),
            outstanding: Cell::new(0),
        }
    }

    pub fn buf_bytes(&self) -> usize {
        self.buf_bytes
    }

    /// A buffer, or None when `max_buffers` are already handed out.
    pub fn take(&self) -> Option<AlignedBuf> {
        if self.outstanding.get() >= self.max_buffers {
            return None;
        }
        self.outstanding.set(self.outstanding.get() + 1);
        let buf = self.free.borrow_mut().pop();
        Some(buf.unwrap_or_else(|| AlignedBuf::new(self.buf_bytes)))
    }

    pub fn give(&self, mut buf: AlignedBuf) {
        assert_eq!(
            buf.capacity(),
            align_up(self.buf_bytes as u64, BLOCK_BYTES as u64) as usize
        );
        debug_assert!(self.outstanding.get() > 0);
        self.outstanding
            .set(self.outstanding.get().saturating_sub(1));
        buf.set_len(0);
        self.free.borrow_mut().push(buf);
    }
}

/// A file system's size and the bytes available to this user on it.
#[derive(Debug, Clone, Copy)]
pub struct FsBytes {
    pub total: u64,
    pub available: u64,
}

/// statvfs of the file system holding `dir`.
pub fn fs_bytes(dir: &std::path::Path) -> Option<FsBytes> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: path is NUL-terminated; statvfs fills `st` on success only.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0, so the kernel initialised the struct.
    let st = unsafe { st.assume_init() };
    Some(FsBytes {
        total: st.f_blocks.saturating_mul(st.f_frsize),
        available: st.f_bavail.saturating_mul(st.f_frsize),
    })
}

/// Bytes available to this user on the file system holding `dir` (statvfs).
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    fs_bytes(dir).map(|b| b.available)
}

/// `fallocate(fd, 0, 0, len)`; returns the raw return code (0 on success).
pub fn fallocate(fd: i32, len: libc::off_t) -> i32 {
    // SAFETY: a plain syscall on a caller-owned open fd; no memory is passed.
    unsafe { libc::fallocate(fd, 0, 0, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        let mut b = AlignedBuf::new(5000);
        assert_eq!(b.capacity(), 2 * BLOCK_BYTES);
        assert_eq!(b.full_mut().as_ptr() as usize % BLOCK_BYTES, 0);
        assert!(b.full_mut().iter().all(|&x| x == 0));
        b.extend_from_slice(b"hello");
        let bytes = b.into_bytes();
        assert_eq!(&bytes[..], b"hello");
    }

    #[test]
    fn read_buffers_expose_only_written_bytes() {
        let mut b = AlignedBuf::for_read(3 * BLOCK_BYTES);
        assert_eq!(b.capacity(), 3 * BLOCK_BYTES);
        assert!(b.as_slice().is_empty());
        // A short "read" of 10 bytes, as monoio reports it.
        // SAFETY: the first 10 bytes are written before set_init claims them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                b"0123456789".as_ptr(),
                monoio::buf::IoBufMut::write_ptr(&mut b),
                10,
            );
            monoio::buf::IoBufMut::set_init(&mut b, 10);
        }
        assert_eq!(b.as_slice(), b"0123456789");
        // Growing past what was written shows zeroes, never stale heap bytes.
        b.set_len(BLOCK_BYTES);
        assert!(b.as_slice()[10..].iter().all(|&x| x == 0));
        assert!(b.full_mut()[BLOCK_BYTES..].iter().all(|&x| x == 0));
    }

    #[test]
    fn pool_limits_outstanding() {
        let pool = BufferPool::new(BLOCK_BYTES, 1, 2);
        let a = pool.take().expect("first");
        let _b = pool.take().expect("second");
        assert!(pool.take().is_none());
        pool.give(a);
        assert!(pool.take().is_some());
    }
}
