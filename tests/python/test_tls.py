"""boto3 and the aws CLI over the HTTPS listener, verifying its certificate
(S3_TLS_ENDPOINT, S3_TLS_CA come from tests/tls.rs)."""
import os
import subprocess
import uuid

import boto3
import botocore
import pytest
from botocore.config import Config


@pytest.fixture
def tls_s3():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_TLS_ENDPOINT"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name="us-east-1",
        verify=os.environ["S3_TLS_CA"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_boto3_round_trip_over_https(tls_s3):
    bucket = "tls-" + uuid.uuid4().hex[:10]
    tls_s3.create_bucket(Bucket=bucket)
    body = os.urandom(9 * 1024 * 1024)
    tls_s3.put_object(Bucket=bucket, Key="big", Body=body)  # aws-chunked with a trailer
    assert tls_s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body
    keys = [o["Key"] for o in tls_s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["big"]


def test_unverified_certificates_are_rejected_by_default():
    strict = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_TLS_ENDPOINT"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.SSLError):
        strict.list_buckets()


def test_aws_cli_over_https(cli_env, tmp_path):
    bucket = "tls-cli-" + uuid.uuid4().hex[:8]
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(20 * 1024 * 1024))  # multipart through the CLI
    base = ["aws", "--endpoint-url", os.environ["S3_TLS_ENDPOINT"], "--ca-bundle", os.environ["S3_TLS_CA"]]
    subprocess.run(base + ["s3", "mb", f"s3://{bucket}"], env=cli_env, check=True)
    subprocess.run(base + ["s3", "cp", str(src), f"s3://{bucket}/f.bin"], env=cli_env, check=True)
    dst = tmp_path / "back.bin"
    subprocess.run(base + ["s3", "cp", f"s3://{bucket}/f.bin", str(dst)], env=cli_env, check=True)
    assert dst.read_bytes() == src.read_bytes()


def test_boto3_sse_c_over_https(tls_s3):
    """SSE-C needs TLS: over the HTTPS listener it works without any flag."""
    bucket = "tls-ssec-" + uuid.uuid4().hex[:8]
    tls_s3.create_bucket(Bucket=bucket)
    key = os.urandom(32)
    body = os.urandom(300 * 1024)
    # boto3 computes the key's MD5 and base64-encodes the key itself.
    tls_s3.put_object(Bucket=bucket, Key="c", Body=body, SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    got = tls_s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert got["Body"].read() == body
    assert got["SSECustomerAlgorithm"] == "AES256"
    part = tls_s3.get_object(
        Bucket=bucket, Key="c", Range="bytes=70000-140000", SSECustomerAlgorithm="AES256", SSECustomerKey=key
    )
    assert part["Body"].read() == body[70000:140001]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        tls_s3.get_object(Bucket=bucket, Key="c")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        tls_s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_aws_cli_sse_c_multipart_over_https(cli_env, tmp_path):
    bucket = "tls-ssec-cli-" + uuid.uuid4().hex[:8]
    key_file = tmp_path / "key.bin"
    key_file.write_bytes(os.urandom(32))
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(20 * 1024 * 1024))  # multipart, every part sealed with the key
    base = ["aws", "--endpoint-url", os.environ["S3_TLS_ENDPOINT"], "--ca-bundle", os.environ["S3_TLS_CA"]]
    sse_c = ["--sse-c", "AES256", "--sse-c-key", f"fileb://{key_file}"]
    subprocess.run(base + ["s3", "mb", f"s3://{bucket}"], env=cli_env, check=True)
    subprocess.run(base + ["s3", "cp", str(src), f"s3://{bucket}/f.bin"] + sse_c, env=cli_env, check=True)
    dst = tmp_path / "back.bin"
    subprocess.run(base + ["s3", "cp", f"s3://{bucket}/f.bin", str(dst)] + sse_c, env=cli_env, check=True)
    assert dst.read_bytes() == src.read_bytes()
    nokey = subprocess.run(
        base + ["s3", "cp", f"s3://{bucket}/f.bin", str(tmp_path / "x.bin")], env=cli_env, capture_output=True
    )
    assert nokey.returncode != 0
