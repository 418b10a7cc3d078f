//! A per-shard cache of verified data-record payloads.
//!
//! O_DIRECT bypasses the kernel's page cache, so without this every GET of a
//! hot object pays a disk read that page-cache servers do not (DESIGN.md,
//! "as ScyllaDB does"). Entries are keyed by the record's place in the log,
//! `(segment, offset)`: the log never rewrites a record in place while the
//! shard runs, so an entry can never go stale — an overwrite or a compaction
//! move writes a new record at a new place. The one way a place can be
//! reused is a segment being freed (compaction), and `forget_segment`
//! drops its entries then.
//!
//! Eviction is CLOCK: a hit sets the entry's `visited` bit; the hand sweeps
//! the slots, clearing set bits and evicting the first clear one, and the
//! newcomer takes the freed slot behind the hand, so it gets a whole turn
//! before it is looked at. Hits cost no list moves, unlike LRU.
//! Only records read from disk and CRC-checked are inserted.

use std::collections::HashMap;

use bytes::Bytes;

/// A record's place in the shard's log.
pub type RecordPlace = (u32, u64);

struct Entry {
    place: RecordPlace,
    payload: Bytes,
    visited: bool,
}

pub struct RecordCache {
    budget_bytes: usize,
    bytes: usize,
    /// Slots; None where an entry was evicted or forgotten.
    entries: Vec<Option<Entry>>,
    /// Indices of None slots, reused before the vector grows.
    free: Vec<usize>,
    slots: HashMap<RecordPlace, usize>,
    hand: usize,
    hits: u64,
    misses: u64,
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: u64,
    pub bytes: u64,
    pub budget_bytes: u64,
    pub hits: u64,
    pub misses: u64,
}

impl RecordCache {
    /// A cache holding at most `budget_bytes` of payload (0 disables it).
    pub fn new(budget_bytes: usize) -> Self {
        RecordCache {
            budget_bytes,
            bytes: 0,
            entries: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            hand: 0,
            hits: 0,
            misses: 0,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.budget_bytes > 0
    }

    /// The payload stored at `place`, if cached (counts a hit or a miss).
    pub fn get(&mut self, place: RecordPlace) -> Option<Bytes> {
        let hit = self.probe(place);
        if hit.is_none() && self.is_enabled() {
            self.misses += 1;
        }
        hit
    }

    /// [`RecordCache::get`] without counting a miss: for a look that falls
    /// back to a read, whose own `get` counts it.
    pub fn probe(&mut self, place: RecordPlace) -> Option<Bytes> {
        if !self.is_enabled() {
            return None;
        }
        let i = *self.slots.get(&place)?;
        let e = self.entries[i].as_mut()?;
        e.visited = true;
        self.hits += 1;
        Some(e.payload.clone())
    }

    /// Caches `payload` (a verified record's) unless it is larger than an
    /// eighth of the budget, evicting cold entries to make room.
    pub fn insert(&mut self, place: RecordPlace, payload: Bytes) {
        let len = payload.len();
        if !self.is_enabled() || len > self.budget_bytes / 8 || self.slots.contains_key(&place) {
            return;
        }
        while self.bytes + len > self.budget_bytes {
            self.evict_one();
        }
        let entry = Some(Entry {
            place,
            payload,
            visited: false,
        });
        let slot = match self.free.pop() {
            Some(i) => {
                debug_assert!(self.entries[i].is_none());
                self.entries[i] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.slots.insert(place, slot);
        self.bytes += len;
        debug_assert!(self.bytes <= self.budget_bytes);
        debug_assert_eq!(self.slots.len() + self.free.len(), self.entries.len());
    }

    fn evict_one(&mut self) {
        debug_assert!(!self.slots.is_empty(), "over budget with nothing cached");
        // Two turns of the hand always find a victim: the first clears every bit.
        for _ in 0..2 * self.entries.len() + 1 {
            if self.hand >= self.entries.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            match &mut self.entries[i] {
                Some(e) if e.visited => e.visited = false,
                Some(_) => {
                    self.remove_at(i);
                    return;
                }
                None => {}
            }
        }
        unreachable!("cache over budget but no entry to evict");
    }

    fn remove_at(&mut self, i: usize) {
        if let Some(gone) = self.entries[i].take() {
            self.slots.remove(&gone.place);
            self.bytes -= gone.payload.len();
            self.free.push(i);
        }
    }

    /// Drops every entry of a freed segment (its places may be reused).
    pub fn forget_segment(&mut self, segment: u32) {
        for i in 0..self.entries.len() {
            if self.entries[i]
                .as_ref()
                .is_some_and(|e| e.place.0 == segment)
            {
                self.remove_at(i);
            }
        }
        debug_assert!(self.slots.keys().all(|p| p.0 != segment));
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.slots.len() as u64,
            bytes: self.bytes as u64,
            budget_bytes: self.budget_bytes as u64,
            hits: self.hits,
            misses: self.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(n: usize, fill: u8) -> Bytes {
        Bytes::from(vec![fill; n])
    }

    #[test]
    fn hits_return_the_cached_payload_and_misses_count() {
        let mut c = RecordCache::new(1 << 20);
        assert!(c.get((1, 0)).is_none());
        c.insert((1, 0), payload(100, 7));
        assert_eq!(c.get((1, 0)).expect("hit"), payload(100, 7));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.entries, s.bytes), (1, 1, 1, 100));
    }

    #[test]
    fn stays_within_budget_and_keeps_visited_entries() {
        let mut c = RecordCache::new(8 * 1000);
        for i in 0..8u64 {
            c.insert((1, i), payload(1000, i as u8));
        }
        // Touch 0..4: a scan of new entries must evict the untouched ones first.
        for i in 0..4u64 {
            assert!(c.get((1, i)).is_some());
        }
        for i in 100..104u64 {
            c.insert((1, i), payload(1000, 0));
        }
        assert!(c.stats().bytes <= 8000);
        for i in 0..4u64 {
            assert_eq!(c.get((1, i)).expect("hot entry kept")[0], i as u8);
        }
        for i in 4..8u64 {
            assert!(c.get((1, i)).is_none(), "cold entry {i} evicted");
        }
    }

    #[test]
    fn large_payloads_are_not_cached_and_zero_budget_disables() {
        let mut c = RecordCache::new(8000);
        c.insert((1, 0), payload(1001, 0));
        assert!(c.get((1, 0)).is_none());
        let mut off = RecordCache::new(0);
        off.insert((1, 0), payload(1, 0));
        assert!(off.get((1, 0)).is_none());
        assert_eq!(off.stats().misses, 0);
    }

    #[test]
    fn forgetting_a_segment_drops_only_its_entries() {
        let mut c = RecordCache::new(1 << 20);
        for i in 0..10u64 {
            c.insert(((i % 2) as u32, i), payload(10, i as u8));
        }
        c.forget_segment(0);
        for i in 0..10u64 {
            assert_eq!(c.get(((i % 2) as u32, i)).is_some(), i % 2 == 1);
        }
        assert_eq!(c.stats().bytes, 50);
    }

    #[test]
    fn random_operations_keep_the_slot_map_consistent() {
        let mut c = RecordCache::new(5000);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let place = ((x % 3) as u32, (x >> 8) % 64);
            match x % 4 {
                0 => c.forget_segment(place.0),
                1 => {
                    let _ = c.get(place);
                }
                _ => c.insert(place, payload(1 + (x >> 20) as usize % 600, place.1 as u8)),
            }
            assert!(c.stats().bytes <= 5000);
            for (p, &i) in &c.slots {
                assert_eq!(c.entries[i].as_ref().expect("slot").place, *p);
            }
            assert_eq!(c.slots.len() + c.free.len(), c.entries.len());
            let held: usize = c.entries.iter().flatten().map(|e| e.payload.len()).sum();
            assert_eq!(held as u64, c.stats().bytes);
        }
    }
}
