//! Building and writing responses: the headers every S3 answer carries, XML
//! bodies, S3 error documents, and object bodies streamed from the store.

use super::conn::Conn;
use super::shard::ShardCtx;
use crate::http::ResponseHead;
use crate::s3::error::S3Error;
use crate::shard::msg::RemoteBody;
use crate::store::{ObjectReader, StoreError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::borrow::Cow;

pub const SERVER_NAME: &str = "ringstore";
/// Bodies up to this size are sent in the same write as the head.
const COALESCE_BODY_BYTES: usize = 16 * 1024;
/// Room reserved for an encoded response head.
const HEAD_ROOM_BYTES: usize = 1024;

/// Where an object body comes from: this shard's store or another shard's.
pub enum ObjectSource {
    Local(ObjectReader),
    Remote(RemoteBody),
    /// An encrypted object's chunks, opened on the way out.
    Decrypt(Box<super::sse::Decrypting>),
    /// A body cut short or paced by an injected fault (`server::faults`).
    Faulted(Box<super::faults::FaultedBody>),
}

impl ObjectSource {
    pub async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        match self {
            ObjectSource::Local(r) => r.next().await,
            ObjectSource::Remote(body) => match body.first.take() {
                Some(piece) => Some(piece),
                None => body.rest.as_mut()?.next().await,
            },
            ObjectSource::Decrypt(d) => Box::pin(d.next()).await,
            ObjectSource::Faulted(f) => Box::pin(f.next()).await,
        }
    }

    fn is_faulted(&self) -> bool {
        matches!(self, ObjectSource::Faulted(_))
    }
}

pub enum Body {
    Empty,
    Full(Bytes),
    /// `len` bytes streamed from `source` (Content-Length is `len`).
    Object {
        source: ObjectSource,
        len: u64,
    },
    /// HEAD: Content-Length `len`, no body.
    HeadOnly {
        len: u64,
    },
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn xml(status: u16, xml: String) -> Response {
        let mut r = Response::new(status);
        r.headers
            .push(("Content-Type".into(), "application/xml".into()));
        r.body = Body::Full(Bytes::from(xml));
        r
    }

    pub fn header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn push_header(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<Cow<'static, str>>,
    ) {
        self.headers.push((name.into(), value.into()));
    }

    /// The S3 error document for `err` (no body for HEAD, 304, or when `head_request`).
    pub fn error(err: &S3Error, request_id: &str, head_request: bool) -> Response {
        let status = err.code.status();
        let mut r = if head_request || status == 304 {
            let mut r = Response::new(status);
            r.body = Body::HeadOnly { len: 0 };
            r
        } else {
            Response::xml(status, err.to_xml(request_id, &host_id(request_id)))
        };
        for (name, value) in &err.headers {
            r.push_header(*name, value.clone());
        }
        r
    }
}

/// The x-amz-id-2 value: an opaque id derived from the request id.
pub fn host_id(request_id: &str) -> String {
    let mut buf = [0u8; HOST_ID_MAX_BYTES];
    let n = host_id_into(request_id, &mut buf);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Request ids longer than this get a host id from their first bytes only.
const REQUEST_ID_MAX_BYTES: usize = 48;
const HOST_ID_MAX_BYTES: usize = REQUEST_ID_MAX_BYTES.div_ceil(3) * 4;

/// [`host_id`] into `out`, without allocating; returns its length.
fn host_id_into(request_id: &str, out: &mut [u8; HOST_ID_MAX_BYTES]) -> usize {
    // An opaque token unique per request, as S3's is. Base64 of the id
    // itself: the SHA-256 this used to take was 1 % of a 4 KiB GET.
    use base64::Engine;
    debug_assert!(request_id.len() <= REQUEST_ID_MAX_BYTES);
    let id = request_id.as_bytes();
    let id = &id[..id.len().min(REQUEST_ID_MAX_BYTES)];
    base64::engine::general_purpose::STANDARD
        .encode_slice(id, out)
        .expect("the buffer fits the longest id")
}

/// Writes `resp`. Returns false when the connection can no longer be used
/// (write failed, or an object stream broke mid-body).
pub async fn write_response(
    ctx: &ShardCtx,
    conn: &mut Conn,
    request_id: &str,
    mut resp: Response,
    close: bool,
) -> bool {
    // Read the first piece before the head goes out: a damaged object then
    // answers a clear S3 error instead of a 200 with a cut-off body.
    let mut first = None;
    if let Body::Object { source, len } = &mut resp.body {
        if *len > 0 {
            match source.next().await {
                Some(Err(e)) => {
                    tracing::error!("object read failed before the response: {e}");
                    resp = Response::error(&S3Error::from(&e), request_id, false);
                }
                piece => first = piece,
            }
        }
    }
    // The handler's headers, then (written straight into the head) Server,
    // Date, the request ids, Content-Length and Connection.
    let mut head = ResponseHead::with_capacity(resp.status, resp.headers.len());
    for (name, value) in std::mem::take(&mut resp.headers) {
        head.header(name, value);
    }
    let length = match &resp.body {
        Body::Empty => 0,
        Body::Full(b) => b.len() as u64,
        Body::Object { len, .. } | Body::HeadOnly { len } => *len,
    };
    let has_length = resp.status != 304 && resp.status != 204 && !(100..200).contains(&resp.status);
    let mut host_id_buf = [0u8; HOST_ID_MAX_BYTES];
    let host_id_len = host_id_into(request_id, &mut host_id_buf);
    let host_id = &host_id_buf[..host_id_len];
    // Room for the head and a small body sent with it, so neither reallocates.
    let inline = match (&resp.body, &first) {
        (Body::Full(b), _) if b.len() <= COALESCE_BODY_BYTES => b.len(),
        (Body::Object { .. }, Some(Ok(p))) if p.len() <= COALESCE_BODY_BYTES => p.len(),
        _ => 0,
    };
    let mut out = BytesMut::with_capacity(HEAD_ROOM_BYTES + inline);
    head.encode_with(&mut out, |t| {
        t.put("Server", SERVER_NAME.as_bytes());
        t.put("Date", ctx.date.borrow_mut().get().as_bytes());
        t.put("x-amz-request-id", request_id.as_bytes());
        t.put("x-amz-id-2", host_id);
        if has_length {
            t.put_decimal("Content-Length", length);
        }
        if close {
            t.put("Connection", b"close");
        }
    });
    match resp.body {
        Body::Empty | Body::HeadOnly { .. } => conn.write(out.freeze()).await.is_ok(),
        Body::Full(b) if b.len() <= COALESCE_BODY_BYTES => {
            out.extend_from_slice(&b);
            conn.write(out.freeze()).await.is_ok()
        }
        Body::Full(b) => conn.write(out.freeze()).await.is_ok() && conn.write(b).await.is_ok(),
        Body::Object { mut source, len } => {
            // A small object goes out with its head in one send: one syscall,
            // one segment and one wake-up of the client instead of two.
            if let Some(Ok(piece)) = &first {
                if piece.len() <= COALESCE_BODY_BYTES {
                    out.extend_from_slice(piece);
                    let sent = piece.len() as u64;
                    if conn.write(out.freeze()).await.is_err() {
                        return false;
                    }
                    return stream_object(conn, &mut source, len, sent, None).await;
                }
            }
            if conn.write(out.freeze()).await.is_err() {
                return false;
            }
            stream_object(conn, &mut source, len, 0, first).await
        }
    }
}

async fn stream_object(
    conn: &mut Conn,
    source: &mut ObjectSource,
    len: u64,
    mut sent: u64,
    mut first: Option<Result<Bytes, StoreError>>,
) -> bool {
    debug_assert!(sent <= len);
    while sent < len {
        let next = match first.take() {
            Some(piece) => Some(piece),
            None => source.next().await,
        };
        match next {
            Some(Ok(piece)) => {
                sent += piece.len() as u64;
                debug_assert!(sent <= len, "object stream longer than its length");
                if conn.write(piece).await.is_err() {
                    return false;
                }
            }
            Some(Err(e)) => {
                // The head is gone already: the only honest signal left is a short body.
                tracing::error!("object read failed mid-response: {e}");
                return false;
            }
            None if source.is_faulted() => {
                tracing::debug!(sent, len, "object body cut short by an injected fault");
                return false;
            }
            None => {
                tracing::error!(sent, len, "object stream ended early");
                return false;
            }
        }
    }
    true
}
