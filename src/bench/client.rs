//! A minimal keep-alive HTTP/1.1 client over a monoio TcpStream: one
//! request at a time, Content-Length bodies only (what S3 servers send for
//! the operations the generator issues).

use bytes::{Bytes, BytesMut};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::net::SocketAddr;

/// Bytes asked of the socket per read.
pub const READ_CHUNK_BYTES: usize = 256 * 1024;
/// Largest response head accepted.
pub const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;
/// Most response header lines parsed.
const MAX_RESPONSE_HEADERS: usize = 64;
/// Bodies up to this size are copied behind the head into one write.
const COALESCE_BODY_BYTES: usize = 64 * 1024;

pub struct Response {
    pub status: u16,
    /// The body, kept only when the caller asked for it.
    pub body: Option<BytesMut>,
    pub body_len: u64,
    pub keep_alive: bool,
}

/// Why reading an answer failed: before its head was complete (the server
/// answered nothing: what the SDKs retry as a connection error), or in the
/// middle of its body (a reset or a truncation after a 2xx head).
#[derive(Debug)]
pub enum RecvError {
    BeforeHead(std::io::Error),
    MidBody(std::io::Error),
}

pub struct ClientConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl ClientConn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<ClientConn> {
        let stream = TcpStream::connect(addr).await?;
        // Without it a small request waits for the delayed ACK of the last one.
        stream.set_nodelay(true)?;
        Ok(ClientConn {
            stream,
            buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        })
    }

    /// Sends `head` (complete, with its blank line) and `body`.
    pub async fn send(&mut self, head: String, body: Bytes) -> std::io::Result<()> {
        if body.len() <= COALESCE_BODY_BYTES {
            let mut one = BytesMut::with_capacity(head.len() + body.len());
            one.extend_from_slice(head.as_bytes());
            one.extend_from_slice(&body);
            let (res, _) = self.stream.write_all(one).await;
            return res.map(|_| ());
        }
        let (res, _) = self.stream.write_all(head.into_bytes()).await;
        res?;
        let (res, _) = self.stream.write_all(body).await;
        res.map(|_| ())
    }

    async fn fill(&mut self, want: usize) -> std::io::Result<()> {
        let spare = self.buf.capacity() - self.buf.len();
        if spare < want.min(READ_CHUNK_BYTES) {
            self.buf
                .reserve(want.clamp(READ_CHUNK_BYTES / 4, READ_CHUNK_BYTES));
        }
        let buf = std::mem::take(&mut self.buf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (res, slice) = self.stream.read(buf.slice_mut(len..cap)).await;
        self.buf = slice.into_inner();
        match res? {
            0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    /// Reads one response. `head_request` responses carry no body;
    /// `keep_body` keeps a success body (else it is read and dropped).
    pub async fn recv(
        &mut self,
        head_request: bool,
        keep_body: bool,
    ) -> Result<Response, RecvError> {
        let (status, len, keep_alive, head_len) = loop {
            if let Some(parsed) = parse_response_head(&self.buf).map_err(RecvError::BeforeHead)? {
                break parsed;
            }
            if self.buf.len() >= MAX_RESPONSE_HEAD_BYTES {
                return Err(RecvError::BeforeHead(invalid("response head too large")));
            }
            self.fill(READ_CHUNK_BYTES)
                .await
                .map_err(RecvError::BeforeHead)?;
        };
        let _ = self.buf.split_to(head_len);
        let len = if head_request || status == 204 || status == 304 {
            0
        } else {
            len.ok_or_else(|| RecvError::BeforeHead(invalid("response without Content-Length")))?
        };
        // Error documents are always kept: the report counts them by S3 code.
        let body = self
            .read_body(len, keep_body || status >= 300)
            .await
            .map_err(RecvError::MidBody)?;
        Ok(Response {
            status,
            body,
            body_len: len,
            keep_alive,
        })
    }

    async fn read_body(&mut self, len: u64, keep: bool) -> std::io::Result<Option<BytesMut>> {
        let len = usize::try_from(len).map_err(|_| invalid("body too large"))?;
        if keep {
            if self.buf.capacity() < len {
                self.buf.reserve(len - self.buf.len());
            }
            while self.buf.len() < len {
                self.fill(len - self.buf.len()).await?;
            }
            return Ok(Some(self.buf.split_to(len)));
        }
        let mut left = len;
        loop {
            let take = left.min(self.buf.len());
            let _ = self.buf.split_to(take);
            left -= take;
            if left == 0 {
                return Ok(None);
            }
            self.buf.clear();
            self.fill(left).await?;
        }
    }
}

fn invalid(why: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

/// A parsed response head: status, content-length, keep-alive, head length.
type ParsedHead = (u16, Option<u64>, bool, usize);

/// The response head, once complete.
fn parse_response_head(buf: &[u8]) -> std::io::Result<Option<ParsedHead>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(invalid("malformed response head")),
    };
    let status = resp.code.unwrap_or(0);
    let mut len = None;
    let mut keep_alive = resp.version == Some(1);
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| invalid("bad Content-Length"))?;
            len = Some(
                v.trim()
                    .parse()
                    .map_err(|_| invalid("bad Content-Length"))?,
            );
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked responses are not supported"));
        }
    }
    Ok(Some((status, len, keep_alive, n)))
}

/// The `<Code>` of an S3 error document, if there is one.
pub fn s3_error_code(body: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let start = s.find("<Code>")? + "<Code>".len();
    let end = s[start..].find("</Code>")? + start;
    Some(s[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_error_codes() {
        let h = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            parse_response_head(h).unwrap(),
            Some((200, Some(5), true, 38))
        );
        assert_eq!(parse_response_head(&h[..20]).unwrap(), None);
        let c = b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(!parse_response_head(c).unwrap().unwrap().2);
        let body = b"<Error><Code>NoSuchKey</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(body).as_deref(), Some("NoSuchKey"));
        assert_eq!(s3_error_code(b"nope"), None);
    }
}
