//! The process's own figures for the scrape (`process_*`, the Prometheus
//! client libraries' names) and the data dir's file system. procfs and
//! statvfs answer from kernel memory in microseconds, so reading them on a
//! shard's thread at scrape time blocks nothing.

use std::path::Path;

#[derive(Clone, Debug, Default)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_secs: f64,
    pub threads: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct DiskStats {
    pub capacity_bytes: u64,
    /// Free to unprivileged users (f_bavail): what the server can still write.
    pub free_bytes: u64,
}

/// Reads /proc/self; a figure that cannot be read is 0.
pub fn process_stats() -> ProcessStats {
    let mut p = ProcessStats::default();
    // SAFETY: sysconf and getpagesize take no pointers.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    if let Some(f) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_fields(&s))
    {
        // Fields after the command: index 0 is field 3 (state) of proc(5).
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        p.cpu_seconds = (num(11) + num(12)) as f64 / ticks;
        p.threads = num(17);
        p.virtual_bytes = num(20);
        p.resident_bytes = num(21) * page.max(0) as u64;
        p.start_time_secs = boot_time_secs() + num(19) as f64 / ticks;
    }
    p.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        p.max_fds = lim.rlim_cur;
    }
    p
}

/// The fields of /proc/self/stat after the command name (which may hold
/// spaces and parentheses, so split after its last `)`).
fn stat_fields(stat: &str) -> Option<Vec<String>> {
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

fn boot_time_secs() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

/// The file system holding `dir`.
pub fn disk_stats(dir: &Path) -> Option<DiskStats> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs reads a NUL-terminated path and writes the local struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frag = st.f_frsize as u64;
    Some(DiskStats {
        capacity_bytes: st.f_blocks as u64 * frag,
        free_bytes: st.f_bavail as u64 * frag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_its_own_figures() {
        let p = process_stats();
        assert!(
            p.resident_bytes > 0 && p.virtual_bytes >= p.resident_bytes,
            "{p:?}"
        );
        assert!(p.open_fds >= 3 && p.max_fds >= p.open_fds, "{p:?}");
        assert!(p.threads >= 1, "{p:?}");
        let now = crate::util::time::unix_now_millis() as f64 / 1000.0;
        assert!(
            p.start_time_secs > now - 86_400.0 * 365.0 && p.start_time_secs <= now + 1.0,
            "{p:?}"
        );
        let d = disk_stats(Path::new(".")).expect("statvfs");
        assert!(d.capacity_bytes >= d.free_bytes && d.capacity_bytes > 0);
    }

    #[test]
    fn a_command_name_with_parentheses_does_not_shift_the_fields() {
        let f = stat_fields("42 (a) b) S 1 2 3").expect("fields");
        assert_eq!(f, ["S", "1", "2", "3"]);
    }
}
