//! `ringstore admin ...`: the management API's command-line client (as
//! `mc admin` or the `garage` CLI are theirs). It speaks the JSON API under
//! `/_admin/api/v1/` (src/admin/api.rs, described by /_admin/openapi.json)
//! with a blocking HTTP client in its own process; tables for people,
//! `--json` for scripts.

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the API lives below the endpoint.
const API_PREFIX: &str = "/_admin/api/v1/";
/// A management call that takes longer than this is reported as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args)]
pub struct AdminArgs {
    /// The server's URL.
    #[arg(
        long,
        env = "RINGSTORE_ADMIN_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    endpoint: String,
    /// The admin API key. Default: `admin_api_key` in DATA_DIR/credentials.json.
    #[arg(long, env = "RINGSTORE_ADMIN_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The data dir of a server on this host, whose credentials.json holds
    /// the API key (read when --api-key is not given).
    #[arg(long, env = "RINGSTORE_DATA_DIR", default_value = "./ringstore-data")]
    data_dir: PathBuf,
    /// PEM certificate(s) to trust for an https:// endpoint (a self-signed
    /// or private CA's); without it the usual web roots are trusted.
    #[arg(long)]
    ca_bundle: Option<PathBuf>,
    /// Print the API's JSON answer instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Totals: credentials, buckets, objects, bytes, uploads in progress.
    Stats,
    /// Liveness and readiness (no API key needed).
    Health,
    /// Access keys.
    #[command(subcommand)]
    Credentials(CredentialCommand),
    /// Buckets.
    #[command(subcommand)]
    Buckets(BucketCommand),
    /// SSE-KMS keys of the built-in key service (docs/encryption.md).
    #[command(subcommand)]
    Kms(KmsCommand),
    /// Fault-injection rules (docs/faults.md), changed live on every shard.
    #[command(subcommand)]
    Faults(FaultsCommand),
    /// Rate limits (docs/rate-limits.md): the serve flags' defaults, and
    /// limits for named credentials and buckets, changed live on every shard.
    #[command(subcommand)]
    RateLimits(RateLimitsCommand),
    /// A presigned URL for one object (signed with the given access key).
    Presign {
        bucket: String,
        key: String,
        /// The access key whose secret signs the URL (its owner must own the bucket).
        #[arg(long)]
        access_key: String,
        /// GET, PUT, POST or DELETE.
        #[arg(long, default_value = "GET")]
        method: String,
        /// Seconds the URL stays valid (at most 604800, 7 days).
        #[arg(long, default_value_t = 3600)]
        expires_secs: i64,
    },
}

#[derive(Subcommand)]
enum CredentialCommand {
    /// Every access key (secrets are never listed).
    List,
    /// A new access key; its secret is shown this once.
    Create {
        /// Who the key is for.
        #[arg(long, default_value = "")]
        user_name: String,
        /// Choose the access key instead of generating one.
        #[arg(long)]
        access_key: Option<String>,
        /// Choose the secret instead of generating one.
        #[arg(long)]
        secret_key: Option<String>,
    },
    /// One key and the buckets it owns.
    Show { id: u64 },
    /// Rename, deactivate or reactivate a key.
    Update {
        id: u64,
        #[arg(long)]
        user_name: Option<String>,
        /// false: requests signed with it are refused; true: accepted again.
        #[arg(long)]
        active: Option<bool>,
    },
    /// Delete a key (refused while it owns buckets).
    Delete { id: u64 },
}

#[derive(Subcommand)]
enum KmsCommand {
    /// Every key: id, alias, state, current version.
    List,
    /// A new key (enabled, version 1).
    Create {
        /// `alias/name` (or just `name`) to name the key by.
        #[arg(long)]
        alias: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// One key (by id, ARN or alias) and its rotation history.
    Describe { key: String },
    /// Allow the key to encrypt and decrypt again.
    Enable { key: String },
    /// Refuse every use of the key: its objects cannot be read until it is enabled.
    Disable { key: String },
    /// New material for new objects; older versions keep opening what they wrapped.
    Rotate { key: String },
    /// Destroy the key after a waiting period (refused for use at once;
    /// its objects become unreadable for good when it ends).
    ScheduleDeletion {
        key: String,
        /// Days to wait (7..30).
        #[arg(long, conflicts_with = "pending_window_secs")]
        pending_window_days: Option<u32>,
        /// Seconds to wait (at least the server's --kms-min-deletion-wait-secs).
        #[arg(long)]
        pending_window_secs: Option<u64>,
    },
    /// Keep a key pending deletion (it comes back disabled).
    CancelDeletion { key: String },
}

#[derive(Subcommand)]
enum FaultsCommand {
    /// The rules in force.
    List,
    /// Replace every rule with a rules file's (TOML or JSON, as `serve
    /// --faults` reads); checked here first, nothing changes if it is bad.
    Set { file: PathBuf },
    /// Remove every rule (fault injection off).
    Clear,
}

#[derive(Subcommand)]
enum RateLimitsCommand {
    /// The limits in force.
    List,
    /// Replace every named limit with a JSON file's (`{"credentials":
    /// {"AKIA...": {"requests_per_sec": 100, "burst": 20}}, "buckets":
    /// {...}}`); nothing changes if it is bad.
    Set { file: PathBuf },
    /// Set one credential's limit (RATE[:BURST][,BYTES]), keeping the others.
    Credential {
        access_key: String,
        #[arg(value_parser = ringstore::ratelimit::Limit::parse)]
        limit: ringstore::ratelimit::Limit,
    },
    /// Set one bucket's limit (RATE[:BURST][,BYTES]), keeping the others.
    Bucket {
        name: String,
        #[arg(value_parser = ringstore::ratelimit::Limit::parse)]
        limit: ringstore::ratelimit::Limit,
    },
    /// Remove every named limit (the serve flags' defaults stay).
    Clear,
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Every bucket with its object count and size.
    List,
    /// Create a bucket owned by a credential.
    Create {
        name: String,
        /// The owning credential's id (`admin credentials list`; 1 is root).
        #[arg(long, default_value_t = 1)]
        owner_id: u64,
        #[arg(long)]
        region: Option<String>,
    },
    /// Delete an empty bucket.
    Delete { name: String },
    /// Objects, bytes, owner and multipart uploads of one bucket.
    Usage { name: String },
    /// Multipart uploads in progress in a bucket.
    Uploads { name: String },
    /// Abort a multipart upload in progress (its parts are dropped).
    AbortUpload {
        name: String,
        key: String,
        /// The upload's id, as `uploads` lists it.
        upload_id: String,
    },
    /// Show a bucket's versioning, or turn it on (Enabled) or suspend it
    /// (Suspended); as in S3, it cannot be turned off once on.
    Versioning {
        name: String,
        #[arg(value_parser = ["Enabled", "Suspended"])]
        status: Option<String>,
    },
    /// Show a bucket's lifecycle rules, replace them with an S3
    /// LifecycleConfiguration XML document (--set FILE), or remove them.
    Lifecycle {
        name: String,
        #[arg(long, conflicts_with = "delete")]
        set: Option<PathBuf>,
        #[arg(long)]
        delete: bool,
    },
    /// Show a bucket's policy, replace it with a policy document (--set
    /// FILE, JSON as PutBucketPolicy takes), or remove it.
    Policy {
        name: String,
        #[arg(long, conflicts_with = "delete")]
        set: Option<PathBuf>,
        #[arg(long)]
        delete: bool,
    },
    /// A bucket's ACL, object ownership and public access block.
    Acl { name: String },
}

/// One API call's outcome: status and parsed body.
struct Answer {
    status: u16,
    body: Value,
}

struct Client {
    agent: ureq::Agent,
    base: String,
    api_key: Option<String>,
}

impl Client {
    fn new(args: &AdminArgs, needs_key: bool) -> Result<Client, String> {
        let base = args.endpoint.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--endpoint {base}: must start with http:// or https://"
            ));
        }
        let api_key = match (&args.api_key, needs_key) {
            (Some(k), _) => Some(k.clone()),
            (None, true) => Some(api_key_from(&args.data_dir)?),
            (None, false) => None,
        };
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT));
        if let Some(path) = &args.ca_bundle {
            config = config.tls_config(tls_trusting(path)?);
        }
        Ok(Client {
            agent: config.build().new_agent(),
            base,
            api_key,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Answer, String> {
        let body = body.map(|b| ("application/json", b.to_string()));
        self.send(method, path, body)
    }

    /// One request with an optional (content type, body).
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(k) = &self.api_key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let sent = match body {
            Some((content_type, b)) => {
                let req = req
                    .header("Content-Type", content_type)
                    .body(b)
                    .map_err(|e| e.to_string())?;
                self.agent.run(req)
            }
            None => {
                let req = req.body(()).map_err(|e| e.to_string())?;
                self.agent.run(req)
            }
        };
        let mut resp = sent.map_err(|e| format!("{method} {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    /// An API call that must succeed (2xx); the API's error message otherwise.
    fn api(&self, method: &str, rest: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| ("application/json", b.to_string()));
        self.api_with(method, rest, body)
    }

    /// `api` with a body of any type: a file's text sent as it is.
    fn api_with(
        &self,
        method: &str,
        rest: &str,
        body: Option<(&str, String)>,
    ) -> Result<Value, String> {
        let a = self.send(method, &format!("{API_PREFIX}{rest}"), body)?;
        if (200..300).contains(&a.status) {
            return Ok(a.body);
        }
        let message = a.body["message"]
            .as_str()
            .or(a.body["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| a.body.to_string());
        Err(format!("{method} {rest}: {} {message}", a.status))
    }
}

/// `admin_api_key` from a data dir's credentials.json.
fn api_key_from(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join("credentials.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no API key: give --api-key or RINGSTORE_ADMIN_API_KEY, or --data-dir of the server \
             (reading {}: {e})",
            path.display()
        )
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    v["admin_api_key"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{}: no admin_api_key", path.display()))
}

fn tls_trusting(path: &Path) -> Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
    let pem = std::fs::read(path).map_err(|e| format!("--ca-bundle {}: {e}", path.display()))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(format!(
            "--ca-bundle {}: no PEM certificate",
            path.display()
        ));
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

/// Runs one `ringstore admin` command.
pub fn run(args: AdminArgs) -> Result<(), String> {
    let needs_key = !matches!(args.command, AdminCommand::Health);
    let client = Client::new(&args, needs_key)?;
    let out = Output { json: args.json };
    match &args.command {
        AdminCommand::Stats => out.stats(&client.api("GET", "stats", None)?),
        AdminCommand::Health => return health(&client, &out),
        AdminCommand::Credentials(c) => credentials(&client, &out, c)?,
        AdminCommand::Buckets(b) => buckets(&client, &out, b)?,
        AdminCommand::Kms(k) => kms(&client, &out, k)?,
        AdminCommand::Faults(f) => faults(&client, &out, f)?,
        AdminCommand::RateLimits(r) => rate_limits(&client, &out, r)?,
        AdminCommand::Presign {
            bucket,
            key,
            access_key,
            method,
            expires_secs,
        } => {
            let body = json!({
                "bucket_name": bucket, "object_key": key, "access_key": access_key,
                "method": method, "expires_in": expires_secs,
            });
            let mut v = client.api("POST", "presigned-urls", Some(body))?;
            // The API answers a path (the console's origin is the server's);
            // a shell user needs the whole URL.
            let absolute = v["url"]
                .as_str()
                .filter(|u| u.starts_with('/'))
                .map(|path| format!("{}{path}", client.base));
            if let Some(url) = absolute {
                v["url"] = Value::String(url);
            }
            out.value(&v, |v| {
                println!("{}", v["url"].as_str().unwrap_or_default());
                eprintln!(
                    "({} until {})",
                    v["method"].as_str().unwrap_or_default(),
                    v["expires_at"].as_str().unwrap_or_default()
                );
            });
        }
    }
    Ok(())
}

fn health(client: &Client, out: &Output) -> Result<(), String> {
    let live = client.call("GET", "/_admin/health/live", None)?;
    let ready = client.call("GET", "/_admin/health/ready", None)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().trim().replace('\n', "; ");
    let v = json!({
        "live": live.status == 200,
        "ready": ready.status == 200,
        "detail": text(&ready.body),
    });
    out.value(&v, |_| {
        println!("live:  {}", if live.status == 200 { "yes" } else { "NO" });
        println!(
            "ready: {} ({})",
            if ready.status == 200 { "yes" } else { "NO" },
            text(&ready.body)
        );
    });
    if ready.status == 200 {
        Ok(())
    } else {
        Err("the server is not ready".into())
    }
}

fn credentials(client: &Client, out: &Output, cmd: &CredentialCommand) -> Result<(), String> {
    match cmd {
        CredentialCommand::List => {
            let v = client.api("GET", "credentials", None)?;
            out.table(
                &v,
                "credentials",
                &["id", "access_key", "user_name", "is_active", "created_at"],
            );
        }
        CredentialCommand::Create {
            user_name,
            access_key,
            secret_key,
        } => {
            let body = json!({ "user_name": user_name, "access_key": access_key, "secret_key": secret_key });
            let v = client.api("POST", "credentials", Some(body))?;
            out.value(&v, |v| {
                out.fields(v, &["id", "access_key", "secret_key", "user_name"]);
                println!("(the secret key is not shown again)");
            });
        }
        CredentialCommand::Show { id } => {
            let v = client.api("GET", &format!("credentials/{id}"), None)?;
            out.value(&v, |v| {
                out.fields(
                    v,
                    &[
                        "id",
                        "access_key",
                        "user_name",
                        "is_active",
                        "created_at",
                        "bucket_count",
                    ],
                );
                out.rows(
                    v["buckets"].as_array(),
                    &["name", "object_count", "total_size_human"],
                );
            });
        }
        CredentialCommand::Update {
            id,
            user_name,
            active,
        } => {
            let body = json!({ "user_name": user_name, "is_active": active });
            let v = client.api("PUT", &format!("credentials/{id}"), Some(body))?;
            out.value(&v, |_| println!("credential {id} updated"));
        }
        CredentialCommand::Delete { id } => {
            let v = client.api("DELETE", &format!("credentials/{id}"), None)?;
            out.value(&v, |_| println!("credential {id} deleted"));
        }
    }
    Ok(())
}

fn buckets(client: &Client, out: &Output, cmd: &BucketCommand) -> Result<(), String> {
    let enc = |s: &str| {
        let mut out = String::new();
        ringstore::auth::sigv4::uri_encode(s.as_bytes(), true, &mut out);
        out
    };
    match cmd {
        BucketCommand::List => {
            let v = client.api("GET", "buckets", None)?;
            out.table(
                &v,
                "buckets",
                &[
                    "name",
                    "owner",
                    "object_count",
                    "noncurrent_versions",
                    "total_size_human",
                    "versioning",
                    "region",
                    "created_at",
                ],
            );
        }
        BucketCommand::Create {
            name,
            owner_id,
            region,
        } => {
            let body = json!({ "name": name, "owner_id": owner_id, "region": region });
            let v = client.api("POST", "buckets", Some(body))?;
            out.value(&v, |_| println!("bucket {name} created"));
        }
        BucketCommand::Delete { name } => {
            let v = client.api("DELETE", &format!("buckets/{}", enc(name)), None)?;
            out.value(&v, |_| println!("bucket {name} deleted"));
        }
        BucketCommand::Usage { name } => {
            let v = client.api("GET", &format!("buckets/{}", enc(name)), None)?;
            out.value(&v, |v| {
                out.fields(
                    v,
                    &[
                        "name",
                        "owner",
                        "region",
                        "versioning",
                        "object_count",
                        "noncurrent_versions",
                        "total_size",
                        "total_size_human",
                        "created_at",
                    ],
                );
            });
        }
        BucketCommand::Uploads { name } => {
            let v = client.api(
                "GET",
                &format!("buckets/{}/multipart-uploads", enc(name)),
                None,
            )?;
            out.table(
                &v,
                "uploads",
                &[
                    "object_key",
                    "upload_id",
                    "part_count",
                    "total_size_human",
                    "initiated_at",
                ],
            );
        }
        BucketCommand::AbortUpload {
            name,
            key,
            upload_id,
        } => {
            let path = format!(
                "buckets/{}/multipart-uploads/{}?key={}",
                enc(name),
                enc(upload_id),
                enc(key)
            );
            let v = client.api("DELETE", &path, None)?;
            out.value(&v, |_| println!("upload {upload_id} of {key} aborted"));
        }
        BucketCommand::Versioning { name, status } => {
            let path = format!("buckets/{}/versioning", enc(name));
            let v = match status {
                Some(s) => client.api("PUT", &path, Some(json!({ "status": s })))?,
                None => client.api("GET", &path, None)?,
            };
            out.value(&v, |v| println!("{}", cell(&v["status"])));
        }
        BucketCommand::Lifecycle { name, set, delete } => {
            let path = format!("buckets/{}/lifecycle", enc(name));
            let v = match (set, delete) {
                (Some(file), _) => {
                    let xml = read_text(file)?;
                    client.api_with("PUT", &path, Some(("application/xml", xml)))?
                }
                (None, true) => client.api("DELETE", &path, None)?,
                (None, false) => client.api("GET", &path, None)?,
            };
            out.value(&v, |v| match (delete, v["rules"].as_array()) {
                (true, _) => println!("lifecycle rules of {name} removed"),
                (false, Some(rules)) if !rules.is_empty() => {
                    for r in rules {
                        println!("{}", lifecycle_line(r));
                    }
                }
                _ => println!("(no lifecycle rules)"),
            });
        }
        BucketCommand::Policy { name, set, delete } => {
            let path = format!("buckets/{}/policy", enc(name));
            let v = match (set, delete) {
                (Some(file), _) => {
                    let policy = read_text(file)?;
                    client.api_with("PUT", &path, Some(("application/json", policy)))?
                }
                (None, true) => client.api("DELETE", &path, None)?,
                (None, false) => client.api("GET", &path, None)?,
            };
            out.value(&v, |v| match (delete, &v["policy"]) {
                (true, _) => println!("policy of {name} removed"),
                (false, Value::Null) => println!("(no policy)"),
                (false, p) => {
                    println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
                    println!("public: {}", cell(&v["is_public"]));
                }
            });
        }
        BucketCommand::Acl { name } => {
            let v = client.api("GET", &format!("buckets/{}/acl", enc(name)), None)?;
            out.value(&v, |v| {
                println!("{}", serde_json::to_string_pretty(v).unwrap_or_default())
            });
        }
    }
    Ok(())
}

fn read_text(file: &Path) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))
}

/// One lifecycle rule on a line: id, state, filter and actions.
fn lifecycle_line(r: &Value) -> String {
    let mut parts = vec![
        cell(&r["id"]),
        if r["enabled"].as_bool() == Some(true) {
            "enabled".into()
        } else {
            "disabled".into()
        },
        format!("prefix {:?}", r["prefix"].as_str().unwrap_or_default()),
    ];
    for t in r["tags"].as_array().into_iter().flatten() {
        parts.push(format!("tag {}={}", cell(&t[0]), cell(&t[1])));
    }
    match &r["expiration"] {
        Value::Null => {}
        e if !e["Days"].is_null() => parts.push(format!("expire after {} days", e["Days"])),
        e => parts.push(format!("expire from {}", cell(&e["Date"]))),
    }
    if let Some(d) = r["noncurrent_expiration"]["days"].as_u64() {
        parts.push(format!("noncurrent versions after {d} days"));
    }
    if let Some(d) = r["abort_incomplete_days"].as_u64() {
        parts.push(format!("abort uploads after {d} days"));
    }
    if r["expired_object_delete_marker"].as_bool() == Some(true) {
        parts.push("remove expired delete markers".into());
    }
    parts.join("  ")
}

fn kms(client: &Client, out: &Output, cmd: &KmsCommand) -> Result<(), String> {
    // A key in a path segment: `alias/x` keeps its slash encoded.
    let path = |key: &str, action: &str| {
        let key: String = key
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        if action.is_empty() {
            format!("kms/keys/{key}")
        } else {
            format!("kms/keys/{key}/{action}")
        }
    };
    let v = match cmd {
        KmsCommand::List => {
            let v = client.api("GET", "kms/keys", None)?;
            out.table(
                &v,
                "keys",
                &[
                    "id",
                    "alias",
                    "state",
                    "current_version",
                    "created_at",
                    "deletion_date",
                ],
            );
            return Ok(());
        }
        KmsCommand::Create { alias, description } => {
            let body = json!({ "alias": alias, "description": description });
            client.api("POST", "kms/keys", Some(body))?
        }
        KmsCommand::Describe { key } => client.api("GET", &path(key, ""), None)?,
        KmsCommand::Enable { key } => client.api("POST", &path(key, "enable"), None)?,
        KmsCommand::Disable { key } => client.api("POST", &path(key, "disable"), None)?,
        KmsCommand::Rotate { key } => client.api("POST", &path(key, "rotate"), None)?,
        KmsCommand::ScheduleDeletion {
            key,
            pending_window_days,
            pending_window_secs,
        } => {
            let mut body = serde_json::Map::new();
            if let Some(d) = pending_window_days {
                body.insert("pending_window_days".into(), json!(d));
            }
            if let Some(s) = pending_window_secs {
                body.insert("pending_window_secs".into(), json!(s));
            }
            let body = Some(Value::Object(body));
            client.api("POST", &path(key, "schedule-deletion"), body)?
        }
        KmsCommand::CancelDeletion { key } => {
            client.api("POST", &path(key, "cancel-deletion"), None)?
        }
    };
    out.value(&v, |v| {
        out.fields(
            v,
            &[
                "id",
                "arn",
                "alias",
                "description",
                "state",
                "created_at",
                "deletion_date",
                "current_version",
            ],
        );
        out.rows(v["versions"].as_array(), &["version", "created_at"]);
    });
    Ok(())
}

fn faults(client: &Client, out: &Output, cmd: &FaultsCommand) -> Result<(), String> {
    let v = match cmd {
        FaultsCommand::List => client.api("GET", "faults", None)?,
        FaultsCommand::Set { file } => {
            let rules = ringstore::faults::FaultRules::load(file)?;
            let body = serde_json::to_value(&rules).map_err(|e| e.to_string())?;
            client.api("PUT", "faults", Some(body))?
        }
        FaultsCommand::Clear => client.api("DELETE", "faults", None)?,
    };
    out.value(&v, |v| {
        let rules = v["rules"].as_array().map(Vec::as_slice).unwrap_or_default();
        println!(
            "{} rule(s), loaded {:.0} s ago",
            rules.len(),
            v["loaded_secs_ago"].as_f64().unwrap_or_default()
        );
        for r in rules {
            let action = r["action"]
                .as_object()
                .and_then(|a| a.keys().next().cloned())
                .unwrap_or_default();
            println!("  {}: {action}", r["id"].as_str().unwrap_or_default());
        }
    });
    Ok(())
}

fn rate_limits(client: &Client, out: &Output, cmd: &RateLimitsCommand) -> Result<(), String> {
    use ringstore::ratelimit::{Limit, Named};
    // Sets one named limit: the limits in force with `limit` for `name`.
    let one = |field: &str, name: &str, limit: &Limit| -> Result<Value, String> {
        let mut named = client.api("GET", "rate-limits", None)?;
        if let Some(o) = named.as_object_mut() {
            o.retain(|k, _| k == "credentials" || k == "buckets");
        }
        named[field][name] = serde_json::to_value(limit).map_err(|e| e.to_string())?;
        client.api("PUT", "rate-limits", Some(named))
    };
    let v = match cmd {
        RateLimitsCommand::List => client.api("GET", "rate-limits", None)?,
        RateLimitsCommand::Set { file } => {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let value: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            let named = Named::from_json(&value).map_err(|e| format!("{}: {e}", file.display()))?;
            let body = serde_json::to_value(&named).map_err(|e| e.to_string())?;
            client.api("PUT", "rate-limits", Some(body))?
        }
        RateLimitsCommand::Credential { access_key, limit } => {
            one("credentials", access_key, limit)?
        }
        RateLimitsCommand::Bucket { name, limit } => one("buckets", name, limit)?,
        RateLimitsCommand::Clear => client.api("DELETE", "rate-limits", None)?,
    };
    out.value(&v, |v| {
        let show = |l: &Value| {
            let Some(r) = l["requests_per_sec"].as_f64() else {
                return "none".to_string();
            };
            let mut text = format!("{r}/s");
            if let Some(b) = l["burst"].as_f64() {
                text.push_str(&format!(", burst {b}"));
            }
            if let Some(b) = l["bytes_per_sec"].as_f64() {
                text.push_str(&format!(", {b} bytes/s"));
            }
            text
        };
        let d = &v["defaults"];
        println!("every credential: {}", show(&d["credential"]));
        println!("every bucket: {}", show(&d["bucket"]));
        println!(
            "every key prefix (depth {}): {}",
            d["prefix_depth"].as_u64().unwrap_or(1),
            show(&d["prefix"])
        );
        for field in ["credentials", "buckets"] {
            for (name, l) in v[field].as_object().into_iter().flatten() {
                println!("  {field} {name}: {}", show(l));
            }
        }
    });
    Ok(())
}

/// Tables for people, the API's JSON with `--json`.
struct Output {
    json: bool,
}

impl Output {
    fn value(&self, v: &Value, human: impl FnOnce(&Value)) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            human(v);
        }
    }

    fn stats(&self, v: &Value) {
        self.value(v, |v| {
            self.fields(
                v,
                &[
                    "credentials",
                    "buckets",
                    "objects",
                    "total_storage",
                    "total_storage_human",
                    "active_multipart_uploads",
                    "active_presigned_urls",
                ],
            );
        });
    }

    /// `key: value` lines.
    fn fields(&self, v: &Value, keys: &[&str]) {
        let width = keys.iter().map(|k| k.len()).max().unwrap_or(0);
        for k in keys {
            println!("{k:width$}  {}", cell(&v[*k]));
        }
    }

    /// The array `v[list]` as a table.
    fn table(&self, v: &Value, list: &str, columns: &[&str]) {
        self.value(v, |v| self.rows(v[list].as_array(), columns));
    }

    fn rows(&self, rows: Option<&Vec<Value>>, columns: &[&str]) {
        let rows = rows.map(Vec::as_slice).unwrap_or_default();
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| columns.iter().map(|c| cell(&r[*c])).collect())
            .collect();
        let widths: Vec<usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                cells
                    .iter()
                    .map(|r| r[i].len())
                    .chain([c.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |items: Vec<String>| {
            let padded: Vec<String> = items
                .iter()
                .zip(&widths)
                .map(|(s, w)| format!("{s:w$}"))
                .collect();
            println!("{}", padded.join("  ").trim_end());
        };
        line(columns.iter().map(|c| c.to_uppercase()).collect());
        for r in cells {
            line(r);
        }
        if rows.is_empty() {
            println!("(none)");
        }
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
