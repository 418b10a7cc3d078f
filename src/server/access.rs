//! The server's side of access control: turns a request into the
//! evaluator's question (`crate::access::decide`) and its answer into S3's
//! error. Which S3 action each operation asks for is one table,
//! `action_for`.

use super::request::{access_denied, Principal, Req};
use super::shard::ShardCtx;
use crate::access::{
    decide, AccessRequest, Action, AuthType, BucketAccess, Decision, RequestContext, RequestFacts,
    Requester,
};
use crate::catalog::{Bucket, Catalog};
use crate::s3::error::S3Error;
use crate::s3::router::Operation;

/// The S3 action an operation asks permission for (`versioned`: the
/// request names a `versionId`). CopyObject and UploadPartCopy also ask
/// `s3:GetObject` on their source (`copy.rs`).
pub fn action_for(op: Operation, versioned: bool) -> Action {
    use Action as A;
    use Operation as O;
    let pick = |plain: Action, version: Action| if versioned { version } else { plain };
    match op {
        O::ListBuckets => A::ListAllMyBuckets,
        O::CreateBucket => A::CreateBucket,
        O::HeadBucket | O::ListObjectsV1 | O::ListObjectsV2 => A::ListBucket,
        O::DeleteBucket => A::DeleteBucket,
        O::GetBucketLocation => A::GetBucketLocation,
        O::GetBucketVersioning => A::GetBucketVersioning,
        O::PutBucketVersioning => A::PutBucketVersioning,
        O::ListObjectVersions => A::ListBucketVersions,
        O::GetBucketCors | O::OptionsPreflight => A::GetBucketCORS,
        O::PutBucketCors | O::DeleteBucketCors => A::PutBucketCORS,
        O::GetBucketAcl => A::GetBucketAcl,
        O::PutBucketAcl => A::PutBucketAcl,
        O::GetBucketLifecycle => A::GetLifecycleConfiguration,
        O::PutBucketLifecycle | O::DeleteBucketLifecycle => A::PutLifecycleConfiguration,
        O::GetBucketLogging => A::GetBucketLogging,
        O::GetBucketTagging => A::GetBucketTagging,
        O::PutBucketTagging | O::DeleteBucketTagging => A::PutBucketTagging,
        O::GetBucketPolicyStatus => A::GetBucketPolicyStatus,
        O::GetBucketPolicy => A::GetBucketPolicy,
        O::PutBucketPolicy => A::PutBucketPolicy,
        O::DeleteBucketPolicy => A::DeleteBucketPolicy,
        O::GetBucketEncryption => A::GetEncryptionConfiguration,
        O::PutBucketEncryption | O::DeleteBucketEncryption => A::PutEncryptionConfiguration,
        O::GetPublicAccessBlock => A::GetBucketPublicAccessBlock,
        O::PutPublicAccessBlock | O::DeletePublicAccessBlock => A::PutBucketPublicAccessBlock,
        O::GetBucketOwnershipControls => A::GetBucketOwnershipControls,
        O::PutBucketOwnershipControls | O::DeleteBucketOwnershipControls => {
            A::PutBucketOwnershipControls
        }
        O::GetBucketWebsite => A::GetBucketWebsite,
        O::GetBucketReplication => A::GetReplicationConfiguration,
        O::GetObjectLockConfiguration => A::GetBucketObjectLockConfiguration,
        O::GetBucketNotificationConfiguration => A::GetBucketNotification,
        O::GetBucketRequestPayment => A::GetBucketRequestPayment,
        O::GetBucketAccelerateConfiguration => A::GetAccelerateConfiguration,
        O::ListMultipartUploads => A::ListBucketMultipartUploads,
        O::PutObject
        | O::PostObject
        | O::CopyObject
        | O::CreateMultipartUpload
        | O::UploadPart
        | O::UploadPartCopy
        | O::CompleteMultipartUpload => A::PutObject,
        O::GetObject | O::HeadObject => pick(A::GetObject, A::GetObjectVersion),
        O::GetObjectTorrent => pick(A::GetObjectTorrent, A::GetObjectVersionTorrent),
        O::DeleteObject => pick(A::DeleteObject, A::DeleteObjectVersion),
        O::DeleteObjects => A::DeleteObject,
        O::GetObjectTagging => pick(A::GetObjectTagging, A::GetObjectVersionTagging),
        O::PutObjectTagging => pick(A::PutObjectTagging, A::PutObjectVersionTagging),
        O::DeleteObjectTagging => pick(A::DeleteObjectTagging, A::DeleteObjectVersionTagging),
        O::GetObjectAttributes => pick(A::GetObjectAttributes, A::GetObjectVersionAttributes),
        O::GetObjectAcl => pick(A::GetObjectAcl, A::GetObjectVersionAcl),
        O::PutObjectAcl => pick(A::PutObjectAcl, A::PutObjectVersionAcl),
        O::AbortMultipartUpload => A::AbortMultipartUpload,
        O::ListParts => A::ListMultipartUploadParts,
        // Routed to NotImplemented before any bucket is looked at.
        O::Unknown => A::ListAllMyBuckets,
    }
}

/// Whether `action`'s decision depends on the object's own owner and ACL
/// (reading or changing an existing object), so it is decided once the
/// object's metadata is known.
pub fn needs_object(action: Action) -> bool {
    use crate::access::action::{acl_target, AclTarget, ResourceKind};
    action.resource_kind() == ResourceKind::Object
        && !matches!(acl_target(action), Some(AclTarget::Bucket(_)))
}

/// Request headers and query as condition facts.
pub struct ReqFacts<'a> {
    pub req: &'a Req,
    /// Tags the request sets (`x-amz-tagging` or a tagging body).
    pub request_tags: &'a [(String, String)],
    /// The existing object's tags.
    pub existing_tags: &'a [(String, String)],
}

impl RequestFacts for ReqFacts<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }
    fn query(&self, name: &str) -> Option<&str> {
        self.req.query.get(name)
    }
    fn request_tags(&self) -> &[(String, String)] {
        self.request_tags
    }
    fn existing_tags(&self) -> &[(String, String)] {
        self.existing_tags
    }
}

/// The signature algorithms' names (`s3:signatureversion`).
const SIGV4: &str = "AWS4-HMAC-SHA256";
const SIGV2: &str = "AWS";

/// The condition facts of `req`. Only a policy's conditions read them, so
/// a bucket without a policy gets a context that costs nothing to build
/// (no clock read, no header lookups).
fn request_context<'a>(
    req: &'a Req,
    facts: &'a ReqFacts<'a>,
    has_policy: bool,
) -> RequestContext<'a> {
    if !has_policy {
        return RequestContext {
            source_ip: None,
            secure_transport: req.secure,
            now_millis: 0,
            auth_type: AuthType::Anonymous,
            signature_version: None,
            signature_age_millis: None,
            facts,
        };
    }
    let now_millis = crate::util::time::unix_now_millis();
    // SigV2 (`--allow-sigv2`) signs with `Authorization: AWS …` or the
    // `AWSAccessKeyId` query parameter.
    let version = if req
        .header("authorization")
        .is_some_and(|a| a.starts_with("AWS "))
        || req.query.get("AWSAccessKeyId").is_some()
    {
        SIGV2
    } else {
        SIGV4
    };
    let (auth_type, signature_version) = match &req.auth {
        // A POST form's upload: signed by its policy (its signing fields
        // are not kept; forms are SigV4 unless --allow-sigv2).
        None if req.op == Operation::PostObject && req.principal != Principal::Anonymous => {
            (AuthType::Post, Some(SIGV4))
        }
        None => (AuthType::Anonymous, None),
        Some(a) if a.presigned => (AuthType::QueryString, Some(version)),
        Some(_) => (AuthType::Header, Some(version)),
    };
    let signed_at = req
        .auth
        .as_ref()
        .and_then(|_| {
            req.header("x-amz-date")
                .or_else(|| req.query.get("X-Amz-Date"))
        })
        .and_then(crate::util::time::parse_amz_date);
    RequestContext {
        source_ip: req.source_ip,
        secure_transport: req.secure,
        now_millis,
        auth_type,
        signature_version,
        signature_age_millis: signed_at.map(|t| (now_millis - t * 1000).max(0)),
        facts,
    }
}

/// The requester as the evaluator sees it, borrowed from `catalog`.
pub fn requester<'c>(catalog: &'c Catalog, principal: Principal) -> Requester<'c> {
    match principal {
        Principal::Anonymous => Requester::Anonymous,
        Principal::User { id } => catalog
            .identity(id)
            .map_or(Requester::Anonymous, Requester::User),
    }
}

/// What one access question needs beyond the request itself. Objects
/// have no owner or ACL of their own yet (the evaluator is asked with
/// `object_acl: None`: the bucket owner's, private).
pub struct Question<'a> {
    pub action: Action,
    pub key: Option<&'a str>,
    /// Tags the request sets (PutObjectTagging's body); empty: those of
    /// `x-amz-tagging`, if any.
    pub request_tags: &'a [(String, String)],
    pub existing_tags: &'a [(String, String)],
}

impl<'a> Question<'a> {
    pub fn new(action: Action, key: Option<&'a str>) -> Question<'a> {
        Question {
            action,
            key,
            request_tags: &[],
            existing_tags: &[],
        }
    }
}

/// The tags of `x-amz-tagging` (`s3:RequestObjectTag/<key>` on PutObject,
/// CopyObject, CreateMultipartUpload); a malformed header counts as none
/// here (the handler refuses it with S3's error).
fn header_tags(req: &Req) -> Vec<(String, String)> {
    req.header("x-amz-tagging")
        .and_then(|raw| super::handlers::tagging::parse_tagging_header(raw).ok())
        .unwrap_or_default()
}

/// Asks the evaluator about `req` on `bucket`.
pub fn decide_for(ctx: &ShardCtx, req: &Req, bucket: &Bucket, q: &Question) -> Decision {
    ctx.with_catalog(|catalog| {
        let owner = catalog.identity(bucket.owner_id);
        let access = BucketAccess {
            name: &bucket.name,
            owner_account: bucket.owner_id,
            owner_canonical: owner.map_or("", |o| o.canonical_id.as_str()),
            policy: bucket.policy.as_ref().map(|p| &*p.compiled),
            grants: bucket.grants(),
            ownership: bucket.object_ownership(),
            block: bucket.block(),
        };
        let has_policy = bucket.policy.is_some();
        let tags_of_header;
        let request_tags = if q.request_tags.is_empty() && has_policy {
            tags_of_header = header_tags(req);
            &tags_of_header[..]
        } else {
            q.request_tags
        };
        let facts = ReqFacts {
            req,
            request_tags,
            existing_tags: q.existing_tags,
        };
        let context = request_context(req, &facts, has_policy);
        decide(
            &access,
            &AccessRequest {
                requester: requester(catalog, req.principal),
                action: q.action,
                key: q.key,
                object_acl: None,
                context: &context,
            },
        )
    })
}

/// Whether credential `credential_id` could be allowed `action` on `key`
/// (the admin API asks before it signs a URL for it): refused when the
/// bucket's access state denies it whatever the object's tags are.
pub fn may_presign(
    ctx: &ShardCtx,
    bucket: &Bucket,
    credential_id: u64,
    action: Action,
    key: &str,
) -> bool {
    ctx.with_catalog(|catalog| {
        let owner = catalog.identity(bucket.owner_id);
        let access = BucketAccess {
            name: &bucket.name,
            owner_account: bucket.owner_id,
            owner_canonical: owner.map_or("", |o| o.canonical_id.as_str()),
            policy: bucket.policy.as_ref().map(|p| &*p.compiled),
            grants: bucket.grants(),
            ownership: bucket.object_ownership(),
            block: bucket.block(),
        };
        let context = RequestContext::bare(crate::util::time::unix_now_millis());
        let requester = requester(catalog, Principal::User { id: credential_id });
        let decision = decide(
            &access,
            &AccessRequest {
                requester,
                action,
                key: Some(key),
                object_acl: None,
                context: &context,
            },
        );
        // Without the object's tags a policy condition on them cannot be
        // judged yet: such a URL may still be allowed when used.
        let tags_may_decide = bucket.policy.is_some() && needs_object(action);
        decision == Decision::Allow || (decision == Decision::ImplicitDeny && tags_may_decide)
    })
}

/// [`decide_for`] as a handler wants it: Ok, or S3's AccessDenied.
pub fn authorize(ctx: &ShardCtx, req: &Req, bucket: &Bucket, q: &Question) -> Result<(), S3Error> {
    match decide_for(ctx, req, bucket, q) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny | Decision::ImplicitDeny => Err(access_denied()),
    }
}

/// `x-amz-expected-bucket-owner` (or, for a copy's source,
/// `x-amz-source-expected-bucket-owner`): the bucket owner's account id
/// (12 digits) or canonical user id; anything else is AccessDenied.
pub fn check_expected_owner(
    ctx: &ShardCtx,
    req: &Req,
    bucket: &Bucket,
    header: &str,
) -> Result<(), S3Error> {
    let Some(expected) = req.header(header) else {
        return Ok(());
    };
    let expected = expected.trim();
    let matches = expected == crate::access::principal::account_id(bucket.owner_id)
        || ctx.with_catalog(|c| {
            c.identity(bucket.owner_id)
                .is_some_and(|o| o.canonical_id.eq_ignore_ascii_case(expected))
        });
    if matches {
        Ok(())
    } else {
        Err(access_denied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Action as A;
    use crate::s3::router::Operation as O;

    /// Each operation asks for the action S3's documentation names for it.
    #[test]
    fn operations_ask_for_s3_actions() {
        let table: &[(Operation, bool, Action)] = &[
            (O::GetObject, false, A::GetObject),
            (O::GetObject, true, A::GetObjectVersion),
            (O::HeadObject, false, A::GetObject),
            (O::HeadBucket, false, A::ListBucket),
            (O::ListObjectsV2, false, A::ListBucket),
            (O::ListObjectVersions, false, A::ListBucketVersions),
            (
                O::ListMultipartUploads,
                false,
                A::ListBucketMultipartUploads,
            ),
            (O::ListParts, false, A::ListMultipartUploadParts),
            (O::AbortMultipartUpload, false, A::AbortMultipartUpload),
            (O::UploadPart, false, A::PutObject),
            (O::CopyObject, false, A::PutObject),
            (O::PutObjectAcl, false, A::PutObjectAcl),
            (O::PutObjectAcl, true, A::PutObjectVersionAcl),
            (O::GetObjectAcl, true, A::GetObjectVersionAcl),
            (O::PutObjectTagging, false, A::PutObjectTagging),
            (O::DeleteObjectTagging, true, A::DeleteObjectVersionTagging),
            (O::DeleteObject, true, A::DeleteObjectVersion),
            (O::DeleteObjects, false, A::DeleteObject),
            (O::PutBucketPolicy, false, A::PutBucketPolicy),
            (
                O::DeletePublicAccessBlock,
                false,
                A::PutBucketPublicAccessBlock,
            ),
            (
                O::DeleteBucketOwnershipControls,
                false,
                A::PutBucketOwnershipControls,
            ),
            (O::DeleteBucketCors, false, A::PutBucketCORS),
        ];
        for &(op, versioned, want) in table {
            assert_eq!(
                action_for(op, versioned),
                want,
                "{op:?} versioned={versioned}"
            );
        }
        assert!(needs_object(A::GetObject));
        assert!(needs_object(A::PutObjectTagging));
        assert!(!needs_object(A::PutObject));
        assert!(!needs_object(A::DeleteObject));
        assert!(!needs_object(A::ListBucket));
    }
}
