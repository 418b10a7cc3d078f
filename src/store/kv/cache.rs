//! The block cache: verified data blocks keyed by (run, block), evicted by
//! CLOCK (second chance) under a byte budget. O_DIRECT bypasses the page
//! cache, so this is what keeps a hot index block from costing a disk read.

use std::collections::HashMap;

use bytes::Bytes;

/// (run number, block index within the run).
pub type BlockKey = (u64, u32);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockCacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Block bytes held now.
    pub bytes: u64,
    pub budget_bytes: u64,
    pub blocks: u64,
    pub evictions: u64,
}

struct Slot {
    key: BlockKey,
    block: Bytes,
    /// Set on every hit; the clock hand clears it once before evicting.
    referenced: bool,
}

pub struct BlockCache {
    budget_bytes: usize,
    map: HashMap<BlockKey, usize>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl BlockCache {
    pub fn new(budget_bytes: usize) -> Self {
        BlockCache {
            budget_bytes,
            map: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            bytes: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }

    /// The block, counting a hit or a miss.
    pub fn get(&mut self, key: BlockKey) -> Option<Bytes> {
        match self.map.get(&key) {
            Some(&i) => {
                self.hits += 1;
                let slot = self.slots[i].as_mut().expect("mapped slot is occupied");
                slot.referenced = true;
                Some(slot.block.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Caches a verified block, evicting others to stay within the budget.
    /// A block larger than the whole budget is not cached.
    pub fn insert(&mut self, key: BlockKey, block: Bytes) {
        if block.len() > self.budget_bytes || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + block.len() > self.budget_bytes {
            self.evict_one();
        }
        self.bytes += block.len();
        let slot = Some(Slot {
            key,
            block,
            referenced: false,
        });
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.map.insert(key, i);
        debug_assert!(self.bytes <= self.budget_bytes);
    }

    fn evict_one(&mut self) {
        debug_assert!(self.bytes > 0, "nothing to evict");
        // Each pass clears reference bits, so the second pass finds a victim.
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            match &mut self.slots[i] {
                None => continue,
                Some(s) if s.referenced => s.referenced = false,
                Some(_) => {
                    self.remove_slot(i);
                    self.evictions += 1;
                    return;
                }
            }
        }
    }

    fn remove_slot(&mut self, i: usize) {
        let s = self.slots[i].take().expect("occupied slot");
        self.map.remove(&s.key);
        self.bytes -= s.block.len();
        self.free.push(i);
    }

    /// Drops every block of a run that is gone.
    pub fn forget_run(&mut self, run: u64) {
        let doomed: Vec<usize> = self
            .map
            .iter()
            .filter(|(k, _)| k.0 == run)
            .map(|(_, &i)| i)
            .collect();
        for i in doomed {
            self.remove_slot(i);
        }
    }

    pub fn stats(&self) -> BlockCacheStats {
        BlockCacheStats {
            hits: self.hits,
            misses: self.misses,
            bytes: self.bytes as u64,
            budget_bytes: self.budget_bytes as u64,
            blocks: self.map.len() as u64,
            evictions: self.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Bytes {
        Bytes::from(vec![0u8; n])
    }

    #[test]
    fn hits_and_misses_are_counted() {
        let mut c = BlockCache::new(4 * 4096);
        assert!(c.get((1, 0)).is_none());
        c.insert((1, 0), block(4096));
        assert!(c.get((1, 0)).is_some());
        assert!(c.get((1, 1)).is_none());
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.bytes, s.blocks), (1, 2, 4096, 1));
    }

    #[test]
    fn the_budget_is_never_exceeded_and_referenced_blocks_survive() {
        let mut c = BlockCache::new(4 * 4096);
        for b in 0..4 {
            c.insert((7, b), block(4096));
        }
        assert!(c.get((7, 0)).is_some());
        c.insert((7, 4), block(4096));
        assert_eq!(c.stats().bytes, 4 * 4096);
        assert_eq!(c.stats().evictions, 1);
        assert!(
            c.get((7, 0)).is_some(),
            "the referenced block got its second chance"
        );
        assert!(c.get((7, 1)).is_none(), "the first unreferenced block went");
        // A large block evicts as many as it needs.
        c.insert((8, 0), block(3 * 4096));
        assert!(c.stats().bytes <= 4 * 4096);
        assert!(c.get((8, 0)).is_some());
        // A block over the whole budget is not cached at all.
        c.insert((9, 0), block(5 * 4096));
        assert!(c.get((9, 0)).is_none());
        assert!(c.stats().bytes <= 4 * 4096);
    }

    #[test]
    fn a_run_can_be_forgotten() {
        let mut c = BlockCache::new(1 << 20);
        c.insert((1, 0), block(4096));
        c.insert((2, 0), block(4096));
        c.insert((1, 1), block(4096));
        c.forget_run(1);
        assert_eq!((c.stats().blocks, c.stats().bytes), (1, 4096));
        assert!(c.get((2, 0)).is_some());
        c.insert((1, 0), block(4096));
        assert_eq!(c.stats().blocks, 2);
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let mut c = BlockCache::new(0);
        c.insert((1, 0), block(4096));
        assert!(c.get((1, 0)).is_none());
        assert_eq!(c.stats().bytes, 0);
    }
}
