//! Access control as S3 has it: who is asking (`principal`), bucket
//! policies (`policy`), ACL grants, object ownership and block public
//! access (`acl`), and the one decision every request goes through
//! (`evaluate::decide`). Pure: nothing here knows about the server, the
//! store or the catalog's persistence. docs/ACCESS-CONTROL.md describes
//! the model for users (once the server asks it).

pub mod acl;
pub mod action;
pub mod context;
pub mod evaluate;
pub mod glob;
pub mod policy;
pub mod principal;

pub use acl::{
    CannedAcl, Grant, Grantee, Group, ObjectAcl, ObjectOwnership, Permission, PublicAccessBlock,
};
pub use action::Action;
pub use context::{AuthType, RequestContext, RequestFacts};
pub use evaluate::{decide, AccessRequest, BucketAccess, Decision};
pub use policy::{Policy, PolicyError};
pub use principal::{Requester, UserIdentity};

#[cfg(test)]
mod tests;
