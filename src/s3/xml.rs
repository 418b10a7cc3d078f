//! S3 XML documents: writers (by hand, through one escaper) and parsers
//! (quick-xml into a small bounded tree, namespace- and whitespace-tolerant).
//!
//! Keys with characters XML 1.0 cannot carry (controls other than tab, LF,
//! CR): S3 documents that clients must ask for `encoding-type=url` to list
//! them. Without it we write them as numeric references (`&#x1;`) rather than
//! raw bytes, so the document at least stays parseable by XML 1.1 and lenient
//! parsers; CR is always written as `&#xD;` so parsers do not normalise it away.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::auth::checksum::checksum_type_name;
use crate::catalog::{
    CorsRule, LifecycleExpiration, LifecycleFilterForm, LifecycleRule, NoncurrentExpiration,
    MAX_CORS_RULES, MAX_LIFECYCLE_RULES,
};
use crate::s3::error::{S3Error, S3ErrorCode};
pub use crate::s3::model::*;
use crate::s3::query::url_encode_key;
use crate::types::{ChecksumAlgorithm, ChecksumType};
use crate::util::time::iso8601_millis;

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Largest XML request body accepted (S3's limit for DeleteObjects is 1000
/// keys of ≤ 1 KiB each, which fits).
pub const MAX_XML_BODY_BYTES: usize = 1 << 20;
/// CompleteMultipartUpload lists up to 10000 parts with checksums: larger.
pub const MAX_COMPLETE_BODY_BYTES: usize = 4 << 20;
pub const MAX_DELETE_OBJECTS: usize = 1000;
pub const MAX_PARTS: usize = 10_000;
pub const MAX_OBJECT_TAGS: usize = 10;
/// S3's limit on a bucket's tags (the catalog enforces it too).
pub use crate::catalog::MAX_BUCKET_TAGS;
pub const MAX_TAG_KEY_CHARS: usize = 128;
pub const MAX_TAG_VALUE_CHARS: usize = 256;
/// Deepest element nesting any S3 request document needs is 4.
pub const MAX_XML_DEPTH: usize = 16;
/// Most elements in one request document (10000 parts × ~7 elements).
pub const MAX_XML_NODES: usize = 100_000;

// ---------------------------------------------------------------- escaping

/// Appends `s` escaped for XML text content.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// `s` escaped for XML text content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// A tiny document builder over one String.
struct W(String);

impl W {
    fn doc(root: &str) -> W {
        let mut w = W(String::with_capacity(512));
        w.0.push_str(XML_DECL);
        w.0.push('<');
        w.0.push_str(root);
        w.0.push_str(" xmlns=\"");
        w.0.push_str(S3_NS);
        w.0.push_str("\">");
        w
    }
    fn open(&mut self, name: &str) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
    }
    fn close(&mut self, name: &str) {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }
    fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.0, text);
        self.close(name);
    }
    fn opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.elem(name, t);
        }
    }
    fn num(&mut self, name: &str, n: impl std::fmt::Display) {
        self.elem(name, &n.to_string());
    }
    fn bool(&mut self, name: &str, b: bool) {
        self.elem(name, if b { "true" } else { "false" });
    }
    fn date(&mut self, name: &str, millis: i64) {
        self.elem(name, &iso8601_millis(millis));
    }
    /// S3 writes listing ETags quoted, as `&quot;…&quot;`.
    fn etag(&mut self, etag: &str) {
        self.elem("ETag", &format!("\"{etag}\""));
    }
    fn owner(&mut self, tag: &str, o: &Owner) {
        self.open(tag);
        self.elem("ID", &o.id);
        self.elem("DisplayName", &o.display_name);
        self.close(tag);
    }
    fn end(mut self, root: &str) -> String {
        self.close(root);
        self.0
    }
}

/// A key or prefix as a listing shows it.
fn listed(s: &str, encode: bool) -> String {
    if encode {
        url_encode_key(s)
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------- writers

pub fn list_buckets(page: &ListBucketsPage) -> String {
    let mut w = W::doc("ListAllMyBucketsResult");
    w.owner("Owner", &page.owner);
    w.open("Buckets");
    for b in &page.buckets {
        w.open("Bucket");
        w.elem("Name", &b.name);
        w.date("CreationDate", b.creation_millis);
        w.elem("BucketRegion", &b.region);
        w.close("Bucket");
    }
    w.close("Buckets");
    if let Some(t) = &page.continuation_token {
        w.elem("ContinuationToken", t);
    }
    if let Some(p) = &page.prefix {
        w.elem("Prefix", p);
    }
    w.end("ListAllMyBucketsResult")
}

/// GetBucketLocation: S3 answers an empty element for us-east-1.
pub fn location_constraint(region: &str) -> String {
    if region == "us-east-1" || region.is_empty() {
        return format!("{XML_DECL}<LocationConstraint xmlns=\"{S3_NS}\"/>");
    }
    let mut w = W(String::from(XML_DECL));
    w.0.push_str(&format!("<LocationConstraint xmlns=\"{S3_NS}\">"));
    escape_into(&mut w.0, region);
    w.end("LocationConstraint")
}

fn contents(w: &mut W, entries: &[ObjectEntry], encode: bool) {
    for o in entries {
        w.open("Contents");
        w.elem("Key", &listed(&o.key, encode));
        w.date("LastModified", o.last_modified_millis);
        w.etag(&o.etag);
        w.num("Size", o.size);
        if let Some(owner) = &o.owner {
            w.owner("Owner", owner);
        }
        w.elem("StorageClass", "STANDARD");
        w.close("Contents");
    }
}

fn common_prefixes(w: &mut W, prefixes: &[String], encode: bool) {
    for p in prefixes {
        w.open("CommonPrefixes");
        w.elem("Prefix", &listed(p, encode));
        w.close("CommonPrefixes");
    }
}

pub fn list_objects_v2(p: &ListV2Page) -> String {
    let enc = p.encoding_url;
    let mut w = W::doc("ListBucketResult");
    w.elem("Name", &p.bucket);
    w.elem("Prefix", &listed(&p.prefix, enc));
    if let Some(d) = &p.delimiter {
        w.elem("Delimiter", &listed(d, enc));
    }
    w.num("MaxKeys", p.max_keys);
    w.num("KeyCount", p.contents.len() + p.common_prefixes.len());
    w.bool("IsTruncated", p.is_truncated);
    w.opt("ContinuationToken", p.continuation_token.as_deref());
    w.opt(
        "NextContinuationToken",
        p.next_continuation_token.as_deref(),
    );
    if let Some(s) = &p.start_after {
        w.elem("StartAfter", &listed(s, enc));
    }
    if enc {
        w.elem("EncodingType", "url");
    }
    contents(&mut w, &p.contents, enc);
    common_prefixes(&mut w, &p.common_prefixes, enc);
    w.end("ListBucketResult")
}

pub fn list_objects_v1(p: &ListV1Page) -> String {
    let enc = p.encoding_url;
    let mut w = W::doc("ListBucketResult");
    w.elem("Name", &p.bucket);
    // S3 leaves v1's Prefix unencoded under encoding-type=url, and botocore
    // decodes every other listed field but not this one.
    w.elem("Prefix", &p.prefix);
    w.elem("Marker", &listed(&p.marker, enc));
    if let Some(m) = &p.next_marker {
        w.elem("NextMarker", &listed(m, enc));
    }
    if let Some(d) = &p.delimiter {
        w.elem("Delimiter", &listed(d, enc));
    }
    w.num("MaxKeys", p.max_keys);
    w.bool("IsTruncated", p.is_truncated);
    if enc {
        w.elem("EncodingType", "url");
    }
    contents(&mut w, &p.contents, enc);
    common_prefixes(&mut w, &p.common_prefixes, enc);
    w.end("ListBucketResult")
}

pub fn delete_result(r: &DeleteResult) -> String {
    let mut w = W::doc("DeleteResult");
    if !r.quiet {
        for d in &r.deleted {
            w.open("Deleted");
            w.elem("Key", &d.key);
            w.opt("VersionId", d.version_id.as_deref());
            if d.delete_marker {
                w.bool("DeleteMarker", true);
                w.opt(
                    "DeleteMarkerVersionId",
                    d.delete_marker_version_id.as_deref(),
                );
            }
            w.close("Deleted");
        }
    }
    for e in &r.errors {
        w.open("Error");
        w.elem("Key", &e.key);
        w.opt("VersionId", e.version_id.as_deref());
        w.elem("Code", &e.code);
        w.elem("Message", &e.message);
        w.close("Error");
    }
    w.end("DeleteResult")
}

fn copy_result(root: &str, r: &CopyResult) -> String {
    let mut w = W::doc(root);
    w.date("LastModified", r.last_modified_millis);
    w.etag(&r.etag);
    w.end(root)
}

pub fn copy_object_result(r: &CopyResult) -> String {
    copy_result("CopyObjectResult", r)
}

pub fn copy_part_result(r: &CopyResult) -> String {
    copy_result("CopyPartResult", r)
}

pub fn initiate_multipart_upload(r: &InitiateMultipartUpload) -> String {
    let mut w = W::doc("InitiateMultipartUploadResult");
    w.elem("Bucket", &r.bucket);
    w.elem("Key", &r.key);
    w.elem("UploadId", &r.upload_id);
    w.end("InitiateMultipartUploadResult")
}

pub fn complete_multipart_upload(r: &CompleteMultipartUploadResult) -> String {
    let mut w = W::doc("CompleteMultipartUploadResult");
    w.elem("Location", &r.location);
    w.elem("Bucket", &r.bucket);
    w.elem("Key", &r.key);
    w.etag(&r.etag);
    if let Some((alg, value)) = &r.checksum {
        w.elem(&format!("Checksum{}", checksum_name(*alg)), value);
    }
    if let Some(t) = r.checksum_type {
        w.elem("ChecksumType", checksum_type_name(t));
    }
    w.end("CompleteMultipartUploadResult")
}

/// `<ChecksumAlgorithm>` and `<ChecksumType>` of an upload that declared them.
fn upload_checksum(w: &mut W, c: Option<(ChecksumAlgorithm, ChecksumType)>) {
    if let Some((alg, t)) = c {
        w.elem("ChecksumAlgorithm", checksum_name(alg));
        w.elem("ChecksumType", checksum_type_name(t));
    }
}

pub fn list_parts(p: &ListPartsPage) -> String {
    let mut w = W::doc("ListPartsResult");
    w.elem("Bucket", &p.bucket);
    w.elem("Key", &p.key);
    w.elem("UploadId", &p.upload_id);
    w.owner("Initiator", &p.initiator);
    w.owner("Owner", &p.owner);
    w.elem("StorageClass", "STANDARD");
    upload_checksum(&mut w, p.checksum);
    w.num("PartNumberMarker", p.part_number_marker);
    w.num("NextPartNumberMarker", p.next_part_number_marker);
    w.num("MaxParts", p.max_parts);
    w.bool("IsTruncated", p.is_truncated);
    for part in &p.parts {
        w.open("Part");
        w.num("PartNumber", part.part_number);
        w.date("LastModified", part.last_modified_millis);
        w.etag(&part.etag);
        w.num("Size", part.size);
        if let Some((alg, value)) = &part.checksum {
            w.elem(&format!("Checksum{}", checksum_name(*alg)), value);
        }
        w.close("Part");
    }
    w.end("ListPartsResult")
}

pub fn list_multipart_uploads(p: &ListUploadsPage) -> String {
    let enc = p.encoding_url;
    let mut w = W::doc("ListMultipartUploadsResult");
    w.elem("Bucket", &p.bucket);
    w.elem("KeyMarker", &listed(&p.key_marker, enc));
    w.elem("UploadIdMarker", &p.upload_id_marker);
    if let Some(m) = &p.next_key_marker {
        w.elem("NextKeyMarker", &listed(m, enc));
    }
    w.opt("NextUploadIdMarker", p.next_upload_id_marker.as_deref());
    w.elem("Prefix", &listed(&p.prefix, enc));
    if let Some(d) = &p.delimiter {
        w.elem("Delimiter", &listed(d, enc));
    }
    w.num("MaxUploads", p.max_uploads);
    w.bool("IsTruncated", p.is_truncated);
    if enc {
        w.elem("EncodingType", "url");
    }
    for u in &p.uploads {
        w.open("Upload");
        w.elem("Key", &listed(&u.key, enc));
        w.elem("UploadId", &u.upload_id);
        w.owner("Initiator", &u.initiator);
        w.owner("Owner", &u.owner);
        w.elem("StorageClass", "STANDARD");
        w.date("Initiated", u.initiated_millis);
        upload_checksum(&mut w, u.checksum);
        w.close("Upload");
    }
    common_prefixes(&mut w, &p.common_prefixes, enc);
    w.end("ListMultipartUploadsResult")
}

/// POST Object's answer to `success_action_status` 201; `etag` as the
/// ETag header carries it (quoted). S3 writes this document without a
/// namespace (s3-tests reads `Key` unqualified from it against AWS).
pub fn post_response(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    let mut w = W(String::with_capacity(256));
    w.0.push_str(XML_DECL);
    w.open("PostResponse");
    w.elem("Location", location);
    w.elem("Bucket", bucket);
    w.elem("Key", key);
    w.elem("ETag", etag);
    w.end("PostResponse")
}

pub fn tagging(tags: &[(String, String)]) -> String {
    let mut w = W::doc("Tagging");
    w.open("TagSet");
    for (k, v) in tags {
        w.open("Tag");
        w.elem("Key", k);
        w.elem("Value", v);
        w.close("Tag");
    }
    w.close("TagSet");
    w.end("Tagging")
}

/// A bucket that never had versioning configured answers an empty element.
pub fn versioning_configuration(status: Option<VersioningStatus>) -> String {
    let mut w = W::doc("VersioningConfiguration");
    if let Some(s) = status {
        w.elem("Status", s.as_str());
    }
    w.end("VersioningConfiguration")
}

/// GetBucketEncryption's document for SSE-S3 by default.
pub fn encryption_configuration(d: &crate::catalog::DefaultEncryption) -> String {
    let mut w = W::doc("ServerSideEncryptionConfiguration");
    w.open("Rule");
    w.open("ApplyServerSideEncryptionByDefault");
    match &d.kms {
        None => w.elem("SSEAlgorithm", "AES256"),
        Some(k) => {
            w.elem(
                "SSEAlgorithm",
                if k.dsse { "aws:kms:dsse" } else { "aws:kms" },
            );
            w.opt("KMSMasterKeyID", k.key_id.as_deref());
        }
    }
    w.close("ApplyServerSideEncryptionByDefault");
    w.bool("BucketKeyEnabled", d.bucket_key_enabled);
    w.close("Rule");
    w.end("ServerSideEncryptionConfiguration")
}

pub fn object_attributes(a: &ObjectAttributes) -> String {
    let mut w = W::doc("GetObjectAttributesResponse");
    // GetObjectAttributes shows the ETag without quotes.
    w.opt("ETag", a.etag.as_deref());
    if let Some((alg, digest, t)) = &a.checksum {
        w.open("Checksum");
        w.elem(&format!("Checksum{}", checksum_name(*alg)), digest);
        w.elem("ChecksumType", checksum_type_name(*t));
        w.close("Checksum");
    }
    if let Some(p) = &a.parts {
        // The model's TotalPartsCount travels as <PartsCount>.
        w.open("ObjectParts");
        w.num("PartsCount", p.total_parts);
        if !p.listed {
            w.close("ObjectParts");
            return finish_attributes(w, a);
        }
        w.num("PartNumberMarker", p.part_number_marker);
        w.num("NextPartNumberMarker", p.next_part_number_marker);
        w.num("MaxParts", p.max_parts);
        w.bool("IsTruncated", p.is_truncated);
        for part in &p.parts {
            w.open("Part");
            w.num("PartNumber", part.part_number);
            w.num("Size", part.size);
            if let Some((alg, value)) = &part.checksum {
                w.elem(&format!("Checksum{}", checksum_name(*alg)), value);
            }
            w.close("Part");
        }
        w.close("ObjectParts");
    }
    finish_attributes(w, a)
}

fn finish_attributes(mut w: W, a: &ObjectAttributes) -> String {
    if a.storage_class {
        w.elem("StorageClass", "STANDARD");
    }
    if let Some(size) = a.object_size {
        w.num("ObjectSize", size);
    }
    w.end("GetObjectAttributesResponse")
}

/// ListObjectVersions: Version and DeleteMarker elements in listing order.
pub fn list_object_versions(p: &ListVersionsPage) -> String {
    let enc = p.encoding_url;
    let mut w = W::doc("ListVersionsResult");
    w.elem("Name", &p.bucket);
    w.elem("Prefix", &listed(&p.prefix, enc));
    w.elem("KeyMarker", &listed(&p.key_marker, enc));
    w.elem("VersionIdMarker", &p.version_id_marker);
    if let Some(m) = &p.next_key_marker {
        w.elem("NextKeyMarker", &listed(m, enc));
    }
    w.opt("NextVersionIdMarker", p.next_version_id_marker.as_deref());
    w.num("MaxKeys", p.max_keys);
    if let Some(d) = &p.delimiter {
        w.elem("Delimiter", &listed(d, enc));
    }
    w.bool("IsTruncated", p.is_truncated);
    if enc {
        w.elem("EncodingType", "url");
    }
    for o in &p.versions {
        let element = if o.delete_marker {
            "DeleteMarker"
        } else {
            "Version"
        };
        w.open(element);
        w.elem("Key", &listed(&o.key, enc));
        w.elem("VersionId", &o.version_id);
        w.bool("IsLatest", o.is_latest);
        w.date("LastModified", o.last_modified_millis);
        if !o.delete_marker {
            w.etag(&o.etag);
            w.num("Size", o.size);
        }
        if let Some(owner) = &o.owner {
            w.owner("Owner", owner);
        }
        if !o.delete_marker {
            w.elem("StorageClass", "STANDARD");
        }
        w.close(element);
    }
    common_prefixes(&mut w, &p.common_prefixes, enc);
    w.end("ListVersionsResult")
}

/// GetBucketCors.
pub fn cors_configuration(rules: &[CorsRule]) -> String {
    let mut w = W::doc("CORSConfiguration");
    for r in rules {
        w.open("CORSRule");
        w.opt("ID", r.id.as_deref());
        for (name, values) in [
            ("AllowedHeader", &r.allowed_headers),
            ("AllowedMethod", &r.allowed_methods),
            ("AllowedOrigin", &r.allowed_origins),
            ("ExposeHeader", &r.expose_headers),
        ] {
            for v in values {
                w.elem(name, v);
            }
        }
        if let Some(age) = r.max_age_seconds {
            w.num("MaxAgeSeconds", age);
        }
        w.close("CORSRule");
    }
    w.end("CORSConfiguration")
}

/// GetBucketLifecycleConfiguration.
pub fn lifecycle_configuration(rules: &[LifecycleRule]) -> String {
    fn tag(w: &mut W, (k, v): &(String, String)) {
        w.open("Tag");
        w.elem("Key", k);
        w.elem("Value", v);
        w.close("Tag");
    }
    let mut w = W::doc("LifecycleConfiguration");
    for r in rules {
        w.open("Rule");
        w.opt("ID", r.id.as_deref());
        match r.filter_form {
            LifecycleFilterForm::Legacy => w.elem("Prefix", &r.prefix),
            LifecycleFilterForm::Prefix => {
                w.open("Filter");
                w.elem("Prefix", &r.prefix);
                w.close("Filter");
            }
            LifecycleFilterForm::Tag => {
                w.open("Filter");
                r.tags.iter().for_each(|t| tag(&mut w, t));
                w.close("Filter");
            }
            LifecycleFilterForm::And => {
                w.open("Filter");
                w.open("And");
                w.elem("Prefix", &r.prefix);
                r.tags.iter().for_each(|t| tag(&mut w, t));
                w.close("And");
                w.close("Filter");
            }
        }
        w.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
        if let Some(expiration) = r.expiration {
            w.open("Expiration");
            match expiration {
                LifecycleExpiration::Days(d) => w.num("Days", d),
                LifecycleExpiration::Date(millis) => w.date("Date", millis),
            }
            w.close("Expiration");
        } else if r.expired_object_delete_marker {
            w.open("Expiration");
            w.bool("ExpiredObjectDeleteMarker", true);
            w.close("Expiration");
        }
        if let Some(n) = r.noncurrent_expiration {
            w.open("NoncurrentVersionExpiration");
            w.num("NoncurrentDays", n.days);
            if let Some(v) = n.newer_versions {
                w.num("NewerNoncurrentVersions", v);
            }
            w.close("NoncurrentVersionExpiration");
        }
        if let Some(days) = r.abort_incomplete_days {
            w.open("AbortIncompleteMultipartUpload");
            w.num("DaysAfterInitiation", days);
            w.close("AbortIncompleteMultipartUpload");
        }
        w.close("Rule");
    }
    w.end("LifecycleConfiguration")
}

/// GetBucketLogging for a bucket without server access logging.
pub fn bucket_logging_status() -> String {
    W::doc("BucketLoggingStatus").end("BucketLoggingStatus")
}

/// GetBucketNotificationConfiguration: no notifications.
pub fn notification_configuration() -> String {
    W::doc("NotificationConfiguration").end("NotificationConfiguration")
}

/// GetBucketRequestPayment: the owner pays, as for every bucket here.
pub fn request_payment_configuration() -> String {
    let mut w = W::doc("RequestPaymentConfiguration");
    w.elem("Payer", "BucketOwner");
    w.end("RequestPaymentConfiguration")
}

/// GetBucketAccelerateConfiguration: never configured.
pub fn accelerate_configuration() -> String {
    W::doc("AccelerateConfiguration").end("AccelerateConfiguration")
}

/// GetBucketPolicyStatus.
pub fn policy_status(is_public: bool) -> String {
    let mut w = W::doc("PolicyStatus");
    w.bool("IsPublic", is_public);
    w.end("PolicyStatus")
}

pub fn access_control_policy(p: &AccessControlPolicy) -> String {
    let mut w = W::doc("AccessControlPolicy");
    w.owner("Owner", &p.owner);
    w.open("AccessControlList");
    for g in &p.grants {
        w.open("Grant");
        match &g.grantee {
            Grantee::CanonicalUser(o) => {
                w.0.push_str(&format!(
                    "<Grantee xmlns:xsi=\"{XSI_NS}\" xsi:type=\"CanonicalUser\">"
                ));
                w.elem("ID", &o.id);
                w.elem("DisplayName", &o.display_name);
            }
            Grantee::Group(uri) => {
                w.0.push_str(&format!(
                    "<Grantee xmlns:xsi=\"{XSI_NS}\" xsi:type=\"Group\">"
                ));
                w.elem("URI", uri);
            }
        }
        w.close("Grantee");
        w.elem("Permission", g.permission);
        w.close("Grant");
    }
    w.close("AccessControlList");
    w.end("AccessControlPolicy")
}

// ---------------------------------------------------------------- parsing

/// An element of a parsed request document: local name (namespace prefix
/// dropped), its own text, and its children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

/// Parses a whole document into a tree, bounded in size, depth and node count.
/// Any XML error, trailing content or second root is MalformedXML.
fn parse_tree(body: &[u8], max_body: usize) -> Result<Node, S3Error> {
    if body.len() > max_body {
        return Err(malformed().with_message(format!(
            "The XML you provided was larger than the maximum {max_body} bytes allowed."
        )));
    }
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    if !all_xml_chars(text) {
        return Err(malformed());
    }
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) => {
                nodes += 1;
                if root.is_some() || stack.len() >= MAX_XML_DEPTH || nodes > MAX_XML_NODES {
                    return Err(malformed());
                }
                let name = std::str::from_utf8(e.local_name().as_ref())
                    .map_err(|_| malformed())?
                    .to_string();
                stack.push(Node {
                    name,
                    ..Node::default()
                });
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|_| malformed())?;
                // A character reference (`&#0;`) must name an allowed character too.
                if matches!(s, std::borrow::Cow::Owned(_)) && !all_xml_chars(&s) {
                    return Err(malformed());
                }
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(malformed()),
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(|_| malformed())?;
                stack.last_mut().ok_or_else(malformed)?.text.push_str(s);
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions, DOCTYPE (never expanded).
            _ => {}
        }
    }
    match (root, stack.is_empty()) {
        (Some(root), true) => Ok(root),
        _ => Err(malformed()),
    }
}

/// Whether every character of `s` is one XML 1.0 allows in a document (its
/// `Char` production: no NUL or other C0 control but tab, LF and CR, no
/// U+FFFE or U+FFFF). S3 answers MalformedXML to a request body with any
/// other, raw or as a character reference: a DeleteObjects key with a NUL
/// must not be taken for a key.
fn all_xml_chars(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

fn expect_root(root: &Node, name: &str) -> Result<(), S3Error> {
    if root.name == name {
        Ok(())
    } else {
        Err(malformed())
    }
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

/// CreateBucket body: `None` for an empty body or an empty LocationConstraint.
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, S3Error> {
    if is_blank(body) {
        return Ok(None);
    }
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "CreateBucketConfiguration")?;
    Ok(root
        .child_text("LocationConstraint")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// DeleteObjects body: 1..=1000 objects, each with a Key.
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "Delete")?;
    let quiet = match root.child_text("Quiet").map(str::trim) {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(malformed()),
    };
    let mut objects = Vec::new();
    for obj in root.children("Object") {
        if objects.len() == MAX_DELETE_OBJECTS {
            return Err(malformed().with_message(format!(
                "The request must contain no more than {MAX_DELETE_OBJECTS} keys."
            )));
        }
        // Keys are taken verbatim: leading and trailing spaces are part of them.
        let key = obj.child_text("Key").ok_or_else(malformed)?;
        let version = obj
            .child_text("VersionId")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string);
        objects.push((key.to_string(), version));
    }
    if objects.is_empty() {
        return Err(malformed());
    }
    Ok(DeleteRequest { quiet, objects })
}

const CHECKSUM_ELEMENTS: &[(&str, ChecksumAlgorithm)] = &[
    ("ChecksumCRC32", ChecksumAlgorithm::Crc32),
    ("ChecksumCRC32C", ChecksumAlgorithm::Crc32c),
    ("ChecksumCRC64NVME", ChecksumAlgorithm::Crc64Nvme),
    ("ChecksumSHA1", ChecksumAlgorithm::Sha1),
    ("ChecksumSHA256", ChecksumAlgorithm::Sha256),
];

/// CompleteMultipartUpload body: 1..=10000 parts in the order sent (order
/// and existence are the server's checks: InvalidPartOrder, InvalidPart).
pub fn parse_complete_multipart(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    let root = parse_tree(body, MAX_COMPLETE_BODY_BYTES)?;
    expect_root(&root, "CompleteMultipartUpload")?;
    let mut parts = Vec::new();
    for p in root.children("Part") {
        if parts.len() == MAX_PARTS {
            return Err(malformed());
        }
        let number = p.child_text("PartNumber").ok_or_else(malformed)?.trim();
        let part_number = number
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PARTS as u32).contains(n))
            .ok_or_else(|| {
                S3Error::new(S3ErrorCode::InvalidArgument)
                    .with_message("Part number must be an integer between 1 and 10000, inclusive")
                    .with("ArgumentName", "partNumber")
                    .with("ArgumentValue", number)
            })?;
        let etag = p.child_text("ETag").ok_or_else(malformed)?.trim();
        let etag = etag
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or(etag)
            .to_string();
        let checksums = CHECKSUM_ELEMENTS
            .iter()
            .filter_map(|&(name, alg)| p.child_text(name).map(|v| (alg, v.trim().to_string())))
            .collect();
        parts.push(CompletedPart {
            part_number,
            etag,
            checksums,
        });
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

fn invalid_tag(message: &str) -> S3Error {
    S3Error::new(S3ErrorCode::InvalidTag).with_message(message)
}

/// PutObjectTagging body: ≤ 10 tags.
pub fn parse_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    parse_tagging_limited(body, MAX_OBJECT_TAGS)
}

/// PutBucketTagging body: ≤ 50 tags.
pub fn parse_bucket_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    parse_tagging_limited(body, MAX_BUCKET_TAGS)
}

fn parse_tagging_limited(body: &[u8], max_tags: usize) -> Result<Vec<(String, String)>, S3Error> {
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "Tagging")?;
    let set = root.child("TagSet").ok_or_else(malformed)?;
    let mut tags: Vec<(String, String)> = Vec::new();
    for tag in set.children("Tag") {
        if tags.len() == max_tags {
            return Err(invalid_tag(&format!(
                "Object tags cannot be greater than {max_tags}"
            )));
        }
        let key = tag.child_text("Key").ok_or_else(malformed)?;
        let value = tag.child_text("Value").unwrap_or("");
        if key.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if value.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if tags.iter().any(|(k, _)| k == key) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
            ));
        }
        tags.push((key.to_string(), value.to_string()));
    }
    Ok(tags)
}

/// PutBucketCors body: 1..=100 rules, each with an origin and a method;
/// S3's rules on methods and wildcards.
pub fn parse_cors_configuration(body: &[u8]) -> Result<Vec<CorsRule>, S3Error> {
    let invalid = |m: String| S3Error::new(S3ErrorCode::InvalidRequest).with_message(m);
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "CORSConfiguration")?;
    let mut rules = Vec::new();
    for rule in root.children("CORSRule") {
        if rules.len() == MAX_CORS_RULES {
            return Err(invalid(format!(
                "The number of CORS rules should not exceed allowed limit of {MAX_CORS_RULES} rules."
            )));
        }
        let texts = |name: &str| -> Vec<String> {
            rule.children(name)
                .map(|n| n.text.trim().to_string())
                .collect()
        };
        let r = CorsRule {
            id: rule.child_text("ID").map(|t| t.trim().to_string()),
            allowed_origins: texts("AllowedOrigin"),
            allowed_methods: texts("AllowedMethod"),
            allowed_headers: texts("AllowedHeader"),
            expose_headers: texts("ExposeHeader"),
            max_age_seconds: match rule.child_text("MaxAgeSeconds") {
                None => None,
                Some(t) => Some(t.trim().parse().map_err(|_| malformed())?),
            },
        };
        if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
            return Err(malformed());
        }
        if let Some(m) = r
            .allowed_methods
            .iter()
            .find(|m| !crate::s3::cors::CORS_METHODS.contains(&m.as_str()))
        {
            return Err(invalid(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        for (what, values) in [
            ("AllowedOrigin", &r.allowed_origins),
            ("AllowedHeader", &r.allowed_headers),
        ] {
            if let Some(v) = values.iter().find(|v| v.matches('*').count() > 1) {
                return Err(invalid(format!(
                    "{what} \"{v}\" can not have more than one wildcard."
                )));
            }
        }
        rules.push(r);
    }
    if rules.is_empty() {
        return Err(malformed());
    }
    Ok(rules)
}

/// Storage classes a lifecycle transition may name.
const TRANSITION_STORAGE_CLASSES: [&str; 6] = [
    "GLACIER",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];
/// S3's minimum age before a transition to an infrequent-access class.
const MIN_INFREQUENT_ACCESS_DAYS: i64 = 30;

/// S3's checks of one `<Transition>` (`days` / `date` name its elements;
/// a noncurrent transition has no date): exactly one of days or date, a
/// known storage class, days not negative (and at least 30 for the
/// infrequent-access classes), a date at midnight GMT.
fn check_transition(t: &Node, action: &str, days: &str, date: &str) -> Result<(), S3Error> {
    let invalid = |m: String| S3Error::new(S3ErrorCode::InvalidArgument).with_message(m);
    let class = t
        .child_text("StorageClass")
        .map(str::trim)
        .ok_or_else(malformed)?;
    if !TRANSITION_STORAGE_CLASSES.contains(&class) {
        return Err(malformed());
    }
    let date_value = (!date.is_empty()).then(|| t.child_text(date)).flatten();
    match (t.child_text(days), date_value) {
        (Some(d), None) => {
            let n: i64 = d.trim().parse().map_err(|_| malformed())?;
            if n < 0 {
                return Err(invalid(format!(
                    "'{days}' in {action} action must be nonnegative"
                )));
            }
            if matches!(class, "STANDARD_IA" | "ONEZONE_IA") && n < MIN_INFREQUENT_ACCESS_DAYS {
                return Err(invalid(format!(
                    "'{days}' in {action} action must be greater than or equal to 30 for storageClass '{class}'"
                )));
            }
        }
        (None, Some(d)) => {
            let secs = crate::util::time::parse_iso8601(d.trim()).ok_or_else(malformed)?;
            if secs.rem_euclid(86_400) != 0 {
                return Err(invalid("'Date' must be at midnight GMT".to_string()));
            }
        }
        _ => return Err(malformed()),
    }
    Ok(())
}

/// PutBucketLifecycleConfiguration body. Rules filter by prefix and tags,
/// expire current objects by Days or Date, remove noncurrent versions
/// (NoncurrentVersionExpiration) and expired delete markers, and abort
/// incomplete uploads; transitions to other storage classes and
/// object-size filters answer NotImplemented (nothing here could enforce
/// them).
pub fn parse_lifecycle_configuration(body: &[u8]) -> Result<Vec<LifecycleRule>, S3Error> {
    const UNSUPPORTED_ACTIONS: [&str; 2] = ["Transition", "NoncurrentVersionTransition"];
    /// S3's bound on NewerNoncurrentVersions.
    const MAX_NEWER_NONCURRENT_VERSIONS: u32 = 100;
    let invalid = |m: &str| S3Error::new(S3ErrorCode::InvalidArgument).with_message(m);
    let unsupported = |what: &str| {
        S3Error::new(S3ErrorCode::NotImplemented).with_message(format!(
            "Lifecycle {what} is not supported: rules here expire current objects and abort incomplete uploads."
        ))
    };
    let tag_of = |n: &Node| -> Result<(String, String), S3Error> {
        let key = n.child_text("Key").ok_or_else(malformed)?;
        Ok((
            key.to_string(),
            n.child_text("Value").unwrap_or("").to_string(),
        ))
    };
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "LifecycleConfiguration")?;
    let mut rules: Vec<LifecycleRule> = Vec::new();
    for rule in root.children("Rule") {
        if rules.len() == MAX_LIFECYCLE_RULES {
            return Err(invalid(
                "The number of lifecycle rules should not exceed the allowed limit of 1000 rules",
            ));
        }
        // A transition is checked as S3 checks it (a bad one gets S3's
        // error) before answering that transitions are not supported.
        for t in rule.children("Transition") {
            check_transition(t, "Transition", "Days", "Date")?;
        }
        for t in rule.children("NoncurrentVersionTransition") {
            check_transition(t, "NoncurrentVersionTransition", "NoncurrentDays", "")?;
        }
        if let Some(a) = UNSUPPORTED_ACTIONS.iter().find(|a| rule.child(a).is_some()) {
            return Err(unsupported(a));
        }
        let id = rule.child_text("ID").map(|t| t.trim().to_string());
        if let Some(id) = &id {
            if id.chars().count() > 255 {
                return Err(invalid("ID length should not exceed allowed limit of 255"));
            }
            if rules.iter().any(|r| r.id.as_deref() == Some(id)) {
                return Err(invalid(
                    "Rule ID must be unique. Found same ID for more than one rule",
                ));
            }
        }
        let enabled = match rule.child_text("Status").map(str::trim) {
            Some("Enabled") => true,
            Some("Disabled") => false,
            _ => return Err(malformed()),
        };
        let (filter_form, prefix, tags) = match (rule.child("Filter"), rule.child_text("Prefix")) {
            (Some(_), Some(_)) | (None, None) => return Err(malformed()),
            (None, Some(p)) => (LifecycleFilterForm::Legacy, p.to_string(), Vec::new()),
            (Some(f), None) => {
                if f.child("ObjectSizeGreaterThan").is_some()
                    || f.child("ObjectSizeLessThan").is_some()
                {
                    return Err(unsupported("filtering by object size"));
                }
                match (f.child_text("Prefix"), f.child("Tag"), f.child("And")) {
                    (p, None, None) => (
                        LifecycleFilterForm::Prefix,
                        p.unwrap_or("").to_string(),
                        Vec::new(),
                    ),
                    (None, Some(t), None) => {
                        (LifecycleFilterForm::Tag, String::new(), vec![tag_of(t)?])
                    }
                    (None, None, Some(and)) => {
                        if and.child("ObjectSizeGreaterThan").is_some()
                            || and.child("ObjectSizeLessThan").is_some()
                        {
                            return Err(unsupported("filtering by object size"));
                        }
                        let tags = and
                            .children("Tag")
                            .map(tag_of)
                            .collect::<Result<Vec<_>, _>>()?;
                        (
                            LifecycleFilterForm::And,
                            and.child_text("Prefix").unwrap_or("").to_string(),
                            tags,
                        )
                    }
                    _ => return Err(malformed()),
                }
            }
        };
        let mut expired_object_delete_marker = false;
        let expiration = match rule.child("Expiration") {
            None => None,
            Some(exp) => match (
                exp.child_text("Days"),
                exp.child_text("Date"),
                exp.child_text("ExpiredObjectDeleteMarker").map(str::trim),
            ) {
                (None, None, Some(flag)) => {
                    expired_object_delete_marker = match flag {
                        "true" => true,
                        "false" => false,
                        _ => return Err(malformed()),
                    };
                    if expired_object_delete_marker && !tags.is_empty() {
                        return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(
                            "ExpiredObjectDeleteMarker cannot be specified with tags.",
                        ));
                    }
                    None
                }
                (_, _, Some(_)) => return Err(malformed()),
                (days, date, None) => Some(match (days, date) {
                    (Some(d), None) => match d.trim().parse::<u32>() {
                        Ok(days) if days > 0 => LifecycleExpiration::Days(days),
                        _ => {
                            return Err(invalid(
                                "'Days' for Expiration action must be a positive integer",
                            ))
                        }
                    },
                    (None, Some(d)) => {
                        let secs =
                            crate::util::time::parse_iso8601(d.trim()).ok_or_else(malformed)?;
                        if secs.rem_euclid(86_400) != 0 {
                            return Err(invalid("'Date' must be at midnight GMT"));
                        }
                        LifecycleExpiration::Date(secs * 1000)
                    }
                    _ => return Err(malformed()),
                }),
            },
        };
        let noncurrent_expiration = match rule.child("NoncurrentVersionExpiration") {
            None => None,
            Some(n) => {
                let days = match n.child_text("NoncurrentDays").map(|d| d.trim().parse::<u32>()) {
                    Some(Ok(days)) if days > 0 => days,
                    _ => {
                        return Err(invalid(
                            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
                        ))
                    }
                };
                let newer_versions = match n.child_text("NewerNoncurrentVersions") {
                    None => None,
                    Some(v) => match v.trim().parse::<u32>() {
                        Ok(v) if (1..=MAX_NEWER_NONCURRENT_VERSIONS).contains(&v) => Some(v),
                        _ => {
                            return Err(invalid(
                                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to 100",
                            ))
                        }
                    },
                };
                Some(NoncurrentExpiration {
                    days,
                    newer_versions,
                })
            }
        };
        let abort_incomplete_days = match rule.child("AbortIncompleteMultipartUpload") {
            None => None,
            Some(a) => {
                if !tags.is_empty() {
                    return Err(S3Error::new(S3ErrorCode::InvalidRequest).with_message(
                        "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                    ));
                }
                match a.child_text("DaysAfterInitiation").map(|d| d.trim().parse::<u32>()) {
                    Some(Ok(days)) if days > 0 => Some(days),
                    _ => {
                        return Err(invalid(
                            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
                        ))
                    }
                }
            }
        };
        if expiration.is_none()
            && abort_incomplete_days.is_none()
            && noncurrent_expiration.is_none()
            && !expired_object_delete_marker
        {
            return Err(malformed());
        }
        rules.push(LifecycleRule {
            id,
            enabled,
            prefix,
            tags,
            filter_form,
            expiration,
            abort_incomplete_days,
            noncurrent_expiration,
            expired_object_delete_marker,
        });
    }
    if rules.is_empty() {
        return Err(malformed());
    }
    Ok(rules)
}

fn malformed_acl() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedACLError)
}

/// PutBucketAcl / PutObjectAcl body: the grants of an AccessControlPolicy.
/// A grantee is told apart by what it carries (ID, URI or EmailAddress):
/// its `xsi:type` attribute says the same.
pub fn parse_access_control_policy(body: &[u8]) -> Result<AclDocument, S3Error> {
    const PERMISSIONS: [&str; 5] = ["FULL_CONTROL", "READ", "WRITE", "READ_ACP", "WRITE_ACP"];
    let root = parse_tree(body, MAX_XML_BODY_BYTES).map_err(|_| malformed_acl())?;
    if root.name != "AccessControlPolicy" {
        return Err(malformed_acl());
    }
    let owner_id = root
        .child("Owner")
        .and_then(|o| o.child_text("ID"))
        .map(|id| id.trim().to_string());
    let list = root.child("AccessControlList").ok_or_else(malformed_acl)?;
    let mut grants = Vec::new();
    for grant in list.children("Grant") {
        let grantee = grant.child("Grantee").ok_or_else(malformed_acl)?;
        let text = |name: &str| grantee.child_text(name).map(|t| t.trim().to_string());
        let grantee = match (text("ID"), text("URI"), text("EmailAddress")) {
            (Some(id), None, None) => AclGrantee::User(id),
            (None, Some(uri), None) => AclGrantee::Group(uri),
            (None, None, Some(email)) => AclGrantee::Email(email),
            _ => return Err(malformed_acl()),
        };
        let permission = grant.child_text("Permission").map(str::trim);
        let permission = permission
            .filter(|p| PERMISSIONS.contains(p))
            .ok_or_else(malformed_acl)?;
        grants.push(AclGrant {
            grantee,
            permission: permission.to_string(),
        });
    }
    if grants.len() > crate::access::acl::MAX_GRANTS {
        return Err(malformed_acl());
    }
    Ok(AclDocument { owner_id, grants })
}

/// GetPublicAccessBlock.
pub fn public_access_block(b: &PublicAccessBlockDoc) -> String {
    let mut w = W::doc("PublicAccessBlockConfiguration");
    w.bool("BlockPublicAcls", b.block_public_acls);
    w.bool("IgnorePublicAcls", b.ignore_public_acls);
    w.bool("BlockPublicPolicy", b.block_public_policy);
    w.bool("RestrictPublicBuckets", b.restrict_public_buckets);
    w.end("PublicAccessBlockConfiguration")
}

/// PutPublicAccessBlock body; absent settings are false, as in S3.
pub fn parse_public_access_block(body: &[u8]) -> Result<PublicAccessBlockDoc, S3Error> {
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "PublicAccessBlockConfiguration")?;
    let flag = |name: &str| match root.child_text(name).map(str::trim) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(malformed()),
    };
    Ok(PublicAccessBlockDoc {
        block_public_acls: flag("BlockPublicAcls")?,
        ignore_public_acls: flag("IgnorePublicAcls")?,
        block_public_policy: flag("BlockPublicPolicy")?,
        restrict_public_buckets: flag("RestrictPublicBuckets")?,
    })
}

/// GetBucketOwnershipControls.
pub fn ownership_controls(ownership: &str) -> String {
    let mut w = W::doc("OwnershipControls");
    w.open("Rule");
    w.elem("ObjectOwnership", ownership);
    w.close("Rule");
    w.end("OwnershipControls")
}

/// PutBucketOwnershipControls body: exactly one rule's ObjectOwnership,
/// as written (the caller checks it names a setting).
pub fn parse_ownership_controls(body: &[u8]) -> Result<String, S3Error> {
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "OwnershipControls")?;
    let mut rules = root.children("Rule");
    let (Some(rule), None) = (rules.next(), rules.next()) else {
        return Err(malformed());
    };
    rule.child_text("ObjectOwnership")
        .map(|o| o.trim().to_string())
        .ok_or_else(malformed)
}

/// PutBucketVersioning body: `None` when Status is absent (no change).
/// PutBucketEncryption's document: one rule whose default algorithm is
/// AES256 (SSE-S3) or aws:kms / aws:kms:dsse (SSE-KMS, with an optional
/// KMSMasterKeyID, which only aws:kms may carry); anything else malformed.
pub fn parse_encryption_configuration(
    body: &[u8],
) -> Result<crate::catalog::DefaultEncryption, S3Error> {
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "ServerSideEncryptionConfiguration")?;
    let mut rules = root.children("Rule");
    let (Some(rule), None) = (rules.next(), rules.next()) else {
        return Err(malformed());
    };
    let by_default = rule
        .child("ApplyServerSideEncryptionByDefault")
        .ok_or_else(malformed)?;
    let algorithm = by_default
        .child_text("SSEAlgorithm")
        .map(str::trim)
        .ok_or_else(malformed)?;
    let key_id = by_default
        .child_text("KMSMasterKeyID")
        .map(|k| k.trim().to_string());
    let bucket_key = match rule.child_text("BucketKeyEnabled").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    let kms = match algorithm {
        "AES256" if key_id.is_some() => {
            return Err(S3Error::new(S3ErrorCode::InvalidArgument).with_message(
                "a KMSMasterKeyID is applicable only when the default algorithm is aws:kms",
            ))
        }
        "AES256" => None,
        "aws:kms" | "aws:kms:dsse" => {
            if key_id
                .as_ref()
                .is_some_and(|k| k.is_empty() || k.len() > crate::sse::MAX_KMS_KEY_ID_BYTES)
            {
                return Err(S3Error::new(S3ErrorCode::InvalidArgument)
                    .with_message("The KMSMasterKeyID is not valid"));
            }
            Some(crate::catalog::DefaultKms {
                key_id,
                dsse: algorithm == "aws:kms:dsse",
            })
        }
        _ => return Err(malformed()),
    };
    Ok(crate::catalog::DefaultEncryption {
        bucket_key_enabled: bucket_key,
        kms,
    })
}

pub fn parse_versioning(body: &[u8]) -> Result<Option<VersioningStatus>, S3Error> {
    let root = parse_tree(body, MAX_XML_BODY_BYTES)?;
    expect_root(&root, "VersioningConfiguration")?;
    match root.child_text("Status").map(str::trim) {
        None => Ok(None),
        Some("Enabled") => Ok(Some(VersioningStatus::Enabled)),
        Some("Suspended") => Ok(Some(VersioningStatus::Suspended)),
        Some(_) => Err(malformed()),
    }
}

#[cfg(test)]
mod tests;
