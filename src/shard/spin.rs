//! Spin before park: after a request or a mesh message, a shard keeps its
//! event loop turning for a short while (`--idle-spin-us`) instead of
//! sleeping in `io_uring_enter`, so the next message from a peer shard, a
//! reply, or a completion is picked up within a loop turn rather than after
//! a thread wake-up (an eventfd write, then the scheduler and, in a VM, an
//! inter-processor interrupt: tens of microseconds here, DESIGN.md).
//!
//! monoio drains cross-thread wakers only when it parks, so a task that
//! merely yields would starve them (tuning/README.md, session 3). The
//! spinner instead awaits a one-byte io_uring read of `/dev/zero`, which
//! completes at submission: the loop still parks every turn — draining
//! foreign wakers and reaping completions — but `io_uring_enter` returns at
//! once. Once no activity has been noted for the budget, the spinner waits
//! for the next one and the shard sleeps as before. Each spinning turn also
//! yields the CPU to any other runnable thread, and a shard with more than
//! [`SPIN_MAX_CONNECTIONS`] active client connections does not spin at all.
//!
//! Only for the io_uring driver: on the epoll fallback a read of
//! `/dev/zero` would not park the loop, and foreign wakers would wait.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Longest spin budget accepted (a spinning shard keeps its core busy).
pub const MAX_IDLE_SPIN: Duration = Duration::from_millis(10);
/// A shard with more active client connections than this does not spin: it
/// has work queued often enough that wake-ups are rare, and a busy core is
/// better given to whatever else runs on the host (a co-located client lost
/// 4–7 % at 32 connections when shards spun; tuning/README.md). Active: a
/// request began on it in this or the previous [`ACTIVE_WINDOW_MS`], so the
/// idle connections an SDK's pool keeps open do not count.
pub const SPIN_MAX_CONNECTIONS: usize = 2;
pub const ACTIVE_WINDOW_MS: u64 = 100;
/// Reads timed when the spinner starts, and the time the fastest of them
/// must beat for spinning to stay on: inline a read takes ~1 µs (0.8 µs
/// measured here, with its io_uring_enter); handed to an io-wq worker it
/// needs a thread wake-up both ways.
const PROBE_READS: u32 = 64;
const MAX_PROBE_READ: Duration = Duration::from_micros(4);

struct IdleSpin {
    /// Requests and mesh messages seen on this thread.
    activity: Cell<u64>,
    /// The spinner, while it waits for activity.
    waiter: RefCell<Option<Waker>>,
    /// Loop turns spent spinning.
    turns: Cell<u64>,
    /// The spinner runs on this thread (its probe passed and it has not stopped).
    enabled: Cell<bool>,
    /// The current activity window (coarse milliseconds / ACTIVE_WINDOW_MS).
    window: Cell<u64>,
    /// Connections that began a request in the current window, and in the
    /// one before it.
    active_now: Cell<usize>,
    active_before: Cell<usize>,
}

thread_local! {
    static SPIN: IdleSpin = const {
        IdleSpin {
            activity: Cell::new(0),
            waiter: RefCell::new(None),
            turns: Cell::new(0),
            enabled: Cell::new(false),
            window: Cell::new(0),
            active_now: Cell::new(0),
            active_before: Cell::new(0),
        }
    };
}

/// One connection's part in the activity count; kept by the connection.
#[derive(Debug, Default)]
pub struct ConnActivity {
    /// The window it was last counted in (0: never; windows start at 1).
    window: u64,
}

impl Drop for ConnActivity {
    /// A closed connection is no longer active.
    fn drop(&mut self) {
        if self.window == 0 {
            return;
        }
        let window = self.window;
        let _ = SPIN.try_with(|s| {
            let current = s.window.get();
            if window == current {
                s.active_now.set(s.active_now.get().saturating_sub(1));
            } else if window + 1 == current {
                s.active_before.set(s.active_before.get().saturating_sub(1));
            }
        });
    }
}

/// The activity window of now, from the coarse monotonic clock (a few
/// nanoseconds: no TSC read; a few milliseconds' resolution is plenty).
fn window_now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec; CLOCK_MONOTONIC_COARSE always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let ms = ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000;
    1 + ms / ACTIVE_WINDOW_MS
}

impl IdleSpin {
    /// Moves the windows on to `now` if it has begun.
    fn roll(&self, now: u64) {
        let current = self.window.get();
        if now == current {
            return;
        }
        let before = if now == current + 1 {
            self.active_now.get()
        } else {
            0
        };
        self.active_before.set(before);
        self.active_now.set(0);
        self.window.set(now);
    }

    fn spinning_allowed(&self) -> bool {
        self.active_now.get().max(self.active_before.get()) <= SPIN_MAX_CONNECTIONS
    }

    fn note(&self) {
        self.activity.set(self.activity.get().wrapping_add(1));
        if self.spinning_allowed() {
            if let Some(w) = self.waiter.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// Notes a request beginning on a client connection: the connection counts
/// as active, and a spinner that is idle starts spinning (unless too many
/// connections are active). Cheap enough for every request.
pub fn note_request(conn: &mut ConnActivity) {
    let now = window_now();
    SPIN.with(|s| {
        s.roll(now);
        if conn.window != now {
            conn.window = now;
            s.active_now.set(s.active_now.get() + 1);
        }
        s.note();
    });
}

/// Notes work that is not a client's request (a message from another
/// shard): a spinner that is idle starts spinning, if allowed.
pub fn note_activity() {
    let now = window_now();
    SPIN.with(|s| {
        s.roll(now);
        s.note();
    });
}

fn spinning_allowed() -> bool {
    let now = window_now();
    SPIN.with(|s| {
        s.roll(now);
        s.spinning_allowed()
    })
}

fn activity() -> u64 {
    SPIN.with(|s| s.activity.get())
}

/// Whether this shard is in the spinning regime: its spinner runs and the
/// load is light enough to spin. Its peers are then most likely spinning
/// too, i.e. awake, so waking their tasks directly costs no syscall.
pub fn in_spinning_regime() -> bool {
    SPIN.with(|s| s.enabled.get()) && spinning_allowed()
}

/// Loop turns this thread's spinner has spent spinning.
pub fn turns() -> u64 {
    SPIN.with(|s| s.turns.get())
}

/// Resolves once activity has been noted after `seen` while spinning is allowed.
async fn activity_after(seen: u64) -> u64 {
    poll_fn(|cx| {
        SPIN.with(|s| {
            let now = s.activity.get();
            if now != seen && s.spinning_allowed() {
                return Poll::Ready(now);
            }
            *s.waiter.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    })
    .await
}

/// Marks the spinner off when it stops (an error, or the runtime ends).
struct DisableOnExit;

impl Drop for DisableOnExit {
    fn drop(&mut self) {
        let _ = SPIN.try_with(|s| s.enabled.set(false));
    }
}

/// The shard's spinner: after each burst of activity it keeps the loop
/// turning until `budget` has passed with no new activity. Runs for the
/// life of the runtime; returns early (the shard then only parks) if
/// `/dev/zero` cannot be read.
pub async fn run(budget: Duration) {
    debug_assert!(!budget.is_zero() && budget <= MAX_IDLE_SPIN);
    let zero = match monoio::fs::File::open("/dev/zero").await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "idle spin off: cannot open /dev/zero");
            return;
        }
    };
    let mut buf = vec![0u8; 1];
    // The read must complete at submission. A kernel without non-blocking
    // reads of /dev/zero hands each one to an io-wq worker instead: the
    // loop would sleep on every turn and churn a thread, so no spinning.
    // The fastest of a few reads, so a preempted one does not count.
    let mut fastest = Duration::MAX;
    for _ in 0..PROBE_READS {
        let start = Instant::now();
        let (res, b) = zero.read_at(buf, 0).await;
        fastest = fastest.min(start.elapsed());
        buf = b;
        if let Err(e) = res {
            tracing::warn!(error = %e, "idle spin off: reading /dev/zero failed");
            return;
        }
    }
    if fastest > MAX_PROBE_READ {
        tracing::warn!(
            ?fastest,
            "idle spin off: io_uring reads of /dev/zero do not complete inline on this kernel"
        );
        return;
    }
    SPIN.with(|s| s.enabled.set(true));
    let _off = DisableOnExit;
    let mut seen = activity();
    loop {
        seen = activity_after(seen).await;
        let mut last = Instant::now();
        loop {
            let (res, b) = zero.read_at(buf, 0).await;
            buf = b;
            SPIN.with(|s| s.turns.set(s.turns.get() + 1));
            // Spin only on a core nobody else wants: a runnable thread
            // (a co-located client, another process) gets it first.
            // SAFETY: sched_yield has no arguments and cannot fail on Linux.
            unsafe { libc::sched_yield() };
            if let Err(e) = res {
                tracing::warn!(error = %e, "idle spin off: reading /dev/zero failed");
                return;
            }
            let now_seen = activity();
            let now = Instant::now();
            if !spinning_allowed() {
                break;
            }
            if now_seen != seen {
                seen = now_seen;
                last = now;
            } else if now.duration_since(last) >= budget {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_channel::oneshot;

    /// While the spinner spins, a waker from another thread still gets its
    /// task run at once (the loop parks every turn): a reply sent from
    /// another thread is seen in far less than the spin budget. A spinner
    /// that only yielded would leave it queued until the budget ran out.
    #[test]
    fn a_spinning_shard_still_runs_tasks_woken_from_other_threads() {
        let budget = MAX_IDLE_SPIN;
        crate::shard::runtime::block_on_spinning(budget, || async move {
            monoio::time::sleep(Duration::from_millis(1)).await;
            let mut delays = Vec::new();
            for round in 0..31u32 {
                let (tx, rx) = oneshot::channel::<(u32, Instant)>();
                note_activity();
                let sender = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_micros(200));
                    let _ = tx.send((round, Instant::now()));
                });
                let (got, sent_at) = rx.await.expect("reply");
                delays.push(sent_at.elapsed());
                assert_eq!(got, round);
                sender.join().expect("sender thread");
            }
            assert!(turns() > 0, "the spinner never ran");
            delays.sort();
            let median = delays[delays.len() / 2];
            assert!(
                median < budget / 2,
                "a cross-thread wake waited {median:?} (spin budget {budget:?})"
            );
        })
        .expect("runtime");
    }

    /// Activity starts the spinner; once the budget passes without any it
    /// stops (the shard sleeps through a timer), and the next activity
    /// starts it again.
    #[test]
    fn the_spinner_stops_after_its_budget_and_restarts_on_activity() {
        crate::shard::runtime::block_on_spinning(Duration::from_micros(300), || async {
            let idle_sleep = Duration::from_millis(20);
            monoio::time::sleep(Duration::from_millis(2)).await;
            assert_eq!(turns(), 0, "no activity yet: no spinning");
            note_activity();
            monoio::time::sleep(idle_sleep).await;
            let after_burst = turns();
            assert!(after_burst > 0, "activity must start the spinner");
            monoio::time::sleep(idle_sleep).await;
            assert_eq!(turns(), after_burst, "spinning past its budget");
            note_activity();
            monoio::time::sleep(idle_sleep).await;
            assert!(turns() > after_burst, "new activity must restart it");
        })
        .expect("runtime");
    }
}
