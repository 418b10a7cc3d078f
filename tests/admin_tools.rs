//! External tools against the live management surface: schemathesis
//! (property-based run of the served OpenAPI document) and the console in
//! headless Chromium driven by playwright-core (tests/console/console.mjs).

mod common;

use common::{python_env, target_dir, Server};
use std::path::Path;
use std::process::Command;

/// Examples schemathesis generates per operation (bounded so CI stays quick).
const SCHEMATHESIS_MAX_EXAMPLES: u32 = 40;

fn api_key(server: &Server) -> String {
    let text = std::fs::read_to_string(server.data_dir.join("credentials.json"))
        .expect("credentials.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["admin_api_key"]
        .as_str()
        .expect("admin_api_key")
        .to_string()
}

#[test]
fn schemathesis_finds_no_5xx_and_no_schema_violation() {
    let server = Server::start(2);
    let venv = python_env();
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{}/_admin/openapi.json", server.endpoint))
        .args(["--url", &format!("{}/_admin/api/v1", server.endpoint)])
        // No 5xx and schema conformance. `--checks all` also runs the
        // negative-data and undeclared-method checks, which still report
        // 404-instead-of-405 and a few over-lenient validations (see report).
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &SCHEMATHESIS_MAX_EXAMPLES.to_string()])
        .args(["-H", &format!("Authorization: Bearer {}", api_key(&server))])
        .args(["--report-dir"])
        .arg(target_dir().join("schemathesis"))
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "schemathesis failed:\n{text}\nserver log:\n{}",
        server.log()
    );
}

/// The Chromium binary Debian installs, if present.
/// What the browser tests drive: Debian's Chromium and playwright-core.
///
/// playwright-core comes from the npm registry and needs no root: it is
/// installed here, with the machine's npm, into target/console-node on first
/// use. Chromium cannot be: Debian's package needs root (`apt-get install -y
/// chromium`, as .ci/run does), and a test tool's own browser download is
/// not reachable. Missing either is a failure naming what to install, never
/// a skip. Returns (the browser, the node_modules dir).
fn browser_tools() -> (String, std::path::PathBuf) {
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "the console's browser tests need Debian's chromium: \
                 run `apt-get install -y chromium` as root (.ci/run does)"
            )
        });
    let node_dir = target_dir().join("console-node");
    let modules = node_dir.join("node_modules");
    std::fs::create_dir_all(&node_dir).expect("target/console-node");
    let lock = std::fs::File::create(target_dir().join("console-node.lock")).expect("lock file");
    // SAFETY: flock on a file we own; released when `lock` is dropped.
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX);
    }
    if !modules.join("playwright-core").exists() {
        let npm = |args: &[&str]| {
            let out = Command::new("npm")
                .args(args)
                .current_dir(&node_dir)
                .output()
                .unwrap_or_else(|e| {
                    panic!("npm: {e}: the browser tests need Node.js and npm (apt-get install -y nodejs npm)")
                });
            assert!(
                out.status.success(),
                "npm {args:?} in {} failed (it installs playwright-core from the npm registry):\n{}{}",
                node_dir.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        if !node_dir.join("package.json").exists() {
            npm(&["init", "-y"]);
        }
        npm(&["install", "--no-audit", "--no-fund", PLAYWRIGHT_CORE]);
    }
    drop(lock);
    (browser, modules)
}

/// The playwright-core the browser tests install (any 1.x drives Debian's Chromium).
const PLAYWRIGHT_CORE: &str = "playwright-core@1";

#[test]
fn console_in_headless_chromium() {
    let (browser, modules) = browser_tools();
    // A default limit the console shows (never reached by the test).
    let server = Server::start_with(2, &["--rate-limit-bucket", "1000:200"]);
    // A multipart upload in progress (aws-sdk-s3, SigV4) for the console to abort.
    let rt = common::rt();
    let s3 = rt.block_on(common::s3_client(&server));
    rt.block_on(async {
        s3.create_bucket()
            .bucket("staging")
            .send()
            .await
            .expect("create");
        let up = s3
            .create_multipart_upload()
            .bucket("staging")
            .key("big/backup.tar")
            .send()
            .await
            .expect("create upload");
        s3.upload_part()
            .bucket("staging")
            .key("big/backup.tar")
            .upload_id(up.upload_id().expect("upload id"))
            .part_number(1)
            .body(vec![7u8; 64 * 1024].into())
            .send()
            .await
            .expect("part");
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/console.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", &modules)
        .env("CONSOLE_URL", format!("{}/_admin/", server.endpoint))
        .env("API_KEY", api_key(&server))
        .env("UPLOAD_BUCKET", "staging")
        .env("CHROMIUM", browser)
        .env("ARTIFACT_DIR", target_dir().join("console-artifacts"))
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "console test failed:\n{text}");
    let left = rt
        .block_on(s3.list_multipart_uploads().bucket("staging").send())
        .expect("list uploads");
    assert!(
        left.uploads().is_empty(),
        "the console's abort left {:?}",
        left.uploads()
    );
}

/// A management API call with the admin key: the JSON answer.
fn admin_call(
    server: &Server,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    use std::io::Write;
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let req = format!(
        "{method} /_admin/api/v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.port,
        api_key(server),
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let r = common::read_response(&mut std::io::BufReader::new(s), false).expect("response");
    assert_eq!(r.status, 200, "{path}: {}", r.body_text());
    serde_json::from_slice(&r.body).expect("json")
}

/// Issue 27's browser test: a page from another origin (the console's
/// page at http://localhost:PORT, while the S3 URLs name 127.0.0.1:PORT)
/// uploads with a presigned PUT (a Content-Type, so a CORS preflight) and
/// a POST form, and downloads both, in headless Chromium: blocked by the
/// browser while the bucket has no CORS rule, working once one allows
/// that origin.
#[test]
fn browser_uploads_from_another_origin_follow_the_bucket_cors_rules() {
    use serde_json::json;
    let (browser, modules) = browser_tools();
    let server = Server::start(2);
    let page_origin = format!("http://localhost:{}", server.port);
    common::rt().block_on(async {
        let s3 = common::s3_client(&server).await;
        s3.create_bucket()
            .bucket("web")
            .send()
            .await
            .expect("create");
    });
    let presign = |key: &str, method: &str| {
        admin_call(
            &server,
            "POST",
            "presigned-urls",
            &json!({ "bucket_name": "web", "object_key": key, "method": method,
                     "expires_in": 600, "access_key": common::ACCESS_KEY }),
        )
    };
    let run = |expect: &str, put_key: &str, post_key: &str| {
        let url = |v: &serde_json::Value| {
            format!("{}{}", server.endpoint, v["url"].as_str().expect("url"))
        };
        let post = presign(post_key, "POST");
        let uploads = json!({
            "put_url": url(&presign(put_key, "PUT")),
            "put_body": format!("put from a browser ({expect})"),
            "post_url": url(&post),
            "post_fields": post["fields"],
            "post_body": format!("posted from a browser ({expect})"),
            "get_put_url": url(&presign(put_key, "GET")),
            "get_post_url": url(&presign(post_key, "GET")),
        });
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/browser_uploads.mjs");
        let out = Command::new("node")
            .arg(&script)
            .env("NODE_PATH", &modules)
            .env("PAGE_URL", format!("{page_origin}/_admin/"))
            .env("UPLOADS", uploads.to_string())
            .env("EXPECT", expect)
            .env("CHROMIUM", &browser)
            .env("ARTIFACT_DIR", target_dir().join("console-artifacts"))
            .output()
            .expect("run node");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{text}");
        assert!(
            out.status.success(),
            "browser uploads ({expect}) failed:\n{text}"
        );
    };
    run("blocked", "blocked-put.txt", "blocked-post.txt");
    common::rt().block_on(async {
        use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
        let s3 = common::s3_client(&server).await;
        assert!(
            s3.head_object()
                .bucket("web")
                .key("blocked-put.txt")
                .send()
                .await
                .is_err(),
            "a refused preflight stops the PUT"
        );
        let rule = CorsRule::builder()
            .allowed_origins(&page_origin)
            .allowed_methods("GET")
            .allowed_methods("PUT")
            .allowed_methods("POST")
            .allowed_headers("*")
            .expose_headers("ETag")
            .build()
            .expect("rule");
        s3.put_bucket_cors()
            .bucket("web")
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule)
                    .build()
                    .expect("cors"),
            )
            .send()
            .await
            .expect("put cors");
    });
    run("allowed", "put.txt", "post.txt");
    common::rt().block_on(async {
        let s3 = common::s3_client(&server).await;
        assert_eq!(
            common::get_bytes(&s3, "web", "put.txt").await,
            b"put from a browser (allowed)"
        );
        assert_eq!(
            common::get_bytes(&s3, "web", "post.txt").await,
            b"posted from a browser (allowed)"
        );
    });
}
