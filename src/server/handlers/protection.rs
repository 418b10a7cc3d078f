//! Requests that ask for a protection ringstore does not give yet are
//! refused with S3's error, never accepted and ignored: a client told its
//! object is locked must be able to rely on it. Object lock (issue 25)
//! replaces these refusals with the real thing.

use super::Req;
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::router::Operation;

/// Headers that lock the object a write creates.
const OBJECT_LOCK_HEADER_PREFIX: &str = "x-amz-object-lock-";
/// CreateBucket's header asking for a bucket with object lock.
const BUCKET_OBJECT_LOCK_HEADER: &str = "x-amz-bucket-object-lock-enabled";

/// Err when `req` asks for object lock: writes naming a lock answer what S3
/// answers for a bucket without object lock (no bucket here has it);
/// CreateBucket asking for a lock-enabled bucket is refused before
/// anything is created.
pub fn refuse_object_lock(req: &Req) -> Result<(), S3Error> {
    match req.op {
        Operation::PutObject
        | Operation::PostObject
        | Operation::CopyObject
        | Operation::CreateMultipartUpload => {
            if let Some((name, _)) = req.head.headers().find(|(n, _)| {
                n.len() >= OBJECT_LOCK_HEADER_PREFIX.len()
                    && n[..OBJECT_LOCK_HEADER_PREFIX.len()]
                        .eq_ignore_ascii_case(OBJECT_LOCK_HEADER_PREFIX)
            }) {
                return Err(S3Error::new(S3ErrorCode::InvalidRequest)
                    .with_message("Bucket is missing Object Lock Configuration")
                    .with("ArgumentName", name.to_string()));
            }
            Ok(())
        }
        Operation::CreateBucket => {
            let asks = req
                .header(BUCKET_OBJECT_LOCK_HEADER)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            if asks {
                return Err(S3Error::new(S3ErrorCode::NotImplemented).with_message(
                    "Object Lock is not supported by this server yet; the bucket was not created.",
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
