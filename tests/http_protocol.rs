//! The wire protocol as clients exercise it, over raw TCP: malformed input,
//! limits, keep-alive and pipelining, Expect: 100-continue, unknown
//! operations, SigV2, clock skew. Every answer is checked, never a hang.

mod common;

use common::{read_response, signed_request, Server};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

fn host(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn now() -> i64 {
    ringstore::util::time::unix_now()
}

/// Sends `bytes`, returns the first response and whether the server then closed.
fn exchange(server: &Server, bytes: &[u8]) -> (common::RawResponse, bool) {
    let mut s = connect(server);
    s.write_all(bytes).expect("write");
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("a response");
    // A closing server shows EOF at once; a keep-alive one just stays silent.
    r.get_ref()
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut rest = [0u8; 1];
    let closed = matches!(r.read(&mut rest), Ok(0));
    (resp, closed)
}

#[test]
fn malformed_requests_get_400_and_a_clean_close() {
    let server = Server::start(1);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let (resp, closed) = exchange(&server, bad);
        assert_eq!(
            resp.status,
            400,
            "{:?} → {}",
            String::from_utf8_lossy(bad),
            resp.body_text()
        );
        assert!(resp.body_text().contains("<Code>"), "S3 error document");
        assert!(closed, "connection closed after a malformed request");
    }
    // Oversized head.
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..400 {
        huge.extend_from_slice(format!("x-filler-{i}: {}\r\n", "v".repeat(60)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let (resp, closed) = exchange(&server, &huge);
    assert!(
        resp.status == 400 || resp.status == 431,
        "oversize head: {}",
        resp.status
    );
    assert!(closed);
    // The server is still healthy.
    let (resp, _) = exchange(
        &server,
        &signed_request(
            "GET",
            "/",
            "",
            &host(&server),
            b"",
            now(),
            &[("connection", "close")],
        ),
    );
    assert_eq!(resp.status, 200, "{}", resp.body_text());
}

#[test]
fn keep_alive_and_pipelining() {
    let server = Server::start(2);
    let h = host(&server);
    let (resp, _) = exchange(
        &server,
        &signed_request(
            "PUT",
            "/pipe",
            "",
            &h,
            b"",
            now(),
            &[("connection", "close")],
        ),
    );
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    // Three requests in one write on one connection, answered in order.
    let mut batch = Vec::new();
    batch.extend(signed_request(
        "PUT",
        "/pipe/a",
        "",
        &h,
        b"first",
        now(),
        &[],
    ));
    batch.extend(signed_request(
        "PUT",
        "/pipe/b",
        "",
        &h,
        b"second!",
        now(),
        &[],
    ));
    batch.extend(signed_request("GET", "/pipe/a", "", &h, b"", now(), &[]));
    let mut s = connect(&server);
    s.write_all(&batch).expect("write");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let a = read_response(&mut r, false).expect("1");
    let b = read_response(&mut r, false).expect("2");
    let c = read_response(&mut r, false).expect("3");
    assert_eq!((a.status, b.status, c.status), (200, 200, 200));
    assert_eq!(c.body, b"first");
    for resp in [&a, &b, &c] {
        assert!(resp.header("x-amz-request-id").is_some());
        assert!(resp.header("x-amz-id-2").is_some());
        assert!(resp.header("date").is_some());
        assert_eq!(resp.header("server"), Some("ringstore"));
    }
    // The same connection keeps serving.
    s.write_all(&signed_request("GET", "/pipe/b", "", &h, b"", now(), &[]))
        .expect("write");
    let d = read_response(&mut r, false).expect("4");
    assert_eq!(d.body, b"second!");
}

#[test]
fn expect_continue_and_early_errors() {
    let server = Server::start(1);
    let h = host(&server);
    let (resp, _) = exchange(
        &server,
        &signed_request(
            "PUT",
            "/cont",
            "",
            &h,
            b"",
            now(),
            &[("connection", "close")],
        ),
    );
    assert_eq!(resp.status, 200);
    // Good request: 100 Continue, then the body, then 200.
    let full = signed_request(
        "PUT",
        "/cont/k",
        "",
        &h,
        b"payload",
        now(),
        &[("expect", "100-continue")],
    );
    let split = full.len() - b"payload".len();
    let mut s = connect(&server);
    s.write_all(&full[..split]).expect("head");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let cont = read_response(&mut r, false).expect("100");
    assert_eq!(cont.status, 100);
    s.write_all(b"payload").expect("body");
    let ok = read_response(&mut r, false).expect("200");
    assert_eq!(ok.status, 200, "{}", ok.body_text());
    // Bad bucket: the error comes without a 100 and without reading the body.
    let full = signed_request(
        "PUT",
        "/no-such-bucket/k",
        "",
        &h,
        b"payload",
        now(),
        &[("expect", "100-continue")],
    );
    let mut s = connect(&server);
    s.write_all(&full[..full.len() - 7]).expect("head");
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("error");
    assert_eq!(resp.status, 404);
    assert!(resp.body_text().contains("NoSuchBucket"));
}

#[test]
fn unknown_operations_v2_and_skew() {
    let server = Server::start(1);
    let h = host(&server);
    let (resp, _) = exchange(
        &server,
        &signed_request("PUT", "/ops", "", &h, b"", now(), &[]),
    );
    assert_eq!(resp.status, 200);
    let (resp, _) = exchange(
        &server,
        &signed_request("PUT", "/ops", "website=", &h, b"", now(), &[]),
    );
    assert_eq!(resp.status, 501, "{}", resp.body_text());
    assert!(resp.body_text().contains("NotImplemented"));
    let v2 = format!("GET /ops HTTP/1.1\r\nHost: {h}\r\nDate: Sat, 21 Nov 2026 00:00:00 GMT\r\nAuthorization: AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=\r\n\r\n");
    let (resp, _) = exchange(&server, v2.as_bytes());
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(
        resp.body_text().contains("AWS4-HMAC-SHA256"),
        "says which signature to use"
    );
    let (resp, _) = exchange(
        &server,
        &signed_request("GET", "/ops", "", &h, b"", now() - 3600, &[]),
    );
    assert_eq!(resp.status, 403);
    assert!(resp.body_text().contains("RequestTimeTooSkewed"));
    // A signed PUT whose body does not match its signed SHA-256 stores nothing.
    let mut tampered = signed_request("PUT", "/ops/k", "", &h, b"honest", now(), &[]);
    let n = tampered.len();
    tampered[n - 6..].copy_from_slice(b"forged");
    let (resp, _) = exchange(&server, &tampered);
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(resp.body_text().contains("XAmzContentSHA256Mismatch"));
    let (resp, _) = exchange(
        &server,
        &signed_request("GET", "/ops/k", "", &h, b"", now(), &[]),
    );
    assert_eq!(resp.status, 404, "nothing stored after a failed signature");
    // A truncated body stores nothing either.
    let mut s = connect(&server);
    let full = signed_request("PUT", "/ops/t", "", &h, b"0123456789", now(), &[]);
    s.write_all(&full[..full.len() - 4]).expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
    let (resp, _) = exchange(
        &server,
        &signed_request("GET", "/ops/t", "", &h, b"", now(), &[]),
    );
    assert_eq!(resp.status, 404, "nothing stored after a truncated body");
}

#[test]
fn tampered_xml_bodies_are_refused_before_they_act() {
    let server = Server::start(2);
    let h = host(&server);
    for req in [
        signed_request("PUT", "/xml", "", &h, b"", now(), &[]),
        signed_request("PUT", "/xml/keep", "", &h, b"k", now(), &[]),
        signed_request("PUT", "/xml/gone", "", &h, b"g", now(), &[]),
    ] {
        assert_eq!(exchange(&server, &req).0.status, 200);
    }
    // A DeleteObjects body altered after signing (same length: "gone" ->
    // "keep") would delete the wrong key; its signed SHA-256 refuses it.
    let honest = b"<Delete><Object><Key>gone</Key></Object></Delete>";
    let mut tampered = signed_request("POST", "/xml", "delete=", &h, honest, now(), &[]);
    let at = tampered.len() - b"gone</Key></Object></Delete>".len();
    tampered[at..at + 4].copy_from_slice(b"keep");
    assert!(tampered.ends_with(b"<Key>keep</Key></Object></Delete>"));
    let (resp, _) = exchange(&server, &tampered);
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(resp.body_text().contains("XAmzContentSHA256Mismatch"));
    let get = |key: &str| {
        let req = signed_request("GET", &format!("/xml/{key}"), "", &h, b"", now(), &[]);
        exchange(&server, &req).0.status
    };
    assert_eq!((get("keep"), get("gone")), (200, 200), "nothing deleted");
    // A wrong Content-MD5 on a configuration body: BadDigest, nothing set.
    let tags = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>";
    let wrong_md5 = [("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")];
    let req = signed_request("PUT", "/xml", "tagging=", &h, tags, now(), &wrong_md5);
    let (resp, _) = exchange(&server, &req);
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(resp.body_text().contains("BadDigest"));
    let req = signed_request("GET", "/xml", "tagging=", &h, b"", now(), &[]);
    assert_eq!(exchange(&server, &req).0.status, 404, "no tags were set");
    // The honest request does its job.
    let req = signed_request("POST", "/xml", "delete=", &h, honest, now(), &[]);
    assert_eq!(exchange(&server, &req).0.status, 200);
    assert_eq!((get("keep"), get("gone")), (200, 404));
}

#[test]
fn idle_and_slow_clients_are_disconnected() {
    let server = Server::start_with(1, &["--idle-timeout-secs", "1"]);
    // Idle: connect and say nothing.
    let mut s = connect(&server);
    let start = std::time::Instant::now();
    let mut buf = [0u8; 16];
    assert!(
        matches!(s.read(&mut buf), Ok(0)),
        "idle connection closed by the server"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // Slowloris: half a head, then silence.
    let mut s = connect(&server);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let start = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "slow head cut off"
    );
    // The server still serves others.
    let (resp, _) = exchange(
        &server,
        &signed_request(
            "GET",
            "/",
            "",
            &host(&server),
            b"",
            now(),
            &[("connection", "close")],
        ),
    );
    assert_eq!(resp.status, 200);
}
