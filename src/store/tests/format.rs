//! Record format: round trips, CRC detection, the stored v1 sample.

use super::*;

const GOLDEN_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/store/testdata/format-v1.bin"
);

fn sample_meta() -> ObjectMeta {
    ObjectMeta {
        size: 11,
        etag: "5eb63bbbe01eeed093cb22bb8f5acdc3".into(),
        mtime_millis: 1_700_000_000_123,
        content_type: Some("text/plain".into()),
        cache_control: None,
        content_disposition: Some("attachment; filename=\"h.txt\"".into()),
        content_encoding: None,
        content_language: Some("en".into()),
        expires: None,
        user_meta: vec![("owner".into(), "ünïcode".into())],
        tags: vec![("k".into(), "v".into())],
        checksum: Some(StoredChecksum {
            algorithm: ChecksumAlgorithm::Crc32c,
            digest: vec![1, 2, 3, 4],
            parts: 0,
        }),
        part_sizes: vec![5 << 20, 11],
        sse: None,
        multipart: None,
    }
}

fn sample_records() -> Vec<(RecordKind, u8, Vec<u8>)> {
    let ext = Extent {
        segment: 1,
        offset: 64,
        payload_len: 11,
    };
    vec![
        (
            RecordKind::SegmentHeader,
            0,
            SegmentHeaderRec {
                segment_id: 1,
                shard: 2,
                shard_count: 4,
                format_version: 1,
                created_millis: 1_700_000_000_000,
            }
            .encode(),
        ),
        (RecordKind::Data, 0, b"hello world".to_vec()),
        (
            RecordKind::Commit,
            RECORD_FLAG_ENCRYPTED,
            CommitRec {
                bucket: 7,
                key: "dir/ключ".into(),
                version_id: 0x0123_4567_89ab_cdef_u128 << 64,
                meta: sample_meta(),
                extents: vec![ext],
            }
            .encode(),
        ),
        (
            RecordKind::Delete,
            0,
            DeleteRec {
                bucket: 7,
                key: "gone".into(),
                version_id: 9,
                delete_marker: true,
            }
            .encode(),
        ),
        (
            RecordKind::MultipartInit,
            0,
            MultipartInitRec {
                upload_id: 42,
                bucket: 7,
                key: "mp".into(),
                meta: ObjectMeta::default(),
            }
            .encode(),
        ),
        (
            RecordKind::MultipartPart,
            0,
            MultipartPartRec {
                upload_id: 42,
                part_number: 3,
                size: 11,
                mtime_millis: 1_700_000_000_456,
                etag: "abc".into(),
                checksum: None,
                extents: vec![ext],
            }
            .encode(),
        ),
        (
            RecordKind::MultipartComplete,
            0,
            MultipartCompleteRec {
                upload_id: 42,
                commit: CommitRec {
                    bucket: 7,
                    key: "mp".into(),
                    version_id: 0,
                    meta: sample_meta(),
                    extents: vec![ext, ext],
                },
            }
            .encode(),
        ),
        (
            RecordKind::MultipartAbort,
            0,
            MultipartEndRec {
                upload_id: 43,
                bucket: 7,
                key: "mp2".into(),
            }
            .encode(),
        ),
    ]
}

fn encode_all() -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (kind, flags, payload)) in sample_records().iter().enumerate() {
        let mut buf = vec![0u8; record_bytes(payload.len())];
        encode_record(&mut buf, *kind, *flags, 100 + i as u64, payload);
        out.extend_from_slice(&buf);
    }
    out
}

/// Regenerates the stored sample; run only on a deliberate format change.
#[test]
#[ignore]
fn write_golden_sample() {
    std::fs::write(GOLDEN_PATH, encode_all()).expect("write golden");
}

fn check_payload(kind: RecordKind, p: &[u8]) {
    match kind {
        RecordKind::SegmentHeader => {
            assert_eq!(SegmentHeaderRec::decode(p).expect("hdr").shard_count, 4)
        }
        RecordKind::Data => assert_eq!(p, b"hello world"),
        RecordKind::Commit => {
            let c = CommitRec::decode(p).expect("commit");
            assert_eq!(
                (c.bucket, c.key.as_str(), c.version_id),
                (7, "dir/ключ", 0x0123_4567_89ab_cdef_u128 << 64)
            );
            assert_eq!(c.meta, sample_meta());
            assert_eq!(
                c.extents,
                vec![Extent {
                    segment: 1,
                    offset: 64,
                    payload_len: 11
                }]
            );
        }
        // Not in the v1 sample (kind 10 came with object versioning).
        RecordKind::Version => {
            VersionRec::decode(p).expect("version");
        }
        RecordKind::Delete => assert_eq!(
            DeleteRec::decode(p).expect("del"),
            DeleteRec {
                bucket: 7,
                key: "gone".into(),
                version_id: 9,
                delete_marker: true
            }
        ),
        RecordKind::MultipartInit => {
            assert_eq!(MultipartInitRec::decode(p).expect("init").upload_id, 42)
        }
        RecordKind::MultipartPart => {
            let m = MultipartPartRec::decode(p).expect("part");
            assert_eq!((m.part_number, m.size, m.etag.as_str()), (3, 11, "abc"));
            assert_eq!(m.mtime_millis, 1_700_000_000_456);
        }
        RecordKind::MultipartComplete => {
            let c = MultipartCompleteRec::decode(p).expect("complete");
            assert_eq!((c.upload_id, c.commit.extents.len()), (42, 2));
            assert_eq!(c.commit.meta, sample_meta());
        }
        RecordKind::MultipartAbort => {
            assert_eq!(MultipartEndRec::decode(p).expect("abort").key, "mp2")
        }
        RecordKind::Checkpoint => panic!("no checkpoint in sample"),
        // Not in the v1 sample (kind 11 came with format version 2).
        RecordKind::Sync => {
            SyncRec::decode(p).expect("sync");
        }
    }
}

/// The stored sample was written by format version 1: it still decodes,
/// and the encoder writes the same bytes but for the header's version
/// field (and so the CRC). Version 2 only added a record kind.
#[test]
fn golden_v1_sample_decodes() {
    let stored = std::fs::read(GOLDEN_PATH).expect("golden file");
    let now = encode_all();
    assert_eq!(
        stored.len(),
        now.len(),
        "encoder drifted from the v1 layout"
    );
    let want = sample_records();
    let mut pos = 0;
    for (i, (kind, flags, _)) in want.iter().enumerate() {
        let (h, p) = decode_record(&stored[pos..]).expect("record");
        assert_eq!(
            (h.kind, h.flags, h.version, h.seq),
            (*kind, *flags, 1, 100 + i as u64)
        );
        check_payload(h.kind, p);
        let (h2, p2) = decode_record(&now[pos..]).expect("re-encoded record");
        assert_eq!((h2.kind, h2.version, p2), (h.kind, FORMAT_VERSION, p));
        let len = record_bytes(p.len());
        let (mut old, mut new) = (
            stored[pos..pos + len].to_vec(),
            now[pos..pos + len].to_vec(),
        );
        for r in [&mut old, &mut new] {
            r[6..8].fill(0);
            r[24..28].fill(0);
        }
        assert_eq!(old, new, "record {i} drifted from the v1 layout");
        pos += len;
    }
    assert_eq!(pos, stored.len());
}

#[test]
fn sync_records_round_trip() {
    let rec = SyncRec {
        segment: 7,
        offset: 123_456,
        seq: 99,
    };
    assert_eq!(SyncRec::decode(&rec.encode()), Ok(rec));
    let mut buf = vec![0u8; SYNC_RECORD_BYTES];
    let n = encode_record(&mut buf, RecordKind::Sync, 0, 100, &rec.encode());
    assert_eq!(n, SYNC_RECORD_BYTES);
    let (h, p) = decode_record(&buf).expect("sync record");
    assert_eq!(
        (h.kind, h.version, SyncRec::decode(p)),
        (RecordKind::Sync, 2, Ok(rec))
    );
    assert!(SyncRec::decode(&p[..p.len() - 1]).is_err());
}

#[test]
fn every_bit_flip_is_detected() {
    let payload = CommitRec {
        bucket: 1,
        key: "k".into(),
        version_id: 0,
        meta: sample_meta(),
        extents: vec![],
    }
    .encode();
    let mut buf = vec![0u8; record_bytes(payload.len())];
    encode_record(&mut buf, RecordKind::Commit, 0, 5, &payload);
    let used = HEADER_BYTES + payload.len();
    for bit in 0..used * 8 {
        let mut b = buf.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        assert!(decode_record(&b).is_err(), "flip of bit {bit} undetected");
    }
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic_on_garbage(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        let _ = decode_record(&bytes);
        let _ = CommitRec::decode(&bytes);
        let _ = DeleteRec::decode(&bytes);
        let _ = MultipartPartRec::decode(&bytes);
        let _ = MultipartCompleteRec::decode(&bytes);
        let _ = MultipartInitRec::decode(&bytes);
        let _ = SegmentHeaderRec::decode(&bytes);
        let _ = VersionRec::decode(&bytes);
        let _ = SyncRec::decode(&bytes);
    }

    /// Version records round-trip for every op, and a marker that carries
    /// data, or a version delete flagged as a marker, does not decode.
    #[test]
    fn version_records_round_trip(order in 0u64..1 << 40, vid in proptest::prelude::any::<u128>(), marker in proptest::prelude::any::<bool>()) {
        let commit = CommitRec {
            bucket: 9,
            key: "k/ü".into(),
            version_id: vid,
            meta: if marker { ObjectMeta { mtime_millis: 5, ..ObjectMeta::default() } } else { sample_meta() },
            extents: if marker { vec![] } else { vec![Extent { segment: 2, offset: 8, payload_len: 11 }] },
        };
        for op in [
            VersionOp::Put { commit: Box::new(commit.clone()), marker },
            VersionOp::Remove(DeleteRec { bucket: 9, key: "k/ü".into(), version_id: vid, delete_marker: false }),
        ] {
            let rec = VersionRec { order, op };
            proptest::prop_assert_eq!(VersionRec::decode(&rec.encode()), Ok(rec));
        }
        let mut with_data = commit.clone();
        with_data.extents = vec![Extent { segment: 1, offset: 0, payload_len: 1 }];
        let bad = VersionRec { order, op: VersionOp::Put { commit: Box::new(with_data), marker: true } };
        proptest::prop_assert!(VersionRec::decode(&bad.encode()).is_err());
    }
}

proptest::proptest! {
    /// A Data record encoded from a body's pieces (as `ObjectWriter` hands
    /// them to the log) is byte for byte the record of the whole payload.
    #[test]
    fn record_from_pieces_equals_record_of_the_whole(
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..9000),
        cuts in proptest::collection::vec(0usize..9000, 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(payload.len())).collect();
        cuts.sort_unstable();
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut at = 0;
        for c in cuts.into_iter().chain([payload.len()]) {
            parts.push(&payload[at..c]); // empty pieces included
            at = c;
        }
        let len = record_bytes(payload.len());
        let mut whole = vec![0xAAu8; len];
        let mut pieced = vec![0x55u8; len];
        encode_record(&mut whole, RecordKind::Data, 0, 42, &payload);
        encode_record_parts(&mut pieced, RecordKind::Data, 0, 42, &parts);
        proptest::prop_assert_eq!(whole, pieced);
    }
}

/// Encrypted objects' parameters ride in the meta under their own presence
/// bit; unencrypted metas encode exactly as before (the golden sample).
#[test]
fn encryption_parameters_round_trip() {
    for kind in [SseKind::S3, SseKind::Customer] {
        let mut meta = sample_meta();
        meta.sse = Some(SseInfo {
            kind,
            seed: [7; 32],
            key_md5: [9; 16],
            kms: None,
        });
        let rec = CommitRec {
            bucket: 1,
            key: "enc".into(),
            version_id: 0,
            meta: meta.clone(),
            extents: vec![],
        };
        let back = CommitRec::decode(&rec.encode()).expect("decode");
        assert_eq!(back.meta, meta);
        // Cutting the parameters off is a decode error, not a plain object.
        let bytes = rec.encode();
        assert!(CommitRec::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}

/// An SSE-KMS envelope rides under meta bit 10, after the SSE parameters
/// and before bit 11's multipart block; kind 3 without it (or it without
/// kind 3) is refused, and cutting it short is a decode error.
#[test]
fn kms_envelope_round_trips_under_bit_10() {
    for (context, multipart) in [(None, false), (Some("{\"a\":\"b\"}"), true)] {
        let mut meta = sample_meta();
        meta.sse = Some(SseInfo {
            kind: SseKind::Kms,
            seed: [7; 32],
            key_md5: [0; 16],
            kms: Some(Box::new(crate::store::KmsEnvelope {
                key_arn: "arn:aws:kms:us-east-1:000000000001:key/k".into(),
                key_version: 3,
                wrapped_data_key: [5; crate::store::WRAPPED_DATA_KEY_BYTES],
                context: context.map(str::to_string),
                bucket_key_enabled: true,
                dsse: multipart,
            })),
        });
        if multipart {
            meta.multipart = Some(Box::new(MultipartDetails {
                checksum: None,
                part_checksums: vec![],
                initiator: Some(1),
            }));
        }
        let rec = CommitRec {
            bucket: 1,
            key: "kms".into(),
            version_id: 0,
            meta: meta.clone(),
            extents: vec![],
        };
        let bytes = rec.encode();
        assert_eq!(CommitRec::decode(&bytes).expect("decode").meta, meta);
        assert!(CommitRec::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut without = meta.clone();
        if let Some(s) = without.sse.as_mut() {
            s.kms = None;
        }
        let rec = CommitRec {
            meta: without,
            ..rec
        };
        // encode asserts the invariant in debug builds; decode must refuse
        // such bytes whatever wrote them.
        let no_env = std::panic::catch_unwind(|| rec.encode());
        if let Ok(b) = no_env {
            assert!(CommitRec::decode(&b).is_err());
        }
    }
}

/// Multipart checksum details and the initiator ride under meta bit 11,
/// after every other field: a meta without them encodes as before (the
/// golden sample), one with them round-trips with the block's bytes as
/// pinned here, alone and after encryption parameters.
#[test]
fn multipart_details_round_trip_under_bit_11() {
    let details = MultipartDetails {
        checksum: Some((ChecksumAlgorithm::Crc32, ChecksumType::Composite)),
        part_checksums: vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]],
        initiator: Some(3),
    };
    let block: &[u8] = &[
        1, 1, // CRC32, composite
        1, 3, 0, 0, 0, 0, 0, 0, 0, // initiator 3
        2, 0, 0, 0, 4, 1, 2, 3, 4, 4, 5, 6, 7, 8, // two part checksums
    ];
    for sse in [
        None,
        Some(SseInfo {
            kms: None,
            kind: SseKind::S3,
            seed: [7; 32],
            key_md5: [0; 16],
        }),
    ] {
        let mut meta = sample_meta();
        meta.sse = sse;
        meta.multipart = Some(Box::new(details.clone()));
        let rec = CommitRec {
            bucket: 1,
            key: "mp".into(),
            version_id: 0,
            meta: meta.clone(),
            extents: vec![],
        };
        let bytes = rec.encode();
        // Bit 11's block ends the meta; a commit's extents follow it (none
        // here: a count of 0).
        let tail = [block, &0u32.to_le_bytes()[..]].concat();
        assert!(bytes.ends_with(&tail), "bit 11's block ends the meta");
        assert_eq!(CommitRec::decode(&bytes).expect("decode").meta, meta);
        assert!(CommitRec::decode(&bytes[..bytes.len() - 1]).is_err());
    }
    // An upload that declared nothing but its initiator.
    let mut meta = sample_meta();
    meta.multipart = Some(Box::new(MultipartDetails {
        initiator: Some(1),
        ..Default::default()
    }));
    let init = MultipartInitRec {
        upload_id: 5,
        bucket: 1,
        key: "u".into(),
        meta: meta.clone(),
    };
    assert_eq!(
        MultipartInitRec::decode(&init.encode()).expect("init").meta,
        meta
    );
    // Without details nothing is appended: the v1 encoding is unchanged.
    let plain = CommitRec {
        bucket: 1,
        key: "p".into(),
        version_id: 0,
        meta: sample_meta(),
        extents: vec![],
    };
    let mut with = plain.clone();
    with.meta.multipart = Some(Box::new(details));
    assert_eq!(with.encode().len(), plain.encode().len() + block.len());
}
