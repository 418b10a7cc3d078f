//! Shard threads: CPU pinning and the per-thread monoio runtime (io_uring,
//! with the epoll driver as a fallback where io_uring is blocked).

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

/// Submission queue entries per shard ring.
pub const RING_ENTRIES: u32 = 1024;

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds-checks against CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether this kernel and sandbox allow io_uring.
pub fn io_uring_available() -> bool {
    monoio::utils::detect_uring()
}

/// How this process's io_uring rings are set up (`--io-uring-setup`).
//
// Coop is the default: with COOP_TASKRUN the kernel stops interrupting a
// running shard to post completions (io_uring task work run on the way back
// from an interrupt: `task_work_run` fell from 6.6 % to 3.9 % of the GET
// 4 KiB server profile) and posts them at the shard's next io_uring_enter,
// which monoio's loop makes every turn;
// SINGLE_ISSUER lets it skip the ring's lock (a shard's ring is only ever
// entered by its own thread). Measured in tuning/README.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UringSetup {
    /// COOP_TASKRUN + SINGLE_ISSUER
    Coop,
    /// SINGLE_ISSUER + DEFER_TASKRUN: completions are posted only when a shard waits
    Defer,
    /// no setup flags
    Plain,
}

static URING_SETUP: AtomicU8 = AtomicU8::new(UringSetup::Coop as u8);

/// Sets the ring setup for every runtime built from now on in this process.
pub fn set_uring_setup(setup: UringSetup) {
    URING_SETUP.store(setup as u8, Ordering::Relaxed);
}

fn uring_setup() -> UringSetup {
    match URING_SETUP.load(Ordering::Relaxed) {
        x if x == UringSetup::Defer as u8 => UringSetup::Defer,
        x if x == UringSetup::Plain as u8 => UringSetup::Plain,
        _ => UringSetup::Coop,
    }
}

static IDLE_SPIN_NANOS: AtomicU64 = AtomicU64::new(0);

/// Sets how long every shard runtime built from now on keeps its loop
/// turning after activity before it sleeps (`shard::spin`); zero: never.
pub fn set_idle_spin(budget: Duration) {
    let budget = budget.min(super::spin::MAX_IDLE_SPIN);
    IDLE_SPIN_NANOS.store(budget.as_nanos() as u64, Ordering::Relaxed);
}

fn idle_spin() -> Duration {
    Duration::from_nanos(IDLE_SPIN_NANOS.load(Ordering::Relaxed))
}

fn uring_builder(setup: UringSetup) -> io_uring::Builder {
    let mut urb = io_uring::IoUring::builder();
    match setup {
        UringSetup::Coop => {
            urb.setup_coop_taskrun().setup_single_issuer();
        }
        UringSetup::Defer => {
            urb.setup_single_issuer().setup_defer_taskrun();
        }
        UringSetup::Plain => {}
    }
    urb
}

type ShardRuntime = monoio::FusionRuntime<
    monoio::time::TimeDriver<monoio::IoUringDriver>,
    monoio::time::TimeDriver<monoio::LegacyDriver>,
>;

fn build_runtime(setup: UringSetup) -> io::Result<ShardRuntime> {
    monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(RING_ENTRIES)
        .uring_builder(uring_builder(setup))
        .enable_timer()
        .build()
}

/// Runs `make()`'s future to completion on a fresh monoio runtime on this
/// thread: io_uring when available (with the `set_uring_setup` flags, or
/// none where the kernel refuses them), else the epoll driver. With an idle
/// spin set (`set_idle_spin`) and io_uring, the runtime also runs the
/// spinner (`shard::spin`).
pub fn block_on<F, Fut>(make: F) -> io::Result<Fut::Output>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    block_on_spinning(idle_spin(), make)
}

/// [`block_on`] with this idle spin budget (zero: none).
pub fn block_on_spinning<F, Fut>(spin: Duration, make: F) -> io::Result<Fut::Output>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    let setup = uring_setup();
    let mut rt = match build_runtime(setup) {
        Ok(rt) => rt,
        Err(e) if setup != UringSetup::Plain => {
            tracing::debug!(?setup, error = %e, "io_uring setup flags refused; using none");
            build_runtime(UringSetup::Plain)?
        }
        Err(e) => return Err(e),
    };
    // Spinning on the epoll driver would keep the loop from parking, and so
    // from running tasks woken by other threads (see shard::spin).
    let spin = match &rt {
        monoio::FusionRuntime::Uring(_) => spin,
        monoio::FusionRuntime::Legacy(_) => Duration::ZERO,
    };
    Ok(rt.block_on(async move {
        if !spin.is_zero() {
            monoio::spawn(super::spin::run(spin));
        }
        make().await
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setup_asks_the_kernel_for_its_flags() {
        // Built straight from the builder, so the flags are checked on the ring itself.
        let coop = uring_builder(UringSetup::Coop).build(8);
        let defer = uring_builder(UringSetup::Defer).build(8);
        let plain = uring_builder(UringSetup::Plain)
            .build(8)
            .expect("plain ring");
        // io-uring exposes only SINGLE_ISSUER of the setup flags we use; the
        // taskrun flags travel with it in each builder.
        assert!(!plain.params().is_setup_single_issuer());
        // Kernels before 6.0 / 6.1 refuse the flags (block_on then uses none).
        if let Ok(ring) = coop {
            assert!(ring.params().is_setup_single_issuer());
        }
        if let Ok(ring) = defer {
            assert!(ring.params().is_setup_single_issuer());
        }
    }

    #[test]
    fn a_runtime_with_each_setup_serves_a_tcp_round_trip() {
        for setup in [UringSetup::Coop, UringSetup::Defer, UringSetup::Plain] {
            let mut rt = build_runtime(setup).or_else(|_| build_runtime(UringSetup::Plain));
            let rt = rt.as_mut().expect("runtime");
            let echoed = rt.block_on(async {
                use monoio::io::{AsyncReadRentExt, AsyncWriteRentExt};
                let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let server = monoio::spawn(async move {
                    let (mut s, _) = listener.accept().await.expect("accept");
                    let (r, buf) = s.read_exact(vec![0u8; 5]).await;
                    r.expect("read");
                    let (r, _) = s.write_all(buf).await;
                    r.expect("write");
                });
                let mut c = monoio::net::TcpStream::connect(addr)
                    .await
                    .expect("connect");
                let (r, _) = c.write_all(b"hello".to_vec()).await;
                r.expect("write");
                // A timer too: the time driver wraps the ring.
                monoio::time::sleep(std::time::Duration::from_millis(2)).await;
                let (r, buf) = c.read_exact(vec![0u8; 5]).await;
                r.expect("read");
                server.await;
                buf
            });
            assert_eq!(echoed, b"hello", "{setup:?}");
        }
    }
}
