use super::*;
use proptest::prelude::*;

/// A browser-shaped body: the fields, the file, then `after` (fields S3 ignores).
fn body(boundary: &str, fields: &[(&str, &str)], file: &[u8], after: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(file);
    for (name, value) in after {
        out.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                .as_bytes(),
        );
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// Feeds `pieces` as a connection would deliver them: the head parser over
/// the accumulated bytes until Complete, then the file decoder.
fn decode(pieces: &[&[u8]], boundary: &str) -> Result<(FormHead, Vec<u8>), FormError> {
    let mut head_buf = Vec::new();
    let mut decoder = FileDecoder::new(boundary.as_bytes());
    let mut head = None;
    let mut file = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        if head.is_none() {
            head_buf.extend_from_slice(piece);
            match parse_form_head(&head_buf, boundary.as_bytes())? {
                HeadStatus::Partial => continue,
                HeadStatus::Complete(h) => {
                    let rest = Bytes::copy_from_slice(&head_buf[h.len..]);
                    head = Some(h);
                    decoder.feed(rest, &mut out)?;
                }
            }
        } else {
            decoder.feed(Bytes::copy_from_slice(piece), &mut out)?;
        }
        for p in out.drain(..) {
            file.extend_from_slice(&p);
        }
    }
    let head = head.ok_or(FormError::Malformed("truncated head"))?;
    decoder.finish()?;
    Ok((head, file))
}

fn field(name: &str, value: &str) -> FormField {
    FormField {
        name: name.into(),
        value: value.into(),
    }
}

#[test]
fn content_type_boundaries() {
    assert_eq!(
        boundary("multipart/form-data; boundary=----WebKitFormBoundaryx7").as_deref(),
        Some("----WebKitFormBoundaryx7")
    );
    assert_eq!(
        boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b\"").as_deref(),
        Some("a b")
    );
    assert_eq!(boundary("multipart/mixed; boundary=x"), None);
    assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    assert_eq!(boundary("multipart/form-data"), None);
    assert_eq!(boundary("multipart/form-data; boundary="), None);
    assert_eq!(
        boundary(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
        None
    );
}

#[test]
fn a_browser_form_parses_into_fields_and_file() {
    let b = body(
        "XyZ",
        &[
            ("key", "user/${filename}"),
            ("x-amz-meta-tag", ""),
            ("acl", "public-read"),
        ],
        b"file bytes\r\n--XyW-not-quite\r\n--Xy",
        &[("submit", "Upload")],
    );
    let (head, file) = decode(&[&b], "XyZ").expect("form");
    assert_eq!(
        head.fields,
        [
            field("key", "user/${filename}"),
            field("x-amz-meta-tag", ""),
            field("acl", "public-read")
        ]
    );
    assert_eq!(head.file.filename.as_deref(), Some("a.txt"));
    assert_eq!(head.file.content_type.as_deref(), Some("text/plain"));
    assert_eq!(file, b"file bytes\r\n--XyW-not-quite\r\n--Xy");
    let inside = body("XyZ", &[], b"a\r\n--XyZ-inside", &[]);
    assert!(matches!(
        decode(&[&inside], "XyZ"),
        Err(FormError::Malformed(_))
    ));
}

#[test]
fn preamble_padding_quoting_and_case() {
    let b = b"preamble\r\n--B  \r\ncontent-disposition: Form-Data; name=\"q\\\"x\"\r\n\r\nv\r\n\
              --B\r\nContent-Disposition: form-data; name=File; filename=\"C:\\\\dir\\\\f.txt\"\r\n\r\n\
              \r\n--B--";
    let (head, file) = decode(&[b], "B").expect("form");
    assert_eq!(head.fields, [field("q\"x", "v")]);
    assert_eq!(head.file.filename.as_deref(), Some("C:\\dir\\f.txt"));
    assert!(file.is_empty(), "an empty file");
}

#[test]
fn what_s3_refuses() {
    let no_file = b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--B--\r\n";
    assert_eq!(decode(&[no_file], "B").unwrap_err(), FormError::NoFile);
    let no_name = b"--B\r\nContent-Disposition: form-data\r\n\r\nk\r\n--B--\r\n";
    assert!(matches!(
        decode(&[no_name], "B"),
        Err(FormError::Malformed(_))
    ));
    let bad_line = b"--Bjunk\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--B--";
    assert!(matches!(
        decode(&[bad_line], "B"),
        Err(FormError::Malformed(_))
    ));
    let big = body(
        "B",
        &[("x-amz-meta-a", &"v".repeat(MAX_FORM_HEAD_BYTES))],
        b"f",
        &[],
    );
    assert_eq!(decode(&[&big], "B").unwrap_err(), FormError::HeadTooLarge);
    let many: Vec<(String, String)> = (0..=MAX_FORM_FIELDS)
        .map(|i| (format!("f{i}"), String::new()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(
        decode(&[&body("B", &many, b"f", &[])], "B").unwrap_err(),
        FormError::TooManyFields
    );
    let unclosed = b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc";
    assert!(matches!(
        decode(&[unclosed], "B"),
        Err(FormError::Malformed(_))
    ));
    let no_close = b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--B\r\n";
    assert!(matches!(
        decode(&[no_close], "B"),
        Err(FormError::Malformed(_))
    ));
    let long_tail = [
        &b"--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--B\r\n"[..],
        &vec![b'x'; MAX_FORM_EPILOGUE_BYTES + 1],
    ]
    .concat();
    assert!(matches!(
        decode(&[&long_tail], "B"),
        Err(FormError::Malformed(_))
    ));
}

/// Boundaries as browsers and clients make them (RFC 2046 bchars, no
/// trailing space).
fn boundary_strategy() -> impl Strategy<Value = String> {
    "[0-9A-Za-z'()+_,./:=?-]{1,69}[0-9A-Za-z]"
}

/// Splits `data` at the sorted, deduplicated `cuts`.
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut at = 0;
    for c in cuts {
        pieces.push(&data[at..c]);
        at = c;
    }
    pieces.push(&data[at..]);
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any boundary, fields and file content (salted with pieces of the
    /// delimiter), delivered in any pieces: exactly the fields and the
    /// file's bytes come out.
    #[test]
    fn any_split_gives_exact_fields_and_file(
        b in boundary_strategy(),
        fields in prop::collection::vec(("[a-zA-Z-]{1,12}", "[ -~]{0,40}"), 0..6),
        chunks in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..64), 0usize..80), 0..12),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let delimiter = format!("\r\n--{b}");
        let mut file = Vec::new();
        for (bytes, cut) in &chunks {
            file.extend_from_slice(bytes);
            // A proper prefix of the delimiter inside the content.
            let cut = cut % delimiter.len();
            file.extend_from_slice(&delimiter.as_bytes()[..cut]);
        }
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(n, v)| !n.eq_ignore_ascii_case("file") && !v.contains(&format!("--{b}")))
            .collect();
        let refs: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let data = body(&b, &refs, &file, &[("submit", "go")]);
        prop_assume!(memmem::find(&file, delimiter.as_bytes()).is_none());
        let (head, got) = decode(&split(&data, &cuts), &b).expect("valid form");
        let want: Vec<FormField> = fields.iter().map(|(n, v)| field(n, v)).collect();
        prop_assert_eq!(head.fields, want);
        prop_assert_eq!(got, file);
    }

    /// A truncated body never yields a different file: it is refused, or
    /// (cut after the file's delimiter) the file is whole.
    #[test]
    fn truncation_never_yields_other_content(
        b in boundary_strategy(),
        file in prop::collection::vec(any::<u8>(), 0..300),
        keep in any::<usize>(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let delimiter = format!("\r\n--{b}");
        prop_assume!(memmem::find(&file, delimiter.as_bytes()).is_none());
        let data = body(&b, &[("key", "k")], &file, &[]);
        let cut = &data[..keep % (data.len() + 1)];
        if let Ok((_, got)) = decode(&split(cut, &cuts), &b) {
            prop_assert_eq!(got, file);
        }
    }

    /// Garbage of any shape is refused or parsed, never a panic.
    #[test]
    fn garbage_never_panics(
        data in prop::collection::vec(prop_oneof![
            Just(b"--B".to_vec()), Just(b"\r\n".to_vec()), Just(b"--".to_vec()),
            Just(b"Content-Disposition: form-data; name=\"file\"".to_vec()),
            Just(b"; filename=\"".to_vec()), Just(b"\"".to_vec()), Just(b"\\".to_vec()),
            prop::collection::vec(any::<u8>(), 0..16),
        ], 0..40),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let data = data.concat();
        let _ = decode(&split(&data, &cuts), "B");
    }
}
