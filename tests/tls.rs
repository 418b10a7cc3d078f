//! The optional HTTPS listener: SigV4 requests over TLS (rustls as the
//! client, then boto3 and the aws CLI verifying the server's certificate),
//! the same objects over both listeners, and failures that must not hurt
//! the server (a plain-HTTP client on the TLS port, a bad certificate file).

mod common;

use common::{
    create_credential, read_response, run_pytest, signed_request, signed_request_as, Server,
};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key) paths.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    (cert, key)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A TLS client connection to 127.0.0.1:`port` that trusts `cert` only.
fn tls_connect(
    port: u16,
    cert: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).expect("pem") {
        roots.add(c.expect("cert")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

#[test]
fn https_listener_serves_signed_requests_beside_plain_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path());
    let tls_port = free_port();
    let tls_listen = format!("127.0.0.1:{tls_port}");
    let server = Server::start_with(
        2,
        &[
            "--tls-listen",
            &tls_listen,
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
    );
    let now = ringstore::util::time::unix_now();
    let host = format!("127.0.0.1:{tls_port}");
    // Several requests on one TLS connection (keep-alive).
    let mut tls = BufReader::new(tls_connect(tls_port, &cert));
    let body = common::pattern(300_000, 7);
    for (method, path, payload) in [
        ("PUT", "/secure", &b""[..]),
        ("PUT", "/secure/obj", &body[..]),
    ] {
        let req = signed_request(method, path, "", &host, payload, now, &[]);
        tls.get_mut().write_all(&req).expect("send");
        let r = read_response(&mut tls, false).expect("answer over TLS");
        assert_eq!(r.status, 200, "{method} {path}: {}", r.body_text());
    }
    let req = signed_request("GET", "/secure/obj", "", &host, b"", now, &[]);
    tls.get_mut().write_all(&req).expect("send");
    let r = read_response(&mut tls, false).expect("answer over TLS");
    assert_eq!(r.status, 200);
    assert!(r.body == body, "the object reads back over TLS");
    // A bad signature is refused over TLS as over HTTP.
    let mut bad = signed_request("GET", "/secure/obj", "", &host, b"", now, &[]);
    let sig = String::from_utf8_lossy(&bad)
        .find("Signature=")
        .expect("signature")
        + "Signature=".len();
    bad[sig] = if bad[sig] == b'0' { b'1' } else { b'0' };
    tls.get_mut().write_all(&bad).expect("send");
    let r = read_response(&mut tls, false).expect("answer");
    assert_eq!(r.status, 403, "{}", r.body_text());
    assert!(r.body_text().contains("SignatureDoesNotMatch"));

    // The same object over the plain listener.
    let plain_host = format!("127.0.0.1:{}", server.port);
    let req = signed_request("GET", "/secure/obj", "", &plain_host, b"", now, &[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(&req).expect("send");
    let r = read_response(&mut BufReader::new(s), false).expect("plain answer");
    assert!(r.status == 200 && r.body == body);

    // Plain HTTP on the TLS port: the handshake fails, the server does not.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", tls_port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(b"GET /secure/obj HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 512];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"HTTP/1.1 200"),
        "no plaintext answer on the TLS port"
    );
    let mut again = BufReader::new(tls_connect(tls_port, &cert));
    let req = signed_request("HEAD", "/secure/obj", "", &host, b"", now, &[]);
    again.get_mut().write_all(&req).expect("send");
    assert_eq!(read_response(&mut again, true).expect("answer").status, 200);

    // Real clients that verify the certificate.
    let endpoint = format!("https://127.0.0.1:{tls_port}");
    run_pytest(
        &server,
        "test_tls.py",
        &[
            ("S3_TLS_ENDPOINT", &endpoint),
            ("S3_TLS_CA", cert.to_str().expect("utf-8")),
        ],
    );
}

#[test]
fn a_bad_certificate_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = self_signed(dir.path());
    let missing = dir.path().join("no-such-key.pem");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--shards",
            "1",
            "--tls-listen",
        ])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&missing)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such-key.pem"), "{stderr}");
    // And a certificate without a key is refused by the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args(["serve", "--tls-listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .output()
        .expect("run");
    assert!(!out.status.success());
}

/// "Deny anything not over TLS": a bucket policy on `aws:SecureTransport`
/// refuses the plain listener and lets the HTTPS one through, for a
/// credential that is not root (root is not subject to policies).
#[test]
fn a_policy_refuses_requests_that_do_not_come_over_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path());
    let tls_port = free_port();
    let tls_listen = format!("127.0.0.1:{tls_port}");
    let server = Server::start_with(
        2,
        &[
            "--tls-listen",
            &tls_listen,
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ],
    );
    let alice = create_credential(&server, "alice");
    let creds = (alice.access_key.as_str(), alice.secret_key.as_str());
    let now = ringstore::util::time::unix_now();
    let tls_host = format!("127.0.0.1:{tls_port}");
    let plain_host = format!("127.0.0.1:{}", server.port);
    let over_tls = |method: &str, path: &str, query: &str, body: &[u8]| {
        let mut tls = BufReader::new(tls_connect(tls_port, &cert));
        let req = signed_request_as(creds, method, path, query, &tls_host, body, now, &[]);
        tls.get_mut().write_all(&req).expect("send");
        read_response(&mut tls, method == "HEAD").expect("answer over TLS")
    };
    let over_http = |method: &str, path: &str, query: &str, body: &[u8]| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        let req = signed_request_as(creds, method, path, query, &plain_host, body, now, &[]);
        s.write_all(&req).expect("send");
        read_response(&mut BufReader::new(s), method == "HEAD").expect("plain answer")
    };
    assert_eq!(over_http("PUT", "/tlsonly", "", b"").status, 200);
    assert_eq!(over_http("PUT", "/tlsonly/before", "", b"b").status, 200);
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TLSOnly","Effect":"Deny",
        "Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::tlsonly","arn:aws:s3:::tlsonly/*"],
        "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let r = over_tls("PUT", "/tlsonly", "policy=", policy.as_bytes());
    assert_eq!(r.status, 204, "{}", r.body_text());
    // Plain HTTP: refused, reads and writes alike, and nothing is stored.
    for (method, path, query) in [
        ("GET", "/tlsonly/before", ""),
        ("PUT", "/tlsonly/plain", ""),
        ("GET", "/tlsonly", "list-type=2"),
        ("HEAD", "/tlsonly", ""),
    ] {
        let r = over_http(
            method,
            path,
            query,
            if method == "PUT" { b"p" } else { b"" },
        );
        assert_eq!(
            r.status,
            403,
            "{method} {path} over HTTP: {}",
            r.body_text()
        );
    }
    // HTTPS: allowed.
    assert_eq!(over_tls("PUT", "/tlsonly/secure", "", b"s").status, 200);
    let r = over_tls("GET", "/tlsonly/before", "", b"");
    assert!(r.status == 200 && r.body == b"b");
    assert_eq!(over_tls("GET", "/tlsonly/plain", "", b"").status, 404);
    // The owner can still remove the policy that locks plain HTTP out.
    assert_eq!(over_http("DELETE", "/tlsonly", "policy=", b"").status, 204);
    assert_eq!(over_http("GET", "/tlsonly/before", "", b"").status, 200);
}
