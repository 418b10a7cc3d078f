//! Whether a policy is "public" as S3 defines it for GetBucketPolicyStatus
//! and block public access: it allows everyone (`Principal: "*"`, or any
//! `NotPrincipal`) something, without a condition that pins the request to
//! known sources (a fixed IP range no wider than /8, a VPC endpoint, a
//! source ARN or account, an organisation, a principal account or ARN, a
//! user id).

use super::{Effect, Statement};
use crate::access::principal::PrincipalPattern;

/// Condition keys whose fixed value makes an Allow non-public.
const FIXING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

pub fn statement_is_public(s: &Statement) -> bool {
    if s.effect != Effect::Allow {
        return false;
    }
    let everyone =
        s.principal.negated || s.principal.patterns.contains(&PrincipalPattern::Everyone);
    if !everyone {
        return false;
    }
    !s.conditions
        .iter()
        .any(|c| FIXING_KEYS.contains(&c.key_name.as_str()) && c.fixes())
}
