//! Applies fault-injection decisions (`crate::faults`) to S3 requests.
//!
//! When: a request that may change something (any method but GET and HEAD)
//! is decided before its handler runs, so an injected error or reset stores
//! nothing; a read is decided once its answer is ready, so a rule can match
//! the object's size and act on its body. What: latency before the head, an
//! S3 error document, a reset connection, a GET body cut short or reset
//! midway, or a GET or upload body slowed (a byte rate, or a delay between
//! pieces).

use super::body::BodyReader;
use super::conn::Conn;
use super::request::Req;
use super::respond::{host_id, Body, ObjectSource, Response};
use super::shard::ShardCtx;
use crate::faults::engine::sample_latency;
use crate::faults::spec::{CutSpec, ErrorSpec, LatencySpec};
use crate::faults::{ActionSpec, Decision, RequestFacts};
use crate::http::Method;
use crate::store::StoreError;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Names the rules that acted on an answer (`serve --faults-header`).
pub const FAULT_HEADER: &str = "x-ringstore-fault";
/// A paced body goes out in this many writes a second.
const PACE_WRITES_PER_SEC: u64 = 20;

/// How a body is slowed: a byte rate, or a delay before each piece after
/// the first.
#[derive(Debug)]
pub enum Throttle {
    Rate {
        bytes_per_sec: u64,
        started: Instant,
    },
    Delay {
        latency: LatencySpec,
        rng: u64,
    },
}

impl Throttle {
    pub fn rate(bytes_per_sec: u64) -> Throttle {
        Throttle::Rate {
            bytes_per_sec: bytes_per_sec.max(1),
            started: Instant::now(),
        }
    }

    /// For `d`'s action, if it slows a body.
    fn of(d: &Decision) -> Option<Box<Throttle>> {
        Some(Box::new(match &d.action {
            Some(ActionSpec::SlowBody(s)) => Throttle::rate(s.bytes_per_sec),
            Some(ActionSpec::ChunkLatency(l)) => Throttle::Delay {
                latency: l.clone(),
                rng: d.seed,
            },
            _ => return None,
        }))
    }

    /// Waits before the piece that follows the first `sent` bytes: until
    /// the rate allows it, or the drawn delay (none before the first).
    pub async fn before_piece(&mut self, sent: u64) {
        let wait = match self {
            Throttle::Rate {
                bytes_per_sec,
                started,
            } => {
                let due = *started + Duration::from_secs_f64(sent as f64 / *bytes_per_sec as f64);
                due.saturating_duration_since(Instant::now())
            }
            Throttle::Delay { .. } if sent == 0 => Duration::ZERO,
            Throttle::Delay { latency, rng } => sample_latency(latency, rng),
        };
        if !wait.is_zero() {
            monoio::time::sleep(wait).await;
        }
    }

    /// The most bytes one piece may carry, so a rate is kept smoothly.
    fn max_piece(&self) -> Option<usize> {
        match self {
            Throttle::Rate { bytes_per_sec, .. } => {
                Some((bytes_per_sec / PACE_WRITES_PER_SEC).max(1) as usize)
            }
            Throttle::Delay { .. } => None,
        }
    }
}

/// Whether the request is decided once its answer is ready.
fn decided_after_handler(req: &Req) -> bool {
    matches!(req.head.method(), Method::Get | Method::Head)
}

fn facts<'a>(req: &'a Req, size: Option<u64>, object_body: bool) -> RequestFacts<'a> {
    let request_body = req.head.body_framing().is_ok_and(|f| {
        !matches!(
            f,
            crate::http::BodyFraming::None | crate::http::BodyFraming::Length(0)
        )
    });
    RequestFacts {
        request_body,
        op: req.op,
        method: req.head.method(),
        bucket: req.bucket.as_deref(),
        key: req.key.as_deref(),
        access_key: req.auth.as_ref().map(|a| a.access_key.as_str()),
        size,
        object_body,
    }
}

/// The body length a write declares (the decoded length of an aws-chunked body).
fn declared_size(req: &Req) -> Option<u64> {
    match req.header("x-amz-decoded-content-length") {
        Some(v) => v.parse().ok(),
        None => req.header("content-length")?.parse().ok(),
    }
}

/// The decision for a request that may change something; None for reads
/// (decided by [`inject`]) and when no rule fires.
pub fn before_handler(ctx: &ShardCtx, req: &Req) -> Option<Decision> {
    if decided_after_handler(req) {
        return None;
    }
    let d = ctx.faults.decide(&facts(req, declared_size(req), false))?;
    note(ctx, req, &d);
    Some(d)
}

/// Applies a decision made before the handler to the request body it is
/// about to read (`slow_body` or `chunk_latency` on an upload).
pub fn throttle_request_body(d: &Decision, body: &mut BodyReader) {
    if let Some(t) = Throttle::of(d) {
        body.set_throttle(t);
    }
}

fn after_handler(ctx: &ShardCtx, req: &Req, resp: &Response) -> Option<Decision> {
    let ok = (200..300).contains(&resp.status);
    let (size, object_body) = match &resp.body {
        Body::Object { len, .. } => (Some(*len), *len > 0),
        Body::HeadOnly { len } if ok => (Some(*len), false),
        _ => (None, false),
    };
    let d = ctx.faults.decide(&facts(req, size, object_body))?;
    note(ctx, req, &d);
    Some(d)
}

/// Counts and logs the faults a decision injects.
fn note(ctx: &ShardCtx, req: &Req, d: &Decision) {
    let mut metrics = ctx.admin.metrics.borrow_mut();
    for (rule, action) in &d.rules {
        metrics.fault_injected(rule, action);
        tracing::debug!(
            request_id = %req.id,
            operation = req.op.name(),
            rule = &**rule,
            action,
            latency_ms = d.latency.as_millis() as u64,
            "fault injected"
        );
    }
}

/// Applies `early` (decided before the handler ran) or, for a read, the
/// decision on its answer `resp`. Returns the answer to write, or None when
/// the connection is to be reset without one.
pub async fn inject(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &Req,
    resp: Response,
    early: Option<Decision>,
) -> Option<Response> {
    let decision = match early {
        Some(d) => d,
        None if decided_after_handler(req) => match after_handler(ctx, req, &resp) {
            Some(d) => d,
            None => return Some(resp),
        },
        None => return Some(resp),
    };
    if !decision.latency.is_zero() {
        monoio::time::sleep(decision.latency).await;
    }
    let mut resp = match &decision.action {
        None | Some(ActionSpec::Latency(_)) => resp,
        Some(ActionSpec::Error(e)) => error_response(e, req),
        Some(ActionSpec::Reset(_)) => {
            conn.reset_on_close();
            return None;
        }
        Some(ActionSpec::ResetMidBody(cut)) => {
            conn.reset_on_close();
            cut_body(resp, cut)
        }
        Some(ActionSpec::Truncate(cut)) => cut_body(resp, cut),
        Some(ActionSpec::SlowBody(_) | ActionSpec::ChunkLatency(_)) => {
            wrap_body(resp, None, Throttle::of(&decision))
        }
    };
    if ctx.config.faults_header {
        let ids: Vec<&str> = decision.rules.iter().map(|(id, _)| &**id).collect();
        resp.push_header(FAULT_HEADER, ids.join(", "));
    }
    Some(resp)
}

/// S3's error document with the rule's code, status and message.
fn error_response(e: &ErrorSpec, req: &Req) -> Response {
    let status = e.status();
    let mut r = if req.is_head() {
        let mut r = Response::new(status);
        r.body = Body::HeadOnly { len: 0 };
        r
    } else {
        let (resource, host) = (req.resource(), host_id(&req.id));
        let mut xml = String::with_capacity(320 + e.code.len() + e.message().len());
        xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        for (name, value) in [
            ("Code", e.code.as_str()),
            ("Message", e.message()),
            ("Resource", resource.as_str()),
            ("RequestId", req.id.as_str()),
            ("HostId", host.as_str()),
        ] {
            xml.push_str(&format!("<{name}>"));
            crate::s3::xml::escape_into(&mut xml, value);
            xml.push_str(&format!("</{name}>"));
        }
        xml.push_str("</Error>");
        Response::xml(status, xml)
    };
    if let Some(secs) = e.retry_after_secs {
        r.push_header("Retry-After", secs.to_string());
    }
    r
}

/// The answer with its object body ending `cut`'s bytes in (at least one
/// byte short of its Content-Length).
fn cut_body(resp: Response, cut: &CutSpec) -> Response {
    let len = match &resp.body {
        Body::Object { len, .. } => *len,
        _ => return resp,
    };
    debug_assert!(len > 0, "body actions match only answers with a body");
    let at = cut
        .after_bytes
        .unwrap_or(len / 2)
        .min(len.saturating_sub(1));
    wrap_body(resp, Some(at), None)
}

fn wrap_body(mut resp: Response, cut_at: Option<u64>, throttle: Option<Box<Throttle>>) -> Response {
    resp.body = match std::mem::replace(&mut resp.body, Body::Empty) {
        Body::Object { source, len } => {
            let body = FaultedBody {
                inner: source,
                sent: 0,
                cut_at,
                throttle,
                rest: None,
            };
            Body::Object {
                source: ObjectSource::Faulted(Box::new(body)),
                len,
            }
        }
        other => other,
    };
    resp
}

/// An object body passed through a fault: ended early, or slowed.
pub struct FaultedBody {
    inner: ObjectSource,
    /// Bytes passed on so far.
    sent: u64,
    /// End the body after this many bytes.
    cut_at: Option<u64>,
    throttle: Option<Box<Throttle>>,
    /// What is left of a piece split for pacing.
    rest: Option<Bytes>,
}

impl FaultedBody {
    pub async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        if self.cut_at.is_some_and(|at| self.sent >= at) {
            return None;
        }
        let mut piece = match self.rest.take() {
            Some(p) => p,
            None => match self.inner.next().await? {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            },
        };
        if let Some(at) = self.cut_at {
            let room = at - self.sent;
            if piece.len() as u64 > room {
                piece.truncate(room as usize);
            }
        }
        if let Some(t) = &mut self.throttle {
            if let Some(max) = t.max_piece().filter(|&max| piece.len() > max) {
                self.rest = Some(piece.split_off(max));
            }
            t.before_piece(self.sent).await;
        }
        self.sent += piece.len() as u64;
        Some(Ok(piece))
    }
}
