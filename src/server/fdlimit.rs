//! File descriptors: the process raises its soft RLIMIT_NOFILE to the hard
//! limit at start (a common inherited soft limit of 1024 let ~1000 idle
//! sockets take every descriptor), and client connections may use all but a
//! reserve, which stays free for the store: new segments, spares,
//! checkpoints, catalog and key writes, directory syncs. A PUT that needs a
//! new segment must never fail because sockets took its descriptor.
//!
//! The accept loop enforces the reserve by the number of the descriptor it
//! was just given: the kernel hands out the lowest free number, so a socket
//! numbered N means descriptors 0..N were all in use a moment ago. A socket
//! numbered at or above the ceiling displaces an idle connection, or is
//! closed (`server::admission`).

use std::io;

/// Descriptors kept free for the whole process beyond the shards' own
/// (standard streams, catalog and credential writes, the checkpoint thread,
/// the data dir lock, a log file being reopened).
pub const FD_RESERVE_BASE: u64 = 64;
/// Descriptors kept free per shard: a new segment and a spare, a checkpoint
/// file and its directory sync, compaction's target, with room to spare.
pub const FD_RESERVE_PER_SHARD: u64 = 16;
/// Where the kernel says how many descriptors a process may have at most
/// (the ceiling when the hard limit reads as unlimited).
const NR_OPEN_PATH: &str = "/proc/sys/fs/nr_open";

/// The open-file limits before and after `raise_to_hard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimits {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

fn get_nofile() -> io::Result<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the rlimit we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// Sets the soft open-file limit to the hard limit (or to the kernel's
/// per-process maximum when the hard limit is unlimited).
pub fn raise_to_hard() -> io::Result<FdLimits> {
    let before = get_nofile()?;
    let mut target = before.rlim_max;
    if target == libc::RLIM_INFINITY {
        if let Some(nr_open) = std::fs::read_to_string(NR_OPEN_PATH)
            .ok()
            .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
        {
            target = nr_open;
        }
    }
    if target > before.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: before.rlim_max,
        };
        // SAFETY: setrlimit(2) reads the rlimit we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let after = get_nofile()?;
    Ok(FdLimits {
        soft_before: before.rlim_cur as u64,
        soft: after.rlim_cur as u64,
        hard: after.rlim_max as u64,
    })
}

/// Raises the limit and says so in the log; returns the soft limit in force.
pub fn raise_and_log() -> u64 {
    match raise_to_hard() {
        Ok(l) if l.soft > l.soft_before => {
            tracing::info!(
                from = l.soft_before,
                to = l.soft,
                hard = l.hard,
                "open file limit raised to the hard limit"
            );
            l.soft
        }
        Ok(l) => {
            tracing::info!(
                soft = l.soft,
                hard = l.hard,
                "open file limit already at the hard limit"
            );
            l.soft
        }
        Err(e) => {
            let soft = get_nofile().map(|r| r.rlim_cur).unwrap_or(1024);
            tracing::warn!(soft, "could not raise the open file limit: {e}");
            soft
        }
    }
}

/// Descriptors kept free for the store with `shards` shards.
pub fn store_reserve(shards: usize) -> u64 {
    FD_RESERVE_BASE + FD_RESERVE_PER_SHARD * shards as u64
}

/// The lowest descriptor number a client connection may not have.
pub fn connection_fd_ceiling(soft_limit: u64, shards: usize) -> u64 {
    soft_limit.saturating_sub(store_reserve(shards))
}

/// How many descriptors the process has open now (None where /proc is missing).
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_grows_with_the_shards_and_never_underflows() {
        assert_eq!(store_reserve(1), FD_RESERVE_BASE + FD_RESERVE_PER_SHARD);
        assert_eq!(
            connection_fd_ceiling(1024, 2),
            1024 - FD_RESERVE_BASE - 2 * FD_RESERVE_PER_SHARD
        );
        assert_eq!(connection_fd_ceiling(10, 4), 0);
    }

    #[test]
    fn raising_leaves_soft_at_hard() {
        let l = raise_to_hard().expect("rlimit");
        assert!(l.soft >= l.soft_before);
        assert!(l.soft <= l.hard, "{l:?}");
        assert!(open_fds().expect("/proc") >= 3);
    }
}
