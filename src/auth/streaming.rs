//! The aws-chunked body decoder: a push parser in the style of an HTTP
//! chunked decoder that strips the framing, verifies each chunk signature as
//! its data completes (chained from the seed signature), and collects and
//! verifies the trailer section.
//!
//! Framing (signed modes; unsigned-trailer mode has no `;chunk-signature=`):
//!
//! ```text
//! <hex-size>;chunk-signature=<64 hex>\r\n <data> \r\n   (repeated)
//! 0;chunk-signature=<64 hex>\r\n
//! \r\n                                                  (no-trailer mode)
//! name:value\r\n ... [x-amz-trailer-signature:<64 hex>\r\n] \r\n   (trailer modes)
//! ```
//!
//! **Data is handed out before its chunk is verified.** Bytes of a chunk are
//! returned as they arrive; the chunk's signature can only be checked once
//! its last byte is in. The caller must therefore treat everything as
//! provisional and commit only after `decode` has returned `done: true`
//! with no error (and the decoded length and checksums have been checked).

use ring::{digest, hmac};

use super::checksum::header_name;
use super::error::AuthError;
use super::sigv4::{ct_eq, EMPTY_SHA256_HEX};
use super::verify::{PayloadMode, StreamingContext};
use crate::types::ChecksumAlgorithm;
use crate::util::hex;

/// Longest chunk header line (`hex;chunk-signature=...`), CRLF included.
pub const MAX_CHUNK_HEADER_BYTES: usize = 4096;
/// Largest trailer section (all trailer lines together), a DoS bound.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Hex digits in a chunk size: 16 fill a u64.
pub const MAX_CHUNK_SIZE_HEX_DIGITS: usize = 16;

const CHUNK_SIGNATURE_EXT: &[u8] = b";chunk-signature=";
const TRAILER_SIGNATURE_NAME: &str = "x-amz-trailer-signature";

/// The result of one `decode` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of `input` used up (framing and data).
    pub consumed: usize,
    /// Payload bytes inside `input` (always within `..consumed`).
    pub data: Option<std::ops::Range<usize>>,
    /// The body is complete and every signature verified.
    pub done: bool,
}

#[derive(Debug)]
enum State {
    Header,
    Data { remaining: u64 },
    DataCrlf { seen: u8 },
    FinalCrlf { seen: u8 },
    Trailer,
    Done,
    Failed(AuthError),
}

/// The signature chain of a signed stream.
struct Chain {
    key: hmac::Key,
    /// `AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{scope}\n`, minus the algorithm line.
    date_scope: Vec<u8>,
    prev: [u8; 32],
}

impl Chain {
    /// HMAC over `{alg}\n{date}\n{scope}\n{prev hex}\n{rest...}` compared in
    /// constant time with `claimed`; advances the chain on success.
    fn verify(&mut self, alg: &[u8], rest: &[&[u8]], claimed: &[u8; 32]) -> Result<(), AuthError> {
        let mut prev_hex = [0u8; 64];
        hex::encode_into(&self.prev, &mut prev_hex);
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(alg);
        ctx.update(b"\n");
        ctx.update(&self.date_scope);
        ctx.update(&prev_hex);
        for part in rest {
            ctx.update(b"\n");
            ctx.update(part);
        }
        if !ct_eq(ctx.sign().as_ref(), claimed) {
            return Err(AuthError::ChunkSignatureDoesNotMatch);
        }
        self.prev = *claimed;
        Ok(())
    }
}

/// Push decoder for `Content-Encoding: aws-chunked` bodies.
pub struct AwsChunkedDecoder {
    state: State,
    signed: bool,
    trailer_mode: bool,
    chain: Option<Chain>,
    expect_trailer: Option<ChecksumAlgorithm>,
    expected_len: Option<u64>,
    /// Partial header or trailer line carried between calls.
    line: Vec<u8>,
    chunk_hash: Option<digest::Context>,
    chunk_signature: [u8; 32],
    trailer_hash: digest::Context,
    trailer_bytes: usize,
    trailer_signature: Option<[u8; 32]>,
    trailers: Vec<(String, String)>,
    decoded: u64,
}

fn malformed(what: &'static str) -> AuthError {
    AuthError::MalformedChunk(what)
}

impl AwsChunkedDecoder {
    /// `ctx` is required for the signed modes; `expect_trailer` is the
    /// checksum announced in `x-amz-trailer` (its absence then fails).
    pub fn new(
        mode: PayloadMode,
        ctx: Option<StreamingContext>,
        expect_trailer: Option<ChecksumAlgorithm>,
    ) -> Self {
        let signed = mode.is_signed_streaming();
        let chain = ctx.filter(|_| signed).map(|c| {
            let mut date_scope = Vec::with_capacity(c.amz_date.len() + c.scope.len() + 2);
            date_scope.extend_from_slice(c.amz_date.as_bytes());
            date_scope.push(b'\n');
            date_scope.extend_from_slice(c.scope.as_bytes());
            date_scope.push(b'\n');
            Chain {
                key: hmac::Key::new(hmac::HMAC_SHA256, &c.signing_key),
                date_scope,
                prev: c.seed_signature,
            }
        });
        // Misuse by the caller, not client input: fail every decode call.
        let state = if !mode.is_streaming() {
            State::Failed(malformed("payload mode is not aws-chunked"))
        } else if signed && chain.is_none() {
            State::Failed(malformed("signed stream without a signing context"))
        } else {
            State::Header
        };
        AwsChunkedDecoder {
            state,
            signed,
            trailer_mode: mode.has_trailer(),
            chain,
            expect_trailer,
            expected_len: None,
            line: Vec::new(),
            chunk_hash: None,
            chunk_signature: [0; 32],
            trailer_hash: digest::Context::new(&digest::SHA256),
            trailer_bytes: 0,
            trailer_signature: None,
            trailers: Vec::new(),
            decoded: 0,
        }
    }

    /// Enforces `x-amz-decoded-content-length`: more data fails as soon as it
    /// arrives, less fails at the end.
    pub fn with_decoded_length(mut self, len: u64) -> Self {
        self.expected_len = Some(len);
        self
    }

    /// Trailer headers (names lowercased, values trimmed), signature excluded.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// The value of one trailer.
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Payload bytes decoded so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Feeds bytes; consumes from the front and returns at most one data
    /// range. Call again with the unconsumed rest (plus more input) until
    /// `done`. After an error every call returns the same error.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, AuthError> {
        match self.step(input) {
            Ok(d) => Ok(d),
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    fn step(&mut self, input: &[u8]) -> Result<Decoded, AuthError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Done => return Ok(done(pos)),
                State::Header | State::Trailer if rest.is_empty() => break,
                State::Header => match self.take_line(rest, MAX_CHUNK_HEADER_BYTES)? {
                    None => pos = input.len(),
                    Some(n) => {
                        pos += n;
                        self.on_chunk_header()?;
                    }
                },
                State::Trailer => match self.take_line(rest, MAX_TRAILER_BYTES)? {
                    None => pos = input.len(),
                    Some(n) => {
                        pos += n;
                        if self.on_trailer_line()? {
                            return Ok(done(pos));
                        }
                    }
                },
                State::Data { remaining } => {
                    if rest.is_empty() {
                        break;
                    }
                    let n = (*remaining).min(rest.len() as u64) as usize;
                    *remaining -= n as u64;
                    let chunk_complete = *remaining == 0;
                    self.on_data(&rest[..n], chunk_complete)?;
                    let start = pos;
                    pos += n;
                    return Ok(Decoded {
                        consumed: pos,
                        data: Some(start..pos),
                        done: false,
                    });
                }
                State::DataCrlf { seen } | State::FinalCrlf { seen } => {
                    let Some(&b) = rest.first() else { break };
                    if b != b"\r\n"[*seen as usize] {
                        return Err(malformed("missing CRLF after chunk"));
                    }
                    pos += 1;
                    *seen += 1;
                    if *seen == 2 {
                        if matches!(self.state, State::FinalCrlf { .. }) {
                            self.finish_checks()?;
                            self.state = State::Done;
                            return Ok(done(pos));
                        }
                        self.state = State::Header;
                    }
                }
            }
        }
        Ok(Decoded {
            consumed: pos,
            data: None,
            done: false,
        })
    }

    /// Accumulates one CRLF-terminated line into `self.line` (without the
    /// CRLF). Returns the bytes of `rest` used once the line is complete.
    fn take_line(&mut self, rest: &[u8], limit: usize) -> Result<Option<usize>, AuthError> {
        let (take, complete) = match memchr::memchr(b'\n', rest) {
            Some(i) => (i + 1, true),
            None => (rest.len(), false),
        };
        if self.line.len() + take > limit {
            return Err(malformed("chunk header or trailer line too long"));
        }
        self.line.extend_from_slice(&rest[..take]);
        if !complete {
            return Ok(None);
        }
        if self.line.len() < 2 || self.line[self.line.len() - 2] != b'\r' {
            return Err(malformed("line not terminated by CRLF"));
        }
        self.line.truncate(self.line.len() - 2);
        Ok(Some(take))
    }

    fn on_chunk_header(&mut self) -> Result<(), AuthError> {
        let line = std::mem::take(&mut self.line);
        let (size_hex, ext) = match line.iter().position(|&b| b == b';') {
            Some(i) => line.split_at(i),
            None => (&line[..], &[][..]),
        };
        let size = parse_chunk_size(size_hex)?;
        if self.signed {
            let sig = ext
                .strip_prefix(CHUNK_SIGNATURE_EXT)
                .ok_or(malformed("missing chunk-signature"))?;
            if !hex::decode_into(sig, &mut self.chunk_signature) {
                return Err(malformed("chunk-signature is not 64 hex digits"));
            }
        } else if !ext.is_empty() {
            return Err(malformed("unexpected chunk extension"));
        }
        // Reuse the allocation for the next line.
        self.line = line;
        self.line.clear();
        if size > 0 {
            if let Some(max) = self.expected_len {
                if self.decoded.saturating_add(size) > max {
                    return Err(AuthError::DecodedLengthMismatch);
                }
            }
            self.chunk_hash = self.signed.then(|| digest::Context::new(&digest::SHA256));
            self.state = State::Data { remaining: size };
            return Ok(());
        }
        if let Some(chain) = &mut self.chain {
            let empty = EMPTY_SHA256_HEX.as_bytes();
            chain.verify(
                b"AWS4-HMAC-SHA256-PAYLOAD",
                &[empty, empty],
                &self.chunk_signature,
            )?;
        }
        self.state = if self.trailer_mode {
            State::Trailer
        } else {
            State::FinalCrlf { seen: 0 }
        };
        Ok(())
    }

    fn on_data(&mut self, data: &[u8], chunk_complete: bool) -> Result<(), AuthError> {
        self.decoded += data.len() as u64;
        if let Some(h) = &mut self.chunk_hash {
            h.update(data);
        }
        if !chunk_complete {
            return Ok(());
        }
        if let (Some(h), Some(chain)) = (self.chunk_hash.take(), &mut self.chain) {
            let mut hash_hex = [0u8; 64];
            hex::encode_into(h.finish().as_ref(), &mut hash_hex);
            let empty = EMPTY_SHA256_HEX.as_bytes();
            chain.verify(
                b"AWS4-HMAC-SHA256-PAYLOAD",
                &[empty, &hash_hex],
                &self.chunk_signature,
            )?;
        }
        self.state = State::DataCrlf { seen: 0 };
        Ok(())
    }

    /// Handles one trailer line; true when the section (and body) is complete.
    fn on_trailer_line(&mut self) -> Result<bool, AuthError> {
        if self.line.is_empty() {
            self.finish_trailers()?;
            self.finish_checks()?;
            self.state = State::Done;
            return Ok(true);
        }
        self.trailer_bytes += self.line.len() + 2;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(malformed("trailer section too large"));
        }
        let line = std::mem::take(&mut self.line);
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(malformed("trailer line without ':'"))?;
        let name = std::str::from_utf8(&line[..colon])
            .map_err(|_| malformed("trailer name not UTF-8"))?
            .trim()
            .to_ascii_lowercase();
        let value = std::str::from_utf8(&line[colon + 1..])
            .map_err(|_| malformed("trailer value not UTF-8"))?
            .trim();
        if name.is_empty() {
            return Err(malformed("empty trailer name"));
        }
        if name == TRAILER_SIGNATURE_NAME {
            let mut sig = [0u8; 32];
            if self.trailer_signature.is_some() || !hex::decode_into(value.as_bytes(), &mut sig) {
                return Err(malformed("bad x-amz-trailer-signature"));
            }
            self.trailer_signature = Some(sig);
        } else {
            if self.trailer_signature.is_some() {
                return Err(malformed("trailer after x-amz-trailer-signature"));
            }
            // The signed form is `name:value\n`, name lowercase, value trimmed.
            self.trailer_hash.update(name.as_bytes());
            self.trailer_hash.update(b":");
            self.trailer_hash.update(value.as_bytes());
            self.trailer_hash.update(b"\n");
            self.trailers.push((name, value.to_owned()));
        }
        self.line = line;
        self.line.clear();
        Ok(false)
    }

    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        if let Some(chain) = &mut self.chain {
            let sig = self
                .trailer_signature
                .ok_or(malformed("missing x-amz-trailer-signature"))?;
            let hash = std::mem::replace(
                &mut self.trailer_hash,
                digest::Context::new(&digest::SHA256),
            );
            let mut hash_hex = [0u8; 64];
            hex::encode_into(hash.finish().as_ref(), &mut hash_hex);
            chain.verify(b"AWS4-HMAC-SHA256-TRAILER", &[&hash_hex], &sig)?;
        }
        if let Some(alg) = self.expect_trailer {
            if self.trailer(header_name(alg)).is_none() {
                return Err(malformed("announced trailer is missing"));
            }
        }
        Ok(())
    }

    fn finish_checks(&self) -> Result<(), AuthError> {
        match self.expected_len {
            Some(n) if n != self.decoded => Err(AuthError::DecodedLengthMismatch),
            _ => Ok(()),
        }
    }
}

fn done(consumed: usize) -> Decoded {
    Decoded {
        consumed,
        data: None,
        done: true,
    }
}

fn parse_chunk_size(hex_digits: &[u8]) -> Result<u64, AuthError> {
    if hex_digits.is_empty() {
        return Err(malformed("empty chunk size"));
    }
    if hex_digits.len() > MAX_CHUNK_SIZE_HEX_DIGITS {
        return Err(malformed("chunk size overflows"));
    }
    let mut size = 0u64;
    for &c in hex_digits {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(malformed("chunk size is not hex")),
        };
        size = (size << 4) | u64::from(d);
    }
    Ok(size)
}
