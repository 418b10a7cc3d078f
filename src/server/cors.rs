//! CORS at the edge of a request: answering browser preflights (OPTIONS,
//! unauthenticated by design, presigned URLs included) and adding
//! `Access-Control-*` headers to the answers of cross-origin requests, from
//! the bucket's rules (`s3::cors`).

use super::request::Req;
use super::respond::Response;
use super::shard::ShardCtx;
use crate::s3::cors::{matching_rule, response_headers, CORS_METHODS};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;

/// What a bucket's rules say about one cross-origin request.
enum Verdict {
    NoSuchBucket,
    NotEnabled,
    Refused,
    Allowed(Vec<(&'static str, String)>),
}

/// The bucket's first rule allowing `origin`, `method` and every one of
/// `headers` decides the `Access-Control-*` headers. The rules are read in
/// place, not copied.
fn evaluate(
    ctx: &ShardCtx,
    bucket: &str,
    origin: &str,
    method: &str,
    requested_headers: Option<&str>,
) -> Verdict {
    let names: Vec<&str> = requested_headers
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    ctx.with_catalog(|c| {
        let Some(b) = c.bucket(bucket) else {
            return Verdict::NoSuchBucket;
        };
        if b.cors.is_empty() {
            return Verdict::NotEnabled;
        }
        match matching_rule(&b.cors, origin, method, &names) {
            Some(rule) => Verdict::Allowed(response_headers(rule, origin, requested_headers)),
            None => Verdict::Refused,
        }
    })
}

fn bad_request(message: String) -> S3Error {
    S3Error::new(S3ErrorCode::BadRequest).with_message(message)
}

/// S3's 403 to a preflight: `Method` is the requested method (`OPTIONS`
/// when none was named), and `ResourceType` says what the URL names, as far
/// as S3 got (a missing bucket or configuration is the bucket's).
fn forbidden(message: Option<&str>, method: &str, resource_type: &str) -> S3Error {
    let e = S3Error::new(S3ErrorCode::AccessForbidden);
    let e = match message {
        Some(m) => e.with_message(m.to_string()),
        None => e,
    };
    e.with("Method", method.to_string())
        .with("ResourceType", resource_type.to_string())
}

/// OPTIONS: S3's preflight answer, checked in S3's order: Origin, the
/// bucket, its CORS configuration, a CORS method in
/// Access-Control-Request-Method, then the first rule allowing the origin,
/// the method and every header in Access-Control-Request-Headers.
pub fn preflight(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let origin = req.header("origin").ok_or_else(|| {
        bad_request("Insufficient information. Origin request header needed.".into())
    })?;
    let method = req.header("access-control-request-method");
    let shown = method.unwrap_or("OPTIONS");
    let requested = req.header("access-control-request-headers");
    let verdict = match req.bucket.as_deref() {
        Some(b) => evaluate(ctx, b, origin, method.unwrap_or(""), requested),
        None => Verdict::NoSuchBucket,
    };
    let headers = match verdict {
        Verdict::NoSuchBucket => {
            return Err(forbidden(
                Some("CORSResponse: Bucket not found"),
                shown,
                "BUCKET",
            ))
        }
        Verdict::NotEnabled => {
            return Err(forbidden(
                Some("CORSResponse: CORS is not enabled for this bucket."),
                shown,
                "BUCKET",
            ))
        }
        _ if !method.is_some_and(|m| CORS_METHODS.contains(&m)) => {
            return Err(bad_request(format!(
                "Invalid Access-Control-Request-Method: {}",
                method.unwrap_or("null")
            )))
        }
        Verdict::Refused => {
            let resource_type = if req.key.is_some() {
                "OBJECT"
            } else {
                "BUCKET"
            };
            return Err(forbidden(None, shown, resource_type));
        }
        Verdict::Allowed(headers) => headers,
    };
    let mut resp = Response::new(200);
    for (name, value) in headers {
        resp.push_header(name, value);
    }
    Ok(resp)
}

/// Adds the CORS headers to the answer of a cross-origin request (one with
/// Origin), whatever its status, on a bucket whose rules allow that origin
/// and method. As S3 does, an actual request that carries the preflight's
/// Access-Control-Request-Method or -Headers is judged by those instead of
/// its own method. Requests without Origin pay one header lookup.
pub fn decorate(ctx: &ShardCtx, req: &Req, resp: &mut Response) {
    if req.op == Operation::OptionsPreflight {
        return;
    }
    let (Some(origin), Some(bucket)) = (req.header("origin"), &req.bucket) else {
        return;
    };
    let method = req
        .header("access-control-request-method")
        .unwrap_or(req.head.method_str());
    let requested = req.header("access-control-request-headers");
    if let Verdict::Allowed(headers) = evaluate(ctx, bucket, origin, method, requested) {
        for (name, value) in headers {
            resp.push_header(name, value);
        }
    }
}
