//! Reading a request body off a connection as a stream of verified pieces.
//!
//! Push decoders are stacked: the transfer framing (Content-Length or
//! `Transfer-Encoding: chunked`), the content coding (`aws-chunked`, with
//! chunk signatures and trailers), and for POST Object the form, whose file
//! is the payload (`http::multipart::FileDecoder`). Pieces are `Bytes` split
//! off the receive buffer, so payload bytes are never copied on their way to
//! the store.

use super::conn::Conn;
use crate::auth::{AuthError, AwsChunkedDecoder};
use crate::http::multipart::FileDecoder;
use crate::http::{ChunkedDecoder, HttpError};
use crate::s3::error::{S3Error, S3ErrorCode};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Why a body could not be read to its end.
#[derive(Debug)]
pub enum BodyError {
    Http(HttpError),
    Auth(AuthError),
    /// A POST form's file broke the framing or the policy's size range.
    Form(S3Error),
}

impl From<HttpError> for BodyError {
    fn from(e: HttpError) -> Self {
        BodyError::Http(e)
    }
}

impl From<AuthError> for BodyError {
    fn from(e: AuthError) -> Self {
        BodyError::Auth(e)
    }
}

enum Transfer {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

struct AwsStage {
    dec: AwsChunkedDecoder,
    /// Raw (transfer-decoded) bytes not yet given to the decoder.
    pending: Bytes,
    /// Bytes the decoder left unconsumed at the end of a piece, kept until more arrive.
    carry: BytesMut,
}

/// The file of a POST form, and the sizes its policy allows.
struct FormStage {
    dec: FileDecoder,
    /// File content decoded and not yet handed out.
    ready: VecDeque<Bytes>,
    min_bytes: u64,
    max_bytes: u64,
    /// The body ended and the form was whole.
    done: bool,
}

/// The body of one request.
pub struct BodyReader {
    transfer: Transfer,
    aws: Option<AwsStage>,
    form: Option<FormStage>,
    transfer_done: bool,
    /// Decoded payload bytes handed out so far (a form's: its file's).
    pub delivered: u64,
    /// Slowed by an injected `slow_body` or `chunk_latency` fault.
    throttle: Option<Box<super::faults::Throttle>>,
}

impl BodyReader {
    /// A body framed by Content-Length (`Some`) or chunked transfer (`None`).
    pub fn new(content_length: Option<u64>, aws: Option<AwsChunkedDecoder>) -> BodyReader {
        let transfer = match content_length {
            Some(n) => Transfer::Length { remaining: n },
            None => Transfer::Chunked(ChunkedDecoder::new()),
        };
        BodyReader {
            transfer_done: matches!(transfer, Transfer::Length { remaining: 0 }),
            transfer,
            aws: aws.map(|dec| AwsStage {
                dec,
                pending: Bytes::new(),
                carry: BytesMut::new(),
            }),
            form: None,
            delivered: 0,
            throttle: None,
        }
    }

    /// Reads the rest of the body slowed by `t` (fault injection).
    pub fn set_throttle(&mut self, t: Box<super::faults::Throttle>) {
        self.throttle = Some(t);
    }

    /// From here on the payload is a form's file: `first` is the body read
    /// past the form's fields; the file must be `min_bytes..=max_bytes` long.
    pub fn begin_form_file(
        &mut self,
        dec: FileDecoder,
        first: Bytes,
        min_bytes: u64,
        max_bytes: u64,
    ) -> Result<(), BodyError> {
        debug_assert!(self.form.is_none());
        let mut stage = FormStage {
            dec,
            ready: VecDeque::new(),
            min_bytes,
            max_bytes,
            done: false,
        };
        feed_form(&mut stage, first)?;
        self.form = Some(stage);
        self.delivered = 0;
        Ok(())
    }

    /// An empty body.
    pub fn empty() -> BodyReader {
        BodyReader::new(Some(0), None)
    }

    /// True once every byte of the body was read off the connection.
    pub fn is_finished(&self) -> bool {
        self.transfer_done
            && self
                .aws
                .as_ref()
                .is_none_or(|a| a.dec.is_done() && a.pending.is_empty())
            && self.form.as_ref().is_none_or(|f| f.done)
    }

    /// The aws-chunked decoder, for trailers once the body is finished.
    pub fn aws_decoder(&self) -> Option<&AwsChunkedDecoder> {
        self.aws.as_ref().map(|a| &a.dec)
    }

    /// The next piece of decoded payload; `None` at the end of the body.
    pub async fn next(&mut self, conn: &mut Conn) -> Result<Option<Bytes>, BodyError> {
        if let Some(t) = &mut self.throttle {
            t.before_piece(self.delivered).await;
        }
        if self.form.is_none() {
            return self.next_payload(conn).await;
        }
        loop {
            let form = self.form.as_mut().expect("form stage");
            if let Some(piece) = form.ready.pop_front() {
                self.delivered += piece.len() as u64;
                if self.delivered > form.max_bytes {
                    return Err(BodyError::Form(too_large(form.max_bytes, self.delivered)));
                }
                return Ok(Some(piece));
            }
            if form.done {
                return Ok(None);
            }
            // `delivered` counts the file's bytes, not the form's around them.
            let file_bytes = self.delivered;
            let raw = self.next_payload(conn).await?;
            self.delivered = file_bytes;
            let form = self.form.as_mut().expect("form stage");
            match raw {
                Some(raw) => feed_form(form, raw)?,
                None => {
                    form.dec
                        .finish()
                        .map_err(|e| BodyError::Form(S3Error::from(e)))?;
                    if self.delivered < form.min_bytes {
                        return Err(BodyError::Form(too_small(form.min_bytes, self.delivered)));
                    }
                    form.done = true;
                }
            }
        }
    }

    /// The next piece of the transfer- and aws-chunked-decoded body.
    async fn next_payload(&mut self, conn: &mut Conn) -> Result<Option<Bytes>, BodyError> {
        loop {
            let Some(aws) = self.aws.as_mut() else {
                let piece = self.next_raw(conn).await?;
                if let Some(p) = &piece {
                    self.delivered += p.len() as u64;
                }
                return Ok(piece);
            };
            if let Some(piece) = decode_aws(aws)? {
                self.delivered += piece.len() as u64;
                return Ok(Some(piece));
            }
            if aws.dec.is_done() {
                if !aws.pending.is_empty() || !aws.carry.is_empty() {
                    return Err(AuthError::MalformedChunk("data after the final chunk").into());
                }
                // Drain what transfer framing still holds (must be nothing).
                if !self.transfer_done {
                    if let Some(extra) = self.next_raw(conn).await? {
                        if !extra.is_empty() {
                            return Err(
                                AuthError::MalformedChunk("data after the final chunk").into()
                            );
                        }
                    }
                }
                return Ok(None);
            }
            match self.next_raw(conn).await? {
                Some(raw) => {
                    if let Some(aws) = self.aws.as_mut() {
                        aws.pending = raw;
                    }
                }
                None => {
                    return Err(
                        AuthError::MalformedChunk("stream ended before the final chunk").into(),
                    )
                }
            }
        }
    }

    /// Reads and discards the rest of the body (to keep a connection usable).
    pub async fn drain(&mut self, conn: &mut Conn) -> Result<(), BodyError> {
        while self.next(conn).await?.is_some() {}
        Ok(())
    }

    /// The next piece of transfer-decoded bytes; None once the transfer framing ended.
    async fn next_raw(&mut self, conn: &mut Conn) -> Result<Option<Bytes>, HttpError> {
        if self.transfer_done {
            return Ok(None);
        }
        loop {
            match &mut self.transfer {
                Transfer::Length { remaining } => {
                    if conn.buf.is_empty() && conn.fill().await? == 0 {
                        return Err(HttpError::TruncatedBody);
                    }
                    let take = (*remaining).min(conn.buf.len() as u64) as usize;
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.transfer_done = true;
                    }
                    return Ok(Some(conn.buf.split_to(take).freeze()));
                }
                Transfer::Chunked(dec) => {
                    let d = dec.decode(&conn.buf)?;
                    if d.done {
                        self.transfer_done = true;
                    }
                    let data = d.data.clone();
                    let mut head = conn.buf.split_to(d.consumed).freeze();
                    if let Some(r) = data {
                        return Ok(Some(head.split_off(r.start).split_to(r.end - r.start)));
                    }
                    if self.transfer_done {
                        return Ok(None);
                    }
                    if d.consumed == 0 && conn.fill().await? == 0 {
                        return Err(HttpError::TruncatedBody);
                    }
                }
            }
        }
    }
}

fn feed_form(stage: &mut FormStage, raw: Bytes) -> Result<(), BodyError> {
    let mut out = Vec::new();
    stage
        .dec
        .feed(raw, &mut out)
        .map_err(|e| BodyError::Form(S3Error::from(e)))?;
    stage.ready.extend(out);
    Ok(())
}

/// EntityTooLarge for a form's file past its policy's range, as soon as
/// the first byte beyond it arrives (nothing of it is committed).
fn too_large(max: u64, proposed: u64) -> S3Error {
    S3Error::new(S3ErrorCode::EntityTooLarge)
        .with("ProposedSize", proposed.to_string())
        .with("MaxSizeAllowed", max.to_string())
}

fn too_small(min: u64, proposed: u64) -> S3Error {
    S3Error::new(S3ErrorCode::EntityTooSmall)
        .with("ProposedSize", proposed.to_string())
        .with("MinSizeAllowed", min.to_string())
}

/// Decodes from the stage's pending bytes until one payload piece appears.
fn decode_aws(aws: &mut AwsStage) -> Result<Option<Bytes>, AuthError> {
    loop {
        if !aws.carry.is_empty() {
            // A header line split across pieces: join it with what arrived (small copy).
            aws.carry.extend_from_slice(&aws.pending);
            aws.pending = std::mem::take(&mut aws.carry).freeze();
        }
        if aws.pending.is_empty() || aws.dec.is_done() {
            return Ok(None);
        }
        let d = aws.dec.decode(&aws.pending)?;
        let mut head = aws.pending.split_to(d.consumed);
        if let Some(r) = d.data {
            return Ok(Some(head.split_off(r.start).split_to(r.end - r.start)));
        }
        if d.consumed == 0 && !d.done {
            // The decoder needs more than this piece holds.
            aws.carry.extend_from_slice(&aws.pending);
            aws.pending = Bytes::new();
            return Ok(None);
        }
    }
}
