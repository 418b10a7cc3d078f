//! Drives ringstore with the Python clients users run: boto3 and the aws CLI
//! (installed by the tests themselves into target/pyenv).

mod common;

use common::{create_credential, run_pytest, Server};

#[test]
fn boto3_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_boto3.py", &[]);
}

#[test]
fn aws_cli_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_awscli.py", &[]);
}

#[test]
fn s3cmd_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_s3cmd.py", &[]);
}

#[test]
fn multipart_clients_suite() {
    let server = Server::start(3);
    run_pytest(&server, "test_multipart.py", &[]);
}

#[test]
fn versioning_clients_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_versioning.py", &[]);
}

/// Issue 26's answers (multipart checksums, the SDKs' default uploads
/// verified on download, and the small answers) with boto3.
#[test]
fn s3_answers_suite() {
    let server = Server::start(2);
    run_pytest(&server, "test_s3_answers.py", &[]);
}

/// CreateBucket of a bucket you own outside us-east-1: BucketAlreadyOwnedByYou.
#[test]
fn s3_answers_outside_us_east_1() {
    let server = Server::start_with(1, &["--region", "eu-west-1"]);
    run_pytest(
        &server,
        "test_s3_answers.py",
        &[
            ("S3_REGION", "eu-west-1"),
            ("PYTEST_ADDOPTS", "-k create_own_bucket_again"),
        ],
    );
}

/// Signature Version 2 with boto3 (`signature_version='s3'`), s3cmd
/// (signature_v2) and the aws CLI v1's presign, on a server started with
/// --allow-sigv2.
#[test]
fn sigv2_clients_suite() {
    let server = Server::start_with(2, &["--allow-sigv2"]);
    run_pytest(
        &server,
        "test_sigv2.py",
        &[
            ("SIGV2_ALLOWED", "1"),
            ("PYTEST_ADDOPTS", "-k 'not refusal'"),
        ],
    );
}

/// Without --allow-sigv2, SigV2 is refused with how to switch to SigV4.
#[test]
fn sigv2_refused_by_default() {
    let server = Server::start(1);
    run_pytest(
        &server,
        "test_sigv2.py",
        &[("PYTEST_ADDOPTS", "-k refusal")],
    );
}

/// POST Object (issue 27): boto3's generate_presigned_post forms posted
/// with requests. SSE-C over plain HTTP is allowed for its SSE-C case.
#[test]
fn post_object_forms_suite() {
    let server = Server::start_with(2, &["--allow-sse-c-over-http"]);
    run_pytest(&server, "test_post_object.py", &[]);
}

/// Bucket policies, ACL grants, ownership modes, block public access and
/// the expected-owner header through boto3, with two credentials made by
/// the admin API and anonymous HTTP.
#[test]
fn access_control_suite() {
    let server = Server::start(2);
    let alice = create_credential(&server, "alice");
    let bob = create_credential(&server, "bob");
    run_pytest(
        &server,
        "test_access.py",
        &[
            ("ALICE_ACCESS_KEY", &alice.access_key),
            ("ALICE_SECRET_KEY", &alice.secret_key),
            ("ALICE_CANONICAL_ID", &alice.canonical_id),
            ("ALICE_ACCOUNT_ID", &alice.account_id),
            ("BOB_ACCESS_KEY", &bob.access_key),
            ("BOB_SECRET_KEY", &bob.secret_key),
            ("BOB_CANONICAL_ID", &bob.canonical_id),
            ("BOB_ACCOUNT_ID", &bob.account_id),
        ],
    );
}

/// Fault injection seen by boto3 (docs/faults.md): every 2nd PutObject
/// under throttled/ answers an injected 503 SlowDown; boto3 sees the code
/// without retries and completes every upload with standard retries.
#[test]
fn boto3_through_injected_slowdown() {
    let dir = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
    let rules = dir.path().join("faults.toml");
    std::fs::write(
        &rules,
        r#"
[[rules]]
id = "throttle-every-2nd"
match = { operations = ["PutObject"], key_prefix = "throttled/" }
every = 2
action = { error = { code = "SlowDown" } }
"#,
    )
    .expect("write rules");
    let rules = rules.to_str().expect("utf-8 path");
    // One shard: "every 2nd" is counted per shard.
    let server = Server::start_with(1, &["--faults", rules, "--faults-header"]);
    run_pytest(&server, "test_faults.py", &[]);
}

/// Rate limits seen by boto3 (docs/rate-limits.md): a credential limited to
/// 40 requests per second over 2 shards; boto3 sees SlowDown without
/// retries, and with standard retries completes every upload.
#[test]
fn boto3_against_a_credential_rate_limit() {
    let server = Server::start_with(2, &["--rate-limit-credential", "40:4"]);
    run_pytest(&server, "test_rate_limits.py", &[]);
}
