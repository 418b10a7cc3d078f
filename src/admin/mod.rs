//! The management surface under `/_admin/` (an underscore cannot begin a
//! bucket name, so no S3 path collides): the JSON API under `/_admin/api/v1/`
//! (Bearer API key), the web console, the OpenAPI document and its docs page
//! and the Prometheus scrape (these four are public: they hold no data).

pub mod access;
pub mod api;
pub mod bucket_config;
pub mod faults;
pub mod history;
pub mod json;
pub mod kms;
pub mod metrics;
pub mod msg;
pub mod presign;
pub mod process;
pub mod ratelimits;

use crate::http::{BodyFraming, Method, RequestHead};
use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::respond::{write_response, Body, Response};
use crate::server::shard::ShardCtx;
use bytes::Bytes;
use json::{bytes_with_type, ApiError, ApiResult};
use std::cell::RefCell;
use std::rc::Rc;

/// Every management path starts with this.
pub const ADMIN_PREFIX: &str = "/_admin";
pub const API_PREFIX: &str = "/_admin/api/v1/";

/// The management state each shard holds.
pub struct AdminState {
    api_key: String,
    pub metrics: RefCell<metrics::ShardMetrics>,
    /// Used on shard 0 only (see presign.rs).
    pub presigned: RefCell<presign::Registry>,
}

impl AdminState {
    pub fn new(api_key: String) -> AdminState {
        assert!(!api_key.is_empty(), "the admin API key must not be empty");
        AdminState {
            api_key,
            metrics: RefCell::default(),
            presigned: RefCell::default(),
        }
    }

    /// `Authorization: Bearer <key>`, compared in constant time.
    fn authorized(&self, head: &RequestHead) -> bool {
        let Some(value) = head.header("authorization") else {
            return false;
        };
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return false;
        };
        crate::auth::sigv4::ct_eq(token.trim().as_bytes(), self.api_key.as_bytes())
    }
}

/// Whether a request target belongs to the management surface.
pub fn is_admin_path(raw_path: &str) -> bool {
    raw_path == ADMIN_PREFIX
        || raw_path
            .strip_prefix(ADMIN_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether a request outside `/_admin/` is a browser's that the console
/// answers: a visit to the service root `/` (Accept names text/html), which
/// is redirected to the console as MinIO does, or the `/favicon.ico` fetch.
/// Only GET/HEAD without Authorization and without any query (so neither a
/// signed nor a presigned S3 request), and not addressed to a
/// virtual-hosted bucket: S3 clients' `GET /` (ListBuckets, signed) and an
/// unsigned non-browser `GET /` keep their S3 answers. `/favicon.ico` is
/// left to S3 when a bucket of that name exists (it is a valid bucket name).
pub fn is_browser_entry(ctx: &ShardCtx, head: &RequestHead) -> bool {
    if !matches!(head.method(), Method::Get | Method::Head)
        || !head.raw_query().is_empty()
        || head.header("authorization").is_some()
    {
        return false;
    }
    let path = head.raw_path();
    if path != "/" && path != FAVICON_ICO {
        return false;
    }
    if crate::s3::addressing::virtual_host_bucket(head.header("host"), ctx.config.domain.as_deref())
        .is_some()
    {
        return false;
    }
    if path == "/" {
        return head
            .header("accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains("text/html"));
    }
    ctx.with_catalog(|c| c.bucket(&FAVICON_ICO[1..]).is_none())
}

const FAVICON_ICO: &str = "/favicon.ico";

const CONSOLE_HTML: &str = include_str!("assets/index.html");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");
const CONSOLE_JS: &str = include_str!("assets/app.js");
const CONSOLE_CSS: &str = include_str!("assets/style.css");
const DOCS_HTML: &str = include_str!("assets/docs.html");
const OPENAPI_JSON: &str = include_str!("assets/openapi.json");

fn asset(content_type: &str, text: &'static str) -> Response {
    let mut r = bytes_with_type(200, content_type, Bytes::from_static(text.as_bytes()));
    r.push_header("X-Content-Type-Options", "nosniff");
    r
}

/// Serves one management request; returns whether the connection may carry another.
pub async fn serve(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    head: RequestHead,
    framing: BodyFraming,
    id: String,
) -> bool {
    let timer = ctx.admin.metrics.borrow_mut().start();
    let keep_alive = head.keep_alive();
    let mut body = match framing {
        BodyFraming::None => BodyReader::empty(),
        BodyFraming::Length(n) => BodyReader::new(Some(n), None),
        BodyFraming::Chunked => BodyReader::new(None, None),
    };
    let is_api = head.raw_path().starts_with(API_PREFIX);
    let resp = route(ctx, conn, &head, &mut body)
        .await
        .unwrap_or_else(|e| e.response());
    let status = resp.status;
    let bytes_out = match &resp.body {
        Body::Full(b) => b.len() as u64,
        _ => 0,
    };
    let resp = if head.method() == Method::Head {
        head_only(resp)
    } else {
        resp
    };
    let finished = body.is_finished();
    let close = !keep_alive || !finished;
    let ok = write_response(ctx, conn, &id, resp, close).await;
    let op = if is_api { "AdminApi" } else { "AdminConsole" };
    ctx.admin
        .metrics
        .borrow_mut()
        .finish(timer, op, status, body.delivered, bytes_out);
    ok && !close
}

fn head_only(mut resp: Response) -> Response {
    let len = match &resp.body {
        Body::Full(b) => b.len() as u64,
        _ => 0,
    };
    resp.body = Body::HeadOnly { len };
    resp
}

async fn route(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    head: &RequestHead,
    body: &mut BodyReader,
) -> ApiResult {
    let path = head.raw_path();
    if let Some(rest) = path.strip_prefix(API_PREFIX) {
        if !ctx.admin.authorized(head) {
            return Err(ApiError::unauthorized());
        }
        return api::route(ctx, conn, head, rest, body).await;
    }
    if !matches!(head.method(), Method::Get | Method::Head) {
        return Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{path} is read-only"),
        ));
    }
    Ok(match path {
        // Reached only through `is_browser_entry`. 307, not 301/308: the
        // same URL answers S3 clients (ListBuckets), so the redirect must
        // not be cached as permanent; 307 rather than 302 keeps the method
        // (a HEAD stays a HEAD) and is what MinIO answers.
        "/" => Response::new(307)
            .header("Location", "/_admin/")
            .header("Cache-Control", "no-store")
            .header("Vary", "Accept, Authorization"),
        FAVICON_ICO | "/_admin/favicon.svg" => asset("image/svg+xml", FAVICON_SVG),
        "/_admin" => Response::new(308).header("Location", "/_admin/"),
        "/_admin/" | "/_admin/index.html" => asset("text/html; charset=utf-8", CONSOLE_HTML),
        "/_admin/app.js" => asset("text/javascript; charset=utf-8", CONSOLE_JS),
        "/_admin/style.css" => asset("text/css; charset=utf-8", CONSOLE_CSS),
        "/_admin/docs" | "/_admin/docs/" => asset("text/html; charset=utf-8", DOCS_HTML),
        "/_admin/openapi.json" => asset("application/json", OPENAPI_JSON),
        "/_admin/metrics" => {
            let shards = msg::metrics_everywhere(ctx).await;
            let process = process::process_stats();
            let disk = process::disk_stats(&ctx.config.data_dir);
            let scrape = metrics::ScrapeContext {
                process: &process,
                disk: disk.map(|d| (ctx.config.data_dir.as_path(), d)),
                internal: ctx.config.internal_metrics,
            };
            let text = metrics::render(&shards, &scrape);
            bytes_with_type(200, metrics::CONTENT_TYPE, Bytes::from(text))
        }
        LIVENESS_PATH => bytes_with_type(200, PLAIN_TEXT, Bytes::from_static(b"live\n")),
        READINESS_PATH => readiness(ctx).await,
        _ => return Err(ApiError::not_found(format!("no such page: {path}"))),
    })
}

/// Liveness: the process runs and this shard's loop turns. Touches nothing.
pub const LIVENESS_PATH: &str = "/_admin/health/live";
/// Readiness: every shard accepts requests and can write (`readiness`).
pub const READINESS_PATH: &str = "/_admin/health/ready";
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// 200 when every shard is serving and its log accepts writes; 503 (with
/// which shards are not) while the server stops or after a shard's log
/// failed a flush (it then refuses writes until restarted).
async fn readiness(ctx: &Rc<ShardCtx>) -> Response {
    let shards = msg::health_everywhere(ctx).await;
    let not_ready: Vec<String> = shards
        .iter()
        .filter(|h| !h.ready())
        .map(|h| h.reason())
        .collect();
    let missing = ctx.shards() - shards.len();
    if not_ready.is_empty() && missing == 0 {
        return bytes_with_type(200, PLAIN_TEXT, Bytes::from_static(b"ready\n"));
    }
    let mut text = String::from("not ready\n");
    for r in &not_ready {
        text.push_str(r);
        text.push('\n');
    }
    if missing > 0 {
        text.push_str(&format!("{missing} shard(s) did not answer\n"));
    }
    bytes_with_type(503, PLAIN_TEXT, Bytes::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/_admin"));
        assert!(is_admin_path("/_admin/"));
        assert!(is_admin_path("/_admin/api/v1/stats"));
        assert!(!is_admin_path("/_adminx/key"));
        assert!(!is_admin_path("/bucket/_admin/"));
    }

    #[test]
    fn openapi_document_is_valid_json() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json parses");
        assert_eq!(v["openapi"].as_str().map(|s| &s[..2]), Some("3."));
    }
}
