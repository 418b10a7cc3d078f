//! kv tests: runs on the simulated disk (round trips, every damaged byte
//! detected), the Kv's open/flush/merge/reopen cycle, orphans, the block
//! cache's budget, a model-based property test with power cuts, and one
//! pass over real O_DIRECT files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use proptest::prelude::*;

use super::files::{parse_run_name, KvFiles};
use super::iter::RunCursor;
use super::run::{RunInfo, RunReader, RunWriter};
use super::*;
use crate::store::align::BLOCK_BYTES;
use crate::store::file::{self, Backing, SimDisk, SimDiskHandle};
use crate::store::tests::{real_disk_tempdir, run};

const DIR: &str = "/sim/shard-000/index";

fn sim_files(disk: &SimDiskHandle) -> KvFiles {
    KvFiles {
        dir: PathBuf::from(DIR),
        backing: Backing::Sim(disk.clone()),
        direct_io: true,
    }
}

fn sim_cfg(disk: &SimDiskHandle) -> KvConfig {
    let mut cfg = KvConfig::new(DIR);
    cfg.backing = Backing::Sim(disk.clone());
    cfg.memtable_bytes = 64 * 1024;
    cfg.cache_bytes = 256 * 1024;
    cfg
}

fn key(i: u32) -> Vec<u8> {
    // Keys that are prefixes of each other, sharing long prefixes.
    let prefix = ["", "a/", "a/b/", "bucket-7/photos/2026/"][(i % 4) as usize];
    format!("{prefix}{}", i / 4).into_bytes()
}

fn value(seed: u64, len: usize) -> Bytes {
    let mut r = file::SplitMix(seed);
    (0..len).map(|_| r.next_u64() as u8).collect()
}

async fn write_run(
    files: &KvFiles,
    num: u64,
    entries: &BTreeMap<Vec<u8>, Option<Bytes>>,
) -> RunInfo {
    let mut w = RunWriter::create(files, num).await.expect("create");
    for (seq, (k, v)) in entries.iter().enumerate() {
        w.add(k, seq as u64, v.as_deref()).await.expect("add");
    }
    w.finish().await.expect("finish")
}

/// Every entry of a run, through a cursor.
async fn scan_run(run: &Rc<RunReader>) -> Result<BTreeMap<Vec<u8>, Option<Bytes>>, StoreError> {
    let mut out = BTreeMap::new();
    let mut c = RunCursor::new(run.clone(), None, false);
    c.seek(b"").await?;
    while let Some(e) = c.head() {
        out.insert(e.key.clone(), e.value.clone());
        c.advance().await?;
    }
    Ok(out)
}

/// Every entry of a run through a cursor, and every key through `get`.
async fn read_run(run: &Rc<RunReader>) -> Result<BTreeMap<Vec<u8>, Option<Bytes>>, StoreError> {
    let out = scan_run(run).await?;
    for (k, v) in &out {
        let got = run
            .get(k, filter::key_hash(k), None)
            .await?
            .map(|e| e.value);
        assert_eq!(got.as_ref(), Some(v), "get {k:?}");
    }
    Ok(out)
}

fn sample_entries(n: u32) -> BTreeMap<Vec<u8>, Option<Bytes>> {
    (0..n)
        .map(|i| {
            let v = match i % 7 {
                0 => None,
                1 => Some(value(i as u64, 3 * BLOCK_BYTES)),
                _ => Some(value(i as u64, (i as usize * 37) % 300)),
            };
            (key(i), v)
        })
        .collect()
}

#[test]
fn a_run_round_trips_and_seeks() {
    let disk = SimDisk::new_handle();
    let files = sim_files(&disk);
    let entries = sample_entries(400);
    run(async {
        let info = write_run(&files, 1, &entries).await;
        assert_eq!(info.entries, 400);
        assert!(info.data_bytes > 40 * BLOCK_BYTES as u64, "{info:?}");
        let r = Rc::new(RunReader::open(&files, info).await.expect("open"));
        assert!(r.block_count() > 40);
        assert_eq!(read_run(&r).await.expect("read"), entries);
        assert!(
            r.pinned_bytes() < 8 * 400,
            "{} pinned bytes for 400 keys",
            r.pinned_bytes()
        );
        // Absent keys: before, between and after the run's keys.
        for k in [&b""[..], b"0", b"a/", b"a/b/99999", b"zzz"] {
            if !entries.contains_key(k) {
                assert_eq!(
                    r.get(k, filter::key_hash(k), None).await.expect("get"),
                    None
                );
            }
        }
        // Seeks land on the first key at or after the target.
        let mut c = RunCursor::new(r.clone(), None, false);
        for target in [&b""[..], b"a/b/3", b"a/b/30\0", b"bucket-7/", b"z"] {
            c.seek(target).await.expect("seek");
            let want = entries
                .range(target.to_vec()..)
                .next()
                .map(|(k, _)| k.clone());
            assert_eq!(c.head().map(|e| e.key.clone()), want, "seek {target:?}");
        }
    });
}

#[test]
fn an_empty_run_is_valid() {
    let disk = SimDisk::new_handle();
    let files = sim_files(&disk);
    run(async {
        let info = write_run(&files, 3, &BTreeMap::new()).await;
        let r = Rc::new(RunReader::open(&files, info).await.expect("open"));
        assert!(read_run(&r).await.expect("read").is_empty());
    });
}

#[test]
fn every_damaged_byte_of_a_run_is_detected() {
    let disk = SimDisk::new_handle();
    let files = sim_files(&disk);
    let entries: BTreeMap<_, _> = (0..60)
        .map(|i| (key(i), Some(value(i as u64, 90))))
        .collect();
    run(async {
        let info = write_run(&files, 1, &entries).await;
        let path = files.run_path(1);
        let good = disk.borrow().file_bytes(&path).expect("run").to_vec();
        assert!(
            good.len() >= 3 * BLOCK_BYTES,
            "{} bytes: data blocks and metadata",
            good.len()
        );
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 1 << (at % 8);
            disk.borrow_mut().install(&path, bad);
            let outcome = match RunReader::open(&files, info).await {
                Ok(r) => scan_run(&Rc::new(r)).await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert!(
                matches!(outcome, Err(StoreError::Corrupt { .. })),
                "flip at byte {at}: {outcome:?}"
            );
        }
        disk.borrow_mut().install(&path, good);
        let r = Rc::new(RunReader::open(&files, info).await.expect("open"));
        assert_eq!(read_run(&r).await.expect("read").len(), 60);
    });
}

#[test]
fn a_run_cut_short_or_misdescribed_is_refused() {
    let disk = SimDisk::new_handle();
    let files = sim_files(&disk);
    run(async {
        let info = write_run(&files, 1, &sample_entries(50)).await;
        let path = files.run_path(1);
        let good = disk.borrow().file_bytes(&path).expect("run").to_vec();
        disk.borrow_mut()
            .install(&path, good[..good.len() - BLOCK_BYTES].to_vec());
        assert!(RunReader::open(&files, info).await.is_err());
        disk.borrow_mut().install(&path, good);
        for lie in [
            RunInfo {
                entries: info.entries + 1,
                ..info
            },
            RunInfo {
                data_bytes: info.data_bytes - BLOCK_BYTES as u64,
                ..info
            },
            RunInfo {
                file_bytes: info.file_bytes - BLOCK_BYTES as u64,
                ..info
            },
            RunInfo {
                file_bytes: info.file_bytes + 1,
                ..info
            },
        ] {
            let r = RunReader::open(&files, lie).await;
            assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{lie:?}");
        }
    });
}

async fn scan_all(kv: &Kv, from: &[u8]) -> Vec<(Vec<u8>, Bytes)> {
    let mut it = kv.scan(from).await.expect("scan");
    let mut out = Vec::new();
    while let Some(kv) = it.next().await.expect("next") {
        out.push(kv);
    }
    out
}

fn put(kv: &Kv, seq: u64, k: &[u8], v: &[u8]) {
    let mut b = Batch::new(seq);
    b.put(k, Bytes::copy_from_slice(v));
    kv.apply(&b).expect("apply");
}

fn del(kv: &Kv, seq: u64, k: &[u8]) {
    let mut b = Batch::new(seq);
    b.delete(k);
    kv.apply(&b).expect("apply");
}

/// After four rounds that each put keys 0..50 and delete key `round`.
async fn check_after_rounds(kv: &Kv) {
    for i in 0..50u32 {
        let want = (i != 3).then(|| format!("r3-{i}"));
        let got = kv.get(&key(i)).await.expect("get");
        assert_eq!(
            got.as_deref(),
            want.as_deref().map(str::as_bytes),
            "key {i}"
        );
    }
    assert_eq!(scan_all(kv, b"").await.len(), 49);
}

#[test]
fn flush_merge_and_reopen_keep_the_newest_values() {
    let disk = SimDisk::new_handle();
    run(async {
        let kv = Kv::open(sim_cfg(&disk)).await.expect("open");
        assert_eq!((kv.log_position(), kv.open_report().manifest), (0, None));
        let mut seq = 0;
        for round in 0..4u64 {
            for i in 0..50u32 {
                seq += 1;
                put(&kv, seq, &key(i), format!("r{round}-{i}").as_bytes());
            }
            seq += 1;
            del(&kv, seq, &key(round as u32));
            kv.freeze(seq, seq.to_le_bytes().to_vec());
            assert!(kv.flush().await.expect("flush"));
        }
        assert_eq!(kv.run_infos().len(), 4);
        assert!(kv.merge_step().await.expect("merge"));
        assert_eq!(kv.run_infos().len(), 1);
        assert!(
            !kv.merge_step().await.expect("merge"),
            "nothing more to merge"
        );
        check_after_rounds(&kv).await;
        let files = file::list_dir(Path::new(DIR), &Backing::Sim(disk.clone())).expect("list");
        assert_eq!(
            files.iter().filter_map(|n| parse_run_name(n)).count(),
            1,
            "merged inputs removed: {files:?}"
        );
        kv.close();
        let kv = Kv::open(sim_cfg(&disk)).await.expect("reopen");
        assert_eq!(kv.log_position(), seq);
        assert_eq!(kv.derived(), seq.to_le_bytes().to_vec());
        check_after_rounds(&kv).await;
        assert!(kv.pinned_bytes() > 0);
    });
}

#[test]
fn orphan_runs_and_torn_manifests_are_removed_at_open() {
    let disk = SimDisk::new_handle();
    let files = sim_files(&disk);
    run(async {
        let kv = Kv::open(sim_cfg(&disk)).await.expect("open");
        put(&kv, 1, b"k", b"v");
        kv.freeze(1, Vec::new());
        kv.flush().await.expect("flush");
        let run_num = kv.run_infos()[0].num;
        let manifest = kv.open_report().manifest;
        assert_eq!(manifest, None);
        kv.close();
        // A run written by a flush whose manifest never became durable, and
        // a torn manifest numbered above the good one.
        write_run(&files, run_num + 1, &sample_entries(5)).await;
        disk.borrow_mut()
            .install(&files.manifest_path(9), vec![0x5a; 100]);
        let kv = Kv::open(sim_cfg(&disk)).await.expect("reopen");
        let report = kv.open_report().clone();
        assert_eq!(report.invalid_manifests, vec![9]);
        assert_eq!(report.orphan_runs, vec![run_num + 1]);
        let mut left = file::list_dir(Path::new(DIR), &Backing::Sim(disk.clone())).expect("list");
        left.sort();
        assert_eq!(
            left,
            vec![
                files::manifest_name(report.manifest.expect("a manifest")),
                files::run_name(run_num)
            ]
        );
        assert_eq!(kv.get(b"k").await.expect("get").as_deref(), Some(&b"v"[..]));
        // The next manifest is numbered past the torn one.
        put(&kv, 2, b"k2", b"v2");
        kv.freeze(2, Vec::new());
        kv.flush().await.expect("flush");
        kv.close();
        let kv = Kv::open(sim_cfg(&disk)).await.expect("reopen");
        assert_eq!(kv.open_report().manifest, Some(10));
        assert_eq!(kv.log_position(), 2);
    });
}

#[test]
fn a_damaged_run_is_an_error_the_caller_can_act_on() {
    let disk = SimDisk::new_handle();
    run(async {
        let kv = Kv::open(sim_cfg(&disk)).await.expect("open");
        for i in 0..200u32 {
            put(&kv, u64::from(i) + 1, &key(i), &[7; 100]);
        }
        kv.freeze(200, Vec::new());
        kv.flush().await.expect("flush");
        let path = sim_files(&disk).run_path(kv.run_infos()[0].num);
        kv.close();
        // Damage in a data block: open succeeds; reading that block fails.
        disk.borrow_mut().contents_mut(&path).expect("run")[10] ^= 1;
        let kv = Kv::open(sim_cfg(&disk))
            .await
            .expect("open with a damaged block");
        let first = scan_all_result(&kv).await;
        assert!(
            matches!(first, Err(StoreError::Corrupt { offset: 0, .. })),
            "{first:?}"
        );
        kv.close();
        // Damage in the metadata: open fails.
        let len = disk.borrow().file_bytes(&path).expect("run").len();
        disk.borrow_mut().contents_mut(&path).expect("run")[len - 100] ^= 1;
        let r = Kv::open(sim_cfg(&disk)).await;
        assert!(
            matches!(r, Err(StoreError::Corrupt { .. })),
            "{:?}",
            r.err()
        );
    });
}

async fn scan_all_result(kv: &Kv) -> Result<usize, StoreError> {
    let mut it = kv.scan(b"").await?;
    let mut n = 0;
    while it.next().await?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[test]
fn the_block_cache_counts_and_keeps_to_its_budget() {
    let disk = SimDisk::new_handle();
    run(async {
        let mut cfg = sim_cfg(&disk);
        cfg.cache_bytes = 8 * BLOCK_BYTES;
        let kv = Kv::open(cfg).await.expect("open");
        for i in 0..1000u32 {
            put(&kv, u64::from(i) + 1, &key(i), &[1; 200]);
        }
        kv.freeze(1000, Vec::new());
        kv.flush().await.expect("flush");
        assert!(kv.run_infos()[0].data_bytes > 40 * BLOCK_BYTES as u64);
        // RAM per object: fences and filter, a few bytes (the budget is 64).
        assert!(
            kv.pinned_bytes() < 3 * 1000,
            "{} pinned bytes for 1000 keys",
            kv.pinned_bytes()
        );
        let k = key(500);
        kv.get(&k).await.expect("get");
        let s = kv.cache_stats();
        assert_eq!((s.hits, s.misses, s.bytes), (0, 1, BLOCK_BYTES as u64));
        kv.get(&k).await.expect("get");
        assert_eq!((kv.cache_stats().hits, kv.cache_stats().misses), (1, 1));
        for i in 0..1000u32 {
            assert!(kv.get(&key(i)).await.expect("get").is_some());
            assert!(kv.cache_stats().bytes <= 8 * BLOCK_BYTES as u64);
        }
        let s = kv.cache_stats();
        assert_eq!(s.hits + s.misses, 1002);
        assert!(s.misses > 40 && s.evictions > 30, "{s:?}");
        // A key no run holds costs no block read (its filter says no).
        assert_eq!(kv.get(b"absent").await.expect("get"), None);
        assert_eq!(kv.cache_stats().misses, s.misses);
    });
}

#[test]
fn oversized_keys_and_values_are_refused_whole() {
    let disk = SimDisk::new_handle();
    run(async {
        let kv = Kv::open(sim_cfg(&disk)).await.expect("open");
        let mut b = Batch::new(1);
        b.put(b"ok", Bytes::new())
            .put(&vec![1; MAX_KEY_BYTES + 1], Bytes::new());
        assert!(matches!(kv.apply(&b), Err(StoreError::TooLarge)));
        let mut b = Batch::new(1);
        b.put(b"ok", Bytes::from(vec![0; MAX_VALUE_BYTES + 1]));
        assert!(matches!(kv.apply(&b), Err(StoreError::TooLarge)));
        assert_eq!(kv.get(b"ok").await.expect("get"), None);
        // The largest allowed entry is written and read back.
        let big = value(9, MAX_VALUE_BYTES);
        let mut b = Batch::new(2);
        b.put(&vec![b'k'; MAX_KEY_BYTES], big.clone());
        kv.apply(&b).expect("apply");
        kv.freeze(2, Vec::new());
        kv.flush().await.expect("flush");
        assert_eq!(
            kv.get(&vec![b'k'; MAX_KEY_BYTES]).await.expect("get"),
            Some(big)
        );
    });
}

#[test]
fn a_scan_pins_merged_runs_until_it_ends() {
    let disk = SimDisk::new_handle();
    run(async {
        let kv = Kv::open(sim_cfg(&disk)).await.expect("open");
        for r in 0..4u64 {
            for i in 0..20u32 {
                put(&kv, r * 100 + u64::from(i) + 1, &key(i), &[r as u8; 50]);
            }
            kv.freeze(r * 100 + 99, Vec::new());
            kv.flush().await.expect("flush");
        }
        let mut it = kv.scan(b"").await.expect("scan");
        let first = it.next().await.expect("next").expect("a key");
        assert!(kv.merge_step().await.expect("merge"));
        let count_runs = || {
            file::list_dir(Path::new(DIR), &Backing::Sim(disk.clone()))
                .expect("list")
                .iter()
                .filter_map(|n| parse_run_name(n))
                .count()
        };
        assert_eq!(count_runs(), 5, "inputs kept while the scan holds them");
        let mut n = 1;
        while let Some((k, v)) = it.next().await.expect("next") {
            assert!(k > first.0 && v.as_ref() == [3; 50]);
            n += 1;
        }
        assert_eq!(n, 20);
        drop(it);
        // The next step that installs a manifest collects them.
        kv.freeze(400, Vec::new());
        kv.flush().await.expect("flush");
        assert_eq!(count_runs(), 1);
    });
}

#[test]
fn kv_on_real_o_direct_files() {
    let dir = real_disk_tempdir();
    let mut cfg = KvConfig::new(dir.path().join("index"));
    cfg.memtable_bytes = 64 * 1024;
    run(async {
        let kv = Kv::open(cfg).await.expect("open");
        for r in 0..4u64 {
            for i in 0..300u32 {
                put(
                    &kv,
                    r * 1000 + u64::from(i) + 1,
                    &key(i),
                    format!("{r}-{i}").as_bytes(),
                );
            }
            kv.freeze(r * 1000 + 999, vec![r as u8]);
            kv.flush().await.expect("flush");
        }
        assert!(kv.merge_step().await.expect("merge"));
        kv.close();
        let mut cfg = KvConfig::new(dir.path().join("index"));
        cfg.cache_bytes = 1 << 20;
        let kv = Kv::open(cfg).await.expect("reopen");
        assert_eq!((kv.log_position(), kv.derived()), (3999, vec![3]));
        for i in 0..300u32 {
            assert_eq!(
                kv.get(&key(i)).await.expect("get"),
                Some(Bytes::from(format!("3-{i}")))
            );
        }
        assert_eq!(scan_all(&kv, b"").await.len(), 300);
    });
}

// ---------------------------------------------------------------------------
// The model test: random operations against a BTreeMap, with reopens and
// power cuts. The "log" is the list of applied batches (log position P =
// how many); after a reopen the kv must hold exactly the log up to its
// manifest's P, and after replaying the rest, all of it.

/// Distinct keys the model test uses.
const MODEL_KEYS: u32 = 120;

#[derive(Debug, Clone)]
enum Op {
    Put(u32, u8),
    /// One batch putting `n` consecutive keys.
    PutRange(u32, u32, u8),
    Delete(u32),
    Freeze,
    FreezeFlush,
    Merge,
    Reopen,
    PowerCut(u64),
    /// A freeze and flush whose `nth` write (or sync) from now fails; then,
    /// with a seed, a power cut.
    FailedFlush {
        nth: u64,
        on_sync: bool,
        cut: Option<u64>,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..MODEL_KEYS, 0..4u8).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0..MODEL_KEYS, 1..40u32, 0..3u8).prop_map(|(k, n, v)| Op::PutRange(k, n, v)),
        4 => (0..MODEL_KEYS).prop_map(Op::Delete),
        1 => Just(Op::Freeze),
        3 => Just(Op::FreezeFlush),
        2 => Just(Op::Merge),
        1 => Just(Op::Reopen),
        1 => any::<u64>().prop_map(Op::PowerCut),
        1 => (0..6u64, any::<bool>(), proptest::option::of(any::<u64>()))
            .prop_map(|(nth, on_sync, cut)| Op::FailedFlush { nth, on_sync, cut }),
    ]
}

fn value_len(sel: u8) -> usize {
    [0, 20, 300, 5000][sel as usize % 4]
}

type Record = Vec<(Vec<u8>, Option<Bytes>)>;

fn model_state(log: &[Record]) -> BTreeMap<Vec<u8>, Bytes> {
    let mut m = BTreeMap::new();
    for rec in log {
        for (k, v) in rec {
            match v {
                Some(v) => m.insert(k.clone(), v.clone()),
                None => m.remove(k),
            };
        }
    }
    m
}

struct Harness {
    disk: SimDiskHandle,
    kv: Option<Kv>,
    log: Vec<Record>,
}

impl Harness {
    fn kv(&self) -> &Kv {
        self.kv.as_ref().expect("open")
    }

    fn append(&mut self, rec: Record) {
        let seq = self.log.len() as u64 + 1;
        let mut b = Batch::new(seq);
        b.ops = rec.clone();
        self.kv().apply(&b).expect("apply");
        self.log.push(rec);
    }

    fn freeze(&self) {
        let p = self.log.len() as u64;
        self.kv().freeze(p, p.to_le_bytes().to_vec());
    }

    /// Opens the kv again, checks it holds the log up to its P, and
    /// replays the rest as recovery would.
    async fn reopen(&mut self, cut: Option<u64>) {
        if let Some(kv) = self.kv.take() {
            kv.close();
        }
        if let Some(seed) = cut {
            self.disk.borrow_mut().power_cut(seed);
        }
        let kv = Kv::open(sim_cfg(&self.disk)).await.expect("reopen");
        let p = kv.log_position() as usize;
        assert!(p <= self.log.len());
        if kv.open_report().manifest.is_some() {
            assert_eq!(
                kv.derived(),
                (p as u64).to_le_bytes().to_vec(),
                "derived counts belong to P"
            );
        }
        let names = file::list_dir(Path::new(DIR), &Backing::Sim(self.disk.clone())).expect("list");
        let mut on_disk: Vec<u64> = names.iter().filter_map(|n| parse_run_name(n)).collect();
        on_disk.sort_unstable();
        let mut named: Vec<u64> = kv.run_infos().iter().map(|r| r.num).collect();
        named.sort_unstable();
        assert_eq!(on_disk, named, "only the manifest's runs are left");
        assert!(
            names.len() <= named.len() + 1,
            "one manifest at most: {names:?}"
        );
        check(&kv, &model_state(&self.log[..p]), p).await;
        for (i, rec) in self.log[p..].iter().enumerate() {
            let mut b = Batch::new((p + i) as u64 + 1);
            b.ops = rec.clone();
            kv.apply(&b).expect("replay");
        }
        self.kv = Some(kv);
    }

    async fn step(&mut self, op: &Op) {
        let seq = self.log.len() as u64 + 1;
        match *op {
            Op::Put(k, v) => self.append(vec![(key(k), Some(value(seq, value_len(v))))]),
            Op::PutRange(k, n, v) => {
                let rec = (k..(k + n).min(MODEL_KEYS))
                    .map(|k| (key(k), Some(value(seq * 1000 + k as u64, value_len(v)))))
                    .collect();
                self.append(rec);
            }
            Op::Delete(k) => self.append(vec![(key(k), None)]),
            Op::Freeze => self.freeze(),
            Op::FreezeFlush => {
                self.freeze();
                while self.kv().flush().await.expect("flush") {}
            }
            Op::Merge => {
                self.kv().merge_step().await.expect("merge");
            }
            Op::Reopen => self.reopen(None).await,
            Op::PowerCut(seed) => self.reopen(Some(seed)).await,
            Op::FailedFlush { nth, on_sync, cut } => {
                {
                    let mut d = self.disk.borrow_mut();
                    if on_sync {
                        d.faults.eio_on_sync = Some(d.syncs + nth);
                    } else {
                        d.faults.short_write = Some(d.writes + nth);
                    }
                }
                self.freeze();
                // It may fail or not (`nth` may be past its last write).
                let _ = self.kv().flush().await;
                self.disk.borrow_mut().faults = Default::default();
                if cut.is_some() {
                    self.reopen(cut).await;
                }
            }
        }
    }
}

/// Point lookups of every key, a full scan, and scans from seek points.
async fn check(kv: &Kv, want: &BTreeMap<Vec<u8>, Bytes>, salt: usize) {
    for i in 0..MODEL_KEYS {
        let k = key(i);
        assert_eq!(
            kv.get(&k).await.expect("get"),
            want.get(&k).cloned(),
            "get {:?}",
            String::from_utf8_lossy(&k)
        );
    }
    let all: Vec<(Vec<u8>, Bytes)> = want.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(scan_all(kv, b"").await, all, "full scan");
    for j in 0..4 {
        let mut from = key(((salt * 7 + j * 31) % MODEL_KEYS as usize) as u32);
        if j % 2 == 1 {
            from.push(0); // between keys
        }
        let mut it = kv.scan(&from).await.expect("scan");
        let want_from: Vec<_> = want
            .range(from.clone()..)
            .take(8)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut got = Vec::new();
        while got.len() < 8 {
            match it.next().await.expect("next") {
                Some(kv) => got.push(kv),
                None => break,
            }
        }
        assert_eq!(
            got,
            want_from,
            "scan from {:?}",
            String::from_utf8_lossy(&from)
        );
        // A seek on a live iterator (a listing's roll-up) lands like a new scan.
        let skip = key(((salt + j) % MODEL_KEYS as usize) as u32);
        it.seek(&skip).await.expect("seek");
        let next = it.next().await.expect("next");
        assert_eq!(
            next,
            want.range(skip..)
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn kv_matches_a_model_through_flushes_merges_reopens_and_power_cuts(ops in proptest::collection::vec(op_strategy(), 1..80)) {
        run(async {
            let disk = SimDisk::new_handle();
            let kv = Kv::open(sim_cfg(&disk)).await.expect("open");
            let mut h = Harness { disk, kv: Some(kv), log: Vec::new() };
            for (i, op) in ops.iter().enumerate() {
                h.step(op).await;
                check(h.kv(), &model_state(&h.log), i).await;
            }
        });
    }
}

#[test]
fn reads_stay_right_while_a_flush_and_a_merge_run() {
    let disk = SimDisk::new_handle();
    // Every read, write and sync yields, so reads interleave with the background work.
    disk.borrow_mut().interleave = true;
    run(async {
        let kv = Rc::new(Kv::open(sim_cfg(&disk)).await.expect("open"));
        let mut model = BTreeMap::new();
        let mut seq = 0;
        for round in 0..4u32 {
            for i in 0..60u32 {
                seq += 1;
                let v = value(seq, 200);
                put(&kv, seq, &key(i * 2 + round % 2), &v);
                model.insert(key(i * 2 + round % 2), v);
            }
            kv.freeze(seq, Vec::new());
            if round < 3 {
                kv.flush().await.expect("flush");
            }
        }
        // The fourth flush and then a merge run in the background...
        let bg = kv.clone();
        let work = monoio::spawn(async move {
            assert!(bg.flush().await.expect("flush"));
            assert!(bg.merge_step().await.expect("merge"));
        });
        // ... while reads and a write go on.
        let mut rounds = 0;
        while kv.frozen_count() > 0 || kv.run_infos().len() > 1 {
            assert!(rounds < 10_000, "the background work never finished");
            // Give the background task a turn even when no read misses.
            file::SimYield::new().await;
            seq += 1;
            put(&kv, seq, b"live", &seq.to_le_bytes());
            model.insert(b"live".to_vec(), Bytes::copy_from_slice(&seq.to_le_bytes()));
            for i in (0..240u32).step_by(7) {
                assert_eq!(
                    kv.get(&key(i)).await.expect("get"),
                    model.get(&key(i)).cloned(),
                    "key {i}"
                );
            }
            let all: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(scan_all(&kv, b"").await, all);
            rounds += 1;
        }
        work.await;
        assert!(
            rounds >= 2,
            "the reads ran during the background work ({rounds} rounds)"
        );
        assert_eq!(kv.run_infos().len(), 1);
    });
}

/// Builds three flushed runs and one frozen memtable (four rounds of puts
/// and deletes); returns the log as records (log position = record count).
async fn three_runs_and_a_frozen_memtable(kv: &Kv) -> Vec<Record> {
    let mut log: Vec<Record> = Vec::new();
    for round in 0..4u32 {
        for i in 0..40u32 {
            let k = key((i * 3 + round) % 150);
            let rec = if (i + round) % 5 == 0 {
                vec![(k, None)]
            } else {
                vec![(k, Some(value(log.len() as u64, 150)))]
            };
            let mut b = Batch::new(log.len() as u64 + 1);
            b.ops = rec.clone();
            kv.apply(&b).expect("apply");
            log.push(rec);
        }
        let p = log.len() as u64;
        kv.freeze(p, p.to_le_bytes().to_vec());
        if round < 3 {
            kv.flush().await.expect("flush");
        }
    }
    log
}

#[test]
fn a_power_cut_at_any_point_of_a_flush_and_merge_leaves_a_consistent_index() {
    let (mut old_p, mut new_p, mut completed) = (0, 0, false);
    for cut_after in 0..200u64 {
        let disk = SimDisk::new_handle();
        let (log, p) = run(async {
            let kv = Rc::new(Kv::open(sim_cfg(&disk)).await.expect("open"));
            let log = three_runs_and_a_frozen_memtable(&kv).await;
            // Every write and sync now yields: the cut can land between any two.
            disk.borrow_mut().interleave = true;
            let bg = kv.clone();
            let work = monoio::spawn(async move {
                // I/O after the cut fails; what matters is what reached the disk.
                let _ = bg.flush().await;
                let _ = bg.merge_step().await;
            });
            for _ in 0..cut_after {
                file::SimYield::new().await;
            }
            completed |= kv.frozen_count() == 0 && kv.run_infos().len() == 1;
            disk.borrow_mut().dead = true;
            work.await;
            disk.borrow_mut().power_cut(cut_after);
            let after = disk.borrow().durable_copy();
            let kv = Kv::open(sim_cfg(&after))
                .await
                .expect("reopen after the cut");
            let p = kv.log_position() as usize;
            assert_eq!(kv.derived(), (p as u64).to_le_bytes().to_vec());
            check(&kv, &model_state(&log[..p]), cut_after as usize).await;
            let names = file::list_dir(Path::new(DIR), &Backing::Sim(after.clone())).expect("list");
            let runs_left = names.iter().filter_map(|n| parse_run_name(n)).count();
            assert_eq!(
                runs_left,
                kv.run_infos().len(),
                "orphans removed: {names:?}"
            );
            (log, p)
        });
        assert!(p == 120 || p == 160, "P {p} is a freeze position");
        if p == 120 {
            old_p += 1
        } else {
            new_p += 1
        }
        if completed {
            assert_eq!(p, log.len());
            break;
        }
    }
    assert!(
        completed,
        "the flush and merge finished within the cut points tried"
    );
    assert!(
        old_p > 0 && new_p > 0,
        "cuts before ({old_p}) and after ({new_p}) the flush's manifest"
    );
}
