//! SigV4 hot paths: header verification of a typical GET, aws-chunked
//! decode+verify of 1 MiB in 64 KiB chunks next to plain SHA-256 of the same
//! bytes (the ratio is the framing and HMAC overhead), and checksum throughput.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ring::digest;

use ringstore::auth::checksum::ChecksumHasher;
use ringstore::auth::sigv4::{self, SigningKeyCache};
use ringstore::auth::{
    authenticate, AuthConfig, AuthRequest, AwsChunkedDecoder, PayloadMode, SecretLookup,
    StreamingContext,
};
use ringstore::store::types::ChecksumAlgorithm;
use ringstore::util::hex;

const MIB: usize = 1 << 20;
const CHUNK: usize = 64 * 1024;
const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const T0: i64 = 1_369_353_600;
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

struct Keys;

impl SecretLookup for Keys {
    fn lookup(&self, access_key: &str) -> Option<(&str, bool)> {
        (access_key == AK).then_some((SECRET, true))
    }
}

fn bench_header_verify(c: &mut Criterion) {
    // The AWS documentation's GET-object example.
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/{SCOPE}, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    let headers: Vec<(&str, &[u8])> = vec![
        ("Host", b"examplebucket.s3.amazonaws.com"),
        ("Authorization", auth.as_bytes()),
        ("Range", b"bytes=0-9"),
        ("User-Agent", b"aws-sdk-rust/1.0"),
        ("x-amz-content-sha256", sigv4::EMPTY_SHA256_HEX.as_bytes()),
        ("x-amz-date", b"20130524T000000Z"),
    ];
    let req = AuthRequest {
        method: "GET",
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
        virtual_host_bucket: None,
    };
    let cfg = AuthConfig {
        region: "us-east-1",
        now: T0,
        max_skew_secs: 900,
        allow_sigv2: false,
    };
    let mut cache = SigningKeyCache::new();
    c.bench_function("sigv4/header_verify_get", |b| {
        b.iter(|| authenticate(black_box(&req), &Keys, &cfg, &mut cache).unwrap())
    });
}

fn signed_chunked_body(payload: &[u8], ctx: &StreamingContext) -> Vec<u8> {
    let mut prev = hex::encode(&ctx.seed_signature);
    let mut out = Vec::with_capacity(payload.len() + 4096);
    let pieces = payload.chunks(CHUNK).chain(std::iter::once(&[][..]));
    for piece in pieces {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{}\n{}",
            ctx.amz_date,
            ctx.scope,
            sigv4::EMPTY_SHA256_HEX,
            sigv4::sha256_hex(piece)
        );
        prev = sigv4::hmac_hex(&ctx.signing_key, sts.as_bytes());
        out.extend_from_slice(format!("{:x};chunk-signature={prev}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn bench_chunked(c: &mut Criterion) {
    let payload = vec![b'a'; MIB];
    let ctx = StreamingContext {
        signing_key: sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3"),
        amz_date: "20130524T000000Z".to_owned(),
        scope: SCOPE.to_owned(),
        seed_signature: [7; 32],
    };
    let body = signed_chunked_body(&payload, &ctx);
    let mut g = c.benchmark_group("sigv4/chunked_1MiB_64KiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.bench_function("decode_verify", |b| {
        b.iter(|| {
            let mut dec =
                AwsChunkedDecoder::new(PayloadMode::StreamingSigned, Some(ctx.clone()), None);
            let mut at = 0;
            loop {
                let d = dec.decode(&body[at..]).unwrap();
                at += d.consumed;
                if d.done {
                    break;
                }
            }
            black_box(dec.decoded_len())
        })
    });
    g.bench_function("ring_sha256_baseline", |b| {
        b.iter(|| digest::digest(&digest::SHA256, black_box(&payload)))
    });
    g.finish();
}

fn bench_checksums(c: &mut Criterion) {
    let data = vec![0x5au8; MIB];
    let mut g = c.benchmark_group("checksum_1MiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    for (name, alg) in [
        ("crc32", ChecksumAlgorithm::Crc32),
        ("crc32c", ChecksumAlgorithm::Crc32c),
        ("crc64nvme", ChecksumAlgorithm::Crc64Nvme),
        ("sha1", ChecksumAlgorithm::Sha1),
        ("sha256", ChecksumAlgorithm::Sha256),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut h = ChecksumHasher::new(alg);
                h.update(black_box(&data));
                h.finish()
            })
        });
    }
    g.bench_function("md5", |b| {
        b.iter(|| {
            use md5::Digest;
            md5::Md5::digest(black_box(&data))
        })
    });
    g.finish();
}

/// The multi-lane MD5 kernel over 1 MiB in total: sixteen 64 KiB messages
/// (every lane busy), and one 1 MiB message (one lane busy) for comparison
/// with `checksum_1MiB/md5` above.
fn bench_md5_lanes(c: &mut Criterion) {
    use ringstore::auth::md5_lanes::{
        compress_lanes, Kernel, LaneBlocks, LaneWords, BLOCK, IDLE_BLOCK, LANES,
    };
    let detected = Kernel::detect();
    let data = vec![0x5au8; MIB];
    let mut g = c.benchmark_group("md5_lanes_1MiB");
    g.throughput(Throughput::Bytes(MIB as u64));
    // 8 or fewer busy lanes run the YMM kernel; 16 the ZMM one.
    for (busy, kernel) in [
        (LANES, detected),
        (8, detected),
        (2, detected),
        (1, detected),
        (1, Kernel::Scalar),
    ] {
        let per_lane = MIB / busy;
        let mask = if busy == LANES {
            u16::MAX
        } else {
            (1u16 << busy) - 1
        };
        g.bench_function(format!("{busy}_lanes_{kernel:?}"), |b| {
            b.iter(|| {
                let mut words = LaneWords {
                    words: [[0x6745_2301; LANES]; 4],
                };
                let mut blocks: LaneBlocks = [&IDLE_BLOCK; LANES];
                for step in 0..per_lane / BLOCK {
                    // Each lane's block read where it lies, as the batcher does.
                    for (lane, block) in blocks.iter_mut().enumerate().take(busy) {
                        let at = lane * per_lane + step * BLOCK;
                        *block = data[at..at + BLOCK].first_chunk().expect("64 bytes");
                    }
                    compress_lanes(kernel, &mut words, black_box(&blocks), mask);
                }
                words
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_header_verify,
    bench_chunked,
    bench_checksums,
    bench_md5_lanes
);
criterion_main!(benches);
