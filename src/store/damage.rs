//! Telling a torn last flush from media damage.
//!
//! Every group-commit write ends with a Sync record naming the position up
//! to which the log was durable when that write began (`SyncRec`). The
//! furthest such position found in a shard's log, or its checkpoint's
//! position, is *confirmed*: the bytes before it had been written and
//! synced, so a record there that fails its CRC or does not decode rotted
//! afterwards (media damage). After it lies at most the last flush (or the
//! last two, when the crash tore the write that would have confirmed the
//! one before): a write that never completed, so nothing in it was
//! acknowledged, and any subset of its blocks may have reached the disk.
//! Recovery cuts such a torn flush from its first damaged byte.
//!
//! Two more facts hold without any Sync record:
//! - a segment other than the last one was durable as a whole before the
//!   next one was created (a roll waits for every flush), so damage in it
//!   is media damage; trailing garbage after its last record counts too
//!   once the segment holds Sync records (a log written before them may
//!   have left a torn flush's remains there);
//! - a log with no Sync record at all (written before format version 2)
//!   keeps the old rule for its last segment: damage within one write
//!   buffer of its end is a torn flush, anything before is media damage.

use std::collections::BTreeMap;
use std::fmt;

use super::align::BLOCK_BYTES;
use super::log::{LogConfig, ResumePoint};
use super::record::{RecordKind, SyncRec};
use super::recovery::Scan;

/// A run of bytes in one segment that holds no valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    pub segment: u32,
    pub offset: u64,
    pub bytes: u64,
    /// Sequence numbers of the nearest valid records before and after it
    /// in its segment (None: none there).
    pub seq_before: Option<u64>,
    pub seq_after: Option<u64>,
    /// The damaged record's own sequence number, when its header is whole
    /// (a metadata record that passes its CRC but does not decode).
    pub own_seq: Option<u64>,
    pub what: &'static str,
}

impl fmt::Display for DamagedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = |s: Option<u64>| s.map_or_else(|| "none".to_string(), |s| s.to_string());
        if let Some(own) = self.own_seq {
            return write!(
                f,
                "segment {} offset {} length {} (record seq {own}: {})",
                self.segment, self.offset, self.bytes, self.what
            );
        }
        write!(
            f,
            "segment {} offset {} length {} ({}; valid records around it: seq {} before, seq {} after)",
            self.segment,
            self.offset,
            self.bytes,
            self.what,
            seq(self.seq_before),
            seq(self.seq_after)
        )
    }
}

/// What recovery cut off the last segment as a torn last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornCut {
    pub segment: u32,
    /// The first damaged byte: writing resumes here.
    pub offset: u64,
    /// Bytes cut (zeroed on open), up to the last non-zero byte.
    pub bytes: u64,
    /// Valid records after the cut, dropped with it (first seq, last seq, count).
    pub dropped: Option<(u64, u64, u64)>,
}

impl fmt::Display for TornCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "segment {} offset {} length {}",
            self.segment, self.offset, self.bytes
        )?;
        match self.dropped {
            Some((first, last, n)) => {
                write!(f, ", {n} unacknowledged records seq {first}..={last}")
            }
            None => write!(f, ", no whole record in it"),
        }
    }
}

const WHAT_BAD_BYTES: &str = "bytes that fail the CRC or header check";
const WHAT_TRAILING: &str = "garbage after the segment's last valid record";
const WHAT_MISSING: &str = "confirmed records missing (zeroed)";

/// Per segment, what the confirmed-range checks need after the scan.
struct SegmentSummary {
    valid_end: u64,
    last_seq: Option<u64>,
}

/// Classifies the damage of one shard's segments, scanned in order.
pub(crate) struct Classifier {
    /// Furthest confirmed position seen so far.
    confirmed: Option<(u32, u64)>,
    any_sync: bool,
    /// Highest confirmed offset per segment.
    confirmed_in: BTreeMap<u32, u64>,
    segments: BTreeMap<u32, SegmentSummary>,
    media: Vec<DamagedRange>,
}

impl Classifier {
    /// `checkpoint`: where a loaded checkpoint says the log was durable.
    pub(crate) fn new(checkpoint: Option<(u32, u64)>) -> Self {
        let mut c = Classifier {
            confirmed: None,
            any_sync: false,
            confirmed_in: BTreeMap::new(),
            segments: BTreeMap::new(),
            media: Vec::new(),
        };
        if let Some(at) = checkpoint {
            c.confirm(at);
        }
        c
    }

    fn confirm(&mut self, (segment, offset): (u32, u64)) {
        self.confirmed = self.confirmed.max(Some((segment, offset)));
        let e = self.confirmed_in.entry(segment).or_insert(0);
        *e = (*e).max(offset);
    }

    fn note_syncs(&mut self, scan: &Scan) -> bool {
        let mut found = false;
        for r in scan
            .records
            .iter()
            .filter(|r| r.header.kind == RecordKind::Sync)
        {
            // An undecodable Sync payload is counted where every record's is.
            if let Some(s) = r.payload.as_deref().and_then(|p| SyncRec::decode(p).ok()) {
                self.confirm((s.segment, s.offset));
                found = true;
            }
        }
        self.any_sync |= found;
        found
    }

    /// A segment that is not the last: all its damage is media damage.
    pub(crate) fn segment(&mut self, id: u32, scan: &Scan) {
        let has_sync = self.note_syncs(scan);
        for &(start, end) in &scan.bad_runs {
            self.media.push(range(scan, id, start, end, WHAT_BAD_BYTES));
        }
        if has_sync && scan.garbage_end > scan.valid_end {
            let r = range(scan, id, scan.valid_end, scan.garbage_end, WHAT_TRAILING);
            self.media.push(r);
        }
        self.summarize(id, scan);
    }

    fn summarize(&mut self, id: u32, scan: &Scan) {
        self.segments.insert(
            id,
            SegmentSummary {
                valid_end: scan.valid_end,
                last_seq: scan.records.last().map(|r| r.header.seq),
            },
        );
    }

    /// The last segment: media damage before the confirmed position is
    /// noted (`accept` or not, the records after it stay); the first damage
    /// after it is a torn flush, cut from `scan` with everything after it.
    /// Media damage with no valid record after it is cut the same way (it
    /// is refused first unless the operator accepts the loss).
    pub(crate) fn last_segment(&mut self, cfg: &LogConfig, id: u32, scan: &mut Scan) -> Tail {
        self.note_syncs(scan);
        let zero_until = scan.valid_end.max(scan.garbage_end);
        // Damage at or after this offset may be a torn flush.
        let torn_from = if !self.any_sync {
            // No Sync record (a format version 1 log): the old rule, damage
            // within one write buffer of the end is a torn flush. (What a
            // checkpoint confirms lies before the scan's start.)
            let window = (cfg.write_buffer_bytes + BLOCK_BYTES) as u64;
            scan.valid_end.saturating_sub(window)
        } else {
            match self.confirmed {
                Some((seg, off)) if seg == id => off,
                Some((seg, _)) if seg > id => u64::MAX,
                _ => 0,
            }
        };
        let mut cut_at = None;
        for &(start, end) in &scan.bad_runs {
            if start < torn_from {
                self.media.push(range(scan, id, start, end, WHAT_BAD_BYTES));
            } else {
                cut_at = Some(start);
                break;
            }
        }
        if cut_at.is_none() && zero_until > scan.valid_end {
            if scan.valid_end < torn_from && self.any_sync {
                let r = range(scan, id, scan.valid_end, zero_until, WHAT_TRAILING);
                self.media.push(r);
            }
            cut_at = Some(scan.valid_end);
        }
        let torn = cut_at.map(|cut| {
            let dropped: Vec<u64> = scan
                .records
                .iter()
                .filter(|r| r.offset >= cut)
                .map(|r| r.header.seq)
                .collect();
            scan.bad_runs.retain(|&(s, _)| s < cut);
            scan.records.retain(|r| r.offset < cut);
            scan.valid_end = cut;
            TornCut {
                segment: id,
                offset: cut,
                bytes: zero_until - cut,
                dropped: dropped
                    .first()
                    .map(|&f| (f, *dropped.last().unwrap_or(&f), dropped.len() as u64)),
            }
        });
        self.summarize(id, scan);
        Tail {
            resume: ResumePoint {
                segment: id,
                offset: scan.valid_end,
                zero_until,
                next_seq: 0,
            },
            torn,
        }
    }

    /// Media damage found, including confirmed records missing from the
    /// end of a segment (zeroed: no bytes fail a check there).
    pub(crate) fn finish(mut self) -> Vec<DamagedRange> {
        for (&id, &confirmed) in &self.confirmed_in {
            let Some(seg) = self.segments.get(&id) else {
                continue;
            };
            if confirmed > seg.valid_end {
                self.media.push(DamagedRange {
                    segment: id,
                    offset: seg.valid_end,
                    bytes: confirmed - seg.valid_end,
                    seq_before: seg.last_seq,
                    seq_after: None,
                    own_seq: None,
                    what: WHAT_MISSING,
                });
            }
        }
        self.media.sort_by_key(|d| (d.segment, d.offset));
        self.media
    }
}

/// The last segment's resume point and what was cut there as torn.
pub(crate) struct Tail {
    pub(crate) resume: ResumePoint,
    pub(crate) torn: Option<TornCut>,
}

fn range(scan: &Scan, segment: u32, start: u64, end: u64, what: &'static str) -> DamagedRange {
    let i = scan.records.partition_point(|r| r.offset < start);
    DamagedRange {
        segment,
        offset: start,
        bytes: end - start,
        seq_before: i.checked_sub(1).map(|j| scan.records[j].header.seq),
        seq_after: scan.records.get(i).map(|r| r.header.seq),
        own_seq: None,
        what,
    }
}
