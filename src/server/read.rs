//! Deciding what a GET or HEAD returns from an object's metadata alone:
//! conditional headers, Range, partNumber. Pure, so the owner shard and a
//! forwarding shard reach the same answer, and table-testable.

use crate::s3::conditional::{evaluate_read, CondOutcome};
use crate::s3::error::{S3Error, S3ErrorCode};
use crate::s3::range::{parse_range, resolve};
use crate::store::ObjectMeta;

/// The parts of a GET/HEAD request that shape the answer (Send, for forwarding).
#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    pub head_only: bool,
    /// The version asked for (`versionId`); None: the current one.
    pub version_id: Option<u128>,
    pub range: Option<String>,
    pub part_number: Option<String>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_unmodified_since: Option<String>,
}

/// What to send: 200 or 206 with `[start, end)`, or 304.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPlan {
    pub status: u16,
    pub start: u64,
    pub end: u64,
    /// `bytes a-b/size` for 206 answers.
    pub content_range: Option<String>,
    /// x-amz-mp-parts-count, when partNumber was asked of a multipart object.
    pub parts_count: Option<u32>,
}

impl ReadPlan {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// Plans the answer to `req` for an object with `meta`.
pub fn plan_read(meta: &ObjectMeta, req: &ReadRequest) -> Result<ReadPlan, S3Error> {
    let size = meta.size;
    match evaluate_read(
        req.if_match.as_deref(),
        req.if_none_match.as_deref(),
        req.if_modified_since.as_deref(),
        req.if_unmodified_since.as_deref(),
        &meta.etag,
        meta.mtime_millis / 1000,
    ) {
        CondOutcome::Proceed => {}
        CondOutcome::NotModified => {
            return Ok(ReadPlan {
                status: 304,
                start: 0,
                end: 0,
                content_range: None,
                parts_count: None,
            })
        }
        CondOutcome::PreconditionFailed => {
            return Err(S3Error::new(S3ErrorCode::PreconditionFailed)
                .with_message("At least one of the pre-conditions you specified did not hold"))
        }
    }
    if let Some(pn) = &req.part_number {
        if req.range.is_some() {
            return Err(S3Error::new(S3ErrorCode::InvalidRequest)
                .with_message("Cannot specify both Range header and partNumber query parameter"));
        }
        return plan_part(meta, pn);
    }
    let whole = ReadPlan {
        status: 200,
        start: 0,
        end: size,
        content_range: None,
        parts_count: None,
    };
    let Some(spec) = req.range.as_deref().and_then(parse_range) else {
        return Ok(whole);
    };
    match resolve(spec, size) {
        Ok((start, last)) => Ok(ReadPlan {
            status: 206,
            start,
            end: last + 1,
            content_range: Some(format!("bytes {start}-{last}/{size}")),
            parts_count: None,
        }),
        Err(()) => Err(S3Error::new(S3ErrorCode::InvalidRange)
            .with_message("The requested range is not satisfiable")
            .with("ActualObjectSize", size.to_string())
            .with("RangeRequested", req.range.clone().unwrap_or_default())),
    }
}

fn plan_part(meta: &ObjectMeta, raw: &str) -> Result<ReadPlan, S3Error> {
    let invalid = || {
        S3Error::new(S3ErrorCode::InvalidArgument)
            .with_message("Part number must be an integer between 1 and 10000, inclusive")
            .with("ArgumentName", "partNumber".to_string())
            .with("ArgumentValue", raw.to_string())
    };
    let n: u32 = raw.parse().map_err(|_| invalid())?;
    if !(1..=10_000).contains(&n) {
        return Err(invalid());
    }
    if meta.part_sizes.is_empty() {
        // A single-part object is its own part 1, read as a range over the
        // whole object: 206 with Content-Range, as S3 answers (an empty
        // object has no range to name: 200).
        if n != 1 {
            return Err(S3Error::new(S3ErrorCode::InvalidPartNumber)
                .with_message("The requested partnumber is not satisfiable"));
        }
        let size = meta.size;
        return Ok(ReadPlan {
            status: if size == 0 { 200 } else { 206 },
            start: 0,
            end: size,
            content_range: (size > 0).then(|| format!("bytes 0-{}/{size}", size - 1)),
            parts_count: None,
        });
    }
    let idx = (n - 1) as usize;
    let Some(&len) = meta.part_sizes.get(idx) else {
        return Err(S3Error::new(S3ErrorCode::InvalidPartNumber)
            .with_message("The requested partnumber is not satisfiable"));
    };
    let start: u64 = meta.part_sizes[..idx].iter().sum();
    let end = start + len;
    debug_assert!(end <= meta.size);
    Ok(ReadPlan {
        status: 206,
        start,
        end,
        content_range: Some(format!(
            "bytes {start}-{}/{}",
            end.saturating_sub(1),
            meta.size
        )),
        parts_count: Some(meta.part_sizes.len() as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64) -> ObjectMeta {
        ObjectMeta {
            size,
            etag: "abc".into(),
            mtime_millis: 1_000_000_000_000,
            ..Default::default()
        }
    }

    fn req(range: Option<&str>) -> ReadRequest {
        ReadRequest {
            range: range.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn ranges_plan_as_s3_answers() {
        let m = meta(100);
        assert_eq!(plan_read(&m, &req(None)).expect("whole").status, 200);
        let p = plan_read(&m, &req(Some("bytes=10-19"))).expect("range");
        assert_eq!((p.status, p.start, p.end), (206, 10, 20));
        assert_eq!(p.content_range.as_deref(), Some("bytes 10-19/100"));
        let p = plan_read(&m, &req(Some("bytes=-5"))).expect("suffix");
        assert_eq!((p.start, p.end), (95, 100));
        let p = plan_read(&m, &req(Some("bytes=90-1000"))).expect("clamped");
        assert_eq!((p.start, p.end), (90, 100));
        let e = plan_read(&m, &req(Some("bytes=100-"))).expect_err("unsatisfiable");
        assert_eq!(e.code, S3ErrorCode::InvalidRange);
        // Garbage ranges are ignored, as S3 does.
        assert_eq!(
            plan_read(&m, &req(Some("bits=1-2")))
                .expect("ignored")
                .status,
            200
        );
    }

    #[test]
    fn conditionals_come_before_ranges() {
        let m = meta(10);
        let r = ReadRequest {
            if_none_match: Some("\"abc\"".into()),
            range: Some("bytes=0-1".into()),
            ..Default::default()
        };
        assert!(plan_read(&m, &r).expect("304").not_modified());
        let r = ReadRequest {
            if_match: Some("\"zzz\"".into()),
            ..Default::default()
        };
        assert_eq!(
            plan_read(&m, &r).expect_err("412").code,
            S3ErrorCode::PreconditionFailed
        );
    }

    #[test]
    fn part_numbers() {
        let mut m = meta(12);
        m.part_sizes = vec![5, 5, 2];
        let r = ReadRequest {
            part_number: Some("2".into()),
            ..Default::default()
        };
        let p = plan_read(&m, &r).expect("part 2");
        assert_eq!((p.start, p.end, p.parts_count), (5, 10, Some(3)));
        let r = ReadRequest {
            part_number: Some("4".into()),
            ..Default::default()
        };
        assert_eq!(
            plan_read(&m, &r).expect_err("no part 4").code,
            S3ErrorCode::InvalidPartNumber
        );
        // A single-part object's part 1: the whole object as a range.
        let r = ReadRequest {
            part_number: Some("1".into()),
            ..Default::default()
        };
        let p = plan_read(&meta(7), &r).expect("part 1");
        assert_eq!((p.status, p.start, p.end), (206, 0, 7));
        assert_eq!(p.content_range.as_deref(), Some("bytes 0-6/7"));
        assert_eq!(p.parts_count, None);
        let p = plan_read(&meta(0), &r).expect("part 1 of nothing");
        assert_eq!((p.status, p.len(), p.content_range), (200, 0, None));
    }
}
