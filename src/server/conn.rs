//! Accepting connections and serving requests on them: keep-alive,
//! pipelining, idle limits, and the guarantee that a broken request closes
//! the connection cleanly instead of desynchronising it.

use super::admission::Ticket;
use super::config::DEFAULT_HEAD_TIMEOUT;
use super::request;
use super::shard::ShardCtx;
use super::tls::Stream;
use crate::http::{parse_head, HttpError, RequestHead, MAX_HEAD_BYTES};
use bytes::{Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::net::TcpListener;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Bytes requested from the socket per read: one read may carry many small
/// pipelined requests or a large slice of a body.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Pause after a failed accept before the next (the error is usually
/// EMFILE, which the next accept would hit again at once).
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// One client connection: the socket and its receive buffer.
pub struct Conn {
    /// Declared before `stream`: the connection leaves its shard's table
    /// before its socket is closed (see `ConnTable::shed_oldest_idle`).
    ticket: Option<Ticket>,
    stream: Stream,
    pub buf: BytesMut,
    idle_timeout: Duration,
    head_timeout: Duration,
    /// When the first request head must be complete (from the accept).
    first_head_by: Option<Instant>,
    /// Counts this connection as active for the shard's idle spin.
    pub spin: crate::shard::spin::ConnActivity,
    /// The client's address (`aws:SourceIp`).
    pub peer: Option<std::net::IpAddr>,
}

impl Conn {
    /// Whether this connection is the HTTPS listener's.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub(crate) fn new(stream: impl Into<Stream>, idle_timeout: Duration) -> Conn {
        Conn {
            ticket: None,
            stream: stream.into(),
            buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            idle_timeout,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            first_head_by: None,
            spin: Default::default(),
            peer: None,
        }
    }

    /// A connection of the S3 server: in its shard's table (idle between
    /// requests, so it may be shed), its first head due `head_timeout`
    /// after `accepted`.
    fn served(stream: Stream, ctx: &ShardCtx, ticket: Ticket, accepted: Instant) -> Conn {
        let mut conn = Conn::new(stream, ctx.config.idle_timeout);
        conn.head_timeout = ctx.config.head_timeout;
        conn.first_head_by = Some(accepted + ctx.config.head_timeout);
        conn.ticket = Some(ticket);
        conn
    }

    /// Whether the connection was closed to make room for another.
    fn was_shed(&self) -> bool {
        self.ticket.as_ref().is_some_and(|t| t.handle.was_shed())
    }

    /// Makes closing this connection a TCP reset (fault injection).
    pub fn reset_on_close(&self) {
        if let Some(t) = &self.ticket {
            t.handle.reset_on_close();
        }
    }

    /// Reads more bytes into `buf`; Ok(0) at end of stream.
    pub async fn fill(&mut self) -> Result<usize, HttpError> {
        self.fill_within(self.idle_timeout).await
    }

    async fn fill_within(&mut self, limit: Duration) -> Result<usize, HttpError> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK_BYTES / 4 {
            self.buf.reserve(READ_CHUNK_BYTES);
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let cap = buf.capacity();
        let read = self.stream.read(buf.slice_mut(len..cap));
        match monoio::time::timeout(limit, read).await {
            Ok((res, slice)) => {
                self.buf = slice.into_inner();
                res.map_err(|_| HttpError::TruncatedBody)
            }
            Err(_) => Err(HttpError::Timeout),
        }
    }

    /// Writes all of `bytes`.
    pub async fn write(&mut self, bytes: Bytes) -> std::io::Result<()> {
        let (res, _) = self.stream.write_all(bytes).await;
        res.map(|_| ())
    }

    /// Writes all of `bytes` from a reusable buffer.
    pub async fn write_buf(&mut self, bytes: BytesMut) -> std::io::Result<BytesMut> {
        let (res, buf) = self.stream.write_all(bytes).await;
        res.map(|_| buf)
    }

    /// Reads the next request head. Ok(None) when the client closed between
    /// requests. While it waits the connection counts as idle.
    pub(crate) async fn next_head(&mut self) -> Result<Option<RequestHead>, HttpError> {
        if let Some(t) = &self.ticket {
            t.handle.set_idle();
        }
        let head = self.read_head().await;
        if let (Ok(Some(_)), Some(t)) = (&head, &self.ticket) {
            t.handle.set_busy();
        }
        head
    }

    async fn read_head(&mut self) -> Result<Option<RequestHead>, HttpError> {
        // Between requests a client may idle; once a head has started it must
        // finish by one deadline (a trickle of bytes does not extend it), and
        // a new connection's first head is due soon after the accept.
        // The deadline is set when a head is seen to be incomplete, so the
        // usual head that arrives in one read costs no clock read.
        let head_budget = self.head_timeout.min(self.idle_timeout);
        let mut deadline: Option<Instant> = self.first_head_by.take();
        loop {
            if let Some(head) = parse_head(&mut self.buf)? {
                return Ok(Some(head));
            }
            debug_assert!(self.buf.len() < MAX_HEAD_BYTES);
            if !self.buf.is_empty() && deadline.is_none() {
                deadline = Some(Instant::now() + head_budget);
            }
            let limit = match deadline {
                None => self.idle_timeout,
                Some(d) => d
                    .saturating_duration_since(Instant::now())
                    .min(self.idle_timeout),
            };
            if limit.is_zero() {
                return Err(HttpError::Timeout);
            }
            match self.fill_within(limit).await {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                Ok(0) => {
                    return Err(HttpError::MalformedHead(
                        "connection closed inside a request head",
                    ))
                }
                Ok(_) => {}
                Err(HttpError::Timeout) if self.buf.is_empty() => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Accepts connections forever, one task each; with `tls`, each
/// connection first completes a TLS handshake. Who is served is
/// `server::admission`'s decision.
pub async fn accept_loop(
    ctx: Rc<ShardCtx>,
    listener: TcpListener,
    tls: Option<monoio_rustls::TlsAcceptor>,
) {
    loop {
        ctx.admission.settle().await;
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = ctx.stop.wait() => return,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                ctx.admission.accept_failed(ctx.id, &e);
                monoio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
        };
        let accepted = Instant::now();
        let Some(ticket) = ctx.admission.admit(ctx.id, stream.as_raw_fd(), peer) else {
            drop(stream);
            continue;
        };
        // Without TCP_NODELAY small responses wait ~40 ms for the client's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("set_nodelay: {e}");
        }
        let task_ctx = ctx.clone();
        let tls = tls.clone();
        monoio::spawn(async move {
            match tls {
                None => serve_connection(&task_ctx, stream.into(), ticket, accepted, peer).await,
                Some(acceptor) => {
                    let limit = task_ctx.config.head_timeout;
                    match super::tls::accept(&acceptor, stream, limit).await {
                        Ok(s) => serve_connection(&task_ctx, s, ticket, accepted, peer).await,
                        Err(e) => tracing::debug!(%peer, "{e}"),
                    }
                }
            }
        });
    }
}

/// Serves requests on one connection until it closes, breaks or is shed.
async fn serve_connection(
    ctx: &Rc<ShardCtx>,
    stream: Stream,
    ticket: Ticket,
    accepted: Instant,
    peer: std::net::SocketAddr,
) {
    let mut conn = Conn::served(stream, ctx, ticket, accepted);
    conn.peer = Some(peer.ip());
    loop {
        let head = match conn.next_head().await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(HttpError::Timeout) => return,
            Err(_) if conn.was_shed() => return,
            Err(e) => {
                request::answer_bad_head(ctx, &mut conn, &e).await;
                return;
            }
        };
        let keep = request::serve(ctx, &mut conn, head).await;
        if !keep || ctx.stop.is_set() {
            return;
        }
    }
}
