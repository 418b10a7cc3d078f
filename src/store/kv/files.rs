//! The kv layer's directory: file names, listing, removal and directory
//! syncs, on real files or the simulated disk.

use std::path::{Path, PathBuf};

use crate::store::file::{self, Backing};
use crate::store::types::StoreError;

/// Where the I/O of a kv instance goes.
#[derive(Clone)]
pub struct KvFiles {
    pub dir: PathBuf,
    pub backing: Backing,
    pub direct_io: bool,
}

pub fn run_name(num: u64) -> String {
    format!("run-{num:08}.kv")
}

pub fn manifest_name(num: u64) -> String {
    format!("manifest-{num:08}")
}

fn parse_number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| digits.parse().ok())?
}

pub fn parse_run_name(name: &str) -> Option<u64> {
    parse_number(name, "run-", ".kv")
}

pub fn parse_manifest_name(name: &str) -> Option<u64> {
    parse_number(name, "manifest-", "")
}

impl KvFiles {
    /// Where `SegmentFile`s of this kv instance live.
    pub fn backing(&self) -> Backing {
        self.backing.clone()
    }

    pub fn run_path(&self, num: u64) -> PathBuf {
        self.dir.join(run_name(num))
    }

    pub fn manifest_path(&self, num: u64) -> PathBuf {
        self.dir.join(manifest_name(num))
    }

    /// Creates the directory (private to the server's user) if needed.
    pub fn create_dir(&self) -> Result<(), StoreError> {
        if !self.backing.is_files() {
            return Ok(());
        }
        crate::util::private_fs::create_private_dir_all(&self.dir).map_err(|source| {
            StoreError::Io {
                op: "mkdir",
                path: self.dir.clone(),
                offset: 0,
                source,
            }
        })
    }

    /// The run and manifest numbers present in the directory, ascending.
    pub fn list(&self) -> Result<(Vec<u64>, Vec<u64>), StoreError> {
        let names = file::list_dir(&self.dir, &self.backing)?;
        let mut runs: Vec<u64> = names.iter().filter_map(|n| parse_run_name(n)).collect();
        let mut manifests: Vec<u64> = names
            .iter()
            .filter_map(|n| parse_manifest_name(n))
            .collect();
        runs.sort_unstable();
        manifests.sort_unstable();
        Ok((runs, manifests))
    }

    /// Unlinks a file; a missing file is not an error. Not made durable: a
    /// removed file that reappears after a crash is an orphan, removed at open.
    pub fn remove(&self, path: &Path) {
        file::remove(path, &self.backing());
    }

    /// Makes the directory's entries durable (an fsync of the directory
    /// through the shard's io_uring).
    pub async fn sync_dir(&self) -> Result<(), StoreError> {
        if !self.backing.is_files() {
            return Ok(());
        }
        let err = |op, source| StoreError::Io {
            op,
            path: self.dir.clone(),
            offset: 0,
            source,
        };
        let dir = monoio::fs::File::open(&self.dir)
            .await
            .map_err(|e| err("open dir", e))?;
        dir.sync_all().await.map_err(|e| err("fsync dir", e))?;
        dir.close().await.map_err(|e| err("close dir", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(parse_run_name(&run_name(42)), Some(42));
        assert_eq!(
            parse_run_name(&run_name(123_456_789_012)),
            Some(123_456_789_012)
        );
        assert_eq!(parse_manifest_name(&manifest_name(7)), Some(7));
        for stranger in [
            "run-.kv",
            "run-1.kv.tmp",
            "run-+1.kv",
            "manifest-",
            "manifest-1x",
            "seg-0000000001.log",
        ] {
            assert_eq!(
                parse_run_name(stranger).or(parse_manifest_name(stranger)),
                None,
                "{stranger}"
            );
        }
    }
}
