//! Which accepted connections are served. Idle sockets must not lock
//! everyone else out (8192 unauthenticated sockets used to stop every new
//! client for up to a minute), so:
//! - a shard at its connection cap, or a socket numbered into the store's
//!   descriptor reserve (`server::fdlimit`), closes the connection that has
//!   been idle longest (no request in progress) and serves the new one; only
//!   when every connection is mid-request is the new one refused; once a
//!   socket reached the reserve, the shard counts the open descriptors and
//!   caps its connections at what they leave it;
//! - one client address may hold at most `--max-connections-per-ip`
//!   connections across all shards;
//! - refusals and sheds are logged at most once per interval per shard.

use super::config::ServerConfig;
use crate::util::rate_limited::RateLimited;
use std::cell::{Cell, RefCell};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------ the table

/// A shard's open connections and which of them are idle.
#[derive(Default)]
pub struct ConnTable {
    slots: RefCell<Vec<Rc<ConnSlot>>>,
    /// Ticks each time a connection goes idle: orders them by idle age
    /// without reading the clock on every request.
    clock: Cell<u64>,
    /// Connections shed whose tasks have not ended yet: their sockets
    /// still hold descriptors.
    closing: Cell<usize>,
}

struct ConnSlot {
    fd: RawFd,
    /// Position in `ConnTable::slots` (kept up to date by swap-removal).
    index: Cell<usize>,
    /// `BUSY` while a request is served, else the table clock when the
    /// connection last went idle.
    idle_since: Cell<u64>,
    shed: Cell<bool>,
}

const BUSY: u64 = 0;

impl ConnTable {
    pub fn len(&self) -> usize {
        self.slots.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tick(&self) -> u64 {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        debug_assert_ne!(t, BUSY);
        t
    }

    /// Adds an accepted socket, idle until its first request head arrives.
    pub fn register(self: &Rc<Self>, fd: RawFd) -> ConnHandle {
        let mut slots = self.slots.borrow_mut();
        let slot = Rc::new(ConnSlot {
            fd,
            index: Cell::new(slots.len()),
            idle_since: Cell::new(self.tick()),
            shed: Cell::new(false),
        });
        slots.push(slot.clone());
        ConnHandle {
            table: self.clone(),
            slot,
        }
    }

    /// Closes the connection idle longest (its task sees the end of the
    /// stream at once and ends); false when none is idle.
    pub fn shed_oldest_idle(&self) -> bool {
        let slots = self.slots.borrow();
        let oldest = slots
            .iter()
            .filter(|s| s.is_idle() && !s.shed.get())
            .min_by_key(|s| s.idle_since.get());
        let Some(slot) = oldest else {
            return false;
        };
        slot.shed.set(true);
        self.closing.set(self.closing.get() + 1);
        slot.shutdown(libc::SHUT_RDWR);
        true
    }

    /// Connections shed that have not closed yet.
    pub fn closing(&self) -> usize {
        self.closing.get()
    }

    /// Connections not shed.
    pub fn live(&self) -> usize {
        self.len() - self.closing()
    }

    /// Ends the reads of every idle connection (a graceful stop): each sees
    /// the end of its stream and closes; busy ones finish their request.
    pub fn close_idle(&self) {
        for slot in self.slots.borrow().iter().filter(|s| s.is_idle()) {
            slot.shutdown(libc::SHUT_RD);
        }
    }
}

impl ConnSlot {
    fn is_idle(&self) -> bool {
        self.idle_since.get() != BUSY
    }

    fn shutdown(&self, how: libc::c_int) {
        // SAFETY: shutdown(2) on a socket this table holds: a slot leaves
        // the table (ConnHandle's drop) before its socket is closed, with
        // no await between, and this runs on the same thread.
        unsafe {
            libc::shutdown(self.fd, how);
        }
    }
}

/// A connection's place in its shard's table; leaving it on drop.
pub struct ConnHandle {
    table: Rc<ConnTable>,
    slot: Rc<ConnSlot>,
}

impl ConnHandle {
    /// Between requests (or before the first): the connection may be shed.
    pub fn set_idle(&self) {
        self.slot.idle_since.set(self.table.tick());
    }

    /// A request head arrived: the connection is not shed until it is answered.
    pub fn set_busy(&self) {
        self.slot.idle_since.set(BUSY);
    }

    /// Whether the connection was closed to make room for another.
    pub fn was_shed(&self) -> bool {
        self.slot.shed.get()
    }

    /// Makes the socket's close a reset (TCP RST, unsent bytes dropped)
    /// instead of an orderly FIN: SO_LINGER on, zero seconds.
    pub fn reset_on_close(&self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt(2) on a socket this table holds (see
        // `ConnSlot::shutdown`), with a pointer to a live `linger` of the
        // size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.slot.fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            tracing::debug!("SO_LINGER: {}", std::io::Error::last_os_error());
        }
    }
}

impl Drop for ConnHandle {
    fn drop(&mut self) {
        let mut slots = self.table.slots.borrow_mut();
        let at = self.slot.index.get();
        debug_assert!(Rc::ptr_eq(&slots[at], &self.slot));
        slots.swap_remove(at);
        if let Some(moved) = slots.get(at) {
            moved.index.set(at);
        }
        if self.slot.shed.get() {
            let closing = self.table.closing.get();
            debug_assert!(closing > 0);
            self.table.closing.set(closing - 1);
        }
    }
}

// ---------------------------------------------------------- per client

/// Counters of connections per client address; 64 Ki of them.
pub const IP_COUNTER_SLOTS: usize = 1 << 16;

/// Connections per client address, across all shards: a keyed hash of the
/// address picks one of `IP_COUNTER_SLOTS` counters (an atomic add at
/// accept and at close, never on a request). IPv6 clients count per /64,
/// the block one host or site is usually given. Two addresses that share a
/// counter share a budget; with a random key per process that is rare and
/// not under a client's control.
pub struct IpConnectionLimit {
    /// 0: no limit.
    limit: u32,
    counts: Box<[AtomicU32]>,
    keys: RandomState,
}

impl IpConnectionLimit {
    pub fn new(limit: u32) -> Arc<IpConnectionLimit> {
        Arc::new(IpConnectionLimit {
            limit,
            counts: (0..IP_COUNTER_SLOTS).map(|_| AtomicU32::new(0)).collect(),
            keys: RandomState::new(),
        })
    }

    fn slot(&self, ip: IpAddr) -> usize {
        let client: u128 = match ip {
            IpAddr::V4(v4) => u32::from(v4) as u128,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => u32::from(v4) as u128,
                // The /64, tagged so it never equals an IPv4 address's value.
                None => (u128::from(v6) >> 64) | (1 << 100),
            },
        };
        (self.keys.hash_one(client) as usize) % IP_COUNTER_SLOTS
    }

    /// A permit for one more connection from `ip`, or None at the limit.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        let slot = self.slot(ip);
        if self.limit > 0 {
            let before = self.counts[slot].fetch_add(1, Ordering::Relaxed);
            if before >= self.limit {
                self.counts[slot].fetch_sub(1, Ordering::Relaxed);
                return None;
            }
        }
        Some(IpPermit {
            owner: self.clone(),
            slot,
        })
    }

    fn count(&self, ip: IpAddr) -> u32 {
        self.counts[self.slot(ip)].load(Ordering::Relaxed)
    }
}

/// One connection's share of its client's budget; returned on drop.
pub struct IpPermit {
    owner: Arc<IpConnectionLimit>,
    slot: usize,
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        if self.owner.limit > 0 {
            let before = self.owner.counts[self.slot].fetch_sub(1, Ordering::Relaxed);
            debug_assert!(before > 0);
        }
    }
}

// ----------------------------------------------------------- admission

/// How long the accept loop waits at most for shed connections to close
/// (their tasks end at the next turn of the ring, well within it).
const SHED_CLOSE_WAIT: Duration = Duration::from_millis(100);
/// How often it looks meanwhile.
const SHED_CLOSE_POLL: Duration = Duration::from_millis(1);
/// Once the open file limit capped a shard's connections, how often a
/// shard at that cap counts the open descriptors again (a directory read
/// of /proc/self/fd) to let more in when some were freed.
const FD_CAP_RECOUNT_INTERVAL: Duration = Duration::from_secs(10);

/// A served connection's place in the table and its client's budget.
pub struct Ticket {
    pub handle: ConnHandle,
    _client: IpPermit,
}

/// Counters for the metrics page.
#[derive(Debug, Default, Clone, Copy)]
pub struct AdmissionStats {
    /// Idle connections closed to make room for new ones.
    pub shed: u64,
    /// New connections closed unserved (per-client limit, or nothing idle to shed).
    pub refused: u64,
}

/// A shard's admission policy (see the module comment).
pub struct Admission {
    pub table: Rc<ConnTable>,
    per_client: Arc<IpConnectionLimit>,
    max_per_shard: usize,
    fd_ceiling: u64,
    shards: usize,
    /// Connections the open file limit leaves this shard (`usize::MAX`
    /// until a socket's number reached into the reserve): a socket's number
    /// only says that every lower one is taken, so once one reached the
    /// reserve the shard counts instead, or every hole a shed leaves would
    /// be filled by one more connection.
    fd_cap: Cell<usize>,
    /// When `fd_cap` was last computed from the open descriptors.
    fd_cap_counted: Cell<Option<Instant>>,
    stats: Cell<AdmissionStats>,
    warn_full: RateLimited,
    warn_client: RateLimited,
    warn_refused: RateLimited,
    warn_accept: RateLimited,
}

impl Admission {
    pub fn new(cfg: &ServerConfig, per_client: Arc<IpConnectionLimit>, fd_ceiling: u64) -> Self {
        debug_assert!(cfg.max_connections_per_shard > 0);
        Admission {
            table: Rc::new(ConnTable::default()),
            per_client,
            max_per_shard: cfg.max_connections_per_shard,
            fd_ceiling,
            shards: cfg.shards.max(1),
            fd_cap: Cell::new(usize::MAX),
            fd_cap_counted: Cell::new(None),
            stats: Cell::default(),
            warn_full: RateLimited::default(),
            warn_client: RateLimited::default(),
            warn_refused: RateLimited::default(),
            warn_accept: RateLimited::default(),
        }
    }

    pub fn stats(&self) -> AdmissionStats {
        self.stats.get()
    }

    /// Decides on a socket just accepted (its descriptor `fd`, its peer):
    /// a ticket to serve it, or None to close it.
    pub fn admit(&self, shard: usize, fd: RawFd, peer: SocketAddr) -> Option<Ticket> {
        let Some(client) = self.per_client.try_acquire(peer.ip()) else {
            self.count(|s| s.refused += 1);
            if let Some(suppressed) = self.warn_client.admit() {
                tracing::warn!(
                    shard,
                    %peer,
                    held = self.per_client.count(peer.ip()),
                    suppressed,
                    "client at its connection limit (--max-connections-per-ip); closing the new connection"
                );
            }
            return None;
        };
        let into_reserve = u64::try_from(fd).map_or(true, |fd| fd >= self.fd_ceiling);
        let live = self.table.live();
        if into_reserve || (live >= self.fd_cap.get() && self.fd_cap_recount_due()) {
            self.count_fd_cap(live);
        }
        let full = live >= self.max_per_shard.min(self.fd_cap.get());
        if into_reserve || full {
            let why = if live >= self.max_per_shard {
                "connection cap reached (--max-connections-per-shard)"
            } else {
                "open file limit nearly reached (descriptors kept for the store)"
            };
            if !self.table.shed_oldest_idle() {
                self.count(|s| s.refused += 1);
                if let Some(suppressed) = self.warn_refused.admit() {
                    tracing::warn!(
                        shard,
                        %peer,
                        suppressed,
                        "{why}, every connection is mid-request; closing the new connection"
                    );
                }
                return None;
            }
            self.count(|s| s.shed += 1);
            if let Some(suppressed) = self.warn_full.admit() {
                tracing::warn!(
                    shard,
                    suppressed,
                    "{why}; closed the longest-idle connection to serve a new one"
                );
            }
        }
        Some(Ticket {
            handle: self.table.register(fd),
            _client: client,
        })
    }

    /// An accept failed: out of descriptors makes room by shedding an idle
    /// connection (the pending connection stays in the backlog meanwhile).
    pub fn accept_failed(&self, shard: usize, e: &std::io::Error) {
        let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        if out_of_fds && self.table.shed_oldest_idle() {
            self.count(|s| s.shed += 1);
        }
        if let Some(suppressed) = self.warn_accept.admit() {
            tracing::warn!(shard, suppressed, "accept failed: {e}");
        }
    }

    fn fd_cap_recount_due(&self) -> bool {
        self.fd_cap_counted
            .get()
            .is_none_or(|t| t.elapsed() >= FD_CAP_RECOUNT_INTERVAL)
    }

    /// Sets `fd_cap` from the descriptors open now: this shard's `live`
    /// connections and its share of the room left below the ceiling.
    fn count_fd_cap(&self, live: usize) {
        let room = match super::fdlimit::open_fds() {
            Some(open) => self.fd_ceiling.saturating_sub(open),
            None => 0,
        };
        let share = usize::try_from(room).unwrap_or(usize::MAX) / self.shards;
        self.fd_cap.set(live.saturating_add(share));
        self.fd_cap_counted.set(Some(Instant::now()));
    }

    /// Waits (briefly) until the connections shed for earlier ones have
    /// closed. A shed socket's descriptor is free only once its task has
    /// ended; without this wait a burst of accepts would outrun the sheds
    /// and take every descriptor, the store's reserve included.
    pub async fn settle(&self) {
        if self.table.closing() == 0 {
            return;
        }
        let give_up = Instant::now() + SHED_CLOSE_WAIT;
        while self.table.closing() > 0 && Instant::now() < give_up {
            monoio::time::sleep(SHED_CLOSE_POLL).await;
        }
    }

    fn count(&self, f: impl FnOnce(&mut AdmissionStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_idle_connection_is_shed_and_busy_ones_never_are() {
        let table = Rc::new(ConnTable::default());
        // Descriptors -1: shutdown(2) fails harmlessly; the choice is what is tested.
        let a = table.register(-1);
        let b = table.register(-1);
        let c = table.register(-1);
        a.set_busy();
        b.set_busy();
        b.set_idle(); // b went idle after c was accepted: c is older
        assert!(table.shed_oldest_idle());
        assert!(c.was_shed() && !b.was_shed() && !a.was_shed());
        assert!(table.shed_oldest_idle());
        assert!(b.was_shed());
        assert!(!table.shed_oldest_idle(), "a is mid-request");
        assert_eq!(table.closing(), 2);
        drop(b);
        assert_eq!(table.closing(), 1);
        assert_eq!(table.len(), 2);
        drop(a);
        drop(c);
        assert!(table.is_empty());
        assert_eq!(table.closing(), 0);
    }

    #[test]
    fn removal_keeps_every_index_right() {
        let table = Rc::new(ConnTable::default());
        let mut handles: Vec<_> = (0..50).map(|_| table.register(-1)).collect();
        for i in [0, 10, 3, 20, 44, 1] {
            handles.remove(i.min(handles.len() - 1));
            for (at, slot) in table.slots.borrow().iter().enumerate() {
                assert_eq!(slot.index.get(), at);
            }
        }
        assert_eq!(table.len(), handles.len());
    }

    #[test]
    fn a_client_gets_its_limit_and_its_permits_back() {
        let limit = IpConnectionLimit::new(3);
        let ip: IpAddr = "192.0.2.7".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        let permits: Vec<_> = (0..3)
            .map(|_| limit.try_acquire(ip).expect("within the limit"))
            .collect();
        assert!(limit.try_acquire(ip).is_none());
        assert!(
            limit.try_acquire(mapped).is_none(),
            "the same client over IPv6"
        );
        drop(permits);
        assert_eq!(limit.count(ip), 0);
        assert!(limit.try_acquire(ip).is_some());
        // One IPv6 /64 is one client.
        let v6a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let v6b: IpAddr = "2001:db8:1:2::ffff".parse().expect("ip");
        let held: Vec<_> = (0..3)
            .map(|_| limit.try_acquire(v6a).expect("v6"))
            .collect();
        assert!(limit.try_acquire(v6b).is_none());
        drop(held);
        let unlimited = IpConnectionLimit::new(0);
        let many: Vec<_> = (0..10_000)
            .map(|_| unlimited.try_acquire(ip).expect("no limit"))
            .collect();
        assert_eq!(many.len(), 10_000);
    }
}
