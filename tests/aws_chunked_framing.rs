//! Malformed aws-chunked bodies (STREAMING-UNSIGNED-PAYLOAD-TRAILER, as the
//! SDKs send by default) get a 400-class S3 error and store nothing.

mod common;

use common::{read_response, signed_request, signed_request_with_payload, Server};
use std::io::{BufReader, Write};
use std::time::Duration;

fn send(server: &Server, bytes: &[u8], close_write: bool) -> Option<common::RawResponse> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    if close_write {
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    }
    read_response(&mut BufReader::new(s), false)
}

/// A PUT whose aws-chunked body is `framed`, announcing `decoded` payload bytes.
fn chunked_put(server: &Server, key: &str, framed: &[u8], decoded: usize) -> Vec<u8> {
    let host = format!("127.0.0.1:{}", server.port);
    let decoded = decoded.to_string();
    signed_request_with_payload(
        "PUT",
        &format!("/frames/{key}"),
        "",
        &host,
        framed,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        ringstore::util::time::unix_now(),
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &decoded),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
    )
}

fn crc32_b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(data).to_be_bytes())
}

fn good_frame(data: &[u8]) -> Vec<u8> {
    let mut f = format!("{:x}\r\n", data.len()).into_bytes();
    f.extend_from_slice(data);
    f.extend_from_slice(
        format!("\r\n0\r\nx-amz-checksum-crc32:{}\r\n\r\n", crc32_b64(data)).as_bytes(),
    );
    f
}

fn stored(server: &Server, key: &str) -> u16 {
    let host = format!("127.0.0.1:{}", server.port);
    let req = signed_request(
        "GET",
        &format!("/frames/{key}"),
        "",
        &host,
        b"",
        ringstore::util::time::unix_now(),
        &[("connection", "close")],
    );
    send(server, &req, false).expect("response").status
}

#[test]
fn malformed_aws_chunked_bodies_are_rejected_and_store_nothing() {
    let server = Server::start(2);
    let host = format!("127.0.0.1:{}", server.port);
    let mk = signed_request(
        "PUT",
        "/frames",
        "",
        &host,
        b"",
        ringstore::util::time::unix_now(),
        &[],
    );
    assert_eq!(send(&server, &mk, false).expect("create").status, 200);
    let data = b"hello aws-chunked world";
    // The well-formed body is accepted and stored exactly (no framing inside the object).
    let ok = send(
        &server,
        &chunked_put(&server, "good", &good_frame(data), data.len()),
        false,
    )
    .expect("good");
    assert_eq!(ok.status, 200, "{}", ok.body_text());
    let get = signed_request(
        "GET",
        "/frames/good",
        "",
        &host,
        b"",
        ringstore::util::time::unix_now(),
        &[],
    );
    assert_eq!(send(&server, &get, false).expect("get").body, data);

    let bad_cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad-hex", b"zz\r\nhello\r\n0\r\n\r\n".to_vec()),
        ("missing-crlf", {
            let mut f = format!("{:x}\r\n", data.len()).into_bytes();
            f.extend_from_slice(data);
            f.extend_from_slice(b"XX0\r\n\r\n");
            f
        }),
        ("longer-than-declared", {
            let mut f = b"3\r\n".to_vec();
            f.extend_from_slice(data);
            f.extend_from_slice(b"\r\n0\r\n\r\n");
            f
        }),
        ("wrong-trailer-checksum", {
            let mut f = format!("{:x}\r\n", data.len()).into_bytes();
            f.extend_from_slice(data);
            f.extend_from_slice(b"\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
            f
        }),
        ("oversize-trailer", {
            let mut f = format!("{:x}\r\n", data.len()).into_bytes();
            f.extend_from_slice(data);
            f.extend_from_slice(b"\r\n0\r\n");
            f.extend_from_slice(
                format!("x-amz-checksum-crc32:{}\r\n", "A".repeat(40_000)).as_bytes(),
            );
            f.extend_from_slice(b"\r\n");
            f
        }),
    ];
    for (name, framed) in bad_cases {
        let resp = send(
            &server,
            &chunked_put(&server, name, &framed, data.len()),
            false,
        )
        .expect("an answer, not a hang");
        assert!(
            (400..500).contains(&resp.status),
            "{name}: {} {}",
            resp.status,
            resp.body_text()
        );
        assert!(
            resp.body_text().contains("<Code>"),
            "{name}: S3 error document"
        );
        assert_eq!(stored(&server, name), 404, "{name}: nothing stored");
    }
    // Truncated stream: the client goes away mid-chunk.
    let framed = good_frame(data);
    let req = chunked_put(&server, "truncated", &framed, data.len());
    let cut = req.len() - framed.len() + 10;
    let _ = send(&server, &req[..cut], true);
    assert_eq!(
        stored(&server, "truncated"),
        404,
        "truncated: nothing stored"
    );
}

#[test]
fn signed_streaming_chunks_verify_and_tampering_is_rejected() {
    let server = Server::start(2);
    let host = format!("127.0.0.1:{}", server.port);
    let now = ringstore::util::time::unix_now();
    let mk = signed_request("PUT", "/frames", "", &host, b"", now, &[]);
    assert_eq!(send(&server, &mk, false).expect("create").status, 200);
    for (i, size) in [0usize, 1, 8192, 65_536 + 1024, 300_001]
        .into_iter()
        .enumerate()
    {
        let payload = common::pattern(size, i as u64);
        let key = format!("/frames/signed-{size}");
        let resp = send(
            &server,
            &common::streaming_signed_put(&key, &host, &payload, 65_536, now, false),
            false,
        )
        .expect("answer");
        assert_eq!(resp.status, 200, "{size}: {}", resp.body_text());
        let get = signed_request("GET", &key, "", &host, b"", now, &[]);
        let got = send(&server, &get, false).expect("get");
        assert!(
            got.body == payload,
            "{size}: stored payload without framing"
        );
    }
    let payload = common::pattern(100_000, 9);
    let resp = send(
        &server,
        &common::streaming_signed_put("/frames/tampered", &host, &payload, 65_536, now, true),
        false,
    )
    .expect("answer");
    assert_eq!(resp.status, 403, "{}", resp.body_text());
    assert!(resp.body_text().contains("SignatureDoesNotMatch"));
    assert_eq!(
        stored(&server, "tampered"),
        404,
        "tampered stream stores nothing"
    );
}
