//! The user docs' commands, run as written, so the docs cannot rot.
//!
//! Every fenced `sh` block in README.md and docs/ is marked by the line
//! before it:
//!
//! - `<!-- tested -->`: run, in order with the page's other tested blocks,
//!   by this file's test for that page (bash -euo pipefail; a `python`
//!   block runs with the test venv's python, which has boto3);
//! - `<!-- tested: server -->`: a command that starts a server in the
//!   foreground, as a reader starts it in a terminal of its own: the test
//!   runs it in the background, waits for its `ready` line and stops it
//!   (SIGTERM) when the page is done. Its listen addresses become port 0,
//!   and the addresses the page names for them are replaced, in the blocks
//!   after it, by the ones it printed;
//! - `<!-- not run: REASON -->`: a command the suite cannot run (root,
//!   systemd, a release build, a soak of hours), with the reason.
//!
//! `every_shell_block_is_run_or_says_why_not` holds the docs to that. The
//! placeholders `YOUR_ACCESS_KEY`, `YOUR_SECRET_KEY` and
//! `YOUR_ADMIN_API_KEY` are filled in with the last started server's keys
//! (from its data dir's credentials.json), and `ringstore admin`'s default
//! endpoint (`RINGSTORE_ADMIN_ENDPOINT`) is the last server started on the
//! default address; nothing else in a block is changed. Servers run with
//! 16 MiB log segments (`RINGSTORE_SEGMENT_MIB`) to spare the disk.

mod common;

use common::{python_env, rt, scratch_dir};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long a server block may take to print `ready`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server block gets to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// The fence languages that are shell commands a reader runs.
const SHELL_LANGS: [&str; 4] = ["sh", "bash", "shell", "console"];
/// The address a server block listens on when it names none (the default).
const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

#[derive(Debug, Clone, PartialEq)]
enum Mark {
    Tested,
    Server,
    NotRun(String),
    Unmarked,
}

#[derive(Debug, Clone)]
struct Block {
    lang: String,
    mark: Mark,
    body: String,
    /// 1-based line of the opening fence.
    line: usize,
}

fn mark_of(line: &str) -> Mark {
    let line = line.trim();
    let Some(inner) = line
        .strip_prefix("<!--")
        .and_then(|l| l.strip_suffix("-->"))
    else {
        return Mark::Unmarked;
    };
    match inner.trim() {
        "tested" => Mark::Tested,
        "tested: server" => Mark::Server,
        other => match other.strip_prefix("not run:") {
            Some(reason) => Mark::NotRun(reason.trim().to_string()),
            None => Mark::Unmarked,
        },
    }
}

/// Every fenced block of `doc`, with the mark on the line before it.
fn blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let mark = match i.checked_sub(1) {
            Some(prev) => mark_of(lines[prev]),
            None => Mark::Unmarked,
        };
        let start = i;
        i += 1;
        let mut body = Vec::new();
        while i < lines.len() && lines[i].trim() != "```" {
            body.push(lines[i]);
            i += 1;
        }
        out.push(Block {
            lang: lang.trim().to_string(),
            mark,
            body: body.join("\n"),
            line: start + 1,
        });
        i += 1;
    }
    out
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read_doc(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// README.md and every Markdown file under docs/.
fn all_docs() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("docs dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path.strip_prefix(base).expect("under the repo");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut docs = vec!["README.md".to_string()];
    walk(&repo().join("docs"), repo(), &mut docs);
    docs.sort();
    docs
}

/// The pages whose tested blocks a test of this file runs.
const PAGES_RUN: [&str; 8] = [
    "docs/getting-started.md",
    "docs/encryption.md",
    "docs/install.md",
    "docs/clients.md",
    "docs/security.md",
    "docs/operations.md",
    "docs/performance.md",
    "docs/faults.md",
];

#[test]
fn every_shell_block_is_run_or_says_why_not() {
    let mut problems = Vec::new();
    for doc in all_docs() {
        let text = read_doc(&doc);
        let blocks = blocks(&text);
        for b in &blocks {
            let shell = SHELL_LANGS.contains(&b.lang.as_str());
            match &b.mark {
                Mark::Unmarked if shell => problems.push(format!(
                    "{doc}:{}: a shell block with no <!-- tested --> or <!-- not run: REASON -->",
                    b.line
                )),
                Mark::NotRun(reason) if reason.len() < 10 => {
                    problems.push(format!("{doc}:{}: `not run` needs a reason", b.line))
                }
                Mark::Tested if !shell && b.lang != "python" => {
                    problems.push(format!("{doc}:{}: only sh and python blocks run", b.line))
                }
                Mark::Server if !shell => {
                    problems.push(format!("{doc}:{}: a server block is sh", b.line))
                }
                _ => {}
            }
        }
        let runs = blocks
            .iter()
            .any(|b| matches!(b.mark, Mark::Tested | Mark::Server));
        if runs && !PAGES_RUN.contains(&doc.as_str()) {
            problems.push(format!("{doc}: has tested blocks but no test runs them"));
        }
    }
    for page in PAGES_RUN {
        let runs = blocks(&read_doc(page))
            .iter()
            .any(|b| matches!(b.mark, Mark::Tested | Mark::Server));
        if !runs {
            problems.push(format!("{page}: listed as run but has no tested block"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The harness reads marks as the docs write them.
#[test]
fn marks_and_blocks_are_read_as_written() {
    let doc = "text\n<!-- tested -->\n```sh\necho a\necho b\n```\n\n```toml\nx = 1\n```\n\
               <!-- not run: needs root and systemd -->\n```sh\nsudo true\n```\n\
               <!-- tested: server -->\n```sh\nringstore serve\n```\n";
    let b = blocks(doc);
    assert_eq!(b.len(), 4);
    assert_eq!(
        (b[0].mark.clone(), b[0].body.as_str()),
        (Mark::Tested, "echo a\necho b")
    );
    assert_eq!(
        (b[1].lang.as_str(), b[1].mark.clone()),
        ("toml", Mark::Unmarked)
    );
    assert_eq!(b[2].mark, Mark::NotRun("needs root and systemd".into()));
    assert_eq!((b[3].mark.clone(), b[3].line), (Mark::Server, 16));
}

/// A server a page started: its process group is stopped on drop.
struct PageServer {
    child: Child,
}

impl Drop for PageServer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// One page's blocks run as a reader runs them: one working directory,
/// one HOME, servers in the background.
struct Page {
    /// First, so they stop (fields drop in order) before `cwd` goes.
    servers: Vec<PageServer>,
    name: &'static str,
    cwd: tempfile::TempDir,
    env: BTreeMap<String, OsString>,
    /// Text of the page → what the blocks run with instead.
    subs: Vec<(String, String)>,
}

impl Page {
    fn new(name: &'static str) -> Page {
        let cwd = tempfile::Builder::new()
            .prefix("ringstore-docs-")
            .tempdir_in(scratch_dir())
            .expect("work dir");
        let home = cwd.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_ringstore"))
            .parent()
            .expect("bin dir")
            .to_path_buf();
        let venv_bin = python_env().join("bin");
        let system = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            [bin_dir, venv_bin]
                .into_iter()
                .chain(std::env::split_paths(&system)),
        )
        .expect("PATH");
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), path);
        // No aws CLI, rclone or s3cmd configuration of the machine's user applies.
        env.insert("HOME".into(), home.into_os_string());
        env.insert("NO_COLOR".into(), "1".into());
        env.insert("RINGSTORE_LISTEN".into(), "127.0.0.1:0".into());
        // Small log segments: each server preallocates a few, not 256 MiB ones
        // (the suite runs many servers on a shared disk; nothing on the
        // pages depends on the segment size).
        env.insert("RINGSTORE_SEGMENT_MIB".into(), "16".into());
        Page {
            name,
            cwd,
            env,
            subs: Vec::new(),
            servers: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self.cwd.path()
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir()).env_clear();
        for key in ["LANG", "LC_ALL", "TMPDIR", "CARGO_TARGET_DIR"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.envs(&self.env);
        cmd
    }

    fn fill(&self, block: &Block) -> String {
        self.fill_text(&block.body, block.line)
    }

    fn fill_text(&self, body: &str, line: usize) -> String {
        let mut text = body.to_string();
        for (from, to) in &self.subs {
            text = text.replace(from, to);
        }
        assert!(
            !text.contains("YOUR_"),
            "{}:{line}: a placeholder is left:\n{text}",
            self.name,
        );
        text
    }

    /// The page's tested and server blocks, in order.
    fn tested(&self) -> Vec<Block> {
        blocks(&read_doc(self.name))
            .into_iter()
            .filter(|b| matches!(b.mark, Mark::Tested | Mark::Server))
            .collect()
    }

    /// Runs `blocks` in order; the standard output of each (servers:
    /// their banner).
    fn run_each(&mut self, blocks: &[Block]) -> Vec<String> {
        blocks.iter().map(|b| self.run(b)).collect()
    }

    fn run(&mut self, block: &Block) -> String {
        match (&block.mark, block.lang.as_str()) {
            (Mark::Server, _) => self.start_server(block),
            (_, "python") => {
                let text = self.fill(block);
                let python = python_env().join("bin/python");
                self.finish(block, &text, self.command(python).args(["-c", &text]))
            }
            _ => {
                let text = self.fill(block);
                let mut cmd = self.shell(&text);
                self.finish(block, &text, &mut cmd)
            }
        }
    }

    /// bash running `text` as the next command of one terminal: what the
    /// blocks before it exported is set (a reader's `export` holds for the
    /// blocks after it).
    fn shell(&self, text: &str) -> Command {
        let saved = self.dir().join(".exported");
        // The harness's own variables (the current server, PATH) win over
        // what an earlier block saw of them.
        let exported: String = std::fs::read_to_string(&saved)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                let name = l.trim_start_matches("declare -x ").split('=').next();
                name.is_some_and(|n| !self.env.contains_key(n))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let script = format!(
            "{exported}trap 'export -p > {f}' EXIT\n{text}",
            f = saved.display()
        );
        let mut cmd = self.command("bash");
        cmd.args(["-euo", "pipefail", "-c", &script]);
        cmd
    }

    fn finish(&self, block: &Block, text: &str, cmd: &mut Command) -> String {
        let out = cmd.output().expect("run a block");
        assert!(
            out.status.success(),
            "{}:{}: the block failed ({}):\n{text}\n--- stdout\n{}\n--- stderr\n{}",
            self.name,
            block.line,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The address after `flag` in `text`, if the block names one.
    fn addr_after(text: &str, flag: &str) -> Option<String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let i = words.iter().position(|w| *w == flag)?;
        words.get(i + 1).map(|w| w.to_string())
    }

    fn start_server(&mut self, block: &Block) -> String {
        // Its own addresses first: the substitutions hold an earlier server's.
        let mut raw = block.body.clone();
        let listen =
            Page::addr_after(&raw, "--listen").unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let tls = Page::addr_after(&raw, "--tls-listen");
        for addr in [Some(&listen), tls.as_ref()].into_iter().flatten() {
            raw = raw.replace(&format!(" {addr}"), " 127.0.0.1:0");
        }
        let text = self.fill_text(&raw, block.line);
        let log = self
            .dir()
            .join(format!("server-{}.log", self.servers.len()));
        let mut child = self
            .shell(&text)
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log"))
            .spawn()
            .expect("spawn a server block");
        let stdout = child.stdout.take().expect("stdout");
        let server = PageServer { child };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                banner.push_str(&line);
                banner.push('\n');
                if line == "ready" {
                    let _ = tx.send(banner.clone());
                }
            }
        });
        let Ok(banner) = rx.recv_timeout(START_TIMEOUT) else {
            drop(server);
            panic!(
                "{}:{}: no `ready` within {START_TIMEOUT:?}:\n{text}\n--- log\n{}",
                self.name,
                block.line,
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let field = |prefix: &str| {
            banner.lines().find_map(|l| {
                l.strip_prefix(prefix)
                    .and_then(|r| r.split_whitespace().next())
                    .map(|s| s.to_string())
            })
        };
        let http = field("ringstore is listening on http://").expect("the listen address");
        self.set_sub(&listen, &http);
        if listen == DEFAULT_LISTEN {
            // `ringstore admin`'s default endpoint is this server.
            self.env.insert(
                "RINGSTORE_ADMIN_ENDPOINT".into(),
                format!("http://{http}").into(),
            );
        }
        if let (Some(tls), Some(https)) = (tls, field("HTTPS:       https://")) {
            self.set_sub(&tls, &https);
        }
        if let Some(dir) = field("data dir:    ").or_else(|| field("catalog dir: ")) {
            let data_dir = self.dir().join(dir);
            self.take_keys(&data_dir);
        }
        self.servers.push(server);
        banner
    }

    /// Starts `ringstore serve` for a page that assumes a server (as a
    /// `tested: server` block would), with the aws CLI's keys exported.
    fn serve(&mut self) -> String {
        let banner = self.start_server(&Block {
            lang: "sh".into(),
            mark: Mark::Server,
            body: "ringstore serve".into(),
            line: 0,
        });
        for (var, placeholder) in [
            ("AWS_ACCESS_KEY_ID", "YOUR_ACCESS_KEY"),
            ("AWS_SECRET_ACCESS_KEY", "YOUR_SECRET_KEY"),
        ] {
            let value = self.sub(placeholder);
            self.env.insert(var.into(), value.into());
        }
        self.env
            .insert("AWS_DEFAULT_REGION".into(), common::REGION.into());
        banner
    }

    fn set_sub(&mut self, from: &str, to: &str) {
        self.subs.retain(|(f, _)| f != from);
        self.subs.push((from.to_string(), to.to_string()));
    }

    /// The placeholders' values: the keys in `data_dir`'s credentials.json.
    fn take_keys(&mut self, data_dir: &Path) {
        let Ok(text) = std::fs::read_to_string(data_dir.join("credentials.json")) else {
            return;
        };
        let v: serde_json::Value = serde_json::from_str(&text).expect("credentials.json");
        for (placeholder, field) in [
            ("YOUR_ACCESS_KEY", "access_key"),
            ("YOUR_SECRET_KEY", "secret_key"),
            ("YOUR_ADMIN_API_KEY", "admin_api_key"),
        ] {
            let value = &v[field];
            if let Some(value) = value.as_str() {
                self.set_sub(placeholder, value);
            }
        }
    }

    /// The S3 endpoint the page's `http://127.0.0.1:9000` stands for now.
    fn endpoint(&self) -> String {
        let addr = self
            .subs
            .iter()
            .rev()
            .find(|(f, _)| f == DEFAULT_LISTEN)
            .map(|(_, t)| t.clone())
            .expect("a server on the default address");
        format!("http://{addr}")
    }

    fn sub(&self, placeholder: &str) -> String {
        self.subs
            .iter()
            .rev()
            .find(|(f, _)| f == placeholder)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no value for {placeholder}"))
    }
}

/// Objects in `bucket` as the SDK lists them, with the page's keys.
fn list_keys(page: &Page, bucket: &str) -> Vec<String> {
    let endpoint = page.endpoint();
    let (ak, sk) = (page.sub("YOUR_ACCESS_KEY"), page.sub("YOUR_SECRET_KEY"));
    rt().block_on(async {
        let s3 = sdk_client(&endpoint, &ak, &sk).await;
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    })
}

async fn sdk_client(endpoint: &str, ak: &str, sk: &str) -> aws_sdk_s3::Client {
    let creds = aws_credential_types::Credentials::new(ak, sk, None, None, "docs");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(common::REGION))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    )
}

/// GET /_admin/api/v1/`path` of the server at `endpoint`: (status, JSON).
fn admin_get(endpoint: &str, key: &str, path: &str) -> (u16, serde_json::Value) {
    use std::io::Write;
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let req = format!(
        "GET /_admin/api/v1/{path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         authorization: Bearer {key}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write");
    let r = common::read_response(&mut BufReader::new(s), false).expect("response");
    let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

/// docs/getting-started.md: the first server, a bucket and an object with
/// the aws CLI, a credential and a versioned bucket with `ringstore admin`,
/// then the memory server and a bucket on it.
#[test]
fn getting_started_md_commands_work() {
    let mut page = Page::new("docs/getting-started.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 5, "serve, aws, admin, serve --memory, aws");
    let out = page.run_each(&blocks[..3]);
    assert!(out[0].contains("generated root credentials"), "{}", out[0]);
    assert!(out[1].contains("2026/hello.txt"), "ls:\n{}", out[1]);
    assert!(
        out[1].ends_with("hello, ringstore\n"),
        "cp to -:\n{}",
        out[1]
    );
    assert_eq!(list_keys(&page, "photos"), ["2026/hello.txt"]);
    let key = page.sub("YOUR_ADMIN_API_KEY");
    let (status, creds) = admin_get(&page.endpoint(), &key, "credentials");
    assert_eq!(status, 200);
    let names: Vec<&str> = creds["credentials"]
        .as_array()
        .expect("credentials")
        .iter()
        .filter_map(|c| c["user_name"].as_str())
        .collect();
    assert!(names.contains(&"backup-job"), "{creds}");
    let (_, archive) = admin_get(&page.endpoint(), &key, "buckets/archive/versioning");
    assert_eq!(archive["status"], "Enabled", "{archive}");
    let out = page.run_each(&blocks[3..]);
    assert!(out[0].contains("MEMORY, NO DURABILITY"), "{}", out[0]);
    assert!(out[1].contains("make_bucket: scratch"), "{}", out[1]);
    assert_eq!(
        page.sub("YOUR_ACCESS_KEY"),
        "test",
        "the memory server's keys"
    );
    assert!(list_keys(&page, "scratch").is_empty());
}

/// docs/encryption.md: a key of the built-in key service through its life
/// (created, rotated, disabled, deletion scheduled and cancelled, enabled
/// again), then an object written with it and a bucket default of it.
#[test]
fn encryption_md_commands_work() {
    let mut page = Page::new("docs/encryption.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 2, "the kms commands and the aws CLI");
    page.serve();
    std::fs::write(page.dir().join("report.csv"), "month,total\n2026-12,42\n").expect("report");
    let endpoint = page.endpoint();
    let (ak, sk) = (page.sub("YOUR_ACCESS_KEY"), page.sub("YOUR_SECRET_KEY"));
    rt().block_on(async {
        let s3 = sdk_client(&endpoint, &ak, &sk).await;
        s3.create_bucket()
            .bucket("exports")
            .send()
            .await
            .expect("create exports");
    });
    let out = page.run_each(&blocks);
    assert!(out[0].contains("alias/billing"), "{}", out[0]);
    rt().block_on(async {
        let s3 = sdk_client(&endpoint, &ak, &sk).await;
        let head = s3
            .head_object()
            .bucket("exports")
            .key("report.csv")
            .send()
            .await
            .expect("head report");
        assert_eq!(
            head.server_side_encryption().map(|e| e.as_str()),
            Some("aws:kms")
        );
        let got = common::get_bytes(&s3, "exports", "report.csv").await;
        assert_eq!(
            got, b"month,total\n2026-12,42\n",
            "read back through the key"
        );
        let enc = s3
            .get_bucket_encryption()
            .bucket("exports")
            .send()
            .await
            .expect("bucket encryption");
        let default = enc
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .expect("a default rule");
        assert_eq!(default.sse_algorithm().as_str(), "aws:kms");
        assert!(default
            .kms_master_key_id()
            .is_some_and(|k| k.contains("billing") || k.starts_with("arn:")));
    });
}

/// docs/install.md: the config file it writes passes `config check`.
#[test]
fn install_md_commands_work() {
    let mut page = Page::new("docs/install.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 1, "the config check");
    let out = page.run_each(&blocks);
    assert!(out[0].contains("ringstore.toml: OK (4 keys)"), "{}", out[0]);
    assert!(
        out[0]
            .lines()
            .any(|l| l.trim_start().starts_with("cache_mib = ") && l.contains("256")),
        "{}",
        out[0]
    );
}

/// docs/clients.md: each client's block writes its object into the same
/// bucket, and reads it back (presigned URLs included).
#[test]
fn clients_md_commands_work() {
    let mut page = Page::new("docs/clients.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 5, "serve, aws CLI, boto3, rclone, s3cmd");
    let out = page.run_each(&blocks);
    assert!(
        out[1].ends_with("from the aws CLI\n"),
        "presigned GET:\n{}",
        out[1]
    );
    assert!(out[2].contains("boto3.txt"), "{}", out[2]);
    assert!(out[4].contains("s3cmd.txt"), "{}", out[4]);
    let mut keys = list_keys(&page, "clients");
    keys.sort();
    assert_eq!(
        keys,
        ["boto3.txt", "cli.txt", "rclone/rclone.txt", "s3cmd.txt"]
    );
}

/// docs/security.md: a self-signed certificate, the HTTPS listener, and
/// SSE-S3, bucket default encryption and SSE-C through it.
#[test]
fn security_md_commands_work() {
    let mut page = Page::new("docs/security.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 4, "openssl, serve --tls-listen, aws mb, SSE");
    let out = page.run_each(&blocks);
    assert!(
        out[1].contains("HTTPS:       https://127.0.0.1:"),
        "{}",
        out[1]
    );
    let endpoint = page.endpoint();
    let (ak, sk) = (page.sub("YOUR_ACCESS_KEY"), page.sub("YOUR_SECRET_KEY"));
    rt().block_on(async {
        let s3 = sdk_client(&endpoint, &ak, &sk).await;
        let head = s3
            .head_object()
            .bucket("vault")
            .key("ledger.csv")
            .send()
            .await
            .expect("head ledger");
        assert_eq!(
            head.server_side_encryption().map(|e| e.as_str()),
            Some("AES256")
        );
        let enc = s3
            .get_bucket_encryption()
            .bucket("vault")
            .send()
            .await
            .expect("bucket encryption");
        assert!(enc.server_side_encryption_configuration().is_some());
        // The SSE-C object does not open without its key.
        let err = s3
            .get_object()
            .bucket("vault")
            .key("secret.bin")
            .send()
            .await;
        assert!(err.is_err(), "an SSE-C object read without its key");
    });
}

/// docs/performance.md: `ringstore bench` against a server (closed and
/// open loop) and against the HTTP floor.
#[test]
fn performance_md_commands_work() {
    let mut page = Page::new("docs/performance.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 4, "serve, bench, floor, bench");
    let out = page.run_each(&blocks);
    for (i, report) in [(1, &out[1]), (3, &out[3])] {
        assert!(report.contains("p99"), "block {i}'s report:\n{report}");
    }
    assert!(out[2].contains("HTTP floor"), "{}", out[2]);
}

/// docs/operations.md: the backup taken from a stopped server, restored
/// over a data dir that changed since, serves exactly what was backed up.
#[test]
fn operations_md_commands_work() {
    use aws_sdk_s3::primitives::ByteStream;
    use common::{get_bytes, pattern, s3_client, Server};
    let mut page = Page::new("docs/operations.md");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 2, "the backup and the restore blocks");
    let rt = rt();
    let kept = pattern(300_000, 31);
    let mut server = Server::start(1);
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("keep")
            .send()
            .await
            .expect("create");
        s3.put_object()
            .bucket("keep")
            .key("k")
            .body(ByteStream::from(kept.clone()))
            .send()
            .await
            .expect("put");
    });
    server.stop();
    let data = server.data_dir.clone();
    page.env
        .insert("DATA".into(), data.clone().into_os_string());
    page.run(&blocks[0]);
    // Changes after the backup: the restore takes them back.
    let mut server = Server::start_in(data.clone(), 1, &[]);
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.delete_object()
            .bucket("keep")
            .key("k")
            .send()
            .await
            .expect("delete");
        s3.create_bucket()
            .bucket("later")
            .send()
            .await
            .expect("create later");
    });
    server.stop();
    page.run(&blocks[1]);
    let server = Server::start_in(data, 1, &[]);
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        assert_eq!(get_bytes(&s3, "keep", "k").await, kept, "restored object");
        let buckets = s3.list_buckets().send().await.expect("list");
        let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["keep"], "the catalog is the backup's");
    });
}

/// docs/faults.md: the quick start's server with the page's example rules
/// file as faults.toml, then the "Changing rules live" blocks (curl with
/// the admin API key in `$KEY`, and the admin CLI). Each sets rules, lists
/// them and clears them again.
#[test]
fn faults_md_commands_work() {
    let doc = read_doc("docs/faults.md");
    // The example rules file: the ```toml block that starts `# faults.toml`.
    let example = blocks(&doc)
        .into_iter()
        .find(|b| b.lang == "toml" && b.body.starts_with("# faults.toml"))
        .expect("the example rules file");
    let mut page = Page::new("docs/faults.md");
    std::fs::write(page.dir().join("faults.toml"), &example.body).expect("faults.toml");
    let blocks = page.tested();
    assert_eq!(blocks.len(), 3, "serve, curl, admin CLI");
    page.run(&blocks[0]);
    let key = page.sub("YOUR_ADMIN_API_KEY");
    page.env.insert("KEY".into(), key.clone().into());
    let endpoint = page.endpoint();
    let rule_ids = || {
        let (status, v) = admin_get(&endpoint, &key, "faults");
        assert_eq!(status, 200, "{v}");
        v["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let example_ids = [
        "slow-photos",
        "throttle-uploads",
        "flaky-downloads",
        "reports-outage",
    ];
    assert_eq!(rule_ids(), example_ids, "the file's rules at start");
    let out = page.run(&blocks[1]);
    assert!(out.contains("\"outage\""), "the curl block:\n{out}");
    assert!(
        rule_ids().is_empty(),
        "the curl block ends with the rules cleared"
    );
    let out = page.run(&blocks[2]);
    for id in example_ids {
        assert!(
            out.contains(id),
            "the admin CLI block did not list {id}:\n{out}"
        );
    }
    assert!(
        rule_ids().is_empty(),
        "the CLI block ends with the rules cleared"
    );
}
