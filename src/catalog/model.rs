//! The catalog's data: credentials and buckets. Small, global, owned by
//! shard 0; every shard holds an immutable snapshot it swaps on update.

use crate::access::{Grant, ObjectOwnership, Policy, PublicAccessBlock, UserIdentity};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Id of the root credential (created at first start; may access everything).
pub const ROOT_CREDENTIAL_ID: u64 = 1;

/// An S3 access credential.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credential {
    pub id: u64,
    pub access_key: String,
    pub secret_key: String,
    pub user_name: String,
    pub is_active: bool,
    pub created_millis: i64,
    /// S3's canonical user id (64 hex): set when the credential is created,
    /// or at the first start of a data dir from before canonical ids; never
    /// changed afterwards.
    #[serde(default)]
    pub canonical_id: String,
}

impl Credential {
    /// The name shown as `DisplayName` in ACLs and listings.
    pub fn display_name(&self) -> &str {
        if self.user_name.is_empty() {
            &self.access_key
        } else {
            &self.user_name
        }
    }
}

/// A bucket's canned ACL as catalogs before ACL grants stored it; read
/// from old catalogs and turned into grants at start (`migrate_access`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CannedAcl {
    #[default]
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
}

/// A bucket. `id` names this incarnation: objects recorded under an older id
/// of the same name are not this bucket's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bucket {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    pub region: String,
    pub created_millis: i64,
    /// Old catalogs only (see `CannedAcl`); `grants` replaces it.
    #[serde(default, skip_serializing)]
    pub acl: CannedAcl,
    /// The bucket ACL's grants, as set (None only in catalogs from before
    /// ACL grants, until `migrate_access` runs at start).
    #[serde(default)]
    pub grants: Option<Vec<Grant>>,
    /// OwnershipControls (None: none configured; objects are then owned
    /// by their writer, as S3 did before ownership controls).
    #[serde(default)]
    pub ownership: Option<ObjectOwnership>,
    /// PutPublicAccessBlock's settings (None: none configured).
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// The bucket policy, compiled once when set or loaded.
    #[serde(default)]
    pub policy: Option<BucketPolicy>,
    /// PutBucketVersioning set Enabled (and has not suspended it since).
    #[serde(default)]
    pub versioning_enabled: bool,
    /// PutBucketVersioning set Suspended after versioning was on, or on a
    /// bucket that never had it (S3 then reports Suspended too).
    #[serde(default)]
    pub versioning_suspended: bool,
    /// PutBucketTagging's tag set (at most 50), in the order given.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// PutBucketCors's rules, in order (empty: no CORS configuration).
    #[serde(default)]
    pub cors: Vec<CorsRule>,
    /// PutBucketLifecycleConfiguration's rules (empty: none), enforced by
    /// every shard's lifecycle task (`server::lifecycle`).
    #[serde(default)]
    pub lifecycle: Vec<LifecycleRule>,
    /// PutBucketEncryption's default: objects written without encryption
    /// headers get SSE-S3 (None: no default configuration).
    #[serde(default)]
    pub default_encryption: Option<DefaultEncryption>,
}

/// A bucket's default encryption: SSE-S3 (AES256), or SSE-KMS when `kms`
/// is set; `bucket_key_enabled` is kept to answer GetBucketEncryption with
/// what was set and echoed on KMS objects (bucket keys are a KMS cost
/// saving with no effect here: the key service is in-process).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultEncryption {
    #[serde(default)]
    pub bucket_key_enabled: bool,
    #[serde(default)]
    pub kms: Option<DefaultKms>,
}

/// An aws:kms bucket default: the KMSMasterKeyID as configured (None: the
/// server's default key) and whether it was aws:kms:dsse.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultKms {
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub dsse: bool,
}

impl DefaultEncryption {
    /// The default as a write sees it.
    pub fn as_default(&self) -> crate::sse::BucketDefault<'_> {
        match &self.kms {
            None => crate::sse::BucketDefault::S3,
            Some(k) => crate::sse::BucketDefault::Kms {
                key: k.key_id.as_deref(),
                dsse: k.dsse,
                bucket_key_enabled: self.bucket_key_enabled,
            },
        }
    }
}

/// One lifecycle rule: which objects (prefix and tags, all must match)
/// expire and when, and when uploads left incomplete are aborted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LifecycleRule {
    #[serde(default)]
    pub id: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub prefix: String,
    /// Tags an object must carry, every one.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// How the filter was written (`Filter/Prefix`, `Filter/And`, legacy
    /// top-level `Prefix`), so GetBucketLifecycleConfiguration answers it back.
    #[serde(default)]
    pub filter_form: LifecycleFilterForm,
    /// When current objects expire (None: the rule only aborts uploads).
    #[serde(default)]
    pub expiration: Option<LifecycleExpiration>,
    /// Uploads still in progress this many days after initiation (rounded
    /// up to midnight UTC) are aborted. Prefix filters only, as in S3.
    #[serde(default)]
    pub abort_incomplete_days: Option<u32>,
    /// Versioned buckets: when noncurrent versions are removed for good.
    #[serde(default)]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// Versioned buckets: a delete marker left as its key's only version is
    /// removed (`Expiration/ExpiredObjectDeleteMarker`).
    #[serde(default)]
    pub expired_object_delete_marker: bool,
}

/// `NoncurrentVersionExpiration`: a noncurrent version goes `days` after it
/// became noncurrent (rounded up to midnight UTC), unless it is one of the
/// `newer_versions` newest noncurrent versions of its key.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NoncurrentExpiration {
    pub days: u32,
    #[serde(default)]
    pub newer_versions: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum LifecycleFilterForm {
    /// `<Filter><Prefix>` (or an empty `<Filter/>`).
    #[default]
    Prefix,
    /// `<Filter><Tag>`: exactly one tag, no prefix.
    Tag,
    /// `<Filter><And>`: a prefix and/or several tags.
    And,
    /// The rule's own `<Prefix>`, from before filters existed.
    Legacy,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum LifecycleExpiration {
    /// Days after the object was written, rounded up to the next midnight UTC.
    Days(u32),
    /// From this midnight UTC on (Unix milliseconds).
    Date(i64),
}

/// One CORS rule, as PutBucketCors gave it (checked by `s3::xml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CorsRule {
    #[serde(default)]
    pub id: Option<String>,
    /// Origins, each with at most one `*`.
    pub allowed_origins: Vec<String>,
    /// GET, PUT, HEAD, POST, DELETE.
    pub allowed_methods: Vec<String>,
    /// Request header names a preflight may ask for, each with at most one `*`.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// Response headers the browser may show the page.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    #[serde(default)]
    pub max_age_seconds: Option<u32>,
}

/// The persisted catalog.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CatalogData {
    pub next_bucket_id: u64,
    pub next_credential_id: u64,
    pub credentials: Vec<Credential>,
    pub buckets: Vec<Bucket>,
    /// The SSE-KMS key service's keys, material wrapped (`crate::sse::kms`).
    #[serde(default)]
    pub kms_keys: Vec<crate::sse::kms::KmsKey>,
}

/// An immutable, indexed view of the catalog that request handlers read.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    data: CatalogData,
    by_access_key: HashMap<String, usize>,
    by_bucket: BTreeMap<String, usize>,
    /// `data.buckets`, shared: a request holds its bucket for a reference
    /// count, not a copy of its name, tags and rules.
    shared_buckets: Vec<Arc<Bucket>>,
    /// Each credential as the access evaluator sees it, by credential id.
    identities: HashMap<u64, UserIdentity>,
}

/// A bucket policy: the document as the owner sent it (GetBucketPolicy
/// answers it back) and its compiled form, shared by every snapshot.
#[derive(Debug, Clone)]
pub struct BucketPolicy {
    pub text: String,
    pub compiled: Arc<Policy>,
}

impl PartialEq for BucketPolicy {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for BucketPolicy {}

impl Serialize for BucketPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.text.serialize(s)
    }
}

/// A stored policy is recompiled when the catalog loads; it compiled when
/// it was set, so failing now means the stored text is not what was set.
#[derive(Deserialize)]
struct StoredPolicy(String);

impl<'de> Deserialize<'de> for BucketPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let StoredPolicy(text) = StoredPolicy::deserialize(d)?;
        // The bucket name is not known here: compile against a wildcard
        // bucket; `Catalog::new` has no need to recheck resource names,
        // which were checked against the bucket when the policy was set.
        let compiled = Policy::compile_stored(&text).map_err(serde::de::Error::custom)?;
        Ok(BucketPolicy {
            text,
            compiled: Arc::new(compiled),
        })
    }
}

impl Bucket {
    /// The bucket ACL's grants.
    pub fn grants(&self) -> &[Grant] {
        self.grants.as_deref().unwrap_or(&[])
    }

    /// Object ownership in effect.
    pub fn object_ownership(&self) -> ObjectOwnership {
        self.ownership.unwrap_or(ObjectOwnership::ObjectWriter)
    }

    /// Block public access in effect (all off when none is configured).
    pub fn block(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }

    /// The versioning state writes and deletes follow.
    pub fn versioning(&self) -> crate::store::Versioning {
        use crate::store::Versioning;
        match (self.versioning_enabled, self.versioning_suspended) {
            (true, _) => Versioning::Enabled,
            (false, true) => Versioning::Suspended,
            (false, false) => Versioning::Unversioned,
        }
    }
}

impl Catalog {
    pub fn new(data: CatalogData) -> Catalog {
        let by_access_key = data
            .credentials
            .iter()
            .enumerate()
            .map(|(i, c)| (c.access_key.clone(), i))
            .collect();
        let by_bucket = data
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (b.name.clone(), i))
            .collect();
        let shared_buckets = data.buckets.iter().cloned().map(Arc::new).collect();
        let identities = data
            .credentials
            .iter()
            .map(|c| (c.id, identity_of(c)))
            .collect();
        Catalog {
            data,
            by_access_key,
            by_bucket,
            shared_buckets,
            identities,
        }
    }

    /// Credential `id` as the access evaluator sees it.
    pub fn identity(&self, id: u64) -> Option<&UserIdentity> {
        self.identities.get(&id)
    }

    /// The credential whose canonical user id is `canonical_id`.
    pub fn identity_by_canonical_id(&self, canonical_id: &str) -> Option<&UserIdentity> {
        self.identities
            .values()
            .find(|u| u.canonical_id.eq_ignore_ascii_case(canonical_id))
    }

    pub fn data(&self) -> &CatalogData {
        &self.data
    }

    pub fn credential_by_access_key(&self, access_key: &str) -> Option<&Credential> {
        self.by_access_key
            .get(access_key)
            .map(|&i| &self.data.credentials[i])
    }

    pub fn credential(&self, id: u64) -> Option<&Credential> {
        self.data.credentials.iter().find(|c| c.id == id)
    }

    pub fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.by_bucket.get(name).map(|&i| &self.data.buckets[i])
    }

    /// [`Catalog::bucket`], as a handle a request can keep.
    pub fn shared_bucket(&self, name: &str) -> Option<Arc<Bucket>> {
        self.by_bucket
            .get(name)
            .map(|&i| self.shared_buckets[i].clone())
    }

    /// Buckets in name order.
    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.by_bucket.values().map(|&i| &self.data.buckets[i])
    }

    pub fn credentials(&self) -> &[Credential] {
        &self.data.credentials
    }

    /// The key service's keys, oldest first.
    pub fn kms_keys(&self) -> &[crate::sse::kms::KmsKey] {
        &self.data.kms_keys
    }
}

fn identity_of(c: &Credential) -> UserIdentity {
    UserIdentity {
        credential_id: c.id,
        canonical_id: c.canonical_id.clone(),
        user_name: c.display_name().to_string(),
        access_key: c.access_key.clone(),
        is_root: c.id == ROOT_CREDENTIAL_ID,
    }
}

/// Brings a catalog from before access control up to date, once at start:
/// credentials get their canonical user id, buckets' canned ACLs become
/// grants (the owner's FULL_CONTROL plus the canned ACL's). Idempotent.
/// Returns whether anything changed (the caller then saves it).
pub fn migrate_access(data: &mut CatalogData) -> bool {
    let mut changed = false;
    for c in &mut data.credentials {
        if c.canonical_id.is_empty() {
            c.canonical_id = crate::access::principal::derive_canonical_id(c.id);
            changed = true;
        }
    }
    for b in &mut data.buckets {
        if b.grants.is_some() {
            continue;
        }
        let owner = data
            .credentials
            .iter()
            .find(|c| c.id == b.owner_id)
            .map(|c| c.canonical_id.clone())
            .unwrap_or_default();
        b.grants = Some(b.acl.to_access().grants(&owner, &owner, true));
        b.acl = CannedAcl::Private;
        changed = true;
    }
    changed
}

impl CannedAcl {
    fn to_access(self) -> crate::access::CannedAcl {
        use crate::access::CannedAcl as A;
        match self {
            CannedAcl::Private => A::Private,
            CannedAcl::PublicRead => A::PublicRead,
            CannedAcl::PublicReadWrite => A::PublicReadWrite,
            CannedAcl::AuthenticatedRead => A::AuthenticatedRead,
        }
    }
}
