//! One process per data dir. Two servers on one data dir would both append
//! to the same logs and each lose the other's acknowledged writes at the next
//! start; `verify` on a live data dir would read half-written tails as damage.
//! So `serve`, `verify` and the floor's durable store take an exclusive
//! flock(2) on `DATA/ringstore.lock` before touching anything, and hold it
//! for the life of the process (the kernel drops it when the process ends,
//! however it ends). The file holds the holder's pid, for the refusal message.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "ringstore.lock";
/// A holder that is already gone (killed a moment ago) may keep the lock
/// until the kernel has closed its files; wait this long for it.
const DEAD_HOLDER_WAIT: Duration = Duration::from_secs(3);
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// The held lock; dropping it releases the data dir.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Locks `dir` (which must exist) for this process, or says who holds it.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, String> {
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::util::private_fs::PRIVATE_FILE_MODE)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    let started = Instant::now();
    loop {
        match try_flock(&file) {
            Ok(()) => break,
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
                let holder = read_holder(&mut file);
                let gone = holder.is_some_and(|pid| !process_exists(pid));
                if gone && started.elapsed() < DEAD_HOLDER_WAIT {
                    std::thread::sleep(LOCK_RETRY_INTERVAL);
                    continue;
                }
                let who = match holder {
                    Some(pid) => format!("pid {pid}"),
                    None => "another process (pid not recorded yet)".to_string(),
                };
                return Err(format!(
                    "{} is in use by another ringstore ({who}, holding {}); stop it first",
                    dir.display(),
                    path.display()
                ));
            }
            Err(e) => return Err(format!("lock {}: {e}", path.display())),
        }
    }
    let pid = std::process::id();
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{pid}"))
        .map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(DataDirLock { _file: file, path })
}

/// Locks `dir` if it has a lock file that no process holds (its holder has
/// exited, however it ended); None if there is none or it is held.
pub fn lock_if_abandoned(dir: &Path) -> Option<DataDirLock> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .ok()?;
    try_flock(&file).ok()?;
    Some(DataDirLock { _file: file, path })
}

fn try_flock(file: &File) -> std::io::Result<()> {
    // SAFETY: flock(2) on a descriptor this function's caller owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The pid the holder wrote, if it has written one.
fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = lock_data_dir(dir.path()).expect("first lock");
        let text = std::fs::read_to_string(held.path()).expect("lock file");
        assert_eq!(text.trim(), std::process::id().to_string());
        // flock conflicts between two open file descriptions, even in one process.
        let err = lock_data_dir(dir.path()).expect_err("second lock");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(held);
        lock_data_dir(dir.path()).expect("free again");
    }

    #[test]
    fn only_a_lock_file_nobody_holds_is_abandoned() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(lock_if_abandoned(dir.path()).is_none(), "no lock file");
        let held = lock_data_dir(dir.path()).expect("lock");
        assert!(lock_if_abandoned(dir.path()).is_none(), "held");
        drop(held);
        let taken = lock_if_abandoned(dir.path()).expect("abandoned");
        assert!(lock_data_dir(dir.path()).is_err(), "taken over");
        drop(taken);
    }
}
