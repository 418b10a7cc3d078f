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
fn chromium() -> Option<String> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_string)
}

#[test]
fn console_in_headless_chromium() {
    // CI installs the browser (.ci/run), so there a missing one is a failure, not a skip.
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let Some(browser) = chromium() else {
        assert!(
            !in_ci,
            "chromium is missing in CI: .ci/run should have installed it"
        );
        eprintln!("SKIPPED console_in_headless_chromium: chromium is not installed (apt-get install -y chromium; .ci/run installs it)");
        return;
    };
    let node_dir = target_dir().join("console-node");
    if !node_dir.join("node_modules/playwright-core").exists() {
        assert!(
            !in_ci,
            "playwright-core is missing in CI: .ci/run should have installed it"
        );
        eprintln!("SKIPPED console_in_headless_chromium: playwright-core is not in {} (.ci/run installs it)", node_dir.display());
        return;
    }
    let server = Server::start(2);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/console.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", node_dir.join("node_modules"))
        .env("CONSOLE_URL", format!("{}/_admin/", server.endpoint))
        .env("API_KEY", api_key(&server))
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
}
