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
    let md5 = content_md5(honest);
    let with_md5 = [("content-md5", md5.as_str())];
    let mut tampered = signed_request("POST", "/xml", "delete=", &h, honest, now(), &with_md5);
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
    let req = signed_request("POST", "/xml", "delete=", &h, honest, now(), &with_md5);
    assert_eq!(exchange(&server, &req).0.status, 200);
    assert_eq!((get("keep"), get("gone")), (200, 404));
}

fn content_md5(body: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

fn crc32_b64(body: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(body).to_be_bytes())
}

/// DeleteObjects without Content-MD5 or a flexible checksum is refused as S3
/// refuses it (signed payload or not), before anything is deleted; the forms
/// SDKs send (Content-MD5, x-amz-checksum-crc32, a trailing checksum) work;
/// a key with a character XML 1.0 forbids is MalformedXML. A PUT naming a
/// checksum algorithm without the checksum is refused too.
#[test]
fn delete_objects_needs_an_integrity_header_and_well_formed_keys() {
    let server = Server::start(1);
    let h = host(&server);
    let put = |key: &str| {
        let req = signed_request("PUT", &format!("/dobj/{key}"), "", &h, b"v", now(), &[]);
        assert_eq!(exchange(&server, &req).0.status, 200);
    };
    let exists = |key: &str| {
        let req = signed_request("GET", &format!("/dobj/{key}"), "", &h, b"", now(), &[]);
        exchange(&server, &req).0.status == 200
    };
    let post = |body: &[u8], payload: Option<&str>, extra: &[(&str, &str)]| {
        let req = match payload {
            None => signed_request("POST", "/dobj", "delete=", &h, body, now(), extra),
            Some(p) => common::signed_request_with_payload(
                "POST",
                "/dobj",
                "delete=",
                &h,
                body,
                p,
                now(),
                extra,
            ),
        };
        exchange(&server, &req).0
    };
    let req = signed_request("PUT", "/dobj", "", &h, b"", now(), &[]);
    assert_eq!(exchange(&server, &req).0.status, 200);
    put("a");
    let body = b"<Delete><Object><Key>a</Key></Object></Delete>";
    let refused = [
        (
            None,
            vec![],
            "Missing required header for this request: Content-MD5",
        ),
        (
            Some("UNSIGNED-PAYLOAD"),
            vec![],
            "Missing required header for this request: Content-MD5",
        ),
        (
            None,
            vec![("x-amz-sdk-checksum-algorithm", "CRC32")],
            "x-amz-sdk-checksum-algorithm specified, but no corresponding",
        ),
    ];
    for (payload, extra, message) in refused {
        let resp = post(body, payload, &extra);
        assert_eq!(resp.status, 400, "{}", resp.body_text());
        assert!(resp.body_text().contains("<Code>InvalidRequest</Code>"));
        assert!(resp.body_text().contains(message), "{}", resp.body_text());
        assert!(exists("a"), "nothing deleted");
    }
    // Content-MD5, as older SDKs, s3cmd and boto3 before 1.36 send it.
    let md5 = content_md5(body);
    let resp = post(body, Some("UNSIGNED-PAYLOAD"), &[("content-md5", &md5)]);
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert!(!exists("a"));
    // x-amz-checksum-crc32, as newer SDKs send it.
    put("a");
    let crc = crc32_b64(body);
    let resp = post(
        body,
        None,
        &[
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-checksum-crc32", &crc),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert!(!exists("a"));
    // A trailing checksum over an aws-chunked body.
    put("a");
    let mut framed = format!("{:x}\r\n", body.len()).into_bytes();
    framed.extend_from_slice(body);
    framed.extend_from_slice(format!("\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n").as_bytes());
    let decoded = body.len().to_string();
    let resp = post(
        &framed,
        Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        &[
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", &decoded),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
    );
    assert_eq!(resp.status, 200, "{}", resp.body_text());
    assert!(!exists("a"));
    // NUL (or another character XML 1.0 forbids) in a key: MalformedXML.
    put("a");
    for key in ["a\0", "a&#0;", "a&#x1;"] {
        let body = format!(
            "<Delete><Object><Key>{key}</Key></Object><Object><Key>a</Key></Object></Delete>"
        );
        let md5 = content_md5(body.as_bytes());
        let resp = post(body.as_bytes(), None, &[("content-md5", &md5)]);
        assert_eq!(resp.status, 400, "{key:?}: {}", resp.body_text());
        assert!(
            resp.body_text().contains("<Code>MalformedXML</Code>"),
            "{}",
            resp.body_text()
        );
        assert!(exists("a"), "nothing deleted");
    }
    // A PUT that names a checksum algorithm but sends no checksum would go
    // unchecked: S3 refuses it, and nothing is stored.
    let sdk_only = [("x-amz-sdk-checksum-algorithm", "CRC32")];
    let req = signed_request("PUT", "/dobj/sdk-only", "", &h, b"v", now(), &sdk_only);
    let resp = exchange(&server, &req).0;
    assert_eq!(resp.status, 400, "{}", resp.body_text());
    assert!(resp.body_text().contains("<Code>InvalidRequest</Code>"));
    assert!(resp
        .body_text()
        .contains("x-amz-sdk-checksum-algorithm specified, but no corresponding"));
    assert!(!exists("sdk-only"));
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

// ------------------------------------------------- connection floods (issue 22 §4)

/// `n` connections that never send a byte.
fn silent_sockets(server: &Server, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect(server)).collect()
}

/// Whether the server has closed `s` (EOF or reset), without waiting.
fn is_closed(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 1];
    let closed = match (&*s).read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).expect("blocking");
    closed
}

/// Whether the server closes `s` within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn log_lines_with(server: &Server, needle: &str) -> usize {
    server.log().lines().filter(|l| l.contains(needle)).count()
}

/// Eight times the connection cap in idle, unauthenticated sockets: the
/// longest-idle ones are closed for new clients, a signed SDK client is
/// served within a second every time, nothing acknowledged is lost, and the
/// hundreds of sheds are logged once per interval per shard.
#[test]
fn idle_sockets_beyond_the_cap_are_shed_and_signed_clients_are_served() {
    const CAP_PER_SHARD: usize = 16;
    const SHARDS: usize = 2;
    let cap = CAP_PER_SHARD.to_string();
    let server = Server::start_with(
        SHARDS,
        &[
            "--max-connections-per-shard",
            &cap,
            "--max-connections-per-ip",
            "0",
        ],
    );
    let rt = common::rt();
    let mut idle = Vec::new();
    rt.block_on(async {
        let s3 = common::s3_client(&server).await;
        s3.create_bucket()
            .bucket("flood")
            .send()
            .await
            .expect("create bucket");
        let mut acked = Vec::new();
        let put = |s3: aws_sdk_s3::Client, key: String, seed: u64| async move {
            s3.put_object()
                .bucket("flood")
                .key(&key)
                .body(common::pattern(4096, seed).into())
                .send()
                .await
                .map(|_| (key, seed))
        };
        for i in 0..8 {
            acked.push(
                put(s3.clone(), format!("before-{i}"), i)
                    .await
                    .expect("put"),
            );
        }
        idle = silent_sockets(&server, 8 * SHARDS * CAP_PER_SHARD);
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 0..16u64 {
            // A new client each round: new connections, as a new process would open.
            let fresh = common::s3_client(&server).await;
            let started = std::time::Instant::now();
            let done = put(fresh.clone(), format!("during-{i}"), 100 + i)
                .await
                .unwrap_or_else(|e| panic!("PUT {i} during the flood: {e:?}"));
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "PUT {i} took {:?}",
                started.elapsed()
            );
            acked.push(done);
            let started = std::time::Instant::now();
            let body = common::get_bytes(&fresh, "flood", &format!("during-{i}")).await;
            assert_eq!(body, common::pattern(4096, 100 + i));
            assert!(started.elapsed() < Duration::from_secs(1));
            // More silent sockets keep arriving meanwhile.
            idle.extend(silent_sockets(&server, 8));
        }
        for (key, seed) in &acked {
            assert_eq!(
                common::get_bytes(&s3, "flood", key).await,
                common::pattern(4096, *seed),
                "{key}"
            );
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let open = idle.iter().filter(|s| !is_closed(s)).count();
    assert!(
        open <= SHARDS * CAP_PER_SHARD,
        "{open} of {} silent sockets still open past the cap",
        idle.len()
    );
    let lines = log_lines_with(&server, "closed the longest-idle connection");
    assert!(
        (1..=SHARDS).contains(&lines),
        "{lines} shed warnings for {} sheds:\n{}",
        idle.len() - open,
        server.log()
    );
}

/// A connection that sends no request is closed at the default head
/// deadline (10 s, not the 60 s idle timeout), while a keep-alive
/// connection between requests gets the idle timeout.
#[test]
fn a_silent_connection_is_closed_at_the_head_deadline() {
    let server = Server::start(1);
    let mut silent = connect(&server);
    let started = std::time::Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)),
        "a silent connection still open after 20 s"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "closed after {took:?}"
    );
    let h = host(&server);
    let mut keep = connect(&server);
    keep.write_all(&signed_request("GET", "/", "", &h, b"", now(), &[]))
        .expect("write");
    let mut r = BufReader::new(keep.try_clone().expect("clone"));
    assert_eq!(read_response(&mut r, false).expect("response").status, 200);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !is_closed(&keep),
        "idle between requests: the 60 s idle timeout applies"
    );
    keep.write_all(&signed_request("GET", "/", "", &h, b"", now(), &[]))
        .expect("write");
    assert_eq!(read_response(&mut r, false).expect("response").status, 200);
}

/// One client address holds at most --max-connections-per-ip connections;
/// more are closed at once (logged once), other addresses are served, and
/// a closed connection returns its place.
#[test]
fn connections_per_client_address_are_limited() {
    const PER_IP: usize = 8;
    let server = Server::start_with(1, &["--max-connections-per-ip", &PER_IP.to_string()]);
    let mut held = silent_sockets(&server, PER_IP);
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = silent_sockets(&server, 40);
    for (i, s) in extra.iter_mut().enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(5)),
            "connection {i} past the limit kept"
        );
    }
    assert!(held.iter().all(|s| !is_closed(s)), "the first ones stay");
    // Another address (all of 127/8 is loopback) is not affected.
    let rt = common::rt();
    let other = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind");
        let s = sock
            .connect(format!("127.0.0.1:{}", server.port).parse().expect("addr"))
            .await
            .expect("connect");
        s.into_std().expect("std")
    });
    other.set_nonblocking(false).expect("blocking");
    (&other)
        .write_all(&signed_request(
            "GET",
            "/",
            "",
            &host(&server),
            b"",
            now(),
            &[],
        ))
        .expect("write");
    let mut r = BufReader::new(&other);
    assert_eq!(read_response(&mut r, false).expect("response").status, 200);
    // A place freed is a place for the next connection.
    held.pop();
    std::thread::sleep(Duration::from_millis(200));
    let (resp, _) = exchange(
        &server,
        &signed_request("GET", "/", "", &host(&server), b"", now(), &[]),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        log_lines_with(&server, "client at its connection limit"),
        1,
        "40 refusals, one line:\n{}",
        server.log()
    );
}

fn nofile_limits_of(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next().expect("soft").to_string();
    let hard = fields.next().expect("hard").to_string();
    (soft, hard)
}

fn own_hard_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) into a local.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    r.rlim_max
}

/// Started with a soft open file limit of 256, the server raises it to the
/// hard limit and says so.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let hard = own_hard_nofile();
    assert!(hard > 256, "this test needs a hard limit above 256");
    let server = Server::start_with_nofile(1, &[], 256, hard);
    let (soft_now, hard_now) = nofile_limits_of(server.pid().expect("pid"));
    assert_eq!(soft_now, hard_now, "soft raised to hard");
    assert_ne!(soft_now, "256");
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("open file limit raised") && l.contains("from=256")),
        "{log}"
    );
}

/// With only 256 descriptors (hard limit too), 400 idle sockets must not
/// take the ones the store needs: PUTs that roll segments and prepare
/// spares all succeed while the sockets are held, and every object is there
/// after a restart.
#[test]
fn sockets_never_take_the_descriptors_the_store_needs() {
    const FDS: u64 = 256;
    let mut server = Server::start_with_nofile(1, &[], FDS, FDS);
    let rt = common::rt();
    let idle = silent_sockets(&server, 400);
    std::thread::sleep(Duration::from_millis(300));
    const OBJECTS: u64 = 40; // 40 MiB: two 16 MiB segment rolls and their spares
    rt.block_on(async {
        let s3 = common::s3_client(&server).await;
        s3.create_bucket()
            .bucket("fds")
            .send()
            .await
            .expect("create bucket");
        for i in 0..OBJECTS {
            s3.put_object()
                .bucket("fds")
                .key(format!("k{i}"))
                .body(common::pattern(1 << 20, i).into())
                .send()
                .await
                .unwrap_or_else(|e| panic!("PUT {i}: {e:?}\n{}", server.log()));
        }
    });
    let segments = std::fs::read_dir(server.data_dir.join("shard-000"))
        .expect("shard dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("seg-"))
        })
        .count();
    assert!(segments >= 3, "the PUTs rolled segments ({segments})");
    assert!(
        !server.log().contains("Too many open files"),
        "{}",
        server.log()
    );
    drop(idle);
    server.restart();
    rt.block_on(async {
        let s3 = common::s3_client(&server).await;
        for i in 0..OBJECTS {
            assert_eq!(
                common::get_bytes(&s3, "fds", &format!("k{i}")).await,
                common::pattern(1 << 20, i)
            );
        }
    });
}
