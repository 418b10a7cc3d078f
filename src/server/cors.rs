//! CORS at the edge of a request: answering browser preflights (OPTIONS,
//! unauthenticated by design) and adding `Access-Control-*` headers to the
//! answers of cross-origin requests, from the bucket's rules (`s3::cors`).

use super::request::Req;
use super::respond::Response;
use super::shard::ShardCtx;
use crate::s3::cors::{matching_rule, response_headers, CORS_METHODS};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;

/// The `Access-Control-*` headers the bucket's first rule allowing
/// `origin`, `method` and `headers` gives (None: no rule allows it, or no
/// such bucket). The rules are read in place, not copied.
fn allowed(
    ctx: &ShardCtx,
    bucket: &str,
    origin: &str,
    method: &str,
    headers: &[&str],
    requested_headers: Option<&str>,
) -> Option<Vec<(&'static str, String)>> {
    ctx.with_catalog(|c| {
        let rules = &c.bucket(bucket)?.cors;
        let rule = matching_rule(rules, origin, method, headers)?;
        Some(response_headers(rule, origin, requested_headers))
    })
}

fn bad_request(message: String) -> S3Error {
    S3Error::new(S3ErrorCode::BadRequest).with_message(message)
}

/// OPTIONS: S3's preflight answer. Needs Origin and a CORS method in
/// Access-Control-Request-Method; every header in Access-Control-Request-Headers
/// must be allowed by the same rule.
pub fn preflight(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let origin = req.header("origin").ok_or_else(|| {
        bad_request("Insufficient information. Origin request header needed.".into())
    })?;
    let method = req
        .header("access-control-request-method")
        .unwrap_or("null");
    if !CORS_METHODS.contains(&method) {
        return Err(bad_request(format!(
            "Invalid Access-Control-Request-Method: {method}"
        )));
    }
    let requested = req.header("access-control-request-headers");
    let names: Vec<&str> = requested
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let answer = req
        .bucket
        .as_deref()
        .and_then(|b| allowed(ctx, b, origin, method, &names, requested));
    let Some(headers) = answer else {
        let resource_type = if req.key.is_some() {
            "OBJECT"
        } else {
            "BUCKET"
        };
        return Err(S3Error::new(S3ErrorCode::AccessForbidden)
            .with("Method", method.to_string())
            .with("ResourceType", resource_type.to_string()));
    };
    let mut resp = Response::new(200);
    for (name, value) in headers {
        resp.push_header(name, value);
    }
    Ok(resp)
}

/// Adds the CORS headers to the answer of a cross-origin request (one with
/// Origin) on a bucket whose rules allow that origin and method. Requests
/// without Origin pay one header lookup.
pub fn decorate(ctx: &ShardCtx, req: &Req, resp: &mut Response) {
    if req.op == Operation::OptionsPreflight {
        return;
    }
    let (Some(origin), Some(bucket)) = (req.header("origin"), &req.bucket) else {
        return;
    };
    if let Some(headers) = allowed(ctx, bucket, origin, req.head.method_str(), &[], None) {
        for (name, value) in headers {
            resp.push_header(name, value);
        }
    }
}
