//! The catalog's data: credentials and buckets. Small, global, owned by
//! shard 0; every shard holds an immutable snapshot it swaps on update.

use serde::{Deserialize, Serialize};
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
}

/// Bucket-level canned ACL (what S3's canned ACLs grant beyond the owner).
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
    #[serde(default)]
    pub acl: CannedAcl,
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

/// A bucket's default encryption: SSE-S3 (AES256), the only algorithm
/// served; `bucket_key_enabled` is kept to answer GetBucketEncryption with
/// what was set (bucket keys are a KMS cost saving with no effect here).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DefaultEncryption {
    #[serde(default)]
    pub bucket_key_enabled: bool,
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
}

impl Bucket {
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
        Catalog {
            data,
            by_access_key,
            by_bucket,
            shared_buckets,
        }
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
}
