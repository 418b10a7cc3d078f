//! Graceful stop on SIGTERM / SIGINT.
//!
//! The signals are blocked in every thread (the shards inherit the mask
//! from the thread that starts them) and taken by the main thread with
//! sigwait(2), so no handler ever interrupts a shard. The first one asks
//! every shard, by message, to stop: it closes its listeners, closes
//! connections idle between requests, lets requests in flight finish
//! (their writes are acknowledged only once durable, as always) and
//! closes each connection after its current answer. It reports once it
//! serves no connection. The main thread exits when every shard has
//! reported or the grace period has passed; a second signal exits at once.
//!
//! The shards keep running until the process exits: a request in flight
//! on one shard may be waiting for another shard's store.

use super::admission::ConnTable;
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How often a stopping shard looks whether its last connection has closed.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// One shard's "stop now" flag, which tasks can await. The shard's open
/// connections, and which are idle, are its admission table's
/// (`server::admission::ConnTable`).
#[derive(Default)]
pub struct StopSignal {
    set: Cell<bool>,
    /// The few tasks that wait for it (the accept loops), not connections.
    waiters: RefCell<Vec<Waker>>,
}

impl StopSignal {
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    fn set(&self) {
        self.set.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Resolves once the shard is stopping.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.get() {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.borrow_mut();
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// The main thread's side: one stop message per shard, and their reports.
pub struct StopHandle {
    requests: Vec<oneshot::Sender<()>>,
    drained: std::sync::mpsc::Receiver<usize>,
}

/// A shard's side of [`StopHandle`].
pub struct StopRequest {
    request: oneshot::Receiver<()>,
    drained: std::sync::mpsc::Sender<usize>,
}

/// The handle and one request per shard.
pub fn channels(shards: usize) -> (StopHandle, Vec<StopRequest>) {
    let (drained_tx, drained) = std::sync::mpsc::channel();
    let mut requests = Vec::with_capacity(shards);
    let mut ends = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, rx) = oneshot::channel();
        requests.push(tx);
        ends.push(StopRequest {
            request: rx,
            drained: drained_tx.clone(),
        });
    }
    (StopHandle { requests, drained }, ends)
}

/// How a graceful stop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every shard finished its requests.
    Drained,
    /// The grace period passed with this many shards still serving.
    GraceExpired { shards_busy: usize },
}

impl StopHandle {
    /// Asks every shard to stop and waits up to `grace` for them to drain.
    pub fn stop(self, grace: Duration) -> Stopped {
        let shards = self.requests.len();
        for tx in self.requests {
            let _ = tx.send(());
        }
        let deadline = Instant::now() + grace;
        let mut drained = 0;
        while drained < shards {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.drained.recv_timeout(left) {
                Ok(_) => drained += 1,
                Err(_) => break,
            }
        }
        if drained == shards {
            Stopped::Drained
        } else {
            Stopped::GraceExpired {
                shards_busy: shards - drained,
            }
        }
    }
}

/// A shard's stop task: waits for the request, stops the shard, runs
/// `close` once it has no connection left, then reports.
pub async fn serve_stop_request<F: std::future::Future<Output = ()>>(
    request: StopRequest,
    signal: &StopSignal,
    connections: &ConnTable,
    close: F,
) {
    // An Err means the main thread dropped its handle: it will never stop us.
    if request.request.await.is_err() {
        return;
    }
    signal.set();
    loop {
        // Again each turn: a connection busy at the stop closes itself
        // after its answer, but one that had already gone idle is closed here.
        connections.close_idle();
        if connections.is_empty() {
            break;
        }
        monoio::time::sleep(DRAIN_POLL).await;
    }
    close.await;
    let _ = request.drained.send(0);
}

/// SIGTERM and SIGINT.
fn stop_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGTERM and SIGINT in this thread and every thread it starts
/// afterwards; call before starting the shards.
pub fn block_stop_signals() -> Result<(), String> {
    let set = stop_signals();
    // SAFETY: pthread_sigmask with a valid set and no old-set pointer.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(format!(
            "block SIGTERM/SIGINT: {}",
            std::io::Error::from_raw_os_error(rc)
        ));
    }
    Ok(())
}

/// Waits for SIGTERM or SIGINT (blocked beforehand) and returns which.
pub fn wait_stop_signal() -> i32 {
    let set = stop_signals();
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait with a valid set and a local to write the signal to.
        let rc = unsafe { libc::sigwait(&set, &mut sig) };
        if rc == 0 {
            return sig;
        }
    }
}

/// The name of a stop signal, for the log.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}
