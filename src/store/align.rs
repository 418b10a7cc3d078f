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

/// A zero-initialised heap buffer aligned to `BLOCK_BYTES`, whose capacity is a
/// multiple of `BLOCK_BYTES`. `len` counts the meaningful bytes.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    capacity: usize,
    len: usize,
}

impl AlignedBuf {
    /// A buffer of at least `min_bytes` capacity (rounded up to whole blocks).
    pub fn new(min_bytes: usize) -> Self {
        let capacity = align_up(min_bytes.max(1) as u64, BLOCK_BYTES as u64) as usize;
        let layout = Self::layout(capacity);
        // SAFETY: layout has a non-zero size; zeroed memory is a valid [u8].
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        debug_assert_eq!(ptr.as_ptr() as usize % BLOCK_BYTES, 0);
        AlignedBuf {
            ptr,
            capacity,
            len: 0,
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

    /// Sets the meaningful length; bytes up to `capacity` are always initialised.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity,
            "len {len} > capacity {}",
            self.capacity
        );
        self.len = len;
    }

    /// Room left after `len`.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// The whole capacity, initialised (zero or previously written bytes).
    pub fn full_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr owns `capacity` initialised bytes, borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity) }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr owns `capacity` >= len initialised bytes.
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
// buffer is owned by the in-flight operation; set_init only records a length
// within capacity (all bytes are initialised from allocation on).
unsafe impl monoio::buf::IoBufMut for AlignedBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn bytes_total(&mut self) -> usize {
        self.capacity
    }

    unsafe fn set_init(&mut self, init_len: usize) {
        self.set_len(init_len);
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
    fn pool_limits_outstanding() {
        let pool = BufferPool::new(BLOCK_BYTES, 1, 2);
        let a = pool.take().expect("first");
        let _b = pool.take().expect("second");
        assert!(pool.take().is_none());
        pool.give(a);
        assert!(pool.take().is_some());
    }
}
