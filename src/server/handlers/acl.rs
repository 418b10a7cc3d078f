//! ACLs: what a request asks for (`x-amz-acl`, `x-amz-grant-*`, an
//! AccessControlPolicy body), checked against ownership controls and
//! block public access, and GetBucketAcl / PutBucketAcl / GetObjectAcl /
//! PutObjectAcl. Objects have no ACL of their own yet: each is the bucket
//! owner's with its full control, and an object ACL asking for anything
//! else is refused (`check_object_acl_for_write`).

use super::bucket::{catalog_error, read_small_body};
use super::bucket_for;
use super::tagging::object_view;
use crate::access::{CannedAcl, Grant, Grantee, Group, ObjectAcl, ObjectOwnership, Permission};
use crate::catalog::{Bucket, CatalogOp};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::xml::{self, AccessControlPolicy, AclGrantee};
use crate::server::body::BodyReader;
use crate::server::catalog_service::change;
use crate::server::conn::Conn;
use crate::server::request::{access_denied, Principal, Req};
use crate::server::respond::Response;
use crate::server::shard::ShardCtx;
use std::rc::Rc;

/// Largest ACL document read.
const MAX_ACL_BODY_BYTES: usize = 64 * 1024;

/// The grant headers and the permission each gives.
const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// The ACL a request's headers ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedAcl {
    None,
    Canned(CannedAcl),
    Grants(Vec<Grant>),
}

fn invalid_argument(message: &str, name: &str, value: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidArgument)
        .with_message(message.to_string())
        .with("ArgumentName", name.to_string())
        .with("ArgumentValue", value.to_string())
}

/// `x-amz-acl` or `x-amz-grant-*` (not both, as S3 requires).
pub fn requested_acl(ctx: &ShardCtx, req: &Req) -> Result<RequestedAcl, S3Error> {
    let canned = req.header("x-amz-acl");
    let mut grants = Vec::new();
    for (header, permission) in GRANT_HEADERS {
        if let Some(value) = req.header(header) {
            for grantee in parse_grant_header(header, value)? {
                grants.push(Grant {
                    grantee: resolve(ctx, grantee)?,
                    permission,
                });
            }
        }
    }
    match (canned, grants.is_empty()) {
        (Some(_), false) => Err(S3Error::new(S3ErrorCode::InvalidRequest)
            .with_message("Specifying both Canned ACLs and Header Grants is not allowed")),
        (Some(c), true) => CannedAcl::parse(c.trim())
            .map(RequestedAcl::Canned)
            .ok_or_else(|| invalid_argument("", "x-amz-acl", c)),
        (None, false) => Ok(RequestedAcl::Grants(grants)),
        (None, true) => Ok(RequestedAcl::None),
    }
}

/// One `x-amz-grant-*` header: `id="…", uri="…", emailAddress="…"`, comma-separated.
fn parse_grant_header(header: &str, value: &str) -> Result<Vec<AclGrantee>, S3Error> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || invalid_argument("Invalid grant header", header, item);
        let (kind, v) = item.split_once('=').ok_or_else(bad)?;
        let v = v.trim().trim_matches('"').to_string();
        out.push(match kind.trim().to_ascii_lowercase().as_str() {
            "id" => AclGrantee::User(v),
            "uri" => AclGrantee::Group(v),
            "emailaddress" => AclGrantee::Email(v),
            _ => return Err(bad()),
        });
        if out.len() > crate::access::acl::MAX_GRANTS {
            return Err(bad());
        }
    }
    Ok(out)
}

/// A grantee as the catalog knows it: canonical ids must name a
/// credential (S3 refuses unknown ids); credentials have no e-mail
/// address here, so every e-mail grantee is unresolvable.
fn resolve(ctx: &ShardCtx, g: AclGrantee) -> Result<Grantee, S3Error> {
    match g {
        AclGrantee::User(id) => {
            let known = ctx.with_catalog(|c| c.identity_by_canonical_id(&id).is_some());
            if known {
                Ok(Grantee::User(id.to_ascii_lowercase()))
            } else {
                Err(invalid_argument("Invalid id", "CanonicalUser/ID", &id))
            }
        }
        AclGrantee::Group(uri) => Group::from_uri(&uri)
            .map(Grantee::Group)
            .ok_or_else(|| invalid_argument("Invalid group uri", "Group/URI", &uri)),
        AclGrantee::Email(e) => Err(S3Error::new(S3ErrorCode::UnresolvableGrantByEmailAddress)
            .with("EmailAddressProvided", e)),
    }
}

fn acls_not_supported() -> S3Error {
    S3Error::new(S3ErrorCode::AccessControlListNotSupported)
        .with_message("The bucket does not allow ACLs")
}

/// The canonical ids of the requester and of `bucket`'s owner.
fn ids(ctx: &ShardCtx, req: &Req, bucket: &Bucket) -> (Option<String>, String) {
    ctx.with_catalog(|c| {
        let requester = match req.principal {
            Principal::User { id } => c.identity(id).map(|u| u.canonical_id.clone()),
            Principal::Anonymous => None,
        };
        let owner = c
            .identity(bucket.owner_id)
            .map(|u| u.canonical_id.clone())
            .unwrap_or_default();
        (requester, owner)
    })
}

/// Whether what the requester writes belongs to `bucket`'s owner from the
/// start: the owner's own writes, and root's (the operator acts for the owner).
fn writes_for_owner(req: &Req, bucket: &Bucket) -> bool {
    req.principal.is_root()
        || matches!(req.principal, Principal::User { id } if id == bucket.owner_id)
}

/// Refuses public grants where block public access says so (S3 answers AccessDenied).
fn check_public(bucket: &Bucket, grants: &[Grant]) -> Result<(), S3Error> {
    if bucket.block().block_public_acls && grants.iter().any(Grant::is_public) {
        return Err(access_denied());
    }
    Ok(())
}

/// Error for an object ACL that only per-object ACL storage could keep.
fn object_acls_not_stored() -> S3Error {
    S3Error::new(S3ErrorCode::NotImplemented).with_message(
        "Object ACLs other than the bucket owner's full control are not supported yet: \
         every object is owned by the bucket owner (docs/ACCESS-CONTROL.md). \
         Use a bucket policy to share objects.",
    )
}

/// The owner and grants S3 would give an object the request writes into
/// `bucket`, or None when the request asks for no ACL.
fn requested_object_acl(
    ctx: &ShardCtx,
    req: &Req,
    bucket: &Bucket,
) -> Result<Option<ObjectAcl>, S3Error> {
    let requested = requested_acl(ctx, req)?;
    if requested == RequestedAcl::None {
        return Ok(None);
    }
    let canned = match &requested {
        RequestedAcl::Canned(c) => Some(*c),
        _ => None,
    };
    let (writer, bucket_owner) = ids(ctx, req, bucket);
    // Root (the operator) and anonymous writers write for the bucket owner.
    let writer = writer
        .filter(|_| !writes_for_owner(req, bucket))
        .unwrap_or_else(|| bucket_owner.clone());
    let ownership = bucket.object_ownership();
    let owner = ownership
        .object_owner(&writer, &bucket_owner, canned)
        .to_string();
    // With ACLs disabled the ACL is judged as sent, with the writer as
    // its owner: another account's `private` grants that account.
    let grantor = if ownership.acls_enabled() {
        &owner
    } else {
        &writer
    };
    let grants = match requested {
        RequestedAcl::None => Vec::new(),
        RequestedAcl::Canned(c) => c.grants(grantor, &bucket_owner, false),
        RequestedAcl::Grants(g) => g,
    };
    Ok(Some(ObjectAcl { owner, grants }))
}

/// Whether `acl` is what every object has here: the bucket owner owns it
/// and alone has FULL_CONTROL.
fn is_bucket_owner_full_control(acl: &ObjectAcl, bucket_owner: &str) -> bool {
    acl.owner == bucket_owner
        && !acl.grants.is_empty()
        && acl.grants.iter().all(|g| {
            g.permission == Permission::FullControl
                && matches!(&g.grantee, Grantee::User(id) if id == bucket_owner)
        })
}

/// Checks the ACL a write into `bucket` asks for (PutObject, CopyObject,
/// CreateMultipartUpload: `x-amz-acl` or `x-amz-grant-*`). Objects are
/// owned by the bucket owner with its full control only (per-object ACLs
/// wait for per-object storage), so an ACL is accepted only where it
/// comes to exactly that; any other is refused, never stored and ignored:
/// - BucketOwnerEnforced (ACLs disabled): `bucket-owner-full-control`, or
///   an ACL granting only the bucket owner (the owner's own `private`), as
///   S3 accepts; otherwise AccessControlListNotSupported.
/// - ObjectWriter / BucketOwnerPreferred: a public grant with
///   BlockPublicAcls is AccessDenied; any ACL that would leave the object
///   owned by someone else or granted to others is NotImplemented.
pub fn check_object_acl_for_write(
    ctx: &ShardCtx,
    req: &Req,
    bucket: &Bucket,
) -> Result<(), S3Error> {
    let enforced = bucket.object_ownership() == ObjectOwnership::BucketOwnerEnforced;
    if enforced && req.header("x-amz-acl").map(str::trim) == Some("bucket-owner-full-control") {
        return Ok(());
    }
    let Some(acl) = requested_object_acl(ctx, req, bucket)? else {
        return Ok(());
    };
    let (_, bucket_owner) = ids(ctx, req, bucket);
    let only_owner = acl
        .grants
        .iter()
        .all(|g| matches!(&g.grantee, Grantee::User(id) if *id == bucket_owner));
    if enforced {
        return if only_owner {
            Ok(())
        } else {
            Err(acls_not_supported())
        };
    }
    check_public(bucket, &acl.grants)?;
    if is_bucket_owner_full_control(&acl, &bucket_owner) {
        Ok(())
    } else {
        Err(object_acls_not_stored())
    }
}

/// The bucket ACL a CreateBucket asks for (its `x-amz-acl` or grant headers).
pub fn bucket_grants_for_create(
    ctx: &ShardCtx,
    req: &Req,
    owner: &str,
) -> Result<Vec<Grant>, S3Error> {
    Ok(match requested_acl(ctx, req)? {
        RequestedAcl::None => CannedAcl::Private.grants(owner, owner, true),
        RequestedAcl::Canned(c) => c.grants(owner, owner, true),
        RequestedAcl::Grants(g) => g,
    })
}

/// The grants a PutBucketAcl / PutObjectAcl asks for: headers, or an
/// AccessControlPolicy body whose Owner must be the resource's owner.
async fn grants_to_set(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
    owner: &str,
    bucket_owner: &str,
    on_bucket: bool,
) -> Result<Vec<Grant>, S3Error> {
    let requested = requested_acl(ctx, req)?;
    let raw = read_small_body(conn, req, body, MAX_ACL_BODY_BYTES).await?;
    let blank = raw.iter().all(u8::is_ascii_whitespace);
    match (requested, blank) {
        (RequestedAcl::Canned(c), true) => Ok(c.grants(owner, bucket_owner, on_bucket)),
        (RequestedAcl::Grants(g), true) => Ok(g),
        (RequestedAcl::None, false) => {
            let doc = xml::parse_access_control_policy(&raw)?;
            match doc.owner_id {
                None => return Err(S3Error::new(S3ErrorCode::MalformedACLError)),
                Some(id) if !id.eq_ignore_ascii_case(owner) => return Err(access_denied()),
                Some(_) => {}
            }
            doc.grants
                .into_iter()
                .map(|g| -> Result<Grant, S3Error> {
                    let permission = Permission::parse(&g.permission)
                        .ok_or_else(|| S3Error::new(S3ErrorCode::MalformedACLError))?;
                    Ok(Grant {
                        grantee: resolve(ctx, g.grantee)?,
                        permission,
                    })
                })
                .collect()
        }
        (_, false) => Err(S3Error::new(S3ErrorCode::UnexpectedContent)
            .with_message("This request does not support content with a canned ACL header.")),
        (RequestedAcl::None, true) => Err(S3Error::new(S3ErrorCode::MissingSecurityHeader)
            .with("MissingHeaderName", "x-amz-acl".to_string())),
    }
}

/// An ACL as S3 documents show it.
fn document(ctx: &ShardCtx, owner: &str, grants: &[Grant]) -> AccessControlPolicy {
    let person = |id: &str| {
        let display_name = ctx.with_catalog(|c| {
            c.identity_by_canonical_id(id)
                .map(|u| u.user_name.clone())
                .unwrap_or_default()
        });
        xml::Owner {
            id: id.to_string(),
            display_name,
        }
    };
    AccessControlPolicy {
        owner: person(owner),
        grants: grants
            .iter()
            .map(|g| xml::Grant {
                grantee: match &g.grantee {
                    Grantee::User(id) => xml::Grantee::CanonicalUser(person(id)),
                    Grantee::Group(group) => xml::Grantee::Group(group.uri().to_string()),
                },
                permission: g.permission.as_str(),
            })
            .collect(),
    }
}

pub fn get_bucket_acl(ctx: &ShardCtx, req: &Req) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let (_, owner) = ids(ctx, req, &bucket);
    // With ACLs disabled the ACL reads as the owner's full control only.
    let enforced_grants;
    let grants: &[Grant] = if bucket.object_ownership().acls_enabled() {
        bucket.grants()
    } else {
        enforced_grants = [Grant::user(&owner, Permission::FullControl)];
        &enforced_grants
    };
    Ok(Response::xml(
        200,
        xml::access_control_policy(&document(ctx, &owner, grants)),
    ))
}

pub async fn put_bucket_acl(
    ctx: &ShardCtx,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let bucket = bucket_for(ctx, req)?;
    let (_, owner) = ids(ctx, req, &bucket);
    let grants = grants_to_set(ctx, conn, req, body, &owner, &owner, true).await?;
    let name = bucket.name.clone();
    change(ctx, CatalogOp::PutBucketAcl { name, grants })
        .await
        .map_err(|e| catalog_error(e, &bucket.name))?;
    Ok(Response::new(200))
}

/// GetObjectAcl: the ACL in effect, the bucket owner's full control
/// (every object is the bucket owner's until per-object ACLs are stored).
pub async fn get_object_acl(ctx: &Rc<ShardCtx>, req: &Req) -> Result<Response, S3Error> {
    let (view, ..) = object_view(ctx, req, &[]).await?;
    let bucket = bucket_for_response(ctx, req)?;
    let (_, bucket_owner) = ids(ctx, req, &bucket);
    let grants = [Grant::user(&bucket_owner, Permission::FullControl)];
    let mut resp = Response::xml(
        200,
        xml::access_control_policy(&document(ctx, &bucket_owner, &grants)),
    );
    super::object::add_version_header(&mut resp, &bucket, req, view.version_id);
    Ok(resp)
}

/// PutObjectAcl: the object keeps the ACL in effect (the bucket owner's
/// full control), so asking for exactly that succeeds and changes
/// nothing; with ACLs disabled anything else is AccessControlListNotSupported,
/// otherwise NotImplemented (never stored and ignored).
pub async fn put_object_acl(
    ctx: &Rc<ShardCtx>,
    conn: &mut Conn,
    req: &mut Req,
    body: &mut BodyReader,
) -> Result<Response, S3Error> {
    let (view, ..) = object_view(ctx, req, &[]).await?;
    let bucket = bucket_for_response(ctx, req)?;
    let (_, bucket_owner) = ids(ctx, req, &bucket);
    let grants = grants_to_set(ctx, conn, req, body, &bucket_owner, &bucket_owner, false).await?;
    let acl = ObjectAcl {
        owner: bucket_owner.clone(),
        grants,
    };
    if !is_bucket_owner_full_control(&acl, &bucket_owner) {
        if !bucket.object_ownership().acls_enabled() {
            return Err(acls_not_supported());
        }
        check_public(&bucket, &acl.grants)?;
        return Err(object_acls_not_stored());
    }
    let mut resp = Response::new(200);
    super::object::add_version_header(&mut resp, &bucket, req, view.version_id);
    Ok(resp)
}

/// The request's bucket once its object's access was decided (for the
/// answer's headers; its existence and owner were checked already).
fn bucket_for_response(ctx: &ShardCtx, req: &Req) -> Result<std::sync::Arc<Bucket>, S3Error> {
    let name = req.bucket.as_deref().unwrap_or("");
    super::existing_bucket(ctx, req, name, super::EXPECTED_OWNER)
}
