//! A full store over S3 (issue 22, section 3): `--max-data-bytes` and a
//! small real ext4 file system (loop-mounted when the test runs as root).
//!
//! What must hold: object writes answer 507 XMinioStorageFull before they
//! can eat the reserve (empty PUTs included); every DELETE, DeleteObjects,
//! delete marker, version delete and AbortMultipartUpload is accepted on a
//! full store, also after a restart; once objects are deleted, compaction
//! makes the space writable again within a bounded wait; the cap holds every
//! byte the shards' files take; every acknowledged object reads back byte
//! for byte throughout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, ObjectIdentifier, VersioningConfiguration,
};

use crate::common::{pattern, rt, s3_client, scratch_dir, Server};

const MIB: u64 = 1024 * 1024;
/// How long a freed store may take to accept writes again (compaction polls every second).
const REFILL_WAIT: Duration = Duration::from_secs(60);
/// Consecutive 507s that end a fill: every shard is full then (a key's
/// shard is a hash, so a shard with room would take one of them).
const FULL_AFTER_REFUSALS: u32 = 24;
/// Empty PUTs a full store may still take: only the room above the reserve
/// that the last refused object left (under one data record per shard).
const MAX_EMPTY_PUTS_PER_SHARD: u64 = 4000;
/// After the refusals, how long `fill` lets compaction (it polls every
/// second) free what earlier deletes left before it calls the store full:
/// space freed later is writable, and would let the empty PUTs through.
const COMPACTION_SETTLE: Duration = Duration::from_secs(3);

type Model = BTreeMap<String, Vec<u8>>;

fn is_storage_full<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("XMinioStorageFull")
}

/// Bytes every file and directory under the shard dirs takes on disk.
fn shard_bytes_on_disk(data_dir: &Path) -> u64 {
    fn walk(p: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return 0;
        };
        let mut n = m.blocks() * 512;
        if m.is_dir() {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                n += walk(&e.path());
            }
        }
        n
    }
    std::fs::read_dir(data_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("shard-"))
        .map(|e| walk(&e.path()))
        .sum()
}

/// PUTs `size`-byte objects until `FULL_AFTER_REFUSALS` in a row answer 507
/// and still do after `COMPACTION_SETTLE`; any other error fails the test.
/// Returns how many were stored.
async fn fill(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    tag: &str,
    size: usize,
    model: &mut Model,
) -> u64 {
    let (mut stored, mut refusals, mut n) = (0u64, 0u32, 0u64);
    // Whether the refusals so far all came after a settling pause.
    let mut settled = false;
    loop {
        if refusals == FULL_AFTER_REFUSALS {
            if settled {
                break;
            }
            tokio::time::sleep(COMPACTION_SETTLE).await;
            (settled, refusals) = (true, 0);
        }
        let key = format!("{tag}-{n}");
        let data = pattern(size, n ^ 0xf111);
        n += 1;
        match s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
        {
            Ok(_) => {
                (settled, refusals) = (false, 0);
                stored += 1;
                model.insert(key, data);
            }
            Err(e) if is_storage_full(&e) => refusals += 1,
            Err(e) => panic!("PUT {key}: {e:?}"),
        }
        assert!(n < 100_000, "no PUT was ever refused");
    }
    stored
}

/// Empty PUTs until they are refused (the attack of issue 22 3b); returns
/// how many were accepted. They may use the room above the reserve and
/// whatever compaction frees meanwhile (segments age and get freed while
/// the flood runs), nothing more.
async fn empty_puts_until_refused(
    server: &Server,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    tag: &str,
) -> u64 {
    let freed_before = segments_freed(server);
    let (mut accepted, mut refusals) = (0u64, 0u32);
    while refusals < FULL_AFTER_REFUSALS {
        let key = format!("{tag}-empty-{accepted}-{refusals}");
        match s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from_static(b""))
            .send()
            .await
        {
            Ok(_) => {
                accepted += 1;
                refusals = 0;
            }
            Err(e) if is_storage_full(&e) => refusals += 1,
            Err(e) => panic!("empty PUT {key}: {e:?}"),
        }
        let base = MAX_EMPTY_PUTS_PER_SHARD * server.shards as u64;
        if accepted > base {
            let freed = (segments_freed(server) - freed_before) as u64;
            let bound = base + freed * segment_bytes(server) / EMPTY_PUT_MIN_RECORD_BYTES;
            assert!(
                accepted <= bound,
                "{accepted} empty PUTs accepted on a full store ({freed} segments freed \
                 meanwhile): they eat the reserve"
            );
        }
    }
    accepted
}

/// The smallest log record an empty PUT writes (its commit).
const EMPTY_PUT_MIN_RECORD_BYTES: u64 = 200;

/// Segments compaction has freed so far, by the server's log.
fn segments_freed(server: &Server) -> usize {
    server.log().matches("segment compacted and freed").count()
}

/// The segment size the server chose for the disk or cap, by its log.
fn segment_bytes(server: &Server) -> u64 {
    let log = server.log();
    let mib = log
        .split("segment_mib=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("the server logs the segment size it chose");
    mib * MIB
}

async fn check_model(s3: &aws_sdk_s3::Client, bucket: &str, model: &Model) {
    for (k, v) in model {
        let got = crate::common::get_bytes(s3, bucket, k).await;
        assert!(
            got == *v,
            "{k}: {} bytes read, {} acknowledged",
            got.len(),
            v.len()
        );
    }
}

/// Runs `request` until it is not refused with 507, within `REFILL_WAIT`
/// (compaction frees deleted space in the background, shard by shard); any
/// other error fails the test.
async fn until_writable<T, E, F>(what: &str, mut request: impl FnMut() -> F) -> T
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    F: std::future::Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + REFILL_WAIT;
    loop {
        match request().await {
            Ok(v) => return v,
            Err(e) if is_storage_full(&e) => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: still 507 {REFILL_WAIT:?} after deleting 60%"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("{what}: {e:?}"),
        }
    }
}

/// An upload in progress with one part, for the full store to abort. Opened
/// right after a refill, its key's shard may not have freed its deleted
/// space yet (the refill waited for another key's shard): a 507 is waited
/// out like the refill's.
async fn open_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let up = until_writable(&format!("create upload {key}"), || {
        s3.create_multipart_upload().bucket(bucket).key(key).send()
    })
    .await;
    let id = up.upload_id().expect("upload id").to_string();
    until_writable(&format!("part of {key}"), || {
        s3.upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(pattern(MIB as usize, 99)))
            .send()
    })
    .await;
    id
}

/// Deletes 60% of `model` (single DELETEs and one DeleteObjects batch);
/// every one must be accepted.
async fn delete_sixty_percent(s3: &aws_sdk_s3::Client, bucket: &str, model: &mut Model) {
    let doomed: Vec<String> = model
        .keys()
        .enumerate()
        .filter(|(i, _)| i % 5 < 3)
        .map(|(_, k)| k.clone())
        .collect();
    let (batch, single) = doomed.split_at(doomed.len().min(50));
    let objects = batch
        .iter()
        .map(|k| {
            ObjectIdentifier::builder()
                .key(k)
                .build()
                .expect("identifier")
        })
        .collect::<Vec<_>>();
    let out = s3
        .delete_objects()
        .bucket(bucket)
        .delete(
            Delete::builder()
                .set_objects(Some(objects))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("DeleteObjects on a full store");
    assert!(
        out.errors().is_empty(),
        "DeleteObjects errors on a full store: {:?}",
        out.errors()
    );
    for k in single {
        s3.delete_object()
            .bucket(bucket)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {k} on a full store: {e:?}"));
    }
    for k in &doomed {
        model.remove(k);
    }
}

/// PUTs one `size`-byte object until it is accepted (compaction frees the
/// deleted space), within `REFILL_WAIT`.
async fn put_when_writable(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    size: usize,
    model: &mut Model,
) {
    let data = pattern(size, 4242);
    until_writable(&format!("PUT {key}"), || {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(data.clone()))
            .send()
    })
    .await;
    model.insert(key.to_string(), data);
}

/// Delete markers and version deletes on a full store.
async fn versioned_deletes(s3: &aws_sdk_s3::Client, round: usize) {
    let key = format!("v{round}");
    let marker = s3
        .delete_object()
        .bucket("ver")
        .key(&key)
        .send()
        .await
        .expect("delete marker on a full store");
    assert_eq!(marker.delete_marker(), Some(true));
    let version = marker.version_id().expect("marker version").to_string();
    s3.delete_object()
        .bucket("ver")
        .key(&key)
        .version_id(version)
        .send()
        .await
        .expect("version delete on a full store");
}

/// The cycle, `rounds` times: fill until 507, empty PUTs cannot
/// eat the reserve, aborts and deletes (60%) are accepted, a PUT succeeds
/// again within a bounded wait; then full again, a restart, and deletes and
/// aborts still accepted. `cap`: checks the shards' bytes on disk.
fn full_cycle(server: &mut Server, object_bytes: usize, rounds: usize, cap: Option<u64>) {
    let rt = rt();
    let within_cap = |server: &Server, when: &str| {
        if let Some(cap) = cap {
            let held = shard_bytes_on_disk(&server.data_dir);
            assert!(
                held <= cap,
                "{when}: the shards take {held} bytes on disk, cap {cap}"
            );
        }
    };
    let mut model = Model::new();
    let late_upload = rt.block_on(async {
        let s3 = s3_client(server).await;
        s3.create_bucket()
            .bucket("full")
            .send()
            .await
            .expect("create");
        s3.create_bucket()
            .bucket("ver")
            .send()
            .await
            .expect("create ver");
        s3.put_bucket_versioning()
            .bucket("ver")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
        for round in 0..rounds {
            let upload = open_upload(&s3, "full", &format!("mp{round}")).await;
            let stored = fill(&s3, "full", &format!("r{round}"), object_bytes, &mut model).await;
            assert!(stored >= 8, "round {round}: only {stored} objects fit");
            within_cap(server, "full");
            let empties = empty_puts_until_refused(server, &s3, "full", &format!("r{round}")).await;
            eprintln!("round {round}: {stored} objects, then {empties} empty PUTs before 507");
            within_cap(server, "after the empty PUTs");
            s3.abort_multipart_upload()
                .bucket("full")
                .key(format!("mp{round}"))
                .upload_id(upload)
                .send()
                .await
                .expect("AbortMultipartUpload on a full store");
            versioned_deletes(&s3, round).await;
            delete_sixty_percent(&s3, "full", &mut model).await;
            check_model(&s3, "full", &model).await;
            put_when_writable(
                &s3,
                "full",
                &format!("again{round}"),
                object_bytes,
                &mut model,
            )
            .await;
            check_model(&s3, "full", &model).await;
            within_cap(server, "after the refill");
        }
        let late = open_upload(&s3, "full", "late").await;
        fill(&s3, "full", "last", object_bytes, &mut model).await;
        empty_puts_until_refused(server, &s3, "full", "last").await;
        late
    });
    server.restart();
    within_cap(server, "after the restart");
    rt.block_on(async {
        let s3 = s3_client(server).await;
        check_model(&s3, "full", &model).await;
        s3.abort_multipart_upload()
            .bucket("full")
            .key("late")
            .upload_id(late_upload)
            .send()
            .await
            .expect("AbortMultipartUpload after a restart at full");
        versioned_deletes(&s3, rounds).await;
        delete_sixty_percent(&s3, "full", &mut model).await;
        put_when_writable(&s3, "full", "after-restart", object_bytes, &mut model).await;
        check_model(&s3, "full", &model).await;
    });
    within_cap(server, "at the end");
    assert!(
        server.log().contains("segment compacted and freed"),
        "compaction freed the space"
    );
}

/// Issue 22 3(a), (b), (d): 1 shard, `--segment-mib 32 --max-data-bytes
/// 128 MiB`, 1 MiB PUTs. The cap is measured on disk at every step.
#[test]
fn capped_store_fill_delete_refill_cycle() {
    let cap = 128 * MIB;
    let mut server = Server::start_with(
        1,
        &["--segment-mib", "32", "--max-data-bytes", &cap.to_string()],
    );
    full_cycle(&mut server, MIB as usize, 3, Some(cap));
    assert!(
        server.log().contains("segment size lowered"),
        "the segment size was fitted to the cap"
    );
}

/// Issue 22 3(d): a cap below shards × the configured segment size is
/// enforced exactly (a 256 MiB cap once took 510 MiB), checkpoints and
/// spare segments included.
#[test]
fn a_cap_below_shards_times_segment_size_is_exact() {
    let cap = 256 * MIB;
    let mut server = Server::start_with(
        2,
        &["--segment-mib", "256", "--max-data-bytes", &cap.to_string()],
    );
    let rt = rt();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("full")
            .send()
            .await
            .expect("create");
        let mut model = Model::new();
        fill(&s3, "full", "k", MIB as usize, &mut model).await;
        let held = shard_bytes_on_disk(&server.data_dir);
        assert!(
            held <= cap,
            "the shards take {held} bytes on disk, cap {cap}"
        );
        assert!(held >= cap / 2, "only {held} of {cap} bytes used");
        check_model(&s3, "full", &model).await;
    });
    server.restart();
    assert!(shard_bytes_on_disk(&server.data_dir) <= cap);
}

/// A loop-mounted ext4 image, unmounted (and deleted) when dropped.
struct LoopMount {
    base: PathBuf,
    mnt: PathBuf,
}

impl LoopMount {
    /// Makes and mounts an ext4 file system of `bytes`; Err says why not.
    fn new(bytes: u64) -> Result<LoopMount, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        let base = tempfile::Builder::new()
            .prefix("ringstore-ext4-")
            .tempdir_in(scratch_dir())
            .map_err(|e| e.to_string())?
            .keep();
        let image = base.join("disk.img");
        let mnt = base.join("mnt");
        let made = std::fs::create_dir(&mnt)
            .and_then(|()| std::fs::File::create(&image))
            .and_then(|f| f.set_len(bytes));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&base);
            return Err(format!("image: {e}"));
        }
        let run = |cmd: &mut Command| -> Result<(), String> {
            match cmd.output() {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&o.stderr))),
                Err(e) => Err(format!("{cmd:?}: {e}")),
            }
        };
        let mounted =
            run(Command::new("mkfs.ext4").arg("-q").arg("-F").arg(&image)).and_then(|()| {
                run(Command::new("mount")
                    .arg("-o")
                    .arg("loop")
                    .arg(&image)
                    .arg(&mnt))
            });
        if let Err(e) = mounted {
            let _ = std::fs::remove_dir_all(&base);
            return Err(e);
        }
        Ok(LoopMount { base, mnt })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        for _ in 0..50 {
            match Command::new("umount").arg(&self.mnt).status() {
                Ok(s) if s.success() => {
                    let _ = std::fs::remove_dir_all(&self.base);
                    return;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        // Still busy: detach it now, the kernel finishes when it can.
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Issue 22 3(c), (e): an empty 512 MiB ext4 disk, the server's defaults
/// (256 MiB segments, which do not fit: the size is chosen from the disk),
/// 2 shards: it starts, fills to 507 with no other error, keeps its reserve
/// for deletes and aborts, and becomes writable again after deletes. Runs
/// as root on a loop-mounted image; otherwise (no root, no loop device, no
/// mkfs.ext4) it says so and runs the same cycle under a 512 MiB cap.
#[test]
fn small_disk_with_defaults_fill_delete_refill_cycle() {
    const DISK_BYTES: u64 = 512 * MIB;
    match LoopMount::new(DISK_BYTES) {
        Ok(mount) => {
            let mut server = Server::start_in(mount.mnt.join("data"), 2, &[]);
            full_cycle(&mut server, MIB as usize, 2, None);
            assert!(
                server.log().contains("segment size lowered"),
                "the segment size was fitted to the disk"
            );
            drop(server);
            drop(mount);
        }
        Err(why) => {
            eprintln!(
                "NOTE: cannot mount a loop ext4 image ({why}); running the --max-data-bytes \
                 variant of this test instead"
            );
            let mut server = Server::start_with(
                2,
                &[
                    "--segment-mib",
                    "256",
                    "--max-data-bytes",
                    &DISK_BYTES.to_string(),
                ],
            );
            full_cycle(&mut server, MIB as usize, 2, Some(DISK_BYTES));
        }
    }
}
