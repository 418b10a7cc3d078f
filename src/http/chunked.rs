//! Push decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
//!
//! The decoder owns no buffer: it walks whatever bytes have arrived, tells the
//! caller how many it consumed and where the payload bytes are, and keeps just
//! enough state to resume at any byte boundary. Line endings must be CRLF
//! exactly; a bare LF is rejected because lenient chunk parsing is a classic
//! request-smuggling vector when a proxy parses differently.

use std::ops::Range;

use super::error::HttpError;

/// Longest chunk-size line (hex digits plus ignored extensions) we accept.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;
/// Largest trailer section we skip over before giving up.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// 16 hex digits are exactly 64 bits.
const MAX_CHUNK_SIZE_DIGITS: usize = 16;

/// What one `decode` call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes to drop from the front of the caller's buffer, including `data`.
    pub consumed: usize,
    /// Payload bytes, as a range inside the `input` given to this call.
    pub data: Option<Range<usize>>,
    /// The last chunk and the trailer section have been consumed.
    pub done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` read so far.
    Size {
        size: u64,
        digits: usize,
    },
    /// After the digits: optional whitespace before `;` or CR.
    SizeWhitespace {
        size: u64,
    },
    /// Inside chunk extensions, skipped up to CR.
    Extension {
        size: u64,
    },
    /// CR of the size line seen, LF expected.
    SizeLf {
        size: u64,
    },
    /// `remaining` payload bytes of the current chunk still to come.
    Data {
        remaining: u64,
    },
    /// Payload done; the CR after it expected.
    DataCr,
    /// The LF after a chunk's payload expected.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerLineStart,
    /// Inside a trailer field line, skipped up to CR.
    TrailerLine,
    /// CR of a trailer field line seen, LF expected.
    TrailerLineLf,
    /// CR of the final empty line seen, LF expected.
    TrailerEndLf,
    Done,
}

/// Decodes a chunked body incrementally. See `decode`.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    /// Bytes of the current size line, against `MAX_CHUNK_LINE_BYTES`.
    line_bytes: usize,
    /// Bytes of the trailer section, against `MAX_TRAILER_BYTES`.
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing from the front of `input` up to and including at most
    /// one contiguous run of payload bytes. Call again with the unconsumed
    /// rest; when `consumed == 0` and there is no data and not done, read more.
    /// After `done`, bytes left in `input` belong to the next request.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, HttpError> {
        let mut pos = 0;
        while pos < input.len() {
            if let State::Data { remaining } = self.state {
                let available = (input.len() - pos) as u64;
                let take = remaining.min(available) as usize;
                debug_assert!(take > 0, "zero-length data state");
                self.state = if remaining == take as u64 {
                    State::DataCr
                } else {
                    State::Data {
                        remaining: remaining - take as u64,
                    }
                };
                return Ok(Decoded {
                    consumed: pos + take,
                    data: Some(pos..pos + take),
                    done: false,
                });
            }
            if self.state == State::Done {
                break;
            }
            let n = self.step(input.get(pos..).unwrap_or_default())?;
            debug_assert!(n > 0, "decoder made no progress in {:?}", self.state);
            if n == 0 {
                break;
            }
            pos += n;
        }
        let decoded = Decoded {
            consumed: pos,
            data: None,
            done: self.is_done(),
        };
        debug_assert!(decoded.consumed > 0 || decoded.done || input.is_empty());
        Ok(decoded)
    }

    /// Advances over framing bytes at the front of `rest` (non-empty); returns
    /// how many were consumed, at least one.
    fn step(&mut self, rest: &[u8]) -> Result<usize, HttpError> {
        let Some(&b) = rest.first() else {
            return Ok(0);
        };
        match self.state {
            State::Size { .. } | State::SizeWhitespace { .. } | State::Extension { .. } => {
                self.step_size_line(rest)
            }
            State::SizeLf { size } => {
                expect_lf(b, "size line not ended by CRLF")?;
                self.line_bytes = 0;
                self.state = if size == 0 {
                    State::TrailerLineStart
                } else {
                    State::Data { remaining: size }
                };
                Ok(1)
            }
            State::DataCr => {
                if b != b'\r' {
                    return Err(HttpError::MalformedChunk("chunk data not followed by CRLF"));
                }
                self.state = State::DataLf;
                Ok(1)
            }
            State::DataLf => {
                expect_lf(b, "chunk data not followed by CRLF")?;
                self.state = State::Size { size: 0, digits: 0 };
                Ok(1)
            }
            State::TrailerLineStart
            | State::TrailerLine
            | State::TrailerLineLf
            | State::TrailerEndLf => self.step_trailer(rest),
            State::Data { .. } | State::Done => Ok(0),
        }
    }

    /// Size digits, whitespace and extensions; stops after the CR.
    fn step_size_line(&mut self, rest: &[u8]) -> Result<usize, HttpError> {
        let n = match self.state {
            State::Extension { size } => {
                // Extensions are ignored: skip to the CR in one memchr.
                match memchr::memchr2(b'\r', b'\n', rest) {
                    Some(i) if rest.get(i) == Some(&b'\r') => {
                        self.state = State::SizeLf { size };
                        i + 1
                    }
                    Some(_) => return Err(HttpError::MalformedChunk("bare LF in size line")),
                    None => rest.len(),
                }
            }
            _ => {
                let b = rest.first().copied().unwrap_or_default();
                self.size_line_byte(b)?;
                1
            }
        };
        self.line_bytes += n;
        if self.line_bytes > MAX_CHUNK_LINE_BYTES {
            return Err(HttpError::MalformedChunk("chunk size line too long"));
        }
        Ok(n)
    }

    fn size_line_byte(&mut self, b: u8) -> Result<(), HttpError> {
        self.state = match (self.state, b) {
            (State::Size { size, digits }, _) if hex_value(b).is_some() => {
                if digits == MAX_CHUNK_SIZE_DIGITS {
                    return Err(HttpError::MalformedChunk("chunk size overflows"));
                }
                let digit = u64::from(hex_value(b).unwrap_or_default());
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(HttpError::MalformedChunk("chunk size overflows"))?;
                State::Size {
                    size,
                    digits: digits + 1,
                }
            }
            (State::Size { digits: 0, .. }, _) => {
                return Err(HttpError::MalformedChunk("chunk size is not hex"))
            }
            (State::Size { size, .. } | State::SizeWhitespace { size }, b' ' | b'\t') => {
                State::SizeWhitespace { size }
            }
            (State::Size { size, .. } | State::SizeWhitespace { size }, b';') => {
                State::Extension { size }
            }
            (State::Size { size, .. } | State::SizeWhitespace { size }, b'\r') => {
                State::SizeLf { size }
            }
            _ => return Err(HttpError::MalformedChunk("invalid byte in chunk size line")),
        };
        Ok(())
    }

    /// Trailer fields are skipped (bounded); the empty line ends the body.
    fn step_trailer(&mut self, rest: &[u8]) -> Result<usize, HttpError> {
        let b = rest.first().copied().unwrap_or_default();
        let n = match self.state {
            State::TrailerLineStart if b == b'\r' => {
                self.state = State::TrailerEndLf;
                1
            }
            State::TrailerLineStart | State::TrailerLine => {
                match memchr::memchr2(b'\r', b'\n', rest) {
                    Some(i) if rest.get(i) == Some(&b'\r') => {
                        self.state = State::TrailerLineLf;
                        i + 1
                    }
                    Some(_) => return Err(HttpError::MalformedChunk("bare LF in trailer")),
                    None => {
                        self.state = State::TrailerLine;
                        rest.len()
                    }
                }
            }
            State::TrailerLineLf => {
                expect_lf(b, "trailer line not ended by CRLF")?;
                self.state = State::TrailerLineStart;
                1
            }
            State::TrailerEndLf => {
                expect_lf(b, "trailer section not ended by CRLF")?;
                self.state = State::Done;
                1
            }
            _ => 0,
        };
        self.trailer_bytes += n;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(HttpError::MalformedChunk("trailer section too large"));
        }
        Ok(n)
    }
}

fn expect_lf(b: u8, what: &'static str) -> Result<(), HttpError> {
    if b == b'\n' {
        Ok(())
    } else {
        Err(HttpError::MalformedChunk(what))
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `pieces` in order as a connection would: appends each to a
    /// pending buffer and decodes until the decoder asks for more.
    /// Returns the payload, whether it finished, and the unconsumed bytes.
    fn feed<'a>(
        pieces: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(Vec<u8>, bool, Vec<u8>), HttpError> {
        let mut dec = ChunkedDecoder::new();
        let mut pending = Vec::new();
        let mut payload = Vec::new();
        for piece in pieces {
            pending.extend_from_slice(piece);
            loop {
                let d = dec.decode(&pending)?;
                assert!(d.consumed <= pending.len());
                if let Some(r) = d.data.clone() {
                    assert!(r.end <= d.consumed && !r.is_empty());
                    payload.extend_from_slice(&pending[r]);
                }
                pending.drain(..d.consumed);
                assert_eq!(d.done, dec.is_done());
                if d.done || (d.consumed == 0 && d.data.is_none()) {
                    break;
                }
            }
        }
        Ok((payload, dec.is_done(), pending))
    }

    fn whole(input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), HttpError> {
        feed([input])
    }

    fn bytewise(input: &[u8]) -> Result<(Vec<u8>, bool, Vec<u8>), HttpError> {
        feed(input.chunks(1))
    }

    #[test]
    fn valid_bodies() {
        let table: &[(&[u8], &[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello", b""),
            (b"0\r\n\r\n", b"", b""),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                b"hello world",
                b"",
            ),
            (
                b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n",
                b"0123456789abcdefghij",
                b"",
            ),
            (b"005\r\nhello\r\n000\r\n\r\n", b"hello", b""),
            (
                b"5;name=value;flag\r\nhello\r\n0;last\r\n\r\n",
                b"hello",
                b"",
            ),
            (b"5 ;x=\"q;\"\r\nhello\r\n0 \r\n\r\n", b"hello", b""),
            (
                b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAA\r\nx-b: c\r\n\r\n",
                b"abc",
                b"",
            ),
            (
                b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
                b"abc",
                b"GET / HTTP/1.1\r\n",
            ),
        ];
        for (input, payload, rest) in table {
            for result in [whole(input), bytewise(input)] {
                let want = (payload.to_vec(), true, rest.to_vec());
                assert_eq!(result, Ok(want), "{:?}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn truncated_bodies_wait_for_more() {
        let full = b"5;e=1\r\nhello\r\n0\r\nt: v\r\n\r\n";
        for cut in 0..full.len() {
            let (_, done, _) = bytewise(&full[..cut]).unwrap();
            assert!(!done, "done after only {cut} bytes");
        }
    }

    #[test]
    fn one_data_range_per_call() {
        let mut dec = ChunkedDecoder::new();
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let d = dec.decode(input).unwrap();
        assert_eq!((d.consumed, d.data, d.done), (6, Some(3..6), false));
        let d = dec.decode(&input[6..]).unwrap();
        assert_eq!((d.consumed, d.data, d.done), (7, Some(5..7), false));
        let d = dec.decode(&input[13..]).unwrap();
        assert_eq!((d.consumed, d.data, d.done), (7, None, true));
        let d = dec.decode(b"next").unwrap();
        assert_eq!((d.consumed, d.data, d.done), (0, None, true));
    }

    #[test]
    fn malformed_bodies() {
        let long_ext = [
            &b"1;"[..],
            &[b'a'; MAX_CHUNK_LINE_BYTES],
            b"\r\nx\r\n0\r\n\r\n",
        ]
        .concat();
        let long_trailer = [&b"0\r\nx: "[..], &[b'a'; MAX_TRAILER_BYTES], b"\r\n\r\n"].concat();
        let table: Vec<&[u8]> = vec![
            b"g\r\nx\r\n0\r\n\r\n",
            b"\r\n",
            b";ext\r\n",
            b" 5\r\nhello\r\n",
            b"-5\r\nhello\r\n",
            b"0x5\r\nhello\r\n",
            b"5 5\r\nhello\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\rhello\r\n",
            b"5;a\nhello\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello world\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\rX0\r\n\r\n",
            b"10000000000000000\r\n",
            b"00000000000000005\r\nhello\r\n",
            b"0\r\nx: y\n\r\n",
            b"0\r\n\n",
            b"0\r\nx: y\r\r\n",
            &long_ext,
            &long_trailer,
        ];
        for input in table {
            for result in [whole(input), bytewise(input)] {
                assert!(
                    matches!(result, Err(HttpError::MalformedChunk(_))),
                    "{:?} gave {result:?}",
                    String::from_utf8_lossy(&input[..input.len().min(40)])
                );
            }
        }
    }

    #[test]
    fn largest_size_is_not_an_overflow() {
        let (payload, done, _) = whole(b"ffffffffffffffff\r\nabc").unwrap();
        assert_eq!((payload.as_slice(), done), (&b"abc"[..], false));
    }

    #[test]
    fn limits_are_inclusive() {
        let ext = [
            &b"1;"[..],
            &[b'a'; MAX_CHUNK_LINE_BYTES - 3],
            b"\r\nx\r\n0\r\n\r\n",
        ]
        .concat();
        assert_eq!(whole(&ext).unwrap().0, b"x");
        let pad = MAX_TRAILER_BYTES - "x: \r\n\r\n".len();
        let trailer = [&b"0\r\nx: "[..], &vec![b'a'; pad], b"\r\n\r\n"].concat();
        assert!(whole(&trailer).unwrap().1);
    }

    /// A chunked encoding of `payload` cut at `cuts`, with extensions and trailers.
    fn encode(
        payload: &[u8],
        cuts: &[usize],
        ext: bool,
        upper: bool,
        trailers: &[String],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
        bounds.push(payload.len());
        bounds.sort_unstable();
        for end in bounds {
            if end == start {
                continue;
            }
            let size = if upper {
                format!("{:X}", end - start)
            } else {
                format!("{:x}", end - start)
            };
            out.extend_from_slice(size.as_bytes());
            if ext {
                out.extend_from_slice(b";sig=abc123;x");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&payload[start..end]);
            out.extend_from_slice(b"\r\n");
            start = end;
        }
        out.extend_from_slice(b"0\r\n");
        for t in trailers {
            out.extend_from_slice(t.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Splits `wire` into pieces at `splits` (taken modulo the length).
    fn pieces<'a>(wire: &'a [u8], splits: &[usize]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = splits.iter().map(|s| s % (wire.len() + 1)).collect();
        at.push(0);
        at.push(wire.len());
        at.sort_unstable();
        at.windows(2).map(|w| &wire[w[0]..w[1]]).collect()
    }

    proptest! {
        #[test]
        fn round_trips_any_chunking_and_split(
            payload in prop::collection::vec(any::<u8>(), 0..3000),
            cuts in prop::collection::vec(any::<usize>(), 0..20),
            ext: bool,
            upper: bool,
            trailers in prop::collection::vec("[a-z-]{1,10}: [ -~]{0,20}", 0..3),
            splits in prop::collection::vec(any::<usize>(), 0..30),
            next in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut wire = encode(&payload, &cuts, ext, upper, &trailers);
            wire.extend_from_slice(&next);
            let want = (payload.clone(), true, next.clone());
            prop_assert_eq!(feed(pieces(&wire, &splits)), Ok(want.clone()));
            prop_assert_eq!(bytewise(&wire), Ok(want));
        }

        #[test]
        fn random_bytes_never_panic(
            prefix in prop::sample::select(vec![&b""[..], b"5\r\n", b"0\r\n", b"3;a\r\nabc\r\n"]),
            noise in prop::collection::vec(any::<u8>(), 0..300),
            splits in prop::collection::vec(any::<usize>(), 0..10),
        ) {
            let wire = [prefix, &noise].concat();
            let _ = feed(pieces(&wire, &splits));
        }

        #[test]
        fn corrupted_framing_is_an_error(
            payload in prop::collection::vec(any::<u8>(), 1..200),
            extra in 1usize..4,
        ) {
            // Declares fewer bytes than it sends: the chunk runs past its size.
            let mut wire = format!("{:x}\r\n", payload.len()).into_bytes();
            wire.extend_from_slice(&payload);
            wire.extend_from_slice(&b"XYZ"[..extra]);
            wire.extend_from_slice(b"\r\n0\r\n\r\n");
            prop_assert!(matches!(bytewise(&wire), Err(HttpError::MalformedChunk(_))));
        }
    }
}
