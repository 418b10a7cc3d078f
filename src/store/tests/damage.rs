//! Damage in the log against a torn last flush: damage to records that had
//! been durable (the very last ones included) refuses the open unless the
//! loss is accepted, loses only the damaged record's objects then, and
//! `verify` reports it; a torn last flush is cut quietly. On the simulated
//! disk and on real files; a property test over random stores; the stored
//! v1 sample (no Sync records) still opens under the old rule.

use std::sync::{Arc, Mutex};

use super::*;
use crate::store::checkpoint::write_checkpoint;
use crate::store::recovery::scan_segment;
use crate::store::verify::{verify_shard, VerifyReport};

/// What a scenario's store should hold: key -> data (None: no object).
type Model = BTreeMap<String, Option<Vec<u8>>>;

/// The operation whose records end the log.
#[derive(Clone, Copy, Debug)]
enum LastOp {
    Put,
    Complete,
    Delete,
    /// A delete in a versioned bucket: a Version record (delete marker).
    Marker,
    /// A tag update: a Version record re-referencing the data.
    Tags,
}

const LAST_OPS: [LastOp; 5] = [
    LastOp::Put,
    LastOp::Complete,
    LastOp::Delete,
    LastOp::Marker,
    LastOp::Tags,
];
const LAST_KEY: &str = "last";

/// A few objects, then `last` on `LAST_KEY`. Returns the model and the
/// durable sequence number before the last operation.
async fn build(store: &Store, last: LastOp) -> (Model, u64) {
    let mut model = Model::new();
    for (i, len) in [(1u64, 5000usize), (2, 300_000), (3, 17)] {
        let k = format!("k{i}");
        put(store, &k, &body(i, len)).await.expect("put");
        model.insert(k, Some(body(i, len)));
    }
    if !matches!(last, LastOp::Put | LastOp::Complete) {
        put(store, LAST_KEY, &body(9, 40_000)).await.expect("put");
        model.insert(LAST_KEY.into(), Some(body(9, 40_000)));
    }
    if matches!(last, LastOp::Marker) {
        store.set_versioning([(1, Versioning::Enabled)].into_iter().collect());
    }
    let before = store.inner.log.stats().durable_seq;
    match last {
        LastOp::Put => {
            put(store, LAST_KEY, &body(8, 270_000)).await.expect("put");
            model.insert(LAST_KEY.into(), Some(body(8, 270_000)));
        }
        LastOp::Complete => {
            let id = store
                .create_upload(1, LAST_KEY, ObjectMeta::default())
                .await
                .expect("init");
            let mut w = store.part_writer(1, LAST_KEY, id, 1).expect("part");
            w.write(Bytes::from(body(7, 60_000))).await.expect("write");
            w.commit_part("etag".into(), None, 7).await.expect("part");
            store
                .complete_upload(1, LAST_KEY, id, &PutCondition::None, |u| {
                    Ok::<_, StoreError>((u.parts.keys().copied().collect(), u.meta.clone()))
                })
                .await
                .expect("complete");
            model.insert(LAST_KEY.into(), Some(body(7, 60_000)));
        }
        LastOp::Delete => {
            assert!(store.delete(1, LAST_KEY).await.expect("delete"));
            model.insert(LAST_KEY.into(), None);
        }
        LastOp::Marker => {
            let out = store.delete_object(1, LAST_KEY).await.expect("delete");
            assert!(out.delete_marker);
            model.insert(LAST_KEY.into(), None);
        }
        LastOp::Tags => {
            store
                .update_meta(1, LAST_KEY, None, |m| {
                    m.tags = vec![("t".into(), "v".into())]
                })
                .await
                .expect("tags");
        }
    }
    (model, before)
}

/// Checks every key of `model` except `lost` reads exactly; `lost` may read
/// anything but must not panic the store.
async fn check_model(store: &Store, model: &Model, lost: &[String], what: &str) {
    for (k, want) in model {
        let got = read_all(store, k).await;
        if lost.contains(k) {
            continue;
        }
        match (want, got) {
            (None, None) => {}
            (Some(w), Some(Ok(g))) => assert!(&g == w, "{what}: {k} has other bytes"),
            (w, g) => panic!(
                "{what}: {k}: want {:?} bytes, got {:?}",
                w.as_ref().map(|v| v.len()),
                g.map(|r| r.map(|v| v.len()))
            ),
        }
    }
}

/// One record of a log, where to damage it.
#[derive(Debug, Clone)]
struct Target {
    segment: u32,
    offset: u64,
    kind: RecordKind,
    seq: u64,
    /// Bytes with padding.
    bytes: u64,
    /// Header plus payload.
    used: u64,
    /// Keys whose objects the record holds or changes (empty: none).
    keys: Vec<String>,
    /// The last record of the last segment.
    last: bool,
}

/// Every valid record of the shard, in log order.
async fn records(cfg: &StoreConfig) -> Vec<Target> {
    let ids = file::list_segments(&cfg.dir, &cfg.backing).expect("list");
    let mut out = Vec::new();
    for &id in &ids {
        let path = cfg.dir.join(file::segment_name(id));
        let f = file::SegmentFile::open(&path, false, false, &cfg.backing)
            .await
            .expect("open segment");
        let scan = scan_segment(&f).await.expect("scan");
        assert!(
            scan.bad_runs.is_empty(),
            "the log is damaged before the test"
        );
        for r in scan.records {
            let p = r.payload.as_deref().unwrap_or(&[]);
            let key = match r.header.kind {
                RecordKind::Commit => CommitRec::decode(p).ok().map(|c| c.key),
                RecordKind::Delete => DeleteRec::decode(p).ok().map(|d| d.key),
                RecordKind::Version => VersionRec::decode(p).ok().map(|v| match v.op {
                    VersionOp::Put { commit, .. } => commit.key,
                    VersionOp::Remove(d) => d.key,
                }),
                RecordKind::MultipartComplete => {
                    MultipartCompleteRec::decode(p).ok().map(|c| c.commit.key)
                }
                RecordKind::MultipartInit => MultipartInitRec::decode(p).ok().map(|i| i.key),
                _ => None,
            };
            out.push(Target {
                segment: id,
                offset: r.offset,
                kind: r.header.kind,
                seq: r.header.seq,
                bytes: record_bytes(r.header.payload_len as usize) as u64,
                used: (HEADER_BYTES + r.header.payload_len as usize) as u64,
                keys: key.into_iter().collect(),
                last: false,
            });
        }
    }
    if let Some(t) = out.last_mut() {
        t.last = true;
    }
    out
}

/// Data records: the keys whose current objects name them.
async fn add_data_owners(store: &Store, model: &Model, targets: &mut [Target]) {
    for k in model.keys() {
        let Some(e) = store.get(1, k).await.expect("index") else {
            continue;
        };
        for x in &e.extents {
            for t in targets.iter_mut() {
                if (t.segment, t.offset) == (x.segment, x.offset) {
                    t.keys.push(k.clone());
                }
            }
        }
    }
}

/// Byte offsets within a record worth flipping: the header's first byte,
/// the CRC, the first and last payload bytes, the last padding byte.
fn flip_points(t: &Target) -> Vec<u64> {
    let mut at = vec![0, 25, HEADER_BYTES as u64, t.used - 1, t.bytes - 1];
    at.sort_unstable();
    at.dedup();
    at
}

/// Opens `cfg` twice: refused without accepting the loss (unless `torn`,
/// a cut of the unconfirmed last record), then accepted; checks the model.
async fn open_damaged(
    mut cfg_of: impl FnMut(bool) -> StoreConfig,
    model: &Model,
    t: &Target,
    torn: bool,
) {
    let what = format!("{:?} seq {} at {}:{}", t.kind, t.seq, t.segment, t.offset);
    match Store::open(cfg_of(false)).await {
        Ok(store) => {
            assert!(torn, "{what}: damage to a confirmed record went unnoticed");
            check_model(&store, model, &[], &what).await;
            return;
        }
        Err(StoreError::MediaDamage(m)) => {
            assert!(!torn, "{what}: a torn last write refused: {m}");
            assert!(m.contains(&format!("segment {}", t.segment)), "{what}: {m}");
        }
        Err(e) => panic!("{what}: open failed otherwise: {e}"),
    }
    let store = Store::open(cfg_of(true))
        .await
        .expect("open accepting the loss");
    assert!(
        store.stats().damaged_records >= 1,
        "{what}: damage not counted"
    );
    check_model(&store, model, &t.keys, &what).await;
    put(&store, "after", b"x").await.expect("writes go on");
}

fn sim_cfg_accepting(disk: &SimDiskHandle, accept: bool) -> StoreConfig {
    let mut cfg = sim_cfg(disk);
    cfg.accept_data_loss = accept;
    cfg
}

/// Every record from the last operation on, at each flip point, long
/// after it was acknowledged (confirmed by the idle Sync or a close).
#[test]
fn damage_to_the_last_acknowledged_records_is_refused_on_the_simulated_disk() {
    for (n, last) in LAST_OPS.into_iter().enumerate() {
        let disk = SimDisk::new_handle();
        let (model, before, targets) = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            let (model, before) = build(&store, last).await;
            if n % 2 == 0 {
                store.close().await.expect("close");
            } else {
                // The idle flusher confirms the last flush by itself.
                monoio::time::sleep(std::time::Duration::from_millis(
                    4 * crate::store::log::CONFIRM_IDLE_MS,
                ))
                .await;
            }
            let mut targets = records(&sim_cfg(&disk)).await;
            add_data_owners(&store, &model, &mut targets).await;
            (model, before, targets)
        });
        let tail: Vec<&Target> = targets.iter().filter(|t| t.seq > before).collect();
        assert!(tail.len() >= 3, "{last:?}: tail {tail:?}");
        assert!(tail.last().is_some_and(|t| t.kind == RecordKind::Sync));
        for t in tail {
            for at in flip_points(t) {
                let copy = disk.borrow().durable_copy();
                {
                    let mut d = copy.borrow_mut();
                    let raw = d.contents_mut(&seg_path(t.segment)).expect("segment");
                    raw[(t.offset + at) as usize] ^= 0x40;
                    d.settle();
                }
                run(open_damaged(
                    |a| sim_cfg_accepting(&copy, a),
                    &model,
                    t,
                    t.last,
                ));
            }
        }
    }
}

fn real_cfg(dir: &std::path::Path, accept: bool) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir.join("shard-000"), 0);
    cfg.segment_bytes = TEST_SEGMENT_BYTES;
    cfg.write_buffer_bytes = MIN_WRITE_BUFFER_BYTES;
    cfg.accept_data_loss = accept;
    cfg
}

fn copy_shard(from: &std::path::Path, to: &std::path::Path) {
    let (src, dst) = (from.join("shard-000"), to.join("shard-000"));
    std::fs::create_dir_all(&dst).expect("mkdir");
    copy_dir(&src, &dst);
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("readdir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
        }
    }
}

fn flip_file_byte(path: &std::path::Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).expect("read");
    b[0] ^= 0x40;
    f.write_all_at(&b, at).expect("write");
    f.sync_all().expect("sync");
}

fn verify_dir(dir: &std::path::Path) -> VerifyReport {
    let mut report = VerifyReport::default();
    run(verify_shard(&dir.join("shard-000"), &mut report)).expect("verify");
    report
}

/// The same on real files, with `verify` too.
#[test]
pub(crate) fn damage_to_the_last_acknowledged_records_is_refused_on_real_files() {
    for last in LAST_OPS {
        let dir = real_disk_tempdir();
        let (model, before, targets) = run(async {
            let store = Store::open(real_cfg(dir.path(), false))
                .await
                .expect("open");
            let (model, before) = build(&store, last).await;
            store.close().await.expect("close");
            let mut targets = records(&real_cfg(dir.path(), false)).await;
            add_data_owners(&store, &model, &mut targets).await;
            (model, before, targets)
        });
        assert!(verify_dir(dir.path()).is_clean());
        for t in targets.iter().filter(|t| t.seq > before) {
            let copy = real_disk_tempdir();
            copy_shard(dir.path(), copy.path());
            let seg = copy
                .path()
                .join("shard-000")
                .join(file::segment_name(t.segment));
            flip_file_byte(&seg, t.offset + t.used - 1);
            let report = verify_dir(copy.path());
            if t.last {
                assert!(
                    report.is_clean() && report.torn_tails.len() == 1,
                    "{t:?}: {report:?}"
                );
            } else {
                assert!(!report.is_clean(), "{t:?}: verify missed it");
                assert_eq!(report.damage[0].offset, t.offset, "{t:?}");
            }
            run(open_damaged(
                |a| real_cfg(copy.path(), a),
                &model,
                t,
                t.last,
            ));
        }
    }
}

/// Torn last flushes: the write in flight at a crash lands any subset of
/// its blocks, each torn anywhere; recovery cuts it quietly (no refusal)
/// and keeps every acknowledged object.
#[test]
fn torn_last_flush_is_cut_without_refusing() {
    for seed in 0..40u64 {
        let disk = SimDisk::new_handle();
        let model = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            let (model, _) = build(&store, LAST_OPS[seed as usize % LAST_OPS.len()]).await;
            // A write that never completes: appended, flushed, power cut
            // before its sync.
            let mut w = store.writer(1, "unacked");
            w.write(Bytes::from(body(seed, 100_000)))
                .await
                .expect("write");
            disk.borrow_mut().interleave = true;
            let writes = disk.borrow().writes;
            let pending = monoio::spawn(async move {
                let _ = w.commit(ObjectMeta::default(), PutCondition::None).await;
            });
            for _ in 0..1000 {
                if disk.borrow().writes > writes {
                    break;
                }
                file::SimYield::new().await;
            }
            assert!(
                disk.borrow().writes > writes,
                "the last flush never started"
            );
            disk.borrow_mut().power_cut(seed);
            disk.borrow_mut().dead = true;
            drop(pending);
            model
        });
        let after = disk.borrow().durable_copy();
        run(async {
            let store = Store::open(sim_cfg(&after))
                .await
                .unwrap_or_else(|e| panic!("seed {seed}: torn flush refused: {e}"));
            check_model(&store, &model, &[], &format!("seed {seed}")).await;
            assert_eq!(store.stats().damaged_records, 0);
        });
    }
}

/// Captures every WARN and ERROR event of the current thread while `f` runs.
fn warnings_during<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&sink.0.lock().expect("sink")).into_owned();
    (out, text.lines().map(str::to_string).collect())
}

/// Issue 22 §6: after a restart from a checkpoint, a commit after it that
/// names data records before it (a tag update, a PUT whose body streamed
/// before the checkpoint) was logged as "object data damaged". A clean
/// crash/restart cycle logs no damage, from a checkpoint or a full scan.
#[test]
pub(crate) fn clean_crash_and_restart_logs_no_damage() {
    let dir = real_disk_tempdir();
    let cfg = || real_cfg(dir.path(), false);
    run(async {
        let store = Store::open(cfg()).await.expect("open");
        for i in 0..6u64 {
            put(&store, &format!("k{i}"), &body(i, 70_000))
                .await
                .expect("put");
        }
        let mut streaming = store.writer(1, "streamed");
        streaming
            .write(Bytes::from(body(50, MAX_DATA_RECORD_BYTES + 10)))
            .await
            .expect("write");
        streaming.flush_pending().await.expect("data records out");
        // Its flush makes the streamed data durable before the checkpoint.
        put(&store, "k6", b"six").await.expect("put");
        assert!(write_checkpoint(&store).await.expect("checkpoint"));
        streaming
            .commit(ObjectMeta::default(), PutCondition::None)
            .await
            .expect("commit after the checkpoint");
        store
            .update_meta(1, "k2", None, |m| m.tags = vec![("a".into(), "b".into())])
            .await
            .expect("tag update after the checkpoint");
        // Crash: no close.
    });
    for round in 0..2 {
        let (stats, logs) = warnings_during(|| {
            run(async {
                let store = Store::open(cfg()).await.expect("reopen");
                assert_reads(&store, "k2", &body(2, 70_000)).await;
                assert_reads(&store, "streamed", &body(50, MAX_DATA_RECORD_BYTES + 10)).await;
                store.stats()
            })
        });
        assert!(logs.is_empty(), "round {round}: {logs:?}");
        assert_eq!((stats.damaged_records, stats.damaged_objects), (0, 0));
        if round > 0 {
            break;
        }
        // The second round scans the whole log.
        drop_durable_index(&dir.path().join("shard-000"));
    }
}

/// A log written before Sync records (the stored v1 sample as a segment)
/// opens, keeps the old torn-tail rule, and takes new records after it.
#[test]
fn a_v1_log_without_sync_records_still_opens() {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/store/testdata/format-v1.bin"
    ))
    .expect("sample");
    let disk = SimDisk::new_handle();
    let mut seg = sample.clone();
    seg.resize(TEST_SEGMENT_BYTES as usize, 0);
    disk.borrow_mut().install(&seg_path(1), seg);
    // The sample's extents are made up (its data record is not where they
    // point), so the object is checked by its commit, not read.
    let commit_etag = |store: Store, key: &'static str| async move {
        let e = store.get(7, key).await.expect("index").expect("object");
        assert_eq!(e.meta.size, 11);
        e.meta.etag.clone()
    };
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open v1");
        assert_eq!(
            commit_etag(store.clone(), "dir/ключ").await,
            "5eb63bbbe01eeed093cb22bb8f5acdc3"
        );
        put(&store, "new", b"v2 record").await.expect("put");
        store.close().await.expect("close");
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert_eq!(
            commit_etag(store.clone(), "dir/ключ").await,
            "5eb63bbbe01eeed093cb22bb8f5acdc3"
        );
        assert_reads(&store, "new", b"v2 record").await;
    });
    // Damage in the last v1 record, with no Sync record anywhere: the old
    // rule takes it for a torn flush.
    let disk = SimDisk::new_handle();
    let mut seg = sample.clone();
    let last = seg.len() - 9;
    seg[last] ^= 1;
    seg.resize(TEST_SEGMENT_BYTES as usize, 0);
    disk.borrow_mut().install(&seg_path(1), seg);
    run(async {
        let store = Store::open(sim_cfg(&disk))
            .await
            .expect("open v1 with a torn tail");
        assert_eq!(
            commit_etag(store.clone(), "dir/ключ").await,
            "5eb63bbbe01eeed093cb22bb8f5acdc3"
        );
    });
}

fn flip_everywhere_case(seed: u64, pick: u64, byte: u64) {
    let dir = real_disk_tempdir();
    let mut rng = SplitMix(seed);
    let (model, targets) = run(async {
        let store = Store::open(real_cfg(dir.path(), false))
            .await
            .expect("open");
        let mut model = Model::new();
        for op in 0..(8 + rng.next_u64() % 16) {
            let key = format!("k{}", rng.next_u64() % 6);
            match rng.next_u64() % 8 {
                0 => {
                    store.delete(1, &key).await.expect("delete");
                    model.insert(key, None);
                }
                1 if model.get(&key).is_some_and(|v| v.is_some()) => {
                    store
                        .update_meta(1, &key, None, |m| {
                            m.tags = vec![("op".into(), op.to_string())]
                        })
                        .await
                        .expect("tags");
                }
                2 => {
                    let data = body(rng.next_u64(), (rng.next_u64() % 300_000) as usize);
                    let id = store
                        .create_upload(1, &key, ObjectMeta::default())
                        .await
                        .expect("init");
                    let mut w = store.part_writer(1, &key, id, 1).expect("part");
                    w.write(Bytes::from(data.clone())).await.expect("write");
                    w.commit_part("e".into(), None, 1).await.expect("part");
                    store
                        .complete_upload(1, &key, id, &PutCondition::None, |u| {
                            Ok::<_, StoreError>((u.parts.keys().copied().collect(), u.meta.clone()))
                        })
                        .await
                        .expect("complete");
                    model.insert(key, Some(data));
                }
                _ => {
                    let data = body(rng.next_u64(), (rng.next_u64() % 300_000) as usize);
                    put(&store, &key, &data).await.expect("put");
                    model.insert(key, Some(data));
                }
            }
        }
        store.close().await.expect("close");
        let mut targets = records(&real_cfg(dir.path(), false)).await;
        add_data_owners(&store, &model, &mut targets).await;
        (model, targets)
    });
    let t = &targets[(pick % targets.len() as u64) as usize];
    let at = t.offset + byte % t.bytes;
    let seg = dir
        .path()
        .join("shard-000")
        .join(file::segment_name(t.segment));
    flip_file_byte(&seg, at);
    let report = verify_dir(dir.path());
    if t.last {
        assert!(t.kind == RecordKind::Sync, "{t:?}");
        assert!(
            report.is_clean() && !report.torn_tails.is_empty(),
            "{t:?}: {report:?}"
        );
    } else {
        assert!(
            !report.damage.is_empty(),
            "seed {seed}: flip at {at} in {t:?} unseen"
        );
    }
    run(open_damaged(|a| real_cfg(dir.path(), a), &model, t, t.last));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]
    /// Random stores, one byte flipped anywhere in any record: `verify`
    /// reports it, the open refuses without --accept-data-loss and with it
    /// loses only the damaged record's objects. (The last record, always
    /// the Sync record a clean close writes, is the one exception: its
    /// damage cannot be told from a torn last write, and it holds no data.)
    #[test]
    fn one_flipped_byte_anywhere_is_detected(seed in 0u64..1 << 32, pick in 0u64..1 << 20, byte in 0u64..1 << 20) {
        flip_everywhere_case(seed, pick, byte);
    }
}

/// Appends a data record of `len` bytes and waits until it is durable.
async fn append_durable(log: &crate::store::log::Log, len: usize) -> crate::store::log::RecordLoc {
    let payload = vec![0x5a; len];
    let loc = log
        .append(
            crate::store::space::AppendClass::Write,
            RecordKind::Data,
            0,
            &payload,
        )
        .await
        .expect("append");
    log.commit_barrier(loc.seq).await.expect("durable");
    loc
}

/// A write that ends its segment is confirmed too once the shard is idle:
/// every append leaves room in the segment for its flush's Sync record and
/// the confirming one. Its damage is then refused, not taken for a torn
/// write, and no segment file grows past its size.
#[test]
fn a_write_that_ends_its_segment_is_confirmed_too() {
    const STEP_PAYLOAD_BYTES: usize = 64 * 1024;
    const FILL_UNTIL_ROOM_BYTES: u64 = 256 * 1024;
    let sync = SYNC_RECORD_BYTES as u64;
    for slack in [sync, 2 * sync, 2 * sync + 8] {
        let disk = SimDisk::new_handle();
        let last = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            let log = &store.inner.log;
            let room = || {
                let (seg, end) = log.stats().durable_end;
                assert_eq!(seg, 1, "still in the first segment");
                TEST_SEGMENT_BYTES - end
            };
            while room() > FILL_UNTIL_ROOM_BYTES {
                append_durable(log, STEP_PAYLOAD_BYTES).await;
            }
            // One record ending `slack` bytes before the segment's end.
            let len = (room() - slack) as usize - HEADER_BYTES;
            let last = append_durable(log, len).await;
            monoio::time::sleep(std::time::Duration::from_millis(
                4 * crate::store::log::CONFIRM_IDLE_MS,
            ))
            .await;
            last
        });
        let copy = disk.borrow().durable_copy();
        let ids = file::list_segments(std::path::Path::new(SIM_DIR), &Backing::Sim(copy.clone()))
            .expect("list");
        {
            let mut d = copy.borrow_mut();
            for id in ids {
                let len = d.file_bytes(&seg_path(id)).expect("segment").len() as u64;
                assert_eq!(len, TEST_SEGMENT_BYTES, "slack {slack}: segment {id} grew");
            }
            let raw = d.contents_mut(&seg_path(last.segment)).expect("segment");
            raw[(last.offset + HEADER_BYTES as u64 + 7) as usize] ^= 0x40;
            d.settle();
        }
        let opened = run(async { Store::open(sim_cfg(&copy)).await.err() });
        assert!(
            matches!(opened, Some(StoreError::MediaDamage(_))),
            "slack {slack}: damage to the last acknowledged record at {}:{} taken for a torn write: {opened:?}",
            last.segment,
            last.offset
        );
    }
}
