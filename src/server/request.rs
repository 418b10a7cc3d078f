//! One request from head to answer: addressing, routing, authentication,
//! dispatch to a handler, the response, and whether the connection lives on.

use super::body::{BodyError, BodyReader};
use super::conn::Conn;
use super::handlers;
use super::respond::{write_response, Body, Response};
use super::shard::ShardCtx;
use crate::auth::{
    authenticate, AuthConfig, AuthError, AuthRequest, Authenticated, AwsChunkedDecoder,
    PayloadMode, SecretLookup,
};
use crate::catalog::{Catalog, ROOT_CREDENTIAL_ID};
use crate::http::{BodyFraming, HttpError, Method, RequestHead, CONTINUE_100};
use crate::s3::addressing::split_target;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::query::Query;
use crate::s3::router::{route, HttpMethod, Operation};
use bytes::Bytes;
use std::rc::Rc;
use std::time::Duration;

/// After an early error answer, read at most this much of the unread body
/// so the client sees the answer instead of a connection reset.
const LINGER_BYTES: u64 = 8 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most header lines one request may carry (matches the HTTP layer's limit).
const MAX_AUTH_HEADERS: usize = crate::http::MAX_HEADERS;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User { id: u64 },
}

impl Principal {
    pub fn is_root(&self) -> bool {
        matches!(self, Principal::User { id } if *id == ROOT_CREDENTIAL_ID)
    }
}

/// Everything a handler knows about the request besides its body.
pub struct Req {
    pub head: RequestHead,
    pub id: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub query: Query,
    pub op: Operation,
    pub principal: Principal,
    pub auth: Option<Authenticated>,
    /// `Expect: 100-continue` and the 100 has not been sent yet.
    pub expect_continue: bool,
    /// Arrived over TLS (SSE-C keys are accepted only then, by default).
    pub secure: bool,
    /// The client's address.
    pub source_ip: Option<std::net::IpAddr>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    pub fn is_head(&self) -> bool {
        self.head.method() == Method::Head
    }

    /// The resource named in error documents: `/bucket/key` or `/bucket`.
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_string(),
        }
    }

    /// Sends `100 Continue` if the client waits for it; call right before reading the body.
    pub async fn send_continue(&mut self, conn: &mut Conn) -> Result<(), BodyError> {
        if self.expect_continue {
            self.expect_continue = false;
            conn.write(Bytes::from_static(CONTINUE_100))
                .await
                .map_err(|_| BodyError::Http(HttpError::TruncatedBody))?;
        }
        Ok(())
    }
}

/// Credentials' secrets as the catalog replica holds them.
pub(crate) struct CatalogSecrets<'a>(pub &'a Catalog);

impl SecretLookup for CatalogSecrets<'_> {
    fn lookup(&self, access_key: &str) -> Option<(&str, bool)> {
        self.0
            .credential_by_access_key(access_key)
            .map(|c| (c.secret_key.as_str(), c.is_active))
    }
}

fn method_of(m: Method) -> HttpMethod {
    match m {
        Method::Get => HttpMethod::Get,
        Method::Head => HttpMethod::Head,
        Method::Put => HttpMethod::Put,
        Method::Post => HttpMethod::Post,
        Method::Delete => HttpMethod::Delete,
        Method::Options => HttpMethod::Options,
        Method::Other => HttpMethod::Other,
    }
}

/// Answers a request whose head could not be parsed, then the connection closes.
pub async fn answer_bad_head(ctx: &ShardCtx, conn: &mut Conn, err: &HttpError) {
    let id = ctx.next_request_id();
    let s3err = S3Error::from(err.clone());
    let resp = Response::error(&s3err, &id, false);
    write_response(ctx, conn, &id, resp, true).await;
}

/// Serves one request; returns whether the connection may carry another.
pub async fn serve(ctx: &Rc<ShardCtx>, conn: &mut Conn, head: RequestHead) -> bool {
    let id = ctx.next_request_id();
    let is_head = head.method() == Method::Head;
    let framing = match head.body_framing() {
        Ok(f) => f,
        Err(e) => {
            let resp = Response::error(&S3Error::from(e), &id, is_head);
            write_response(ctx, conn, &id, resp, true).await;
            return false;
        }
    };
    crate::shard::spin::note_request(&mut conn.spin);
    if crate::admin::is_admin_path(head.raw_path()) || crate::admin::is_browser_entry(ctx, &head) {
        return crate::admin::serve(ctx, conn, head, framing, id).await;
    }
    let keep_alive = head.keep_alive();
    let timer = ctx.admin.metrics.borrow_mut().start();
    let (mut req, auth_result) = match prepare(ctx, head, id.clone(), conn.is_tls(), conn.peer) {
        Ok(x) => x,
        Err(err) => {
            let resp = Response::error(&err, &id, is_head);
            record(ctx, timer, "Invalid", &resp, 0);
            let body_pending = !matches!(framing, BodyFraming::None | BodyFraming::Length(0));
            let ok = write_response(ctx, conn, &id, resp, body_pending || !keep_alive).await;
            return ok && keep_alive && !body_pending;
        }
    };
    let mut body = match make_body(&framing, auth_result.as_ref()) {
        Ok(b) => b,
        Err(e) => {
            let resp = Response::error(&e.with_resource(req.resource()), &id, is_head);
            record(ctx, timer, req.op.name(), &resp, 0);
            write_response(ctx, conn, &id, resp, true).await;
            return false;
        }
    };
    let expected_continue = req.expect_continue;
    let Some(resp) = answer(ctx, conn, &mut req, &mut body, auth_result).await else {
        // An injected fault resets the connection instead of answering.
        ctx.admin.metrics.borrow_mut().abandon(timer);
        return false;
    };
    record(ctx, timer, req.op.name(), &resp, body.delivered);
    finish(
        ctx,
        conn,
        &req,
        &mut body,
        resp,
        keep_alive,
        expected_continue,
    )
    .await
}

/// Runs the handler (unless an injected fault replaces it) and returns the
/// answer; None when a fault resets the connection instead.
async fn answer(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    auth_result: Result<Authenticated, AuthError>,
) -> Option<Response> {
    // Fault injection's one check when it is off (`server::faults`).
    let faults_on = ctx.faults.is_on();
    let early = if faults_on {
        super::faults::before_handler(ctx, req)
    } else {
        None
    };
    if let Some(d) = &early {
        super::faults::throttle_request_body(d, body);
    }
    let result = match auth_result {
        // The fault's answer (or reset) replaces the handler's.
        _ if early.as_ref().is_some_and(|d| d.skips_handler()) => Ok(Response::new(500)),
        Err(e) if !matches!(e, AuthError::Anonymous) => Err(S3Error::from(e)),
        // Rate limits' one check when none is set (`server::ratelimit`).
        _ if ctx.limits.is_on() => match super::ratelimit::check(ctx, req) {
            Some(slow_down) => Err(slow_down),
            None => {
                let result = handlers::dispatch(ctx, conn, req, body).await;
                // An admitted request's bytes count against byte limits.
                let out = result.as_ref().map_or(0, body_bytes);
                super::ratelimit::charge(ctx, req, body.delivered + out);
                result
            }
        },
        _ => handlers::dispatch(ctx, conn, req, body).await,
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => Response::error(
            &name_the_bucket(e, req).with_resource(req.resource()),
            &req.id,
            req.is_head(),
        ),
    };
    if faults_on {
        resp = super::faults::inject(ctx, conn, req, resp, early).await?;
    }
    super::cors::decorate(ctx, req, &mut resp);
    Some(resp)
}

/// NoSuchBucket found by the store (a write into a bucket deleted under it)
/// knows the bucket's id, not its name: the document names it as S3's does.
fn name_the_bucket(e: S3Error, req: &Req) -> S3Error {
    let named = e.extra.iter().any(|(name, _)| *name == "BucketName");
    match &req.bucket {
        Some(bucket) if e.code == S3ErrorCode::NoSuchBucket && !named => {
            e.with("BucketName", bucket.clone())
        }
        _ => e,
    }
}

/// Writes the answer, then keeps the connection only if the body was consumed
/// (or could be drained briefly) and the client wants keep-alive.
async fn finish(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &Req,
    body: &mut BodyReader,
    resp: Response,
    keep_alive: bool,
    expected_continue: bool,
) -> bool {
    let body_pending = !body.is_finished();
    // A client still waiting for 100-continue will not send the body: close after answering.
    let must_close = !keep_alive || (body_pending && req.expect_continue && expected_continue);
    let ok = write_response(ctx, conn, &req.id, resp, must_close || body_pending).await;
    if !ok || must_close {
        return false;
    }
    if body_pending {
        // Lingering: give the client the chance to see the answer, not a reset.
        let _ = monoio::time::timeout(LINGER_TIME, linger(conn, body)).await;
        return false;
    }
    true
}

async fn linger(conn: &mut Conn, body: &mut BodyReader) -> bool {
    while body.delivered < LINGER_BYTES {
        match body.next(conn).await {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
    false
}

/// The bytes of an answer's body.
fn body_bytes(resp: &Response) -> u64 {
    match &resp.body {
        Body::Full(b) => b.len() as u64,
        Body::Object { len, .. } => *len,
        Body::Empty | Body::HeadOnly { .. } => 0,
    }
}

/// Counts a finished request in this shard's metrics.
fn record(
    ctx: &ShardCtx,
    timer: crate::admin::metrics::Timer,
    op: &'static str,
    resp: &Response,
    bytes_in: u64,
) {
    let bytes_out = body_bytes(resp);
    ctx.admin
        .metrics
        .borrow_mut()
        .finish(timer, op, resp.status, bytes_in, bytes_out);
}

type Prepared = (Req, Result<Authenticated, AuthError>);

/// Addressing, routing and authentication of a parsed head.
fn prepare(
    ctx: &ShardCtx,
    head: RequestHead,
    id: String,
    secure: bool,
    source_ip: Option<std::net::IpAddr>,
) -> Result<Prepared, S3Error> {
    let (bucket, key) = split_target(
        head.header("host"),
        head.raw_path(),
        ctx.config.domain.as_deref(),
    )?;
    let query = Query::parse(head.raw_query())?;
    let op = route(
        method_of(head.method()),
        bucket.as_deref(),
        key.as_deref(),
        &query,
        head.header("x-amz-copy-source").is_some(),
    );
    // A preflight is answered before any authentication (a browser sends
    // it without credentials, to a presigned URL's query as well).
    let auth = if op == Operation::OptionsPreflight {
        Err(AuthError::Anonymous)
    } else {
        run_auth(ctx, &head)
    };
    let principal = match &auth {
        Ok(a) => ctx.with_catalog(|c| {
            c.credential_by_access_key(&a.access_key)
                .map(|c| Principal::User { id: c.id })
        }),
        Err(_) => None,
    }
    .unwrap_or(Principal::Anonymous);
    let expect_continue = head.expects_continue();
    let auth_ok = auth.as_ref().ok().cloned();
    let req = Req {
        head,
        id,
        bucket,
        key,
        query,
        op,
        principal,
        auth: auth_ok,
        expect_continue,
        secure,
        source_ip,
    };
    Ok((req, auth))
}

fn run_auth(ctx: &ShardCtx, head: &RequestHead) -> Result<Authenticated, AuthError> {
    let mut headers: Vec<(&str, &[u8])> =
        Vec::with_capacity(head.header_count().min(MAX_AUTH_HEADERS));
    headers.extend(head.headers());
    let vhost = crate::s3::addressing::virtual_host_bucket(
        head.header("host"),
        ctx.config.domain.as_deref(),
    );
    let areq = AuthRequest {
        method: head.method_str(),
        raw_path: head.raw_path(),
        raw_query: head.raw_query(),
        headers: &headers,
        virtual_host_bucket: vhost.as_deref(),
    };
    let cfg = AuthConfig {
        region: &ctx.config.region,
        now: crate::util::time::unix_now(),
        max_skew_secs: super::config::MAX_CLOCK_SKEW_SECS,
        allow_sigv2: ctx.config.allow_sigv2,
    };
    let catalog = ctx.catalog();
    let lookup = CatalogSecrets(&catalog.catalog);
    let mut cache = ctx.sig_cache.borrow_mut();
    authenticate(&areq, &lookup, &cfg, &mut cache)
}

/// The body reader for this request's framing and payload mode.
fn make_body(
    framing: &BodyFraming,
    auth: Result<&Authenticated, &AuthError>,
) -> Result<BodyReader, S3Error> {
    let content_length = match framing {
        BodyFraming::None => return Ok(BodyReader::empty()),
        BodyFraming::Length(n) => Some(*n),
        BodyFraming::Chunked => None,
    };
    let aws = match auth {
        Ok(a) => match a.payload {
            PayloadMode::StreamingSigned
            | PayloadMode::StreamingSignedTrailer
            | PayloadMode::StreamingUnsignedTrailer => {
                let dec = AwsChunkedDecoder::new(a.payload, a.streaming.clone(), a.trailer);
                Some(match a.decoded_content_length {
                    Some(n) => dec.with_decoded_length(n),
                    None => dec,
                })
            }
            _ => None,
        },
        Err(_) => None,
    };
    Ok(BodyReader::new(content_length, aws))
}

/// Maps a body-reading failure to the S3 error a client should see.
pub fn body_error(e: BodyError) -> S3Error {
    match e {
        BodyError::Http(h) => S3Error::from(h),
        BodyError::Auth(a) => S3Error::from(a),
        BodyError::Form(e) => e,
    }
}

/// AccessDenied, as S3 words it.
pub fn access_denied() -> S3Error {
    S3Error::new(S3ErrorCode::AccessDenied).with_message("Access Denied")
}
