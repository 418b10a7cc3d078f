//! The decision: may this requester do this action on this bucket or
//! object? One pure function over the request and the bucket's and
//! object's access state, in the order S3 documents ("How Amazon S3
//! authorizes a request"), with each credential its own account:
//!
//! 1. The root credential may do everything (the operator's key).
//! 2. The bucket policy: an explicit Deny is final, except that the bucket
//!    owner may always read, replace and delete the policy itself.
//!    With `RestrictPublicBuckets` and a public policy, its Allows count
//!    only for the bucket owner.
//! 3. Bucket context: the bucket owner, or anyone the policy allows, may
//!    act on the bucket and on objects the bucket owner owns.
//! 4. Object context: an object owned by someone else (ACLs enabled and the
//!    uploader kept it) answers to its owner and its ACL only; the bucket
//!    owner may still delete it.
//! 5. ACLs (unless `BucketOwnerEnforced`): the bucket ACL grants listing,
//!    writing objects and the bucket ACL; the object ACL grants reading the
//!    object and its ACL. `IgnorePublicAcls` drops grants to AllUsers and
//!    AuthenticatedUsers.
//! 6. Otherwise: denied (implicitly).

use super::acl::{Grant, Grantee, Group, ObjectAcl, ObjectOwnership, PublicAccessBlock};
use super::action::{acl_target, AclTarget, Action, ResourceKind};
use super::context::RequestContext;
use super::policy::{Env, Policy, PolicyVerdict};
use super::principal::Requester;

/// A bucket's access state, borrowed from the catalog.
#[derive(Debug, Clone, Copy)]
pub struct BucketAccess<'a> {
    pub name: &'a str,
    /// The owning credential's id (its account).
    pub owner_account: u64,
    pub owner_canonical: &'a str,
    pub policy: Option<&'a Policy>,
    pub grants: &'a [Grant],
    pub ownership: ObjectOwnership,
    pub block: PublicAccessBlock,
}

/// One question to the evaluator.
pub struct AccessRequest<'a> {
    pub requester: Requester<'a>,
    pub action: Action,
    /// The object key for object actions.
    pub key: Option<&'a str>,
    /// The existing object's owner and ACL, for actions on an existing
    /// object. None: the bucket owner owns it with a private ACL (objects
    /// stored without an ACL, or one about to be written).
    pub object_acl: Option<&'a ObjectAcl>,
    pub context: &'a RequestContext<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// A policy statement denied it: nothing overrides that.
    ExplicitDeny,
    /// Nothing allowed it.
    ImplicitDeny,
}

impl Decision {
    pub fn allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// Actions the bucket owner keeps even when its own policy denies them
/// (so a policy cannot lock the owner out of fixing the policy).
const OWNER_KEEPS: &[Action] = &[
    Action::GetBucketPolicy,
    Action::PutBucketPolicy,
    Action::DeleteBucketPolicy,
];

/// Decides `req` against `bucket`.
pub fn decide(bucket: &BucketAccess, req: &AccessRequest) -> Decision {
    let user = match req.requester {
        Requester::User(u) if u.is_root => return Decision::Allow,
        Requester::User(u) => Some(u),
        Requester::Anonymous => None,
    };
    let requester_id = user.map(|u| u.canonical_id.as_str());
    let is_bucket_owner = requester_id.is_some_and(|id| id == bucket.owner_canonical);
    let verdict = match bucket.policy {
        None => PolicyVerdict::NoMatch,
        Some(policy) => policy_verdict(bucket, policy, req, is_bucket_owner),
    };
    if verdict == PolicyVerdict::Deny {
        return if is_bucket_owner && OWNER_KEEPS.contains(&req.action) {
            Decision::Allow
        } else {
            Decision::ExplicitDeny
        };
    }
    let acls = bucket.ownership.acls_enabled();
    let object_owner = req
        .object_acl
        .filter(|_| acls && req.action.resource_kind() == ResourceKind::Object)
        .map(|a| a.owner.as_str())
        .filter(|o| !o.eq_ignore_ascii_case(bucket.owner_canonical));
    match object_owner {
        None if is_bucket_owner || verdict == PolicyVerdict::Allow => return Decision::Allow,
        None => {}
        Some(owner) => {
            if requester_id.is_some_and(|id| id.eq_ignore_ascii_case(owner)) {
                return Decision::Allow;
            }
            let delete = matches!(
                req.action,
                Action::DeleteObject | Action::DeleteObjectVersion
            );
            if is_bucket_owner && delete {
                return Decision::Allow;
            }
        }
    }
    if acls && acl_allows(bucket, req, requester_id) {
        return Decision::Allow;
    }
    Decision::ImplicitDeny
}

fn policy_verdict(
    bucket: &BucketAccess,
    policy: &Policy,
    req: &AccessRequest,
    is_bucket_owner: bool,
) -> PolicyVerdict {
    let env = Env {
        requester: &req.requester,
        ctx: req.context,
        bucket_owner_account: bucket.owner_account,
    };
    let verdict = match req.key {
        Some(key) => {
            let mut resource = String::with_capacity(bucket.name.len() + 1 + key.len());
            resource.push_str(bucket.name);
            resource.push('/');
            resource.push_str(key);
            policy.evaluate(&env, req.action, &resource)
        }
        None => policy.evaluate(&env, req.action, bucket.name),
    };
    let restricted = bucket.block.restrict_public_buckets && policy.is_public && !is_bucket_owner;
    if verdict == PolicyVerdict::Allow && restricted {
        return PolicyVerdict::NoMatch;
    }
    verdict
}

fn acl_allows(bucket: &BucketAccess, req: &AccessRequest, requester_id: Option<&str>) -> bool {
    let (grants, wanted) = match acl_target(req.action) {
        None => return false,
        Some(AclTarget::Bucket(p)) => (bucket.grants, p),
        Some(AclTarget::Object(p)) => match req.object_acl {
            Some(acl) => (acl.grants.as_slice(), p),
            None => return false,
        },
    };
    grants.iter().any(|g| {
        g.permission.covers(wanted)
            && !(bucket.block.ignore_public_acls && g.is_public())
            && grantee_matches(&g.grantee, requester_id)
    })
}

fn grantee_matches(grantee: &Grantee, requester_id: Option<&str>) -> bool {
    match grantee {
        Grantee::Group(Group::AllUsers) => true,
        Grantee::Group(Group::AuthenticatedUsers) => requester_id.is_some(),
        Grantee::Group(Group::LogDelivery) => false,
        Grantee::User(id) => requester_id.is_some_and(|r| r.eq_ignore_ascii_case(id)),
    }
}
