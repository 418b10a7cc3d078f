//! The S3 protocol layer, without I/O: routing, addressing, names, query
//! strings, ranges, conditional headers, XML documents and error answers.

pub mod addressing;
pub mod conditional;
pub mod cors;
pub mod error;
pub mod lifecycle;
pub mod model;
pub mod names;
pub mod query;
pub mod range;
pub mod router;
pub mod xml;

pub use addressing::split_target;
pub use conditional::{evaluate_copy_source, evaluate_read, CondOutcome};
pub use error::{S3Error, S3ErrorCode};
pub use names::{validate_bucket_name, validate_key, MAX_KEY_BYTES, MAX_USER_METADATA_BYTES};
pub use query::{url_encode_key, Query};
pub use range::{parse_range, resolve, RangeSpec};
pub use router::{route, HttpMethod, Operation};
