//! `serve --memory`: objects in each shard's memory instead of the log on
//! disk, for load-testing targets and throw-away CI endpoints.
//!
//! The store runs unchanged over a `store::MemDisk` (see `store::file`): the
//! same log records, index, compaction, multipart, versioning, checksums
//! and SSE; only durability is gone. What is not object data (the catalog
//! of buckets, the credentials, the SSE master key) lives in a fresh
//! private temporary directory, so nothing of an earlier run is seen and
//! `--data-dir` is not used; it is removed when the server stops, and a
//! server killed before it could remove it (kill -9, a crash) leaves one
//! that the next memory server's start-up removes (`remove_abandoned`).

use std::path::{Path, PathBuf};

use super::ServerConfig;

/// Default bound on the memory objects take, all shards together, in MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 1024;
/// Prefix of the temporary catalog directory's name.
const CATALOG_DIR_PREFIX: &str = "ringstore-memory-";
/// Names tried before giving up on creating a temporary directory.
const CATALOG_DIR_TRIES: u32 = 16;

/// A catalog dir without a lock file is left alone this long: its server
/// may be between creating it and locking it (a few milliseconds).
const UNLOCKED_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Logs, loudly, that nothing this server acknowledges is durable.
pub fn warn_no_durability(cfg: &ServerConfig) {
    tracing::warn!(
        memory_bytes = cfg.memory_bytes,
        "MEMORY BACKEND (--memory): objects are kept in memory only, with NO DURABILITY: \
         every object, bucket and credential is lost when the process exits; --data-dir is not used"
    );
}

/// Creates a new private (0700) directory for the catalog under the
/// system's temporary directory (`TMPDIR`).
pub fn create_catalog_dir() -> Result<PathBuf, String> {
    create_dir_in(&std::env::temp_dir())
}

fn create_dir_in(parent: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let stamp = crate::util::time::unix_now_millis();
    let mut last = None;
    for attempt in 0..CATALOG_DIR_TRIES {
        let name = format!(
            "{CATALOG_DIR_PREFIX}{}-{stamp}-{attempt}",
            std::process::id()
        );
        let dir = parent.join(name);
        let made = std::fs::DirBuilder::new()
            .mode(crate::util::private_fs::PRIVATE_DIR_MODE)
            .create(&dir);
        match made {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(format!("create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "create a temporary directory in {}: {}",
        parent.display(),
        last.map_or_else(|| "no name left".into(), |e| e.to_string())
    ))
}

/// Removes the catalog dirs under `parent` that memory servers of this user
/// left behind: named like ours, owned by us, and whose data dir lock no
/// process holds (checked with flock, so a live server in another pid
/// namespace sharing the directory is safe). Returns how many were removed.
pub fn remove_abandoned(parent: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(CATALOG_DIR_PREFIX));
        let dir = entry.path();
        // symlink_metadata: a symlink named like a catalog dir is not one.
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        if !ours || !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        let lock = super::dirlock::lock_if_abandoned(&dir);
        let unlocked_and_old = !dir.join(super::dirlock::LOCK_FILE).exists()
            && meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > UNLOCKED_GRACE);
        if lock.is_none() && !unlocked_and_old {
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "removed the catalog dir a killed memory server left");
                removed += 1;
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "could not remove an abandoned memory catalog: {e}")
            }
        }
    }
    removed
}

/// Removes the temporary catalog directory once the shards have stopped.
pub fn remove_catalog_dir(dir: &Path) {
    debug_assert!(dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(CATALOG_DIR_PREFIX)));
    if let Err(e) = std::fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), "could not remove the memory server's catalog: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_catalog_dir_is_new_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().expect("tempdir");
        let a = create_dir_in(parent.path()).expect("first");
        let b = create_dir_in(parent.path()).expect("second");
        assert_ne!(a, b);
        let mode = std::fs::metadata(&a).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::write(a.join("catalog.json"), b"{}").expect("write");
        remove_catalog_dir(&a);
        assert!(!a.exists());
    }

    #[test]
    fn only_abandoned_catalog_dirs_are_removed() {
        let parent = tempfile::tempdir().expect("tempdir");
        let abandoned = create_dir_in(parent.path()).expect("abandoned");
        drop(crate::server::dirlock::lock_data_dir(&abandoned).expect("lock"));
        std::fs::write(abandoned.join("catalog.json"), b"{}").expect("write");
        let live = create_dir_in(parent.path()).expect("live");
        let held = crate::server::dirlock::lock_data_dir(&live).expect("lock");
        let starting = create_dir_in(parent.path()).expect("not locked yet");
        let other = parent.path().join("ringstore-test-1");
        std::fs::create_dir(&other).expect("mkdir");
        std::fs::write(other.join(crate::server::dirlock::LOCK_FILE), b"1").expect("write");
        assert_eq!(remove_abandoned(parent.path()), 1);
        assert!(!abandoned.exists());
        assert!(live.exists() && starting.exists() && other.exists());
        drop(held);
        assert_eq!(remove_abandoned(parent.path()), 1);
        assert!(!live.exists());
    }
}
