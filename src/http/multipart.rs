//! `multipart/form-data` (RFC 7578 over RFC 2046's framing) as a browser's
//! POST Object sends it: text fields, then the file, then whatever follows
//! it (S3 ignores fields after the file). No I/O.
//!
//! Two parsers, because the two halves differ: the fields before the file
//! are small and bounded ([`MAX_FORM_HEAD_BYTES`], S3's 20 KB), so
//! [`parse_form_head`] is a push parser re-run over what has arrived that
//! answers `Partial` or `Complete`; the file is any size, so
//! [`FileDecoder`] streams it, handing out slices of the arriving pieces
//! (no copy) and holding back only what could be the start of the closing
//! delimiter.
//!
//! Written here rather than taken from a crate (multer): multer is built on
//! `futures::Stream` and `http` types and buffers a part's data through its
//! own `BytesMut`; ringstore's body is already a stack of push decoders over
//! `Bytes` pieces (transfer framing, aws-chunked), and this is one more of
//! them, with S3's limits as constants.

use bytes::{Bytes, BytesMut};
use memchr::memmem;

/// S3: "The form data and boundaries (excluding the contents of the file)
/// cannot exceed 20 KB."
pub const MAX_FORM_HEAD_BYTES: usize = 20 * 1024;
/// Most fields before the file (20 KB holds a few hundred tiny ones).
pub const MAX_FORM_FIELDS: usize = 256;
/// Most header lines of one part (Content-Disposition, Content-Type, a few more).
pub const MAX_PART_HEADERS: usize = 8;
/// RFC 2046: a boundary is 1 to 70 characters.
pub const MAX_BOUNDARY_BYTES: usize = 70;
/// What may follow the file (a submit button's field, the close delimiter).
pub const MAX_FORM_EPILOGUE_BYTES: usize = 20 * 1024;

/// Why a body is not a form S3 would take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// Not `multipart/form-data` with a usable boundary.
    NotMultipart,
    /// The bytes break the framing.
    Malformed(&'static str),
    /// The fields before the file exceed [`MAX_FORM_HEAD_BYTES`].
    HeadTooLarge,
    /// More than [`MAX_FORM_FIELDS`] fields before the file.
    TooManyFields,
    /// The form ended without a `file` field.
    NoFile,
}

/// One text field, its name as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    pub name: String,
    pub value: String,
}

/// The file part's own headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePart {
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// The fields before the file, and where the file's content starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormHead {
    pub fields: Vec<FormField>,
    pub file: FilePart,
    /// Bytes of the body up to the file's first content byte.
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadStatus {
    Partial,
    Complete(FormHead),
}

/// The boundary of a `multipart/form-data` Content-Type (a token or a
/// quoted string), or None for any other type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let value = params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim())
    })?;
    let value = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    let ok = !value.is_empty()
        && value.len() <= MAX_BOUNDARY_BYTES
        && value.bytes().all(|b| (b' '..=b'~').contains(&b));
    ok.then(|| value.to_string())
}

/// Parses the fields before the file from the front of `buf` (the body so
/// far). `Partial`: read more and call again with the longer buffer.
pub fn parse_form_head(buf: &[u8], boundary: &[u8]) -> Result<HeadStatus, FormError> {
    debug_assert!(!boundary.is_empty() && boundary.len() <= MAX_BOUNDARY_BYTES);
    // Never look past the limit: bounds the work redone on every call.
    let window = &buf[..buf.len().min(MAX_FORM_HEAD_BYTES)];
    match parse_window(window, boundary)? {
        HeadStatus::Partial if buf.len() >= MAX_FORM_HEAD_BYTES => Err(FormError::HeadTooLarge),
        status => Ok(status),
    }
}

fn parse_window(buf: &[u8], boundary: &[u8]) -> Result<HeadStatus, FormError> {
    let dash = [b"--".as_slice(), boundary].concat();
    let delimiter = [b"\r\n--".as_slice(), boundary].concat();
    // The first boundary opens the body, or ends a preamble (RFC 2046 §5.1.1).
    let mut at = if buf.starts_with(&dash) {
        dash.len()
    } else {
        match memmem::find(buf, &delimiter) {
            Some(i) => i + delimiter.len(),
            None => return Ok(HeadStatus::Partial),
        }
    };
    let mut fields = Vec::new();
    loop {
        // After a boundary: `--` closes the body, else padding and CRLF.
        let Some(rest) = buf.get(at..) else {
            return Ok(HeadStatus::Partial);
        };
        if rest.len() < 2 {
            return Ok(HeadStatus::Partial);
        }
        if rest.starts_with(b"--") {
            return Err(FormError::NoFile);
        }
        let padding = rest
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        match rest.get(padding..padding + 2) {
            None => return Ok(HeadStatus::Partial),
            Some(b"\r\n") => at += padding + 2,
            Some(_) => return Err(FormError::Malformed("boundary line")),
        }
        let (headers, content_at) = match part_headers(&buf[at..]) {
            None => return Ok(HeadStatus::Partial),
            Some((h, n)) => (h, at + n),
        };
        let part = parse_part_headers(headers)?;
        if part.name.eq_ignore_ascii_case("file") {
            return Ok(HeadStatus::Complete(FormHead {
                fields,
                file: FilePart {
                    filename: part.filename,
                    content_type: part.content_type,
                },
                len: content_at,
            }));
        }
        let Some(end) = memmem::find(&buf[content_at..], &delimiter) else {
            return Ok(HeadStatus::Partial);
        };
        let value = std::str::from_utf8(&buf[content_at..content_at + end])
            .map_err(|_| FormError::Malformed("field value is not UTF-8"))?;
        if fields.len() == MAX_FORM_FIELDS {
            return Err(FormError::TooManyFields);
        }
        fields.push(FormField {
            name: part.name,
            value: value.to_string(),
        });
        at = content_at + end + delimiter.len();
    }
}

/// The header block of a part starting at `buf`: its bytes (without the
/// blank line) and the offset of the part's content, or None if the blank
/// line has not arrived.
fn part_headers(buf: &[u8]) -> Option<(&[u8], usize)> {
    if buf.starts_with(b"\r\n") {
        return Some((&[], 2));
    }
    let end = memmem::find(buf, b"\r\n\r\n")?;
    Some((&buf[..end], end + 4))
}

struct PartHeaders {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

fn parse_part_headers(block: &[u8]) -> Result<PartHeaders, FormError> {
    let text = std::str::from_utf8(block).map_err(|_| FormError::Malformed("part header"))?;
    let mut disposition = None;
    let mut content_type = None;
    for (i, line) in text.split("\r\n").enumerate() {
        if i == MAX_PART_HEADERS {
            return Err(FormError::Malformed("too many part headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(FormError::Malformed("part header"))?;
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value.trim());
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    let disposition =
        disposition.ok_or(FormError::Malformed("part without Content-Disposition"))?;
    let (kind, params) = disposition.split_once(';').unwrap_or((disposition, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(FormError::Malformed("part is not form-data"));
    }
    let name =
        disposition_param(params, "name")?.ok_or(FormError::Malformed("part without a name"))?;
    Ok(PartHeaders {
        name,
        filename: disposition_param(params, "filename")?,
        content_type,
    })
}

/// A parameter of Content-Disposition: a quoted string (browsers escape
/// `"` as `%22`; a backslash escapes one character) or a token.
fn disposition_param(params: &str, wanted: &str) -> Result<Option<String>, FormError> {
    let mut rest = params;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return Ok(None);
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or(FormError::Malformed("Content-Disposition parameter"))?;
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted)?,
            None => {
                let end = after.find(';').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        if name.trim().eq_ignore_ascii_case(wanted) {
            return Ok(Some(value));
        }
        rest = after;
    }
}

/// The quoted string that `s` continues (after its opening quote), and
/// what follows the closing quote.
fn unquote(s: &str) -> Result<(String, &str), FormError> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(FormError::Malformed("unterminated quoted string"))
}

enum FileState {
    Content,
    /// After the file's closing delimiter: what follows, until the body ends.
    Epilogue(BytesMut),
}

/// Streams the file's content: [`FileDecoder::feed`] each piece of the body
/// after the form head, then [`FileDecoder::finish`] at its end.
pub struct FileDecoder {
    /// `CRLF--boundary`, which ends the file.
    delimiter: Vec<u8>,
    /// A tail of content that could be the start of the delimiter (shorter than it).
    carry: BytesMut,
    state: FileState,
}

impl FileDecoder {
    pub fn new(boundary: &[u8]) -> FileDecoder {
        debug_assert!(!boundary.is_empty() && boundary.len() <= MAX_BOUNDARY_BYTES);
        FileDecoder {
            delimiter: [b"\r\n--".as_slice(), boundary].concat(),
            carry: BytesMut::new(),
            state: FileState::Content,
        }
    }

    /// True once the file's closing delimiter was seen.
    pub fn content_done(&self) -> bool {
        matches!(self.state, FileState::Epilogue(_))
    }

    /// Takes the next piece of the body; the file's content in it goes to
    /// `out` (slices of `piece`, except a carried tail).
    pub fn feed(&mut self, piece: Bytes, out: &mut Vec<Bytes>) -> Result<(), FormError> {
        match &mut self.state {
            FileState::Content => self.scan(piece, out),
            FileState::Epilogue(tail) => {
                if tail.len() + piece.len() > MAX_FORM_EPILOGUE_BYTES {
                    return Err(FormError::Malformed("too much after the file"));
                }
                tail.extend_from_slice(&piece);
                Ok(())
            }
        }
    }

    /// At the end of the body: the file must have ended, and the body with
    /// the close delimiter (`--boundary--`), after any ignored fields.
    pub fn finish(&self) -> Result<(), FormError> {
        let FileState::Epilogue(tail) = &self.state else {
            return Err(FormError::Malformed("the body ends inside the file"));
        };
        let mut close = self.delimiter.clone();
        close.extend_from_slice(b"--");
        // The delimiter line ends with `--` or (padding and) CRLF: anything
        // else means the boundary was inside the content, which is refused.
        let padding = tail
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let line_ends = tail[padding..].starts_with(b"\r\n");
        if tail.starts_with(b"--") || (line_ends && memmem::find(tail, &close).is_some()) {
            Ok(())
        } else {
            Err(FormError::Malformed("no closing boundary"))
        }
    }

    fn scan(&mut self, piece: Bytes, out: &mut Vec<Bytes>) -> Result<(), FormError> {
        let dl = self.delimiter.len();
        let mut piece = piece;
        if !self.carry.is_empty() {
            // Join the carry with just enough of the piece to decide about
            // every delimiter that starts inside the carry.
            let k = self.carry.len();
            let take = piece.len().min(dl);
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&piece[..take]);
            if let Some(at) = memmem::find(&joined, &self.delimiter) {
                push(out, joined.split_to(at).freeze());
                let rest = piece.slice(at + dl - k..);
                return self.end_content(rest);
            }
            if take + 1 < dl {
                // The whole piece was joined: it is the new tail to decide on.
                let keep = partial_delimiter_suffix(&joined, &self.delimiter);
                let content = joined.split_to(joined.len() - keep);
                push(out, content.freeze());
                self.carry = joined;
                return Ok(());
            }
            // No delimiter starts inside the carry: all of it is content.
            joined.truncate(k);
            push(out, joined.freeze());
        }
        if let Some(at) = memmem::find(&piece, &self.delimiter) {
            push(out, piece.slice(..at));
            let rest = piece.split_off(at + dl);
            return self.end_content(rest);
        }
        let keep = partial_delimiter_suffix(&piece, &self.delimiter);
        let tail = piece.split_off(piece.len() - keep);
        push(out, piece);
        self.carry.extend_from_slice(&tail);
        debug_assert!(self.carry.len() < dl);
        Ok(())
    }

    fn end_content(&mut self, rest: Bytes) -> Result<(), FormError> {
        self.carry.clear();
        self.state = FileState::Epilogue(BytesMut::new());
        self.feed(rest, &mut Vec::new())
    }
}

fn push(out: &mut Vec<Bytes>, piece: Bytes) {
    if !piece.is_empty() {
        out.push(piece);
    }
}

/// The length of the longest proper prefix of `delimiter` that `hay` ends with.
fn partial_delimiter_suffix(hay: &[u8], delimiter: &[u8]) -> usize {
    let longest = hay.len().min(delimiter.len() - 1);
    (1..=longest)
        .rev()
        .find(|&n| hay[hay.len() - n..] == delimiter[..n])
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
