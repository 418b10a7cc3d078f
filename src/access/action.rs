//! S3 action names (`s3:GetObject`, ...), what resource each applies to,
//! and which ACL permission grants it. A policy's `Action` list compiles
//! to an [`ActionSet`] bitset over this table, so matching is one AND.

/// What an action's `Resource` must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `arn:aws:s3:::bucket`.
    Bucket,
    /// `arn:aws:s3:::bucket/key`.
    Object,
    /// Not a bucket's resource (`s3:ListAllMyBuckets`): never in a bucket policy.
    Service,
}

macro_rules! s3_actions {
    ($($name:ident : $kind:ident,)*) => {
        /// One S3 action. `Action as usize` indexes [`ACTIONS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Action { $($name),* }

        /// Every action: its name without `s3:` and its resource kind.
        pub const ACTIONS: &[(Action, &str, ResourceKind)] = &[
            $((Action::$name, stringify!($name), ResourceKind::$kind)),*
        ];
    };
}

s3_actions! {
    AbortMultipartUpload: Object,
    BypassGovernanceRetention: Object,
    DeleteObject: Object,
    DeleteObjectTagging: Object,
    DeleteObjectVersion: Object,
    DeleteObjectVersionTagging: Object,
    GetObject: Object,
    GetObjectAcl: Object,
    GetObjectAttributes: Object,
    GetObjectLegalHold: Object,
    GetObjectRetention: Object,
    GetObjectTagging: Object,
    GetObjectTorrent: Object,
    GetObjectVersion: Object,
    GetObjectVersionAcl: Object,
    GetObjectVersionAttributes: Object,
    GetObjectVersionForReplication: Object,
    GetObjectVersionTagging: Object,
    GetObjectVersionTorrent: Object,
    InitiateReplication: Object,
    ListMultipartUploadParts: Object,
    ObjectOwnerOverrideToBucketOwner: Object,
    PutObject: Object,
    PutObjectAcl: Object,
    PutObjectLegalHold: Object,
    PutObjectRetention: Object,
    PutObjectTagging: Object,
    PutObjectVersionAcl: Object,
    PutObjectVersionTagging: Object,
    ReplicateDelete: Object,
    ReplicateObject: Object,
    ReplicateTags: Object,
    RestoreObject: Object,
    CreateBucket: Bucket,
    DeleteBucket: Bucket,
    DeleteBucketOwnershipControls: Bucket,
    DeleteBucketPolicy: Bucket,
    DeleteBucketWebsite: Bucket,
    GetAccelerateConfiguration: Bucket,
    GetAnalyticsConfiguration: Bucket,
    GetBucketAcl: Bucket,
    GetBucketCORS: Bucket,
    GetBucketLocation: Bucket,
    GetBucketLogging: Bucket,
    GetBucketNotification: Bucket,
    GetBucketObjectLockConfiguration: Bucket,
    GetBucketOwnershipControls: Bucket,
    GetBucketPolicy: Bucket,
    GetBucketPolicyStatus: Bucket,
    GetBucketPublicAccessBlock: Bucket,
    GetBucketRequestPayment: Bucket,
    GetBucketTagging: Bucket,
    GetBucketVersioning: Bucket,
    GetBucketWebsite: Bucket,
    GetEncryptionConfiguration: Bucket,
    GetIntelligentTieringConfiguration: Bucket,
    GetInventoryConfiguration: Bucket,
    GetLifecycleConfiguration: Bucket,
    GetMetricsConfiguration: Bucket,
    GetReplicationConfiguration: Bucket,
    ListBucket: Bucket,
    ListBucketMultipartUploads: Bucket,
    ListBucketVersions: Bucket,
    PutAccelerateConfiguration: Bucket,
    PutAnalyticsConfiguration: Bucket,
    PutBucketAcl: Bucket,
    PutBucketCORS: Bucket,
    PutBucketLogging: Bucket,
    PutBucketNotification: Bucket,
    PutBucketObjectLockConfiguration: Bucket,
    PutBucketOwnershipControls: Bucket,
    PutBucketPolicy: Bucket,
    PutBucketPublicAccessBlock: Bucket,
    PutBucketRequestPayment: Bucket,
    PutBucketTagging: Bucket,
    PutBucketVersioning: Bucket,
    PutBucketWebsite: Bucket,
    PutEncryptionConfiguration: Bucket,
    PutIntelligentTieringConfiguration: Bucket,
    PutInventoryConfiguration: Bucket,
    PutLifecycleConfiguration: Bucket,
    PutMetricsConfiguration: Bucket,
    PutReplicationConfiguration: Bucket,
    ListAllMyBuckets: Service,
}

const _: () = assert!(ACTIONS.len() <= 128, "ActionSet is a u128");

impl Action {
    /// `s3:GetObject` without the prefix.
    pub fn name(self) -> &'static str {
        ACTIONS[self as usize].1
    }

    pub fn resource_kind(self) -> ResourceKind {
        ACTIONS[self as usize].2
    }

    fn bit(self) -> u128 {
        1u128 << (self as u8)
    }
}

/// A set of actions (a policy statement's `Action` / `NotAction`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionSet(u128);

/// The namespace every bucket-policy action lives in.
const S3_PREFIX: &str = "s3:";

impl ActionSet {
    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub fn insert(&mut self, action: Action) {
        self.0 |= action.bit();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        ACTIONS
            .iter()
            .map(|a| a.0)
            .filter(move |a| self.contains(*a))
    }

    /// The actions `pattern` (`s3:GetObject`, `s3:Get*`, `*`) names,
    /// case-insensitively as IAM compares them. None: it names no S3 action
    /// (another service's action, or a typo).
    pub fn from_pattern(pattern: &str) -> Option<ActionSet> {
        let mut set = ActionSet::default();
        if pattern == "*" {
            for a in ACTIONS {
                set.insert(a.0);
            }
            return Some(set);
        }
        let prefix = pattern.get(..S3_PREFIX.len())?;
        if !prefix.eq_ignore_ascii_case(S3_PREFIX) {
            return None;
        }
        let rest = &pattern[S3_PREFIX.len()..];
        for a in ACTIONS {
            if super::glob::matches_ignore_case(rest, a.1) {
                set.insert(a.0);
            }
        }
        (!set.is_empty()).then_some(set)
    }
}

/// An ACL permission (S3's five).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Permission {
    #[serde(rename = "READ")]
    Read,
    #[serde(rename = "WRITE")]
    Write,
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::ReadAcp,
        Permission::WriteAcp,
        Permission::FullControl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether a grant of `self` gives `wanted` (FULL_CONTROL gives all).
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// Which ACL decides an action for someone the policy did not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclTarget {
    /// The bucket's ACL (listing, creating and deleting objects, the bucket's own ACL).
    Bucket(Permission),
    /// The object's ACL (reading it and its ACL).
    Object(Permission),
}

/// S3's mapping of ACL permissions to actions ("Mapping of ACL
/// permissions and access policy permissions"); None: no ACL grants it
/// (only the owner or a policy can).
pub fn acl_target(action: Action) -> Option<AclTarget> {
    use AclTarget::{Bucket, Object};
    use Action as A;
    use Permission as P;
    Some(match action {
        A::ListBucket | A::ListBucketVersions | A::ListBucketMultipartUploads => Bucket(P::Read),
        A::PutObject
        | A::DeleteObject
        | A::DeleteObjectVersion
        | A::AbortMultipartUpload
        | A::ListMultipartUploadParts => Bucket(P::Write),
        A::GetBucketAcl => Bucket(P::ReadAcp),
        A::PutBucketAcl => Bucket(P::WriteAcp),
        A::GetObject
        | A::GetObjectVersion
        | A::GetObjectTorrent
        | A::GetObjectVersionTorrent
        | A::GetObjectAttributes
        | A::GetObjectVersionAttributes => Object(P::Read),
        A::GetObjectAcl | A::GetObjectVersionAcl => Object(P::ReadAcp),
        A::PutObjectAcl | A::PutObjectVersionAcl => Object(P::WriteAcp),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_index_the_table() {
        for (i, (a, name, _)) in ACTIONS.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(a.name(), *name);
        }
    }

    #[test]
    fn patterns_expand_case_insensitively() {
        let get = ActionSet::from_pattern("s3:get*").unwrap();
        assert!(get.contains(Action::GetObject));
        assert!(get.contains(Action::GetBucketPolicy));
        assert!(!get.contains(Action::PutObject));
        let one = ActionSet::from_pattern("S3:PutObject").unwrap();
        assert_eq!(one.iter().collect::<Vec<_>>(), vec![Action::PutObject]);
        assert_eq!(ActionSet::from_pattern("s3:NoSuchAction"), None);
        assert_eq!(ActionSet::from_pattern("iam:GetUser"), None);
        assert!(ActionSet::from_pattern("*")
            .unwrap()
            .contains(Action::ListAllMyBuckets));
    }
}
