//! S3 error codes and error documents.
//!
//! One enum variant is one S3 error code; `S3ErrorCode::status` is the only
//! place that maps a code to its HTTP status. Codes and statuses follow the
//! Amazon S3 API Reference "Error responses" list.
//!
//! Disk full: S3 has no such code. We answer `XMinioStorageFull` with 507
//! Insufficient Storage, exactly what MinIO answers, so tools already written
//! against MinIO recognise the state, and because the AWS SDKs' standard retry
//! policy retries 500/502/503/504 but not 507: a full disk fails fast instead of
//! being hammered with retries as a 503 would be.

use crate::auth::error::AuthError;
use crate::auth::post_policy::PostPolicyError;
use crate::http::error::HttpError;
use crate::http::multipart::{FormError, MAX_FORM_HEAD_BYTES};
use crate::s3::xml::escape_into;
use crate::store::types::StoreError;
use crate::util::time;

/// S3's allowed clock skew, reported in RequestTimeTooSkewed documents.
pub const MAX_CLOCK_SKEW_MILLIS: u64 = 15 * 60 * 1000;

macro_rules! codes {
    ($($variant:ident => $status:literal, $msg:literal;)*) => {
        /// Every S3 error code ringstore answers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3ErrorCode { $($variant,)* }

        impl S3ErrorCode {
            /// All codes, for tests and documentation.
            pub const ALL: &'static [S3ErrorCode] = &[$(S3ErrorCode::$variant,)*];

            /// The HTTP status S3 answers with this code.
            pub fn status(self) -> u16 {
                match self { $(S3ErrorCode::$variant => $status,)* }
            }

            /// S3's standard message for this code.
            pub fn default_message(self) -> &'static str {
                match self { $(S3ErrorCode::$variant => $msg,)* }
            }

            fn variant_name(self) -> &'static str {
                match self { $(S3ErrorCode::$variant => stringify!($variant),)* }
            }
        }
    };
}

codes! {
    AccessControlListNotSupported => 400, "The bucket does not allow ACLs";
    AccessDenied => 403, "Access Denied";
    AccessForbidden => 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    AuthorizationHeaderMalformed => 400, "The authorization header you provided is invalid.";
    AuthorizationQueryParametersError => 400, "Error parsing the X-Amz-Credential parameter.";
    BadDigest => 400, "The Content-MD5 you specified did not match what we received.";
    BadRequest => 400, "Bad Request";
    BucketAlreadyExists => 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou => 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => 409, "The bucket you tried to delete is not empty";
    ConditionalRequestConflict => 409, "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.";
    EntityTooLarge => 400, "Your proposed upload exceeds the maximum allowed size";
    EntityTooSmall => 400, "Your proposed upload is smaller than the minimum allowed size";
    IncompleteBody => 400, "You did not provide the number of bytes specified by the Content-Length HTTP header";
    IncorrectNumberOfFilesInPostRequest => 400, "POST requires exactly one file upload per request.";
    InternalError => 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => 403, "The AWS Access Key Id you provided does not exist in our records.";
    InvalidArgument => 400, "Invalid Argument";
    InvalidEncryptionAlgorithmError => 400, "The encryption request you specified is not valid. The valid value is AES256.";
    InvalidBucketName => 400, "The specified bucket is not valid.";
    InvalidBucketAclWithObjectOwnership => 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting";
    InvalidDigest => 400, "The Content-MD5 you specified is not valid.";
    InvalidLocationConstraint => 400, "The specified location-constraint is not valid";
    InvalidPart => 400, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPolicyDocument => 400, "The content of the form does not meet the conditions specified in the policy document.";
    InvalidPartNumber => 416, "The requested partnumber is not satisfiable";
    InvalidPartOrder => 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    InvalidRange => 416, "The requested range is not satisfiable";
    InvalidRequest => 400, "Invalid Request";
    InvalidStorageClass => 400, "The storage class you specified is not valid";
    InvalidTag => 400, "The tag provided was not a valid tag.";
    InvalidURI => 400, "Couldn't parse the specified URI.";
    KeyTooLongError => 400, "Your key is too long";
    MalformedACLError => 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MalformedPOSTRequest => 400, "The body of your POST request is not well-formed multipart/form-data.";
    MalformedPolicy => 400, "Policies must be valid JSON and the first byte must be '{'";
    MalformedXML => 400, "The XML you provided was not well-formed or did not validate against our published schema";
    MaxPostPreDataLengthExceeded => 400, "Your POST request fields preceding the upload file were too large.";
    MetadataTooLarge => 400, "Your metadata headers exceed the maximum allowed metadata size";
    MethodNotAllowed => 405, "The specified method is not allowed against this resource.";
    MissingContentLength => 411, "You must provide the Content-Length HTTP header.";
    MissingRequestBodyError => 400, "Request Body is empty";
    MissingSecurityHeader => 400, "Your request is missing a required header.";
    NoSuchBucket => 404, "The specified bucket does not exist";
    NoSuchBucketPolicy => 404, "The bucket policy does not exist";
    NoSuchPublicAccessBlockConfiguration => 404, "The public access block configuration was not found";
    NoSuchWebsiteConfiguration => 404, "The specified bucket does not have a website configuration";
    ObjectLockConfigurationNotFoundError => 404, "Object Lock configuration does not exist for this bucket";
    OwnershipControlsNotFoundError => 404, "The bucket ownership controls were not found";
    ReplicationConfigurationNotFoundError => 404, "The replication configuration was not found";
    ServerSideEncryptionConfigurationNotFoundError => 404, "The server side encryption configuration was not found";
    NoSuchCORSConfiguration => 404, "The CORS configuration does not exist";
    NoSuchKey => 404, "The specified key does not exist.";
    NoSuchLifecycleConfiguration => 404, "The lifecycle configuration does not exist";
    NoSuchTagSet => 404, "The TagSet does not exist";
    NoSuchUpload => 404, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NoSuchVersion => 404, "The specified version does not exist.";
    KmsDisabled => 400, "The request was rejected because the specified KMS key is not enabled.";
    KmsInvalidState => 400, "The request was rejected because the state of the specified KMS key is not valid for this request.";
    KmsNotFound => 400, "The request was rejected because the specified KMS key does not exist.";
    NotImplemented => 501, "A header you provided implies functionality that is not implemented";
    NotModified => 304, "Not Modified";
    PreconditionFailed => 412, "At least one of the pre-conditions you specified did not hold";
    RequestHeaderSectionTooLarge => 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => 403, "The difference between the request time and the current time is too large.";
    RequestTimeout => 400, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.";
    ServiceUnavailable => 503, "Please reduce your request rate.";
    SignatureDoesNotMatch => 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    SlowDown => 503, "Please reduce your request rate.";
    UnresolvableGrantByEmailAddress => 400, "The email address you provided does not match any account on record.";
    UnexpectedContent => 400, "This request does not support content";
    StorageFull => 507, "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.";
    XAmzContentSHA256Mismatch => 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
}

impl S3ErrorCode {
    /// The code as it appears in `<Code>`.
    pub fn as_str(self) -> &'static str {
        match self {
            // MinIO's name for the state; see the module comment.
            S3ErrorCode::StorageFull => "XMinioStorageFull",
            S3ErrorCode::KmsDisabled => "KMS.DisabledException",
            S3ErrorCode::KmsInvalidState => "KMS.KMSInvalidStateException",
            S3ErrorCode::KmsNotFound => "KMS.NotFoundException",
            other => other.variant_name(),
        }
    }

    /// 304 (and HEAD answers) carry no body: RFC 9110 forbids one on 304.
    pub fn has_body(self) -> bool {
        self != S3ErrorCode::NotModified
    }
}

/// An S3 error answer: code, message, and the optional elements S3 adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: S3ErrorCode,
    pub message: String,
    pub resource: Option<String>,
    /// Extra elements after HostId, in order (BucketName, Key, ArgumentName,
    /// StringToSign, CanonicalRequest, RequestTime, ServerTime, Region, ...).
    pub extra: Vec<(&'static str, String)>,
    /// Response headers the answer carries besides the document
    /// (x-amz-delete-marker and x-amz-version-id for a delete marker).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    /// An error with the code's standard message.
    pub fn new(code: S3ErrorCode) -> Self {
        S3Error {
            code,
            message: code.default_message().to_string(),
            resource: None,
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Adds an extra element; `name` must be a valid XML element name.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        debug_assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        );
        self.extra.push((name, value.into()));
        self
    }

    /// Adds a response header (a lowercase name).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        debug_assert!(name.bytes().all(|b| !b.is_ascii_uppercase()));
        self.headers.push((name, value.into()));
        self
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The S3 error document.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut out = String::with_capacity(256 + self.message.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        push_elem(&mut out, "Code", self.code.as_str());
        push_elem(&mut out, "Message", &self.message);
        if let Some(r) = &self.resource {
            push_elem(&mut out, "Resource", r);
        }
        push_elem(&mut out, "RequestId", request_id);
        push_elem(&mut out, "HostId", host_id);
        for (name, value) in &self.extra {
            push_elem(&mut out, name, value);
        }
        out.push_str("</Error>");
        out
    }
}

fn push_elem(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for S3Error {}

/// `2014-03-13T18:31:53Z`: the second-precision form S3 uses for ServerTime.
fn iso8601_secs(secs: i64) -> String {
    let millis = time::iso8601_millis(secs.saturating_mul(1000));
    // "YYYY-MM-DDTHH:MM:SS.mmmZ" -> drop ".mmm".
    match millis.rfind('.') {
        Some(dot) => format!("{}Z", &millis[..dot]),
        None => millis,
    }
}

impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> Self {
        use S3ErrorCode as C;
        match e {
            AuthError::Anonymous => S3Error::new(C::AccessDenied),
            AuthError::SignatureV2NotSupported => S3Error::new(C::InvalidRequest).with_message(
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256. \
                 This server takes Signature Version 2 only when started with --allow-sigv2; to sign with \
                 Signature Version 4 instead: boto3 Config(signature_version='s3v4'), \
                 `aws configure set default.s3.signature_version s3v4` (aws CLI v1), `s3cmd --signature-v4`.",
            ),
            AuthError::UnsupportedAlgorithm => S3Error::new(C::InvalidRequest).with_message(
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
            ),
            AuthError::SignatureV2DoesNotMatch {
                string_to_sign,
                signature_provided,
            } => {
                let bytes = string_to_sign
                    .bytes()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                S3Error::new(C::SignatureDoesNotMatch)
                    .with("StringToSign", string_to_sign)
                    .with("SignatureProvided", signature_provided)
                    .with("StringToSignBytes", bytes)
            }
            AuthError::V2HeaderMalformed => S3Error::new(C::InvalidArgument)
                .with_message("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
                .with("ArgumentName", "Authorization".to_string()),
            AuthError::V2QueryParametersMissing => S3Error::new(C::AccessDenied).with_message(
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            ),
            AuthError::AuthorizationHeaderMalformed(m) => {
                S3Error::new(C::AuthorizationHeaderMalformed).with_message(m)
            }
            AuthError::AuthorizationQueryParametersError(m) => {
                S3Error::new(C::AuthorizationQueryParametersError).with_message(m)
            }
            AuthError::WrongRegion { expected, got } => S3Error::new(C::AuthorizationHeaderMalformed)
                .with_message(format!(
                    "The authorization header is malformed; the region '{got}' is wrong; expecting '{expected}'"
                ))
                .with("Region", expected),
            AuthError::MissingDate => S3Error::new(C::AccessDenied)
                .with_message("AWS authentication requires a valid Date or x-amz-date header"),
            AuthError::InvalidAccessKeyId => S3Error::new(C::InvalidAccessKeyId),
            // Deactivated keys get InvalidAccessKeyId too (error-reference pages list
            // "deactivated" among its causes; not measured against AWS by us).
            AuthError::InactiveAccessKey => S3Error::new(C::InvalidAccessKeyId),
            AuthError::SignatureDoesNotMatch {
                string_to_sign,
                canonical_request,
            } => S3Error::new(C::SignatureDoesNotMatch)
                .with("StringToSign", string_to_sign)
                .with("CanonicalRequest", canonical_request),
            AuthError::RequestTimeTooSkewed {
                request_time,
                server_time,
            } => S3Error::new(C::RequestTimeTooSkewed)
                .with("RequestTime", time::amz_date(request_time))
                .with("ServerTime", iso8601_secs(server_time))
                .with("MaxAllowedSkewMilliseconds", MAX_CLOCK_SKEW_MILLIS.to_string()),
            AuthError::RequestExpired => {
                S3Error::new(C::AccessDenied).with_message("Request has expired")
            }
            AuthError::ExpiresOutOfRange => S3Error::new(C::AuthorizationQueryParametersError)
                .with_message("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"),
            AuthError::ExpiresNegative => S3Error::new(C::AuthorizationQueryParametersError)
                .with_message("X-Amz-Expires must be non-negative"),
            AuthError::InvalidContentSha256 => S3Error::new(C::InvalidArgument)
                .with_message("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
                .with("ArgumentName", "x-amz-content-sha256"),
            AuthError::ContentSha256Mismatch => S3Error::new(C::XAmzContentSHA256Mismatch),
            AuthError::ChunkSignatureDoesNotMatch => S3Error::new(C::SignatureDoesNotMatch),
            AuthError::MalformedChunk(what) => S3Error::new(C::IncompleteBody)
                .with_message(format!("The aws-chunked request body is malformed: {what}")),
            AuthError::DecodedLengthMismatch => S3Error::new(C::IncompleteBody),
            AuthError::MissingHeader(h) => S3Error::new(C::InvalidRequest)
                .with_message(format!("Missing required header for this request: {h}")),
            AuthError::InvalidChecksum(m) => S3Error::new(C::InvalidRequest).with_message(m),
            AuthError::InvalidContentMd5 => S3Error::new(C::InvalidDigest),
            AuthError::BadDigest(what) => {
                let e = S3Error::new(C::BadDigest);
                if what.eq_ignore_ascii_case("content-md5") {
                    e
                } else {
                    e.with_message(format!(
                        "The {what} you specified did not match the calculated checksum."
                    ))
                }
            }
        }
    }
}

impl From<HttpError> for S3Error {
    fn from(e: HttpError) -> Self {
        use S3ErrorCode as C;
        match e {
            HttpError::MalformedHead(what) => {
                S3Error::new(C::BadRequest).with_message(format!("Malformed request: {what}"))
            }
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => {
                S3Error::new(C::RequestHeaderSectionTooLarge)
            }
            HttpError::BadContentLength => {
                S3Error::new(C::BadRequest).with_message("Invalid Content-Length")
            }
            // S3 answers an unknown Transfer-Encoding with NotImplemented naming the header.
            HttpError::UnsupportedTransferEncoding => {
                S3Error::new(C::NotImplemented).with("Header", "Transfer-Encoding")
            }
            HttpError::MalformedChunk(what) => S3Error::new(C::BadRequest)
                .with_message(format!("Malformed chunked request body: {what}")),
            HttpError::TruncatedBody => S3Error::new(C::IncompleteBody),
            HttpError::Timeout => S3Error::new(C::RequestTimeout),
        }
    }
}

impl From<&StoreError> for S3Error {
    fn from(e: &StoreError) -> Self {
        use S3ErrorCode as C;
        match e {
            StoreError::NoSpace => S3Error::new(C::StorageFull),
            StoreError::WritesFenced => S3Error::new(C::ServiceUnavailable).with_message(
                "This server no longer accepts writes after a failed disk flush; reads still work.",
            ),
            // Paths and offsets go to the log, not to the client.
            StoreError::Corrupt { .. } => S3Error::new(C::InternalError)
                .with_message("The stored data failed its integrity check and cannot be served."),
            StoreError::PreconditionFailed => S3Error::new(C::PreconditionFailed),
            StoreError::NotFound => S3Error::new(C::NoSuchKey),
            StoreError::DeleteMarker {
                version_id,
                mtime_millis,
            } => delete_marker_error(C::MethodNotAllowed, *version_id, *mtime_millis),
            StoreError::NoSuchUpload => S3Error::new(C::NoSuchUpload),
            StoreError::NoSuchBucket => S3Error::new(C::NoSuchBucket),
            // Retryable: the SDKs retry 503, and the retry gets 200 or 404.
            StoreError::BucketBusy => S3Error::new(C::ServiceUnavailable)
                .with_message("A DeleteBucket of this bucket is in progress; please retry."),
            StoreError::TooLarge => S3Error::new(C::EntityTooLarge)
                .with_message("The assembled object exceeds this server's per-object extent limit"),
            StoreError::Io { .. } | StoreError::Format(_) | StoreError::MediaDamage(_) => {
                S3Error::new(C::InternalError)
            }
        }
    }
}

/// The answer about a delete marker: 404 NoSuchKey when it is the key's
/// current version, 405 MethodNotAllowed when a request named its version
/// id; either way with the headers that say what was found.
pub fn delete_marker_error(code: S3ErrorCode, version_id: u128, mtime_millis: i64) -> S3Error {
    S3Error::new(code)
        .with_header("x-amz-delete-marker", "true")
        .with_header(
            "x-amz-version-id",
            crate::s3::model::version_id_string(version_id),
        )
        .with_header(
            "last-modified",
            crate::util::time::http_date(mtime_millis.div_euclid(1000)),
        )
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        S3Error::from(&e)
    }
}

impl From<FormError> for S3Error {
    fn from(e: FormError) -> Self {
        use S3ErrorCode as C;
        match e {
            FormError::NotMultipart => S3Error::new(C::PreconditionFailed).with(
                "Condition",
                "Bucket POST must be of the enclosure-type multipart/form-data",
            ),
            FormError::Malformed(_) | FormError::TooManyFields => {
                S3Error::new(C::MalformedPOSTRequest)
            }
            FormError::HeadTooLarge => S3Error::new(C::MaxPostPreDataLengthExceeded)
                .with("MaxPostPreDataLength", MAX_FORM_HEAD_BYTES.to_string()),
            FormError::NoFile => S3Error::new(C::IncorrectNumberOfFilesInPostRequest),
        }
    }
}

impl From<PostPolicyError> for S3Error {
    fn from(e: PostPolicyError) -> Self {
        use S3ErrorCode as C;
        let denied = |m: String| {
            S3Error::new(C::AccessDenied).with_message(format!("Invalid according to Policy: {m}"))
        };
        match e {
            PostPolicyError::MissingField(name) => S3Error::new(C::InvalidArgument)
                .with_message(format!(
                    "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
                ))
                .with("ArgumentName", name)
                .with("ArgumentValue", ""),
            PostPolicyError::BadField {
                name,
                value,
                message,
            } => S3Error::new(C::InvalidArgument)
                .with_message(message)
                .with("ArgumentName", name)
                .with("ArgumentValue", value),
            PostPolicyError::Auth(a) => S3Error::from(a),
            PostPolicyError::SignatureMismatch {
                access_key,
                policy,
                provided,
            } => S3Error::new(C::SignatureDoesNotMatch)
                .with("AWSAccessKeyId", access_key)
                .with("StringToSign", policy)
                .with("SignatureProvided", provided),
            PostPolicyError::InvalidPolicy(m) => S3Error::new(C::InvalidPolicyDocument)
                .with_message(format!("Invalid Policy: {m}")),
            PostPolicyError::Expired => denied("Policy expired.".into()),
            PostPolicyError::ConditionFailed(c) => denied(format!("Policy Condition failed: {c}")),
            PostPolicyError::ExtraField(name) => denied(format!("Extra input fields: {name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use S3ErrorCode as C;

    #[test]
    fn status_table() {
        let table = [
            (C::AccessDenied, 403),
            (C::BucketNotEmpty, 409),
            (C::BucketAlreadyOwnedByYou, 409),
            (C::InvalidRange, 416),
            (C::MethodNotAllowed, 405),
            (C::MissingContentLength, 411),
            (C::NoSuchKey, 404),
            (C::NoSuchUpload, 404),
            (C::NotImplemented, 501),
            (C::NotModified, 304),
            (C::PreconditionFailed, 412),
            (C::RequestTimeTooSkewed, 403),
            (C::RequestTimeout, 400),
            (C::SignatureDoesNotMatch, 403),
            (C::SlowDown, 503),
            (C::InternalError, 500),
            (C::StorageFull, 507),
            (C::XAmzContentSHA256Mismatch, 400),
            (C::KeyTooLongError, 400),
        ];
        for (code, status) in table {
            assert_eq!(code.status(), status, "{code:?}");
        }
    }

    #[test]
    fn code_strings_are_names() {
        for &code in C::ALL {
            let s = code.as_str();
            match code {
                C::StorageFull => assert_eq!(s, "XMinioStorageFull"),
                // The KMS errors S3 passes through carry KMS's names.
                C::KmsDisabled => assert_eq!(s, "KMS.DisabledException"),
                C::KmsInvalidState => assert_eq!(s, "KMS.KMSInvalidStateException"),
                C::KmsNotFound => assert_eq!(s, "KMS.NotFoundException"),
                _ => assert_eq!(s, format!("{code:?}")),
            }
            assert!(!code.default_message().is_empty());
        }
        assert!(!C::NotModified.has_body());
        assert!(C::NoSuchKey.has_body());
    }

    #[test]
    fn error_document() {
        let e = S3Error::new(C::NoSuchKey)
            .with_resource("/b/a&b<c>")
            .with("Key", "a&b<c>");
        assert_eq!(
            e.to_xml("REQ1", "HOST1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <Resource>/b/a&amp;b&lt;c&gt;</Resource><RequestId>REQ1</RequestId>\
             <HostId>HOST1</HostId><Key>a&amp;b&lt;c&gt;</Key></Error>"
        );
    }

    #[test]
    fn auth_mapping() {
        let cases: Vec<(AuthError, C, u16)> = vec![
            (AuthError::Anonymous, C::AccessDenied, 403),
            (AuthError::SignatureV2NotSupported, C::InvalidRequest, 400),
            (AuthError::InvalidAccessKeyId, C::InvalidAccessKeyId, 403),
            (AuthError::InactiveAccessKey, C::InvalidAccessKeyId, 403),
            (AuthError::RequestExpired, C::AccessDenied, 403),
            (
                AuthError::ExpiresOutOfRange,
                C::AuthorizationQueryParametersError,
                400,
            ),
            (
                AuthError::ContentSha256Mismatch,
                C::XAmzContentSHA256Mismatch,
                400,
            ),
            (
                AuthError::ChunkSignatureDoesNotMatch,
                C::SignatureDoesNotMatch,
                403,
            ),
            (AuthError::DecodedLengthMismatch, C::IncompleteBody, 400),
            (AuthError::MalformedChunk("size"), C::IncompleteBody, 400),
            (AuthError::BadDigest("Content-MD5"), C::BadDigest, 400),
            (AuthError::InvalidContentMd5, C::InvalidDigest, 400),
            (
                AuthError::InvalidChecksum("bad".into()),
                C::InvalidRequest,
                400,
            ),
            (
                AuthError::MissingHeader("x-amz-content-sha256"),
                C::InvalidRequest,
                400,
            ),
            (AuthError::InvalidContentSha256, C::InvalidArgument, 400),
            (AuthError::MissingDate, C::AccessDenied, 403),
        ];
        for (a, code, status) in cases {
            let e = S3Error::from(a.clone());
            assert_eq!((e.code, e.status()), (code, status), "{a:?}");
        }
        let e = S3Error::from(AuthError::SignatureV2NotSupported);
        assert!(e.message.contains("Please use AWS4-HMAC-SHA256."));
        // The refusal says how to switch each client to SigV4.
        for fix in [
            "--allow-sigv2",
            "signature_version='s3v4'",
            "aws configure set default.s3.signature_version s3v4",
            "s3cmd --signature-v4",
        ] {
            assert!(e.message.contains(fix), "{fix}");
        }
        let e = S3Error::from(AuthError::ExpiresOutOfRange);
        assert_eq!(
            e.message,
            "X-Amz-Expires must be less than a week (in seconds); that is, \
             the given X-Amz-Expires must be less than 604800 seconds"
        );
        let e = S3Error::from(AuthError::ExpiresNegative);
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                C::AuthorizationQueryParametersError,
                "X-Amz-Expires must be non-negative"
            )
        );
    }

    #[test]
    fn auth_extras() {
        let e = S3Error::from(AuthError::WrongRegion {
            expected: "eu-west-1".into(),
            got: "us-east-1".into(),
        });
        assert_eq!(e.code, C::AuthorizationHeaderMalformed);
        assert_eq!(
            e.message,
            "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'"
        );
        assert_eq!(e.extra, vec![("Region", "eu-west-1".to_string())]);

        let e = S3Error::from(AuthError::RequestTimeTooSkewed {
            request_time: 1_394_736_323,
            server_time: 1_394_735_513,
        });
        assert_eq!(e.extra[0], ("RequestTime", "20140313T184523Z".to_string()));
        assert_eq!(
            e.extra[1],
            ("ServerTime", "2014-03-13T18:31:53Z".to_string())
        );

        let e = S3Error::from(AuthError::SignatureDoesNotMatch {
            string_to_sign: "AWS4\nx".into(),
            canonical_request: "GET\n/".into(),
        });
        let xml = e.to_xml("r", "h");
        assert!(xml.contains(
            "<StringToSign>AWS4\nx</StringToSign><CanonicalRequest>GET\n/</CanonicalRequest>"
        ));

        let e = S3Error::from(AuthError::BadDigest("CRC32"));
        assert_eq!(
            e.message,
            "The CRC32 you specified did not match the calculated checksum."
        );
    }

    #[test]
    fn http_mapping() {
        let cases = [
            (HttpError::MalformedHead("x"), C::BadRequest),
            (HttpError::HeadTooLarge, C::RequestHeaderSectionTooLarge),
            (HttpError::TooManyHeaders, C::RequestHeaderSectionTooLarge),
            (HttpError::BadContentLength, C::BadRequest),
            (HttpError::UnsupportedTransferEncoding, C::NotImplemented),
            (HttpError::MalformedChunk("x"), C::BadRequest),
            (HttpError::TruncatedBody, C::IncompleteBody),
            (HttpError::Timeout, C::RequestTimeout),
        ];
        for (h, code) in cases {
            assert_eq!(S3Error::from(h.clone()).code, code, "{h:?}");
        }
    }

    #[test]
    fn store_mapping() {
        let io = StoreError::Io {
            op: "read",
            path: PathBuf::from("/secret/seg"),
            offset: 4096,
            source: std::io::Error::other("boom"),
        };
        let corrupt = StoreError::Corrupt {
            path: PathBuf::from("/secret/seg"),
            offset: 1,
            what: "crc",
        };
        let cases = [
            (StoreError::NoSpace, C::StorageFull, 507),
            (StoreError::WritesFenced, C::ServiceUnavailable, 503),
            (corrupt, C::InternalError, 500),
            (StoreError::PreconditionFailed, C::PreconditionFailed, 412),
            (StoreError::NotFound, C::NoSuchKey, 404),
            (io, C::InternalError, 500),
            (StoreError::Format("v".into()), C::InternalError, 500),
        ];
        for (s, code, status) in cases {
            let e = S3Error::from(&s);
            assert_eq!((e.code, e.status()), (code, status), "{s:?}");
            assert!(!e.to_xml("r", "h").contains("/secret"), "leaks path: {s:?}");
        }
    }
}
