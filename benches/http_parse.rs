//! Request-head parse throughput: the first thing every S3 request pays for.
//! Heads are shaped like the ones aws-sdk-rust / aws-cli send.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringstore::http::{parse_head, BodyFraming};

const GET_HEAD: &[u8] = b"GET /photos/2024/08/IMG_0042.jpg?x-id=GetObject HTTP/1.1\r\n\
host: photos.s3.localhost:9000\r\n\
user-agent: aws-sdk-rust/1.3.3 os/linux lang/rust/1.80.0\r\n\
x-amz-user-agent: aws-sdk-rust/1.3.3 api/s3/1.46.0 os/linux lang/rust/1.80.0\r\n\
range: bytes=0-1048575\r\n\
if-none-match: \"5d41402abc4b2a76b9719d911017c592\"\r\n\
x-amz-checksum-mode: ENABLED\r\n\
amz-sdk-invocation-id: 4b1b1f3e-7c6a-4f1d-9b7a-0e6c1f2d3a4b\r\n\
amz-sdk-request: attempt=1; max=3\r\n\
x-amz-date: 20240807T101010Z\r\n\
x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240807/us-east-1/s3/aws4_request, \
SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;host;if-none-match;range;x-amz-checksum-mode;\
x-amz-content-sha256;x-amz-date;x-amz-user-agent, \
Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\r\n\
accept-encoding: identity\r\n\
\r\n";

const PUT_HEAD: &[u8] = b"PUT /photos/2024/08/IMG_0042.jpg?x-id=PutObject HTTP/1.1\r\n\
host: photos.s3.localhost:9000\r\n\
user-agent: aws-sdk-rust/1.3.3 os/linux lang/rust/1.80.0\r\n\
x-amz-user-agent: aws-sdk-rust/1.3.3 api/s3/1.46.0 os/linux lang/rust/1.80.0\r\n\
content-type: image/jpeg\r\n\
content-length: 1048576\r\n\
expect: 100-continue\r\n\
x-amz-meta-camera: X100V\r\n\
x-amz-checksum-crc32: AAAAAA==\r\n\
amz-sdk-invocation-id: 4b1b1f3e-7c6a-4f1d-9b7a-0e6c1f2d3a4b\r\n\
amz-sdk-request: attempt=1; max=3\r\n\
x-amz-date: 20240807T101010Z\r\n\
x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n\
authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240807/us-east-1/s3/aws4_request, \
SignedHeaders=content-length;content-type;host;x-amz-checksum-crc32;x-amz-content-sha256;\
x-amz-date;x-amz-meta-camera, \
Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\r\n\
\r\n";

/// Parses one head from a receive buffer and reads what a handler reads first.
fn parse_one(buf: &mut BytesMut, wire: &[u8]) -> usize {
    buf.clear();
    buf.extend_from_slice(wire);
    let head = match parse_head(buf) {
        Ok(Some(head)) => head,
        other => panic!("bench head did not parse: {other:?}"),
    };
    let framing = head.body_framing().unwrap_or(BodyFraming::None);
    let auth = head.header("authorization").map_or(0, str::len);
    black_box((
        framing,
        head.keep_alive(),
        head.raw_path(),
        head.raw_query(),
    ));
    auth + head.header_count()
}

fn bench_heads(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_parse");
    for (name, wire) in [("get_head", GET_HEAD), ("put_head", PUT_HEAD)] {
        // Elements = heads, so criterion reports heads/s.
        group.throughput(Throughput::Elements(1));
        let mut buf = BytesMut::with_capacity(64 * 1024);
        group.bench_function(name, |b| b.iter(|| parse_one(&mut buf, black_box(wire))));
    }
    group.finish();
}

criterion_group!(benches, bench_heads);
criterion_main!(benches);
