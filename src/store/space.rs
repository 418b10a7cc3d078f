//! How much room a shard may still use, and who may use the last of it.
//!
//! The shard's files are its segments (preallocated to their full size), the
//! spare next segment the log prepares, and the index checkpoint. Two bounds
//! limit them: the operator's `--max-data-bytes` share of this shard (exact:
//! every byte of those files counts), and the file system's free space
//! (statvfs, read again at every segment roll, spare and checkpoint, less
//! the reserves of the other shards on it). What the shard can still append
//! ("room") is the rest of its active segment plus every further segment
//! those bounds still allow.
//!
//! Every append names its class, and a class appends only while the room
//! left afterwards stays at or above its floor:
//!
//! | class        | who                                          | floor                          |
//! |--------------|----------------------------------------------|--------------------------------|
//! | `Write`      | object data, commits, uploads, parts, tags   | the whole reserve              |
//! | `Marker`     | delete markers (versioned deletes)           | compaction + half the deletes' |
//! | `Delete`     | deletes, version deletes, upload aborts      | compaction reserve             |
//! | `Compaction` | survivors copied forward, carried records    | none                           |
//!
//! The compaction reserve is one segment: enough to copy the survivors of
//! any segment compaction picks when space is short (it picks one whose
//! survivors fit), so freed space always becomes writable again. The delete
//! reserve is a quarter segment (thousands of deletes); markers may take
//! only half of it, because a marker frees nothing and a permanent delete
//! must still get through after a flood of them.
//!
//! While a compaction runs it has claimed what it will append (its copy and
//! a slack, `claim_for_compaction`); the compaction reserve then shrinks to
//! what is left of that claim, so deletes and aborts arriving while it
//! copies into the reserve are still accepted (the segment it frees pays
//! them back), instead of 507 until it is done.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use super::file::Backing;

/// Who is appending; see the module docs for each class's floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendClass {
    Write,
    Marker,
    Delete,
    Compaction,
}

/// The delete reserve is this fraction of a segment.
pub const DELETE_RESERVE_SEGMENT_DIVISOR: u64 = 4;
/// A shard's bound must hold at least this many segments: the active one,
/// the spare, the compaction reserve, the delete reserve and room to write.
/// Larger configured segments are shrunk to fit (`fit_segment_bytes`).
pub const MIN_SEGMENTS_PER_SHARD: u64 = 8;
/// Free space on the file system the store never counts as its own: room
/// for the file system's metadata (extent trees, directories) and the
/// catalog's small files.
pub const FS_SLACK_BYTES: u64 = 4 * 1024 * 1024;
/// The shard directory's own block, counted against the cap like its files.
const SHARD_DIR_BYTES: u64 = super::align::BLOCK_BYTES as u64;
/// Chosen segment sizes are multiples of this.
const SEGMENT_SIZE_STEP_BYTES: u64 = 1024 * 1024;

/// The shard's space bounds and what its files hold.
pub struct Space {
    dir: PathBuf,
    backing: Backing,
    segment_bytes: u64,
    shard_count: u64,
    /// `--max-data-bytes` for this shard.
    cap: Option<u64>,
    /// Bytes of the shard's files: segments, the spare, checkpoints.
    held: Cell<u64>,
    /// The file system's free bytes when last read (None: no bound known).
    fs_free: Cell<Option<u64>>,
    /// What the compaction under way may still append (None: none runs).
    compaction_claim: Cell<Option<u64>>,
}

/// A compaction's claim on the reserve, given back when dropped.
pub struct CompactionClaim<'a>(&'a Space);

impl Drop for CompactionClaim<'_> {
    fn drop(&mut self) {
        self.0.compaction_claim.set(None);
    }
}

impl Space {
    pub fn new(
        dir: &Path,
        backing: Backing,
        segment_bytes: u64,
        shard_count: u32,
        cap: Option<u64>,
    ) -> Space {
        let space = Space {
            dir: dir.to_path_buf(),
            backing,
            segment_bytes,
            shard_count: u64::from(shard_count.max(1)),
            cap,
            held: Cell::new(SHARD_DIR_BYTES),
            fs_free: Cell::new(None),
            compaction_claim: Cell::new(None),
        };
        space.refresh();
        space
    }

    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Bytes no foreground object write may use.
    pub fn reserve_bytes(&self) -> u64 {
        self.floor(AppendClass::Write)
    }

    /// Room `class` must leave after its append.
    pub fn floor(&self, class: AppendClass) -> u64 {
        let compaction = match (class, self.compaction_claim.get()) {
            // Object writes leave the whole reserve, compaction or not.
            (AppendClass::Write, _) | (_, None) => self.segment_bytes,
            (_, Some(claim)) => claim.min(self.segment_bytes),
        };
        let deletes = self.segment_bytes / DELETE_RESERVE_SEGMENT_DIVISOR;
        match class {
            AppendClass::Write => compaction + deletes,
            AppendClass::Marker => compaction + deletes / 2,
            AppendClass::Delete => compaction,
            AppendClass::Compaction => 0,
        }
    }

    /// Claims `bytes` for the compaction about to copy (one at a time per
    /// shard); deletes may use the rest of the compaction reserve until
    /// the claim is dropped.
    pub fn claim_for_compaction(&self, bytes: u64) -> CompactionClaim<'_> {
        debug_assert!(
            self.compaction_claim.get().is_none(),
            "one compaction at a time per shard"
        );
        self.compaction_claim.set(Some(bytes));
        CompactionClaim(self)
    }

    /// Whether a compaction holds a claim now.
    pub fn compaction_running(&self) -> bool {
        self.compaction_claim.get().is_some()
    }

    /// Counts `bytes` a compaction appended against its claim.
    pub fn compaction_appended(&self, bytes: u64) {
        if let Some(claim) = self.compaction_claim.get() {
            self.compaction_claim.set(Some(claim.saturating_sub(bytes)));
        }
    }

    /// Reads the file system's free space again (statvfs, or the simulated
    /// disk's capacity left). A memory disk is the shard's own, bounded by
    /// the cap alone (the server sets the cap to the memory bound).
    pub fn refresh(&self) {
        let free = match &self.backing {
            Backing::Sim(disk) => disk.borrow().free_bytes(),
            Backing::Memory(_) => None,
            Backing::Files => super::align::free_bytes(&self.dir),
        };
        self.fs_free.set(free);
    }

    /// Counts `bytes` more of the shard's files.
    pub fn hold(&self, bytes: u64) {
        self.held.set(self.held.get() + bytes);
    }

    /// Counts `bytes` less (a file removed or shrunk).
    pub fn release(&self, bytes: u64) {
        debug_assert!(bytes <= self.held.get(), "released more than held");
        self.held.set(self.held.get().saturating_sub(bytes));
    }

    pub fn held(&self) -> u64 {
        self.held.get()
    }

    pub fn cap(&self) -> Option<u64> {
        self.cap
    }

    /// Bytes new files may still take for an object write (None: no
    /// bound): the other shards on the file system keep their reserves in
    /// its free space.
    pub fn unallocated(&self) -> Option<u64> {
        self.unallocated_for(AppendClass::Write)
    }

    /// Bytes new files may still take for `class`. Only object writes leave
    /// the other shards' reserves alone: deletes, markers and compaction
    /// may use them, because the reserves exist for exactly those appends
    /// and a shard cannot tell whose reserve the last free bytes of a
    /// shared file system are (each shard subtracting the others' left
    /// neither able to delete on a full disk).
    pub fn unallocated_for(&self, class: AppendClass) -> Option<u64> {
        let by_cap = self.cap.map(|c| c.saturating_sub(self.held.get()));
        let others = match class {
            AppendClass::Write => (self.shard_count - 1) * self.reserve_bytes(),
            AppendClass::Marker | AppendClass::Delete | AppendClass::Compaction => 0,
        };
        let by_fs = self
            .fs_free
            .get()
            .map(|f| f.saturating_sub(others + FS_SLACK_BYTES));
        match (by_cap, by_fs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a new file of `bytes` fits the bounds of an object write.
    pub fn may_allocate(&self, bytes: u64) -> bool {
        self.may_allocate_for(bytes, AppendClass::Write)
    }

    /// Whether a new file of `bytes` fits the bounds `class` sees.
    pub fn may_allocate_for(&self, bytes: u64, class: AppendClass) -> bool {
        self.unallocated_for(class).is_none_or(|u| u >= bytes)
    }

    /// Whether a segment-sized file of `bytes` (the spare) fits the bounds
    /// and leaves `class`'s floor. Other files go through
    /// `Log::may_hold_file`, which counts room in whole segments.
    pub fn may_allocate_as(&self, bytes: u64, class: AppendClass) -> bool {
        self.unallocated_for(class)
            .is_none_or(|u| u >= bytes.saturating_add(self.floor(class)))
    }
}

/// The segment size to run with: `configured` (at least the smallest the
/// log takes), unless a shard's bound (`shard_bytes`: its share of
/// `--max-data-bytes` or of the file system) cannot hold
/// `MIN_SEGMENTS_PER_SHARD` of them; then the largest that fits, in whole
/// MiB. Err when even the smallest segment does not fit.
pub fn fit_segment_bytes(configured: u64, shard_bytes: Option<u64>) -> Result<u64, String> {
    let smallest = super::log::MIN_SEGMENT_BYTES.next_multiple_of(SEGMENT_SIZE_STEP_BYTES);
    let configured = configured.max(smallest);
    let Some(bound) = shard_bytes else {
        return Ok(configured);
    };
    let largest =
        bound / MIN_SEGMENTS_PER_SHARD / SEGMENT_SIZE_STEP_BYTES * SEGMENT_SIZE_STEP_BYTES;
    if largest < smallest {
        return Err(format!(
            "{bound} bytes per shard cannot hold {MIN_SEGMENTS_PER_SHARD} segments of at \
             least {smallest} bytes; give each shard at least {} bytes (a larger \
             --max-data-bytes or disk, or fewer --shards)",
            smallest * MIN_SEGMENTS_PER_SHARD
        ));
    }
    Ok(configured.min(largest))
}

/// Total bytes of the file system holding `dir`, if statvfs answers.
pub fn fs_size_bytes(dir: &Path) -> Option<u64> {
    super::align::fs_bytes(dir).map(|b| b.total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn segment_size_shrinks_to_fit_the_bound() {
        assert_eq!(fit_segment_bytes(256 * MIB, None), Ok(256 * MIB));
        assert_eq!(fit_segment_bytes(256 * MIB, Some(1 << 40)), Ok(256 * MIB));
        // 512 MiB disk, two shards: 256 MiB each, 8 segments of 32 MiB.
        assert_eq!(fit_segment_bytes(256 * MIB, Some(256 * MIB)), Ok(32 * MIB));
        assert_eq!(fit_segment_bytes(32 * MIB, Some(128 * MIB)), Ok(16 * MIB));
        assert_eq!(fit_segment_bytes(16 * MIB, Some(100 * MIB)), Ok(12 * MIB));
        assert!(fit_segment_bytes(256 * MIB, Some(8 * MIB)).is_err());
    }

    #[test]
    fn each_class_leaves_its_floor() {
        let s = Space::new(
            Path::new("/nonexistent"),
            Backing::Files,
            8 * MIB,
            1,
            Some(64 * MIB),
        );
        assert!(s.floor(AppendClass::Write) > s.floor(AppendClass::Marker));
        assert!(s.floor(AppendClass::Marker) > s.floor(AppendClass::Delete));
        assert!(s.floor(AppendClass::Delete) >= s.segment_bytes());
        assert_eq!(s.floor(AppendClass::Compaction), 0);
        let dir = s.held();
        s.hold(60 * MIB - dir);
        assert_eq!(s.unallocated(), Some(4 * MIB));
        assert!(s.may_allocate(4 * MIB) && !s.may_allocate(4 * MIB + 1));
        assert!(!s.may_allocate_as(MIB, AppendClass::Write));
        s.release(60 * MIB - dir);
        assert!(s.may_allocate_as(MIB, AppendClass::Write));
    }

    #[test]
    fn deletes_may_use_the_other_shards_reserve() {
        let disk = crate::store::file::SimDisk::new_handle();
        disk.borrow_mut().faults.capacity_bytes = Some(4 * 8 * MIB);
        let s = Space::new(Path::new("/sim"), Backing::Sim(disk), 8 * MIB, 2, None);
        let free = s.unallocated_for(AppendClass::Delete).expect("a bound");
        let write = s.unallocated_for(AppendClass::Write).expect("a bound");
        // The other shard's reserve (a segment and a quarter) is closed to
        // object writes only.
        assert_eq!(free - write, s.reserve_bytes());
        assert_eq!(s.unallocated_for(AppendClass::Marker), Some(free));
        assert_eq!(s.unallocated_for(AppendClass::Compaction), Some(free));
        assert!(s.may_allocate_for(free, AppendClass::Delete));
        assert!(!s.may_allocate_for(free, AppendClass::Write));
    }

    #[test]
    fn a_running_compaction_lends_deletes_what_it_will_not_copy() {
        let s = Space::new(
            Path::new("/nonexistent"),
            Backing::Files,
            8 * MIB,
            1,
            Some(64 * MIB),
        );
        let (write, delete) = (s.floor(AppendClass::Write), s.floor(AppendClass::Delete));
        {
            let _claim = s.claim_for_compaction(3 * MIB);
            assert_eq!(s.floor(AppendClass::Delete), 3 * MIB);
            assert!(s.floor(AppendClass::Marker) > 3 * MIB);
            assert_eq!(
                s.floor(AppendClass::Write),
                write,
                "writes keep off the reserve"
            );
            s.compaction_appended(2 * MIB);
            assert_eq!(s.floor(AppendClass::Delete), MIB);
        }
        assert_eq!(
            s.floor(AppendClass::Delete),
            delete,
            "the claim ends with its guard"
        );
    }
}
