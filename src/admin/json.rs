//! JSON in and out for the management API: the error shape every failure
//! uses, response builders, and bounded request-body reading.

use crate::server::body::BodyReader;
use crate::server::conn::Conn;
use crate::server::respond::{Body, Response};
use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest JSON request body the API reads (a DeleteObjects list of 1000 long keys fits).
pub const MAX_JSON_BODY_BYTES: usize = 2 * 1024 * 1024;

/// A failed API call: HTTP status, a short machine-readable code, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, error: &'static str, message: impl Into<String>) -> ApiError {
        debug_assert!((400..600).contains(&status));
        ApiError {
            status,
            error,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "NotFound", message)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(409, "Conflict", message)
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            401,
            "Unauthorized",
            "this endpoint needs `Authorization: Bearer <admin API key>` (the key is admin_api_key in DATA_DIR/credentials.json)",
        )
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalError", message)
    }

    pub fn response(&self) -> Response {
        let body = serde_json::json!({ "error": self.error, "message": self.message });
        let mut r = json(self.status, &body);
        if self.status == 401 {
            r.push_header("WWW-Authenticate", "Bearer realm=\"ringstore-admin\"");
        }
        r
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// `status` with `value` serialised as the body.
pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
    // Serialising our own plain structs cannot fail.
    let bytes = serde_json::to_vec(value).expect("serialise API response");
    bytes_with_type(status, "application/json", Bytes::from(bytes))
}

/// `{"message": ...}`, the seed's shape for operations without a result.
pub fn done() -> Response {
    json(
        200,
        &serde_json::json!({ "message": "Operation completed successfully" }),
    )
}

pub fn bytes_with_type(status: u16, content_type: &str, body: Bytes) -> Response {
    let mut r = Response::new(status);
    r.push_header("Content-Type", content_type.to_string());
    r.push_header("Cache-Control", "no-store");
    r.body = Body::Full(body);
    r
}

/// Reads the whole request body (at most MAX_JSON_BODY_BYTES).
pub async fn read_body(conn: &mut Conn, body: &mut BodyReader) -> Result<Bytes, ApiError> {
    let mut out = BytesMut::new();
    loop {
        match body.next(conn).await {
            Ok(Some(piece)) => {
                if out.len() + piece.len() > MAX_JSON_BODY_BYTES {
                    return Err(ApiError::new(
                        413,
                        "PayloadTooLarge",
                        format!("request bodies are limited to {MAX_JSON_BODY_BYTES} bytes"),
                    ));
                }
                out.extend_from_slice(&piece);
            }
            Ok(None) => return Ok(out.freeze()),
            Err(_) => return Err(ApiError::bad_request("the request body could not be read")),
        }
    }
}

/// Parses a JSON body into `T`; the body is required (send `{}` for no fields).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "a JSON request body is required (send {} for none)",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// "1.0 GB": binary multiples with one decimal, as the seed shows.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// RFC 3339 timestamp of `millis` since the epoch.
pub fn timestamp(millis: i64) -> String {
    crate::util::time::iso8601_millis(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_match_the_seed() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024000), "1000.0 KB");
        assert_eq!(human_size(1073741824), "1.0 GB");
        assert_eq!(human_size(26214400), "25.0 MB");
    }

    #[test]
    fn body_is_required_and_parsed() {
        #[derive(serde::Deserialize)]
        struct T {
            a: Option<u32>,
        }
        assert_eq!(parse::<T>(b"  ").err().map(|e| e.status), Some(400));
        assert_eq!(parse::<T>(b"{}").expect("empty object").a, None);
        assert_eq!(parse::<T>(b"{\"a\":3}").expect("a").a, Some(3));
        assert_eq!(parse::<T>(b"[").err().map(|e| e.status), Some(400));
    }
}
