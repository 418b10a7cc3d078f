//! POST Object against broken forms, over raw TCP: a signed form cut short
//! at every point of its fields and across its file, each of its boundary
//! lines broken, garbage, and the connection dropped mid-file. Every one
//! gets a 4xx (never a 5xx, never a stored object, and the server keeps
//! serving); the intact form, sent in small pieces, then stores its file.

mod common;

use common::{form_parts, pattern, post_policy_fields, read_response, rt, s3_client, Server};
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpStream};

const BOUNDARY: &str = "----ringstoreForm7MA4YWxk";
const BUCKET: &str = "forms";
const KEY: &str = "upload.bin";
/// Larger than one body read, so a cut inside the file comes after some of
/// it has streamed into the store.
const FILE_BYTES: usize = 300 * 1024;
/// Cuts inside the file: this many, spread evenly.
const FILE_CUTS: usize = 24;

/// Sends a POST of `body` to the bucket declaring `declared` bytes, then
/// half-closes; the answer, if the server gave one before closing.
fn post(port: u16, body: &[u8], declared: usize) -> Option<common::RawResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let head = format!(
        "POST /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
    );
    // The server may answer and close before reading everything.
    let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    let _ = s.shutdown(Shutdown::Write);
    read_response(&mut BufReader::new(s), false)
}

/// A refusal: a 4xx with S3's error document.
fn assert_refused(what: &str, r: Option<common::RawResponse>) {
    let r = r.unwrap_or_else(|| panic!("{what}: no answer"));
    assert!(
        (400..500).contains(&r.status) && r.body_text().contains("<Error>"),
        "{what}: {} {}",
        r.status,
        r.body_text()
    );
}

#[test]
fn broken_forms_are_refused_and_store_nothing() {
    let server = Server::start(2);
    let port = server.port;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create");
    });
    let fields = post_policy_fields(BUCKET, KEY, FILE_BYTES as u64);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let (head, tail) = form_parts(BOUNDARY, &refs, KEY);
    let file = pattern(FILE_BYTES, 27);
    let body = [head.as_slice(), &file, &tail].concat();

    // Cut short, declared as short: every cut in the fields and the file
    // part's headers, cuts across the file, and every cut of the closing
    // delimiter that leaves it unfinished (its final CRLF is optional).
    let file_cuts = (0..FILE_CUTS).map(|i| head.len() + i * FILE_BYTES / FILE_CUTS);
    let tail_cuts = head.len() + FILE_BYTES..body.len() - 2;
    for cut in (0..head.len()).chain(file_cuts).chain(tail_cuts) {
        assert_refused(&format!("cut at {cut}"), post(port, &body[..cut], cut));
    }

    // One byte of one boundary line changed: fields run together, the
    // file never starts, or never ends.
    let marker = format!("--{BOUNDARY}");
    let mut at = 0;
    let mut broken = 0;
    while let Some(i) = memchr::memmem::find(&body[at..], marker.as_bytes()) {
        let mut bad = body.clone();
        bad[at + i + marker.len() / 2] ^= 0x20;
        assert_refused(
            &format!("boundary at {}", at + i),
            post(port, &bad, bad.len()),
        );
        at += i + marker.len();
        broken += 1;
    }
    assert_eq!(
        broken,
        fields.len() + 2,
        "every boundary line was broken once"
    );

    // Garbage where a form should be, with and without a first boundary.
    for seed in 0..8u64 {
        let junk = pattern(4096 + seed as usize * 517, 100 + seed);
        assert_refused(&format!("garbage {seed}"), post(port, &junk, junk.len()));
        let led = [format!("--{BOUNDARY}\r\n").as_bytes(), &junk].concat();
        assert_refused(&format!("led garbage {seed}"), post(port, &led, led.len()));
    }

    // The connection dropped mid-file: no answer is owed, nothing stored.
    for cut in [head.len(), head.len() + FILE_BYTES / 2] {
        let _ = post(port, &body[..cut], body.len());
    }

    rt().block_on(async {
        let s3 = s3_client(&server).await;
        let listed = s3
            .list_object_versions()
            .bucket(BUCKET)
            .send()
            .await
            .expect("list versions");
        assert!(
            listed.versions().is_empty() && listed.delete_markers().is_empty(),
            "a broken form stored something: {listed:?}"
        );
    });

    // The intact form, in pieces of 1 to 61 bytes through its fields: stored.
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let request_head = format!(
        "POST /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; \
         boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(request_head.as_bytes()).expect("head");
    let mut at = 0;
    for step in (1..=61).cycle() {
        if at >= head.len() {
            break;
        }
        let end = (at + step).min(head.len());
        s.write_all(&body[at..end]).expect("piece");
        s.flush().expect("flush");
        at = end;
    }
    s.write_all(&body[at..]).expect("rest");
    let r = read_response(&mut BufReader::new(s), false).expect("answer");
    assert_eq!(r.status, 204, "{}", r.body_text());
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        assert_eq!(common::get_bytes(&s3, BUCKET, KEY).await, file);
    });
}
