//! ACL grants, canned ACLs, object ownership and block public access: the
//! values the catalog and object records keep and the evaluator reads.

pub use super::action::Permission;
use serde::{Deserialize, Serialize};

pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
/// S3's limit on grants in one ACL.
pub const MAX_GRANTS: usize = 100;

/// S3's predefined groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Group {
    AllUsers,
    AuthenticatedUsers,
    LogDelivery,
}

impl Group {
    pub fn uri(self) -> &'static str {
        match self {
            Group::AllUsers => ALL_USERS_URI,
            Group::AuthenticatedUsers => AUTHENTICATED_USERS_URI,
            Group::LogDelivery => LOG_DELIVERY_URI,
        }
    }

    pub fn from_uri(uri: &str) -> Option<Group> {
        [
            Group::AllUsers,
            Group::AuthenticatedUsers,
            Group::LogDelivery,
        ]
        .into_iter()
        .find(|g| g.uri() == uri)
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// A canonical user id (64 hex, lower case).
    User(String),
    Group(Group),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

impl Grant {
    pub fn user(id: &str, permission: Permission) -> Grant {
        Grant {
            grantee: Grantee::User(id.to_ascii_lowercase()),
            permission,
        }
    }

    pub fn group(group: Group, permission: Permission) -> Grant {
        Grant {
            grantee: Grantee::Group(group),
            permission,
        }
    }

    /// A grant to everyone or to every authenticated user: S3's "public".
    pub fn is_public(&self) -> bool {
        matches!(
            self.grantee,
            Grantee::Group(Group::AllUsers | Group::AuthenticatedUsers)
        )
    }
}

/// Whether an ACL grants anyone other than `owner` anything
/// (BucketOwnerEnforced refuses such a bucket ACL).
pub fn grants_beyond_owner(grants: &[Grant], owner: &str) -> bool {
    grants
        .iter()
        .any(|g| !matches!(&g.grantee, Grantee::User(id) if id.eq_ignore_ascii_case(owner)))
}

/// An object's owner and ACL (stored per version in its record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectAcl {
    /// The owner's canonical user id.
    pub owner: String,
    pub grants: Vec<Grant>,
}

/// S3's canned ACLs (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedAcl {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    AwsExecRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl CannedAcl {
    pub fn parse(s: &str) -> Option<CannedAcl> {
        use CannedAcl as C;
        Some(match s {
            "private" => C::Private,
            "public-read" => C::PublicRead,
            "public-read-write" => C::PublicReadWrite,
            "authenticated-read" => C::AuthenticatedRead,
            "aws-exec-read" => C::AwsExecRead,
            "bucket-owner-read" => C::BucketOwnerRead,
            "bucket-owner-full-control" => C::BucketOwnerFullControl,
            "log-delivery-write" => C::LogDeliveryWrite,
            _ => return None,
        })
    }

    /// The grants it stands for. `owner` owns the resource; `bucket_owner`
    /// owns its bucket (the same for a bucket's own ACL). As in S3,
    /// `bucket-owner-*` on a bucket and `log-delivery-write` on an object
    /// grant only the owner; `aws-exec-read`'s EC2 grant has no grantee here.
    pub fn grants(self, owner: &str, bucket_owner: &str, on_bucket: bool) -> Vec<Grant> {
        use CannedAcl as C;
        use Permission as P;
        let mut g = vec![Grant::user(owner, P::FullControl)];
        match self {
            C::Private | C::AwsExecRead => {}
            C::PublicRead => g.push(Grant::group(Group::AllUsers, P::Read)),
            C::PublicReadWrite => {
                g.push(Grant::group(Group::AllUsers, P::Read));
                g.push(Grant::group(Group::AllUsers, P::Write));
            }
            C::AuthenticatedRead => g.push(Grant::group(Group::AuthenticatedUsers, P::Read)),
            C::BucketOwnerRead if !on_bucket && owner != bucket_owner => {
                g.push(Grant::user(bucket_owner, P::Read))
            }
            C::BucketOwnerFullControl if !on_bucket && owner != bucket_owner => {
                g.push(Grant::user(bucket_owner, P::FullControl))
            }
            C::BucketOwnerRead | C::BucketOwnerFullControl => {}
            C::LogDeliveryWrite if on_bucket => {
                g.push(Grant::group(Group::LogDelivery, P::Write));
                g.push(Grant::group(Group::LogDelivery, P::ReadAcp));
            }
            C::LogDeliveryWrite => {}
        }
        g
    }
}

/// S3 Object Ownership (`x-amz-object-ownership`, OwnershipControls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs off; the bucket owner owns every object.
    BucketOwnerEnforced,
    /// The uploader owns its object unless it sends `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The uploader owns its object.
    #[default]
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    pub fn acls_enabled(self) -> bool {
        self != ObjectOwnership::BucketOwnerEnforced
    }

    /// Who owns an object `writer` uploads with canned ACL `canned` (None:
    /// no `x-amz-acl`): the writer, or the bucket owner.
    pub fn object_owner<'a>(
        self,
        writer: &'a str,
        bucket_owner: &'a str,
        canned: Option<CannedAcl>,
    ) -> &'a str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => bucket_owner,
            ObjectOwnership::BucketOwnerPreferred
                if canned == Some(CannedAcl::BucketOwnerFullControl) =>
            {
                bucket_owner
            }
            _ => writer,
        }
    }
}

/// A bucket's block public access settings (all false: none configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_expand_as_s3_documents() {
        let (o, b) = ("a".repeat(64), "b".repeat(64));
        let g = CannedAcl::PublicRead.grants(&o, &b, false);
        assert_eq!(g.len(), 2);
        assert!(g[1].is_public());
        let g = CannedAcl::BucketOwnerFullControl.grants(&o, &b, false);
        assert_eq!(g[1], Grant::user(&b, Permission::FullControl));
        assert_eq!(
            CannedAcl::BucketOwnerFullControl
                .grants(&b, &b, false)
                .len(),
            1
        );
        assert_eq!(CannedAcl::LogDeliveryWrite.grants(&b, &b, true).len(), 3);
        assert!(CannedAcl::parse("public-read-write").is_some());
        assert!(CannedAcl::parse("everyone").is_none());
    }

    #[test]
    fn ownership_decides_who_owns_an_upload() {
        let (w, b) = ("w", "b");
        use ObjectOwnership as O;
        assert_eq!(O::BucketOwnerEnforced.object_owner(w, b, None), b);
        assert_eq!(O::ObjectWriter.object_owner(w, b, None), w);
        assert_eq!(
            O::ObjectWriter.object_owner(w, b, Some(CannedAcl::BucketOwnerFullControl)),
            w
        );
        assert_eq!(
            O::BucketOwnerPreferred.object_owner(w, b, Some(CannedAcl::BucketOwnerFullControl)),
            b
        );
        assert_eq!(O::BucketOwnerPreferred.object_owner(w, b, None), w);
    }
}
