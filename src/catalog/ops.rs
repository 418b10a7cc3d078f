//! Catalog changes as values, applied by shard 0 only. `apply` is a pure
//! function over the data so every rule is unit-tested without I/O.

use super::model::{
    Bucket, BucketPolicy, CannedAcl, CatalogData, CorsRule, Credential, DefaultEncryption,
    LifecycleRule, ROOT_CREDENTIAL_ID,
};
use crate::access::acl::grants_beyond_owner;
use crate::access::{Grant, ObjectOwnership, PublicAccessBlock};

/// Longest user name a credential may carry.
pub const MAX_USER_NAME_BYTES: usize = 128;
/// Access keys are 16..=128 printable ASCII characters without '/' (it would break the credential scope).
pub const MIN_ACCESS_KEY_BYTES: usize = 3;
pub const MAX_ACCESS_KEY_BYTES: usize = 128;
pub const MIN_SECRET_KEY_BYTES: usize = 8;
pub const MAX_SECRET_KEY_BYTES: usize = 128;

/// One change to the catalog.
#[derive(Debug, Clone)]
pub enum CatalogOp {
    /// `grants` is the bucket ACL (the caller expanded any canned ACL
    /// against the owner's canonical id); `ownership` the OwnershipControls
    /// to configure (None: none).
    CreateBucket {
        name: String,
        owner_id: u64,
        region: String,
        grants: Vec<Grant>,
        ownership: Option<ObjectOwnership>,
        /// S3's legacy us-east-1 answer: re-creating a bucket you own
        /// succeeds and resets its ACL to `grants`, in this one change (a
        /// DeleteBucket can then not fall between the check and the reset).
        reset_acl_if_owned: bool,
    },
    /// The caller (shard 0) has checked with every shard that the bucket is empty.
    DeleteBucket {
        name: String,
    },
    /// Replaces the bucket ACL. Refused (as S3 does) when ACLs are
    /// disabled and the grants reach beyond the owner, or when public ACLs
    /// are blocked and a grant is public.
    PutBucketAcl {
        name: String,
        grants: Vec<Grant>,
    },
    /// Sets or removes (None) the bucket policy. Refused when
    /// BlockPublicPolicy is on and the policy is public.
    PutBucketPolicy {
        name: String,
        policy: Option<BucketPolicy>,
    },
    /// Sets or removes (None) OwnershipControls.
    PutBucketOwnership {
        name: String,
        ownership: Option<ObjectOwnership>,
    },
    /// Sets or removes (None) the public access block.
    PutPublicAccessBlock {
        name: String,
        block: Option<PublicAccessBlock>,
    },
    SuspendBucketVersioning {
        name: String,
    },
    EnableBucketVersioning {
        name: String,
    },
    /// Replaces the bucket's tags (empty: DeleteBucketTagging). The caller
    /// has checked S3's tag rules.
    PutBucketTagging {
        name: String,
        tags: Vec<(String, String)>,
    },
    /// Replaces the bucket's CORS rules (empty: DeleteBucketCors). The
    /// caller has checked them (`s3::xml::parse_cors_configuration`).
    PutBucketCors {
        name: String,
        rules: Vec<CorsRule>,
    },
    /// Sets or removes (None) the bucket's default encryption.
    PutBucketEncryption {
        name: String,
        default: Option<DefaultEncryption>,
    },
    /// Replaces the bucket's lifecycle rules (empty: delete the configuration).
    PutBucketLifecycle {
        name: String,
        rules: Vec<LifecycleRule>,
    },
    CreateCredential {
        user_name: String,
        access_key: String,
        secret_key: String,
    },
    UpdateCredential {
        id: u64,
        user_name: Option<String>,
        is_active: Option<bool>,
    },
    DeleteCredential {
        id: u64,
    },
    /// A change to the SSE-KMS key service (`crate::sse::kms::apply`).
    Kms(crate::sse::kms::KmsOp),
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    BucketAlreadyOwnedByYou,
    BucketAlreadyExists,
    NoSuchBucket,
    BucketNotEmpty,
    NoSuchCredential,
    AccessKeyTaken,
    CredentialOwnsBuckets,
    RootCredentialImmutable,
    /// ACLs are disabled (BucketOwnerEnforced) and the ACL grants others.
    AclNotSupported,
    /// BucketOwnerEnforced asked for while the bucket ACL grants others.
    InvalidBucketAclWithObjectOwnership,
    /// Block public access refuses this public ACL or policy.
    PublicAccessBlocked,
    Invalid(String),
    Persist(String),
    /// The change could not be made now (a shard too slow to answer a
    /// DeleteBucket's fence); nothing changed, and a retry may succeed.
    Busy(String),
    /// The key service refused a change.
    Kms(crate::sse::kms::KmsError),
}

/// What a successful change produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogOutcome {
    Bucket(Bucket),
    Credential(Credential),
    KmsKey(Box<crate::sse::kms::KmsKey>),
    Done,
}

/// S3's limit on a bucket's tags.
pub const MAX_BUCKET_TAGS: usize = 50;
/// S3's limit on a bucket's CORS rules.
pub const MAX_CORS_RULES: usize = 100;
/// S3's limit on a bucket's lifecycle rules.
pub const MAX_LIFECYCLE_RULES: usize = 1000;

fn bucket_mut<'a>(data: &'a mut CatalogData, name: &str) -> Result<&'a mut Bucket, CatalogError> {
    data.buckets
        .iter_mut()
        .find(|b| b.name == name)
        .ok_or(CatalogError::NoSuchBucket)
}

fn owner_canonical_id(data: &CatalogData, bucket: &str) -> Result<String, CatalogError> {
    let b = data
        .buckets
        .iter()
        .find(|b| b.name == bucket)
        .ok_or(CatalogError::NoSuchBucket)?;
    Ok(data
        .credentials
        .iter()
        .find(|c| c.id == b.owner_id)
        .map(|c| c.canonical_id.clone())
        .unwrap_or_default())
}

fn valid_key_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'/' && b != b',' && b != b'=')
}

fn check_credential_input(
    access_key: &str,
    secret_key: &str,
    user_name: &str,
) -> Result<(), CatalogError> {
    if !(MIN_ACCESS_KEY_BYTES..=MAX_ACCESS_KEY_BYTES).contains(&access_key.len())
        || !valid_key_chars(access_key)
    {
        return Err(CatalogError::Invalid(format!(
            "access_key must be {MIN_ACCESS_KEY_BYTES}..{MAX_ACCESS_KEY_BYTES} printable ASCII characters without '/', ',' or '='"
        )));
    }
    if !(MIN_SECRET_KEY_BYTES..=MAX_SECRET_KEY_BYTES).contains(&secret_key.len())
        || !secret_key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(CatalogError::Invalid(format!(
            "secret_key must be {MIN_SECRET_KEY_BYTES}..{MAX_SECRET_KEY_BYTES} printable ASCII characters"
        )));
    }
    if user_name.len() > MAX_USER_NAME_BYTES || user_name.chars().any(char::is_control) {
        return Err(CatalogError::Invalid(format!(
            "user_name must be at most {MAX_USER_NAME_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// Applies `op` to `data` at time `now_millis`. On error `data` is unchanged.
pub fn apply(
    data: &mut CatalogData,
    op: CatalogOp,
    now_millis: i64,
) -> Result<CatalogOutcome, CatalogError> {
    match op {
        CatalogOp::CreateBucket {
            name,
            owner_id,
            region,
            grants,
            ownership,
            reset_acl_if_owned,
        } => {
            if let Some(b) = data.buckets.iter().find(|b| b.name == name) {
                return match (b.owner_id == owner_id, reset_acl_if_owned) {
                    (true, true) => {
                        apply(data, CatalogOp::PutBucketAcl { name, grants }, now_millis)
                    }
                    (true, false) => Err(CatalogError::BucketAlreadyOwnedByYou),
                    (false, _) => Err(CatalogError::BucketAlreadyExists),
                };
            }
            let Some(owner) = data.credentials.iter().find(|c| c.id == owner_id) else {
                return Err(CatalogError::NoSuchCredential);
            };
            if ownership == Some(ObjectOwnership::BucketOwnerEnforced)
                && grants_beyond_owner(&grants, &owner.canonical_id)
            {
                return Err(CatalogError::InvalidBucketAclWithObjectOwnership);
            }
            data.next_bucket_id = data.next_bucket_id.max(1);
            let bucket = Bucket {
                id: data.next_bucket_id,
                name,
                owner_id,
                region,
                created_millis: now_millis,
                acl: CannedAcl::Private,
                grants: Some(grants),
                ownership,
                public_access_block: None,
                policy: None,
                versioning_enabled: false,
                versioning_suspended: false,
                tags: Vec::new(),
                cors: Vec::new(),
                lifecycle: Vec::new(),
                default_encryption: None,
            };
            data.next_bucket_id += 1;
            data.buckets.push(bucket.clone());
            Ok(CatalogOutcome::Bucket(bucket))
        }
        CatalogOp::DeleteBucket { name } => {
            let before = data.buckets.len();
            data.buckets.retain(|b| b.name != name);
            if data.buckets.len() == before {
                return Err(CatalogError::NoSuchBucket);
            }
            Ok(CatalogOutcome::Done)
        }
        CatalogOp::PutBucketAcl { name, grants } => {
            let owner = owner_canonical_id(data, &name)?;
            let b = bucket_mut(data, &name)?;
            if !b.object_ownership().acls_enabled() && grants_beyond_owner(&grants, &owner) {
                return Err(CatalogError::AclNotSupported);
            }
            if b.block().block_public_acls && grants.iter().any(Grant::is_public) {
                return Err(CatalogError::PublicAccessBlocked);
            }
            b.grants = Some(grants);
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutBucketPolicy { name, policy } => {
            let b = bucket_mut(data, &name)?;
            let public = policy.as_ref().is_some_and(|p| p.compiled.is_public);
            if public && b.block().block_public_policy {
                return Err(CatalogError::PublicAccessBlocked);
            }
            b.policy = policy;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutBucketOwnership { name, ownership } => {
            let owner = owner_canonical_id(data, &name)?;
            let b = bucket_mut(data, &name)?;
            if ownership == Some(ObjectOwnership::BucketOwnerEnforced)
                && grants_beyond_owner(b.grants(), &owner)
            {
                return Err(CatalogError::InvalidBucketAclWithObjectOwnership);
            }
            b.ownership = ownership;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutPublicAccessBlock { name, block } => {
            let b = bucket_mut(data, &name)?;
            b.public_access_block = block;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::SuspendBucketVersioning { name } => {
            let b = bucket_mut(data, &name)?;
            b.versioning_suspended = true;
            b.versioning_enabled = false;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::EnableBucketVersioning { name } => {
            let b = bucket_mut(data, &name)?;
            b.versioning_enabled = true;
            b.versioning_suspended = false;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutBucketTagging { name, tags } => {
            if tags.len() > MAX_BUCKET_TAGS {
                return Err(CatalogError::Invalid(format!(
                    "a bucket has at most {MAX_BUCKET_TAGS} tags"
                )));
            }
            let b = bucket_mut(data, &name)?;
            b.tags = tags;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutBucketCors { name, rules } => {
            if rules.len() > MAX_CORS_RULES {
                return Err(CatalogError::Invalid(format!(
                    "a bucket has at most {MAX_CORS_RULES} CORS rules"
                )));
            }
            let b = bucket_mut(data, &name)?;
            b.cors = rules;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutBucketEncryption { name, default } => {
            let b = bucket_mut(data, &name)?;
            b.default_encryption = default;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::PutBucketLifecycle { name, rules } => {
            if rules.len() > MAX_LIFECYCLE_RULES {
                return Err(CatalogError::Invalid(format!(
                    "a bucket has at most {MAX_LIFECYCLE_RULES} lifecycle rules"
                )));
            }
            let b = bucket_mut(data, &name)?;
            b.lifecycle = rules;
            Ok(CatalogOutcome::Bucket(b.clone()))
        }
        CatalogOp::CreateCredential {
            user_name,
            access_key,
            secret_key,
        } => {
            check_credential_input(&access_key, &secret_key, &user_name)?;
            if data.credentials.iter().any(|c| c.access_key == access_key) {
                return Err(CatalogError::AccessKeyTaken);
            }
            data.next_credential_id = data.next_credential_id.max(ROOT_CREDENTIAL_ID + 1);
            let id = data.next_credential_id;
            let canonical_id = crate::access::principal::derive_canonical_id(id);
            let cred = Credential {
                id,
                access_key,
                secret_key,
                user_name,
                is_active: true,
                created_millis: now_millis,
                canonical_id,
            };
            data.next_credential_id += 1;
            data.credentials.push(cred.clone());
            Ok(CatalogOutcome::Credential(cred))
        }
        CatalogOp::UpdateCredential {
            id,
            user_name,
            is_active,
        } => {
            if id == ROOT_CREDENTIAL_ID && is_active == Some(false) {
                return Err(CatalogError::RootCredentialImmutable);
            }
            if let Some(name) = &user_name {
                if name.len() > MAX_USER_NAME_BYTES || name.chars().any(char::is_control) {
                    return Err(CatalogError::Invalid(format!(
                        "user_name must be at most {MAX_USER_NAME_BYTES} bytes"
                    )));
                }
            }
            let c = data
                .credentials
                .iter_mut()
                .find(|c| c.id == id)
                .ok_or(CatalogError::NoSuchCredential)?;
            if let Some(name) = user_name {
                c.user_name = name;
            }
            if let Some(active) = is_active {
                c.is_active = active;
            }
            Ok(CatalogOutcome::Credential(c.clone()))
        }
        CatalogOp::DeleteCredential { id } => {
            if id == ROOT_CREDENTIAL_ID {
                return Err(CatalogError::RootCredentialImmutable);
            }
            if !data.credentials.iter().any(|c| c.id == id) {
                return Err(CatalogError::NoSuchCredential);
            }
            if data.buckets.iter().any(|b| b.owner_id == id) {
                return Err(CatalogError::CredentialOwnsBuckets);
            }
            data.credentials.retain(|c| c.id != id);
            Ok(CatalogOutcome::Done)
        }
        CatalogOp::Kms(op) => match crate::sse::kms::apply(&mut data.kms_keys, op, now_millis) {
            Ok(Some(k)) => Ok(CatalogOutcome::KmsKey(Box::new(k))),
            Ok(None) => Ok(CatalogOutcome::Done),
            Err(e) => Err(CatalogError::Kms(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_root() -> CatalogData {
        let mut d = CatalogData::default();
        d.credentials.push(Credential {
            id: ROOT_CREDENTIAL_ID,
            access_key: "ROOTKEY".into(),
            secret_key: "rootsecret".into(),
            user_name: "root".into(),
            is_active: true,
            created_millis: 0,
            canonical_id: "a".repeat(64),
        });
        d
    }

    fn create(d: &mut CatalogData, name: &str, owner: u64) -> Result<CatalogOutcome, CatalogError> {
        let op = CatalogOp::CreateBucket {
            name: name.into(),
            owner_id: owner,
            region: "us-east-1".into(),
            grants: Vec::new(),
            ownership: None,
            reset_acl_if_owned: false,
        };
        apply(d, op, 5)
    }

    fn bucket_policy(text: &str) -> BucketPolicy {
        BucketPolicy {
            text: text.into(),
            compiled: std::sync::Arc::new(
                crate::access::Policy::compile(text, "a").expect("policy"),
            ),
        }
    }

    #[test]
    fn access_state_rules() {
        use crate::access::{Grant, Group, Permission};
        let mut d = with_root();
        create(&mut d, "a", 1).expect("a");
        let public = vec![Grant::group(Group::AllUsers, Permission::Read)];
        let acl = |grants: Vec<Grant>| CatalogOp::PutBucketAcl {
            name: "a".into(),
            grants,
        };
        let ownership = |o| CatalogOp::PutBucketOwnership {
            name: "a".into(),
            ownership: Some(o),
        };
        let block = |b: PublicAccessBlock| CatalogOp::PutPublicAccessBlock {
            name: "a".into(),
            block: Some(b),
        };
        apply(&mut d, acl(public.clone()), 6).expect("public acl");
        assert_eq!(
            apply(&mut d, ownership(ObjectOwnership::BucketOwnerEnforced), 6),
            Err(CatalogError::InvalidBucketAclWithObjectOwnership)
        );
        apply(&mut d, acl(Vec::new()), 6).expect("private acl");
        apply(&mut d, ownership(ObjectOwnership::BucketOwnerEnforced), 6).expect("enforced");
        assert_eq!(
            apply(&mut d, acl(public.clone()), 6),
            Err(CatalogError::AclNotSupported)
        );
        apply(&mut d, ownership(ObjectOwnership::ObjectWriter), 6).expect("writer");
        let blocked = PublicAccessBlock {
            block_public_acls: true,
            block_public_policy: true,
            ..PublicAccessBlock::default()
        };
        apply(&mut d, block(blocked), 6).expect("block");
        assert_eq!(
            apply(&mut d, acl(public), 6),
            Err(CatalogError::PublicAccessBlocked)
        );
        let open = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::a/*"}]}"#;
        let put_policy = |text: &str| CatalogOp::PutBucketPolicy {
            name: "a".into(),
            policy: Some(bucket_policy(text)),
        };
        assert_eq!(
            apply(&mut d, put_policy(open), 6),
            Err(CatalogError::PublicAccessBlocked)
        );
        assert!(
            d.buckets[0].policy.is_none(),
            "a refused policy is not stored"
        );
        let narrow = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"000000000001"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::a/*"}]}"#;
        apply(&mut d, put_policy(narrow), 6).expect("non-public policy");
        // The stored form round-trips through JSON and compiles again.
        let json = serde_json::to_string(&d).expect("encode");
        let back: CatalogData = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, d);
        let p = back.buckets[0].policy.as_ref().expect("policy kept");
        assert_eq!(p.compiled.statements.len(), 1);
    }

    #[test]
    fn old_catalogs_gain_canonical_ids_and_grants_once() {
        let old = r#"{"next_bucket_id":2,"next_credential_id":2,
            "credentials":[{"id":1,"access_key":"ROOTKEY","secret_key":"rootsecret","user_name":"root","is_active":true,"created_millis":0}],
            "buckets":[{"id":1,"name":"o","owner_id":1,"region":"us-east-1","created_millis":0,"acl":"public-read"}]}"#;
        let mut d: CatalogData = serde_json::from_str(old).expect("old catalog");
        assert!(super::super::model::migrate_access(&mut d));
        let id = d.credentials[0].canonical_id.clone();
        assert!(crate::access::principal::is_canonical_id(&id));
        let grants = d.buckets[0].grants().to_vec();
        assert_eq!(grants.len(), 2);
        assert!(grants[1].is_public());
        assert!(!super::super::model::migrate_access(&mut d), "idempotent");
        assert_eq!(d.credentials[0].canonical_id, id, "stable");
        // The legacy field is not written back.
        let json = serde_json::to_string(&d).expect("encode");
        assert!(!json.contains("\"acl\""), "{json}");
    }

    #[test]
    fn bucket_settings_change_only_their_bucket() {
        let mut d = with_root();
        create(&mut d, "a", 1).expect("a");
        create(&mut d, "b", 1).expect("b");
        let tags = vec![("k".to_string(), "v".to_string())];
        let put = |name: &str, tags: Vec<(String, String)>| CatalogOp::PutBucketTagging {
            name: name.into(),
            tags,
        };
        apply(&mut d, put("a", tags.clone()), 6).expect("tag a");
        let suspend = CatalogOp::SuspendBucketVersioning { name: "b".into() };
        apply(&mut d, suspend, 7).expect("suspend b");
        let (a, b) = (&d.buckets[0], &d.buckets[1]);
        assert_eq!((a.tags.clone(), a.versioning_suspended), (tags, false));
        assert_eq!((b.tags.len(), b.versioning_suspended), (0, true));
        let too_many = (0..=MAX_BUCKET_TAGS)
            .map(|i| (i.to_string(), String::new()))
            .collect();
        assert!(matches!(
            apply(&mut d, put("a", too_many), 8),
            Err(CatalogError::Invalid(_))
        ));
        assert_eq!(
            d.buckets[0].tags.len(),
            1,
            "a refused change leaves the tags"
        );
        assert_eq!(
            apply(&mut d, put("nope", Vec::new()), 9),
            Err(CatalogError::NoSuchBucket)
        );
        // Old catalogs (no such fields) still load.
        let old = r#"{"id":3,"name":"o","owner_id":1,"region":"us-east-1","created_millis":0}"#;
        let b: Bucket = serde_json::from_str(old).expect("old bucket");
        assert!(!b.versioning_suspended && b.tags.is_empty());
    }

    #[test]
    fn bucket_ids_are_never_reused() {
        let mut d = with_root();
        let CatalogOutcome::Bucket(a) = create(&mut d, "a", 1).expect("create") else {
            panic!("not a bucket")
        };
        apply(&mut d, CatalogOp::DeleteBucket { name: "a".into() }, 6).expect("delete");
        let CatalogOutcome::Bucket(b) = create(&mut d, "a", 1).expect("recreate") else {
            panic!("not a bucket")
        };
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn duplicate_bucket_errors_depend_on_owner() {
        let mut d = with_root();
        let op = CatalogOp::CreateCredential {
            user_name: "u".into(),
            access_key: "USERKEY1".into(),
            secret_key: "usersecret".into(),
        };
        let CatalogOutcome::Credential(u) = apply(&mut d, op, 1).expect("cred") else {
            panic!("not a credential")
        };
        create(&mut d, "b", 1).expect("create");
        assert_eq!(
            create(&mut d, "b", 1),
            Err(CatalogError::BucketAlreadyOwnedByYou)
        );
        assert_eq!(
            create(&mut d, "b", u.id),
            Err(CatalogError::BucketAlreadyExists)
        );
        assert_eq!(create(&mut d, "c", 99), Err(CatalogError::NoSuchCredential));
        // us-east-1's re-create: the owner's resets the ACL in the same
        // change; another owner's is still refused.
        let recreate = |owner: u64| CatalogOp::CreateBucket {
            name: "b".into(),
            owner_id: owner,
            region: "us-east-1".into(),
            grants: Vec::new(),
            ownership: None,
            reset_acl_if_owned: true,
        };
        let public = vec![Grant::group(
            crate::access::Group::AllUsers,
            crate::access::Permission::Read,
        )];
        bucket_mut(&mut d, "b").expect("b").grants = Some(public);
        let Ok(CatalogOutcome::Bucket(b)) = apply(&mut d, recreate(1), 2) else {
            panic!("the owner's re-create succeeds")
        };
        assert_eq!(b.grants(), &[]);
        assert_eq!(d.buckets.iter().filter(|b| b.name == "b").count(), 1);
        assert_eq!(
            apply(&mut d, recreate(u.id), 3),
            Err(CatalogError::BucketAlreadyExists)
        );
    }

    #[test]
    fn credential_rules() {
        let mut d = with_root();
        let dup = CatalogOp::CreateCredential {
            user_name: "x".into(),
            access_key: "ROOTKEY".into(),
            secret_key: "longenough".into(),
        };
        assert_eq!(apply(&mut d, dup, 1), Err(CatalogError::AccessKeyTaken));
        let bad = CatalogOp::CreateCredential {
            user_name: "x".into(),
            access_key: "a/b".into(),
            secret_key: "longenough".into(),
        };
        assert!(matches!(
            apply(&mut d, bad, 1),
            Err(CatalogError::Invalid(_))
        ));
        let off = CatalogOp::UpdateCredential {
            id: ROOT_CREDENTIAL_ID,
            user_name: None,
            is_active: Some(false),
        };
        assert_eq!(
            apply(&mut d, off, 1),
            Err(CatalogError::RootCredentialImmutable)
        );
        let op = CatalogOp::CreateCredential {
            user_name: "u".into(),
            access_key: "USERKEY1".into(),
            secret_key: "usersecret".into(),
        };
        let CatalogOutcome::Credential(u) = apply(&mut d, op, 1).expect("cred") else {
            panic!("not a credential")
        };
        create(&mut d, "owned", u.id).expect("bucket");
        assert_eq!(
            apply(&mut d, CatalogOp::DeleteCredential { id: u.id }, 2),
            Err(CatalogError::CredentialOwnsBuckets)
        );
        apply(
            &mut d,
            CatalogOp::DeleteBucket {
                name: "owned".into(),
            },
            3,
        )
        .expect("delete bucket");
        assert_eq!(
            apply(&mut d, CatalogOp::DeleteCredential { id: u.id }, 4),
            Ok(CatalogOutcome::Done)
        );
    }
}
