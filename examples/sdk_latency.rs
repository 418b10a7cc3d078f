//! Latency of one aws-sdk-s3 client doing one request after another — a
//! latency-sensitive SDK user, not a load generator. PUTs then GETs 4 KiB
//! objects for a few seconds each and prints ops/s and percentiles.
//!
//!   cargo run --release --example sdk_latency -- http://127.0.0.1:9000 [SECONDS]
//!
//! Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; region
//! us-east-1. Uses (and leaves) the bucket `sdk-latency`. Its figures with
//! and without the idle spin: tuning/README.md, "Idle spin".

use aws_sdk_s3::primitives::ByteStream;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

const BUCKET: &str = "sdk-latency";
const KEYS: usize = 100;
const SIZE: usize = 4096;

fn report(op: &str, h: &Histogram<u64>, elapsed: Duration) {
    let us = |q: f64| h.value_at_quantile(q);
    println!(
        "{op:4} {:7} ops {:8.0} ops/s  p50 {:5} us  p90 {:5} us  p99 {:5} us  p99.9 {:5} us",
        h.len(),
        h.len() as f64 / elapsed.as_secs_f64(),
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
    );
}

async fn run(endpoint: String, seconds: u64) -> Result<(), String> {
    let access = std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| "AWS_ACCESS_KEY_ID unset")?;
    let secret =
        std::env::var("AWS_SECRET_ACCESS_KEY").map_err(|_| "AWS_SECRET_ACCESS_KEY unset")?;
    let creds = aws_credential_types::Credentials::new(access, secret, None, None, "sdk-latency");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    if let Err(e) = s3.create_bucket().bucket(BUCKET).send().await {
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e).unwrap_or_default();
        if code != "BucketAlreadyOwnedByYou" {
            return Err(format!("create bucket: {e:?}"));
        }
    }
    let body = vec![0x5au8; SIZE];
    let limit = Duration::from_secs(seconds);
    let new_hist =
        || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string());

    let mut puts = new_hist()?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < limit {
        let t = Instant::now();
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("k{}", n % KEYS))
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .map_err(|e| format!("put: {e:?}"))?;
        puts.saturating_record(t.elapsed().as_micros() as u64);
        n += 1;
    }
    report("PUT", &puts, start.elapsed());

    let mut gets = new_hist()?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < limit {
        let t = Instant::now();
        let got = s3
            .get_object()
            .bucket(BUCKET)
            .key(format!("k{}", n % KEYS))
            .send()
            .await
            .map_err(|e| format!("get: {e:?}"))?
            .body
            .collect()
            .await
            .map_err(|e| format!("get body: {e:?}"))?
            .into_bytes();
        if got.len() != SIZE {
            return Err(format!("GET returned {} bytes, expected {SIZE}", got.len()));
        }
        gets.saturating_record(t.elapsed().as_micros() as u64);
        n += 1;
    }
    report("GET", &gets, start.elapsed());
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:9000".into());
    let seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(endpoint, seconds)) {
        eprintln!("sdk_latency: {e}");
        std::process::exit(1);
    }
}
