//! The request facts a policy condition can ask about (`aws:SourceIp`,
//! `s3:prefix`, ...). The handler fills a [`RequestContext`]; values the
//! request does not have are absent, as in IAM.

use std::net::IpAddr;

/// How a request was signed (`s3:authType`, `s3:signatureversion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// No signature at all.
    Anonymous,
    /// `Authorization` header.
    Header,
    /// Presigned URL.
    QueryString,
    /// Browser POST form.
    Post,
}

impl AuthType {
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            AuthType::Anonymous => None,
            AuthType::Header => Some("REST-HEADER"),
            AuthType::QueryString => Some("REST-QUERY-STRING"),
            AuthType::Post => Some("POST"),
        }
    }
}

/// Request headers and query parameters, looked up only when a condition
/// names them (most requests never build anything from them).
pub trait RequestFacts {
    /// A request header by lower-case name.
    fn header(&self, name: &str) -> Option<&str>;
    /// A query parameter by name.
    fn query(&self, name: &str) -> Option<&str>;
    /// The tags the request sets on an object (`x-amz-tagging`, PutObjectTagging's body).
    fn request_tags(&self) -> &[(String, String)] {
        &[]
    }
    /// The existing object's tags (object operations after its metadata is known).
    fn existing_tags(&self) -> &[(String, String)] {
        &[]
    }
}

/// Facts of a request with nothing to offer (tests, admin-side checks).
pub struct NoFacts;

impl RequestFacts for NoFacts {
    fn header(&self, _: &str) -> Option<&str> {
        None
    }
    fn query(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Everything a condition may ask about one request.
pub struct RequestContext<'a> {
    pub source_ip: Option<IpAddr>,
    /// Arrived over the TLS listener.
    pub secure_transport: bool,
    pub now_millis: i64,
    pub auth_type: AuthType,
    /// `AWS4-HMAC-SHA256` or `AWS` (SigV2); None when anonymous.
    pub signature_version: Option<&'static str>,
    /// Milliseconds since the request was signed (`s3:signatureAge`).
    pub signature_age_millis: Option<i64>,
    pub facts: &'a dyn RequestFacts,
}

impl<'a> RequestContext<'a> {
    /// A context with no request facts (used by tests and by checks made
    /// outside a request).
    pub fn bare(now_millis: i64) -> RequestContext<'static> {
        RequestContext {
            source_ip: None,
            secure_transport: false,
            now_millis,
            auth_type: AuthType::Anonymous,
            signature_version: None,
            signature_age_millis: None,
            facts: &NoFacts,
        }
    }
}
