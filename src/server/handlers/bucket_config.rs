//! Bucket sub-resources: the ACL (bucket-level canned ACLs; an object's ACL
//! is its bucket's), versioning state, tags, CORS rules (enforced by
//! `server::cors`), lifecycle expiration rules (enforced by
//! `server::lifecycle`), logging status (never on) and policy status (from
//! the ACL).

use super::bucket::{canned_acl, catalog_error, owner_of, read_small_body};
use super::tagging::object_view;
use super::{bucket_for, Access};
use crate::catalog::{Bucket, CannedAcl, CatalogOp, DefaultEncryption};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;
use crate::s3::xml::{
    self, AccessControlPolicy, AclGrant, AclGrantee, Grant, Grantee, VersioningStatus,
};
use crate::server::body::BodyReader;
use crate::server::catalog_service::change;
use crate::server::conn::Conn;
use crate::server::request::Req;
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use crate::store::Versioning;
use std::rc::Rc;
use std::sync::Arc;

/// Largest ACL, versioning or tagging document read.
const MAX_CONFIG_BODY_BYTES: usize = 64 * 1024;

pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The grants a canned ACL makes beyond the owner's FULL_CONTROL, as
/// (group URI, permission), sorted.
fn canned_grants(acl: CannedAcl) -> &'static [(&'static str, &'static str)] {
    match acl {
        CannedAcl::Private => &[],
        CannedAcl::PublicRead => &[(ALL_USERS, "READ")],
        CannedAcl::PublicReadWrite => &[(ALL_USERS, "READ"), (ALL_USERS, "WRITE")],
        CannedAcl::AuthenticatedRead => &[(AUTHENTICATED_USERS, "READ")],
    }
}

/// The canned ACL whose grants `grants` are. Grants to the owner are
/// implied (the owner always has full control); any other grant set is
/// one this server cannot enforce, so it is refused rather than stored.
pub fn canned_acl_of(grants: &[AclGrant], owner_id: &str) -> Result<CannedAcl, S3Error> {
    let unsupported = || {
        S3Error::new(S3ErrorCode::NotImplemented).with_message(
            "Only grant sets equal to a canned ACL (private, public-read, public-read-write, \
             authenticated-read) are supported.",
        )
    };
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for g in grants {
        match &g.grantee {
            AclGrantee::User(id) if id == owner_id => {}
            AclGrantee::Group(uri) => groups.push((uri.as_str(), g.permission.as_str())),
            AclGrantee::User(_) | AclGrantee::Email(_) => return Err(unsupported()),
        }
    }
    groups.sort_unstable();
    groups.dedup();
    [
        CannedAcl::Private,
        CannedAcl::PublicRead,
        CannedAcl::PublicReadWrite,
        CannedAcl::AuthenticatedRead,
    ]
    .into_iter()
    .find(|&acl| canned_grants(acl) == groups.as_slice())
    .ok_or_else(unsupported)
}

/// The bucket's ACL as an AccessControlPolicy document.
fn policy_of(ctx: &ShardCtx, bucket: &Bucket) -> AccessControlPolicy {
    let owner = owner_of(ctx, bucket.owner_id);
    let mut grants = vec![Grant {
        grantee: Grantee::CanonicalUser(owner.clone()),
        permission: "FULL_CONTROL",
    }];
    grants.extend(
        canned_grants(bucket.acl)
            .iter()
            .map(|&(uri, permission)| Grant {
                grantee: Grantee::Group(uri.to_string()),
                permission,
            }),
    );
    AccessControlPolicy { owner, grants }
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

pub fn get_acl(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    Ok(Response::xml(
        200,
        xml::access_control_policy(&policy_of(ctx, &bucket)),
    ))
}

/// PutBucketAcl: a canned ACL in `x-amz-acl`, or an AccessControlPolicy
/// body whose grants are a canned ACL's.
pub async fn put_acl(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let acl = requested_acl(ctx, conn, req, body, &bucket).await?;
    change_bucket(ctx, bucket, |name| CatalogOp::PutBucketAcl { name, acl }).await?;
    Ok(Response::new(200))
}

/// The canned ACL a PutBucketAcl or PutObjectAcl asks for: `x-amz-acl`, or
/// an AccessControlPolicy body whose grants are a canned ACL's.
async fn requested_acl(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    bucket: &Bucket,
) -> Result<CannedAcl, S3Error> {
    const GRANT_HEADERS: [&str; 5] = [
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write",
        "x-amz-grant-write-acp",
    ];
    if let Some(h) = GRANT_HEADERS.iter().find(|h| req.header(h).is_some()) {
        return Err(S3Error::new(S3ErrorCode::NotImplemented)
            .with_message("Grant headers are not supported: use x-amz-acl with a canned ACL.")
            .with("Header", h.to_string()));
    }
    let header = req.header("x-amz-acl").map(str::to_string);
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    match (header, is_blank(&raw)) {
        (Some(h), true) => canned_acl(Some(&h)),
        (None, false) => {
            let grants = xml::parse_access_control_policy(&raw)?;
            canned_acl_of(&grants, &owner_of(ctx, bucket.owner_id).id)
        }
        (Some(_), false) => Err(S3Error::new(S3ErrorCode::UnexpectedContent)
            .with_message("This request does not support content with a canned ACL header.")),
        (None, true) => Err(S3Error::new(S3ErrorCode::MissingSecurityHeader)
            .with("MissingHeaderName", "x-amz-acl".to_string())),
    }
}

/// PutObjectAcl: an object has its bucket's ACL (as GetObjectAcl says), so
/// asking for exactly that ACL succeeds and changes nothing; any other ACL
/// is refused rather than stored and not enforced.
pub async fn put_object_acl(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    object_view(ctx, req, Access::Owner).await?;
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let acl = requested_acl(ctx, conn, req, body, &bucket).await?;
    if acl != bucket.acl {
        return Err(S3Error::new(S3ErrorCode::AccessControlListNotSupported).with_message(
            "Object ACLs are not supported: an object has its bucket's ACL (set it with PutBucketAcl).",
        ));
    }
    Ok(Response::new(200))
}

/// GetObjectAcl: the object must exist; its ACL is its bucket's.
pub async fn get_object_acl(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    object_view(ctx, req, Access::Owner).await?;
    get_acl(ctx, req)
}

pub fn get_versioning(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let status = match bucket.versioning() {
        Versioning::Enabled => Some(VersioningStatus::Enabled),
        Versioning::Suspended => Some(VersioningStatus::Suspended),
        Versioning::Unversioned => None,
    };
    Ok(Response::xml(200, xml::versioning_configuration(status)))
}

/// PutBucketVersioning: Enabled or Suspended, recorded in the catalog; every
/// shard's store follows it once the catalog reaches it.
pub async fn put_versioning(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    match xml::parse_versioning(&raw)? {
        None => {}
        Some(VersioningStatus::Enabled) => {
            change_bucket(ctx, bucket, |name| CatalogOp::EnableBucketVersioning {
                name,
            })
            .await?;
        }
        Some(VersioningStatus::Suspended) => {
            change_bucket(ctx, bucket, |name| CatalogOp::SuspendBucketVersioning {
                name,
            })
            .await?;
        }
    }
    Ok(Response::new(200))
}

pub fn get_tagging(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    if bucket.tags.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchTagSet).with("BucketName", bucket.name.clone()));
    }
    Ok(Response::xml(200, xml::tagging(&bucket.tags)))
}

pub async fn put_tagging(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        xml::parse_bucket_tagging,
        |name, tags| CatalogOp::PutBucketTagging { name, tags },
    )
    .await?;
    Ok(Response::new(204))
}

pub async fn delete_tagging(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketTagging {
        name,
        tags: Vec::new(),
    })
    .await
}

/// GetBucketEncryption: the default set by PutBucketEncryption.
pub fn get_encryption(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    match bucket.default_encryption {
        Some(d) => Ok(Response::xml(
            200,
            xml::encryption_configuration(d.bucket_key_enabled),
        )),
        None => Err(
            S3Error::new(S3ErrorCode::ServerSideEncryptionConfigurationNotFoundError)
                .with("BucketName", bucket.name.clone()),
        ),
    }
}

/// PutBucketEncryption: SSE-S3 for objects written without encryption headers.
pub async fn put_encryption(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        xml::parse_encryption_configuration,
        |name, bucket_key_enabled| CatalogOp::PutBucketEncryption {
            name,
            default: Some(DefaultEncryption { bucket_key_enabled }),
        },
    )
    .await?;
    Ok(Response::new(200))
}

pub async fn delete_encryption(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketEncryption {
        name,
        default: None,
    })
    .await
}

/// A bucket configuration ringstore cannot hold (policy, public access block, ownership controls, website,
/// replication, object lock, notifications, request payment, transfer
/// acceleration): answered as S3 answers a bucket that has none.
pub fn get_unset_configuration(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    use S3ErrorCode as C;
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let missing = match req.op {
        Operation::GetBucketPolicy => C::NoSuchBucketPolicy,
        Operation::GetPublicAccessBlock => C::NoSuchPublicAccessBlockConfiguration,
        Operation::GetBucketOwnershipControls => C::OwnershipControlsNotFoundError,
        Operation::GetBucketWebsite => C::NoSuchWebsiteConfiguration,
        Operation::GetBucketReplication => C::ReplicationConfigurationNotFoundError,
        Operation::GetObjectLockConfiguration => C::ObjectLockConfigurationNotFoundError,
        Operation::GetBucketNotificationConfiguration => {
            return Ok(Response::xml(200, xml::notification_configuration()))
        }
        Operation::GetBucketRequestPayment => {
            return Ok(Response::xml(200, xml::request_payment_configuration()))
        }
        Operation::GetBucketAccelerateConfiguration => {
            return Ok(Response::xml(200, xml::accelerate_configuration()))
        }
        other => {
            debug_assert!(false, "{other:?} is not an unset configuration");
            return Err(S3Error::new(C::NotImplemented));
        }
    };
    Err(S3Error::new(missing).with("BucketName", bucket.name.clone()))
}

/// Server access logging is not offered: every bucket's status is "off".
pub fn get_logging(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    bucket_for(ctx, req, Access::Owner)?;
    Ok(Response::xml(200, xml::bucket_logging_status()))
}

/// Buckets have no policies here; what makes one public is its canned
/// ACL, so that is what the status reports.
pub fn get_policy_status(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let public = bucket.acl != CannedAcl::Private;
    Ok(Response::xml(200, xml::policy_status(public)))
}

pub fn get_lifecycle(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    if bucket.lifecycle.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchLifecycleConfiguration)
            .with("BucketName", bucket.name.clone()));
    }
    Ok(Response::xml(
        200,
        xml::lifecycle_configuration(&bucket.lifecycle),
    ))
}

/// PutBucketLifecycleConfiguration: expiration rules, enforced by every
/// shard's lifecycle task (`server::lifecycle`).
pub async fn put_lifecycle(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        |body| {
            let mut rules = xml::parse_lifecycle_configuration(body)?;
            // S3 names a rule sent without an ID; the name is kept with it.
            for r in rules.iter_mut().filter(|r| r.id.is_none()) {
                r.id = Some(generated_rule_id());
            }
            Ok(rules)
        },
        |name, rules| CatalogOp::PutBucketLifecycle { name, rules },
    )
    .await?;
    Ok(Response::new(200))
}

/// A lifecycle rule ID for a rule sent without one: 48 characters of
/// base64 over random bytes, the form S3's generated IDs take.
fn generated_rule_id() -> String {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 36];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .expect("system random source");
    base64::engine::general_purpose::STANDARD.encode(raw)
}

pub async fn delete_lifecycle(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketLifecycle {
        name,
        rules: Vec::new(),
    })
    .await
}

pub fn get_cors(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    if bucket.cors.is_empty() {
        return Err(S3Error::new(S3ErrorCode::NoSuchCORSConfiguration)
            .with("BucketName", bucket.name.clone()));
    }
    Ok(Response::xml(200, xml::cors_configuration(&bucket.cors)))
}

pub async fn put_cors(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    put_config(
        ctx,
        conn,
        req,
        body,
        xml::parse_cors_configuration,
        |name, rules| CatalogOp::PutBucketCors { name, rules },
    )
    .await?;
    Ok(Response::new(200))
}

pub async fn delete_cors(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    clear_config(ctx, req, |name| CatalogOp::PutBucketCors {
        name,
        rules: Vec::new(),
    })
    .await
}

/// A bucket configuration PUT: the owner's document, parsed (with S3's
/// checks) and stored as the catalog change `op` makes of it.
async fn put_config<T>(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    parse: fn(&[u8]) -> Result<T, S3Error>,
    op: impl FnOnce(String, T) -> CatalogOp,
) -> Result<(), S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    let raw = read_small_body(conn, req, body, MAX_CONFIG_BODY_BYTES).await?;
    let config = parse(&raw)?;
    change_bucket(ctx, bucket, |name| op(name, config)).await
}

/// DeleteBucket{Tagging,Encryption,Lifecycle,Cors}: the owner clears one
/// configuration (`op` sets it to empty); 204 as S3 answers.
async fn clear_config(
    ctx: &ShardCtx,
    req: &Req,
    op: impl FnOnce(String) -> CatalogOp,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req, Access::Owner)?;
    change_bucket(ctx, bucket, op).await?;
    Ok(Response::new(204))
}

/// Applies the catalog change `op` makes for the bucket's name; a refusal
/// becomes the S3 error for it.
async fn change_bucket(
    ctx: &ShardCtx,
    bucket: Arc<Bucket>,
    op: impl FnOnce(String) -> CatalogOp,
) -> Result<(), S3Error> {
    let name = bucket.name.clone();
    change(ctx, op(name.clone()))
        .await
        .map_err(|e| catalog_error(e, &name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(uri: &str, permission: &str) -> AclGrant {
        AclGrant {
            grantee: AclGrantee::Group(uri.to_string()),
            permission: permission.to_string(),
        }
    }

    fn user(id: &str, permission: &str) -> AclGrant {
        AclGrant {
            grantee: AclGrantee::User(id.to_string()),
            permission: permission.to_string(),
        }
    }

    #[test]
    fn grant_sets_map_to_canned_acls() {
        let owner = "owner-id";
        let cases = [
            (vec![user(owner, "FULL_CONTROL")], CannedAcl::Private),
            (vec![], CannedAcl::Private),
            (
                vec![user(owner, "FULL_CONTROL"), group(ALL_USERS, "READ")],
                CannedAcl::PublicRead,
            ),
            (
                vec![group(ALL_USERS, "WRITE"), group(ALL_USERS, "READ")],
                CannedAcl::PublicReadWrite,
            ),
            (
                vec![
                    group(AUTHENTICATED_USERS, "READ"),
                    group(AUTHENTICATED_USERS, "READ"),
                ],
                CannedAcl::AuthenticatedRead,
            ),
        ];
        for (grants, want) in cases {
            assert_eq!(canned_acl_of(&grants, owner).ok(), Some(want), "{grants:?}");
            // And back: a canned ACL's own grants name it.
            let back: Vec<AclGrant> = canned_grants(want)
                .iter()
                .map(|&(uri, p)| group(uri, p))
                .collect();
            assert_eq!(canned_acl_of(&back, owner).ok(), Some(want));
        }
    }

    #[test]
    fn other_grant_sets_are_refused() {
        let owner = "owner-id";
        for grants in [
            vec![user("someone-else", "READ")],
            vec![group(ALL_USERS, "WRITE")],
            vec![group(ALL_USERS, "READ_ACP")],
            vec![group(AUTHENTICATED_USERS, "READ"), group(ALL_USERS, "READ")],
            vec![AclGrant {
                grantee: AclGrantee::Email("a@example.com".into()),
                permission: "READ".into(),
            }],
        ] {
            let err = canned_acl_of(&grants, owner).expect_err("not a canned ACL");
            assert_eq!(err.code, S3ErrorCode::NotImplemented, "{grants:?}");
        }
    }
}
