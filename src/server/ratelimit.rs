//! Applies rate limits (`crate::ratelimit`) to S3 requests: decided after
//! authentication and before the handler, so a request over its limit is
//! answered 503 SlowDown without its body being read (`request::finish`
//! drains a little of it or closes the connection) and stores nothing.
//! A token bucket that runs dry borrows the other shards' unused tokens
//! by message (`admin::msg::borrow_tokens`), off the request path.

use super::request::Req;
use super::shard::ShardCtx;
use crate::ratelimit::RequestFacts;
use crate::s3::error::{S3Error, S3ErrorCode};
use std::rc::Rc;

/// The SlowDown error for a request over one of its limits; None when
/// every limit admits it (and has taken its token).
fn facts(req: &Req) -> RequestFacts<'_> {
    RequestFacts {
        access_key: req.auth.as_ref().map(|a| a.access_key.as_str()),
        bucket: req.bucket.as_deref(),
        key: req.key.as_deref(),
    }
}

/// Charges a request's body bytes, in and out, to its byte limits (only
/// when some limit counts bytes).
pub fn charge(ctx: &ShardCtx, req: &Req, bytes: u64) {
    if ctx.limits.counts_bytes() {
        ctx.limits.charge(&facts(req), bytes);
    }
}

pub fn check(ctx: &Rc<ShardCtx>, req: &Req) -> Option<S3Error> {
    let verdict = ctx.limits.check(&facts(req));
    // Buckets that ran dry ask the other shards for their unused tokens,
    // off the request path.
    let wanted = ctx.limits.take_wanted();
    if !wanted.is_empty() {
        monoio::spawn(crate::admin::msg::borrow_tokens(ctx.clone(), wanted));
    }
    let kind = verdict.err()?;
    tracing::debug!(
        request_id = %req.id,
        operation = req.op.name(),
        limit = kind.name(),
        "request over its rate limit"
    );
    Some(S3Error::new(S3ErrorCode::SlowDown))
}
