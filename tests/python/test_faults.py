"""Fault injection seen by boto3 (docs/faults.md). The server runs with one
rule (tests/python_clients.rs): every 2nd PutObject under throttled/ answers
an injected 503 SlowDown, counted on its one shard."""
import os

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint, retries):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries=retries),
    )


def test_boto3_sees_slowdown_and_completes_with_standard_retries(endpoint, bucket):
    # botocore's max_attempts counts retries; total_max_attempts counts tries.
    once = client(endpoint, {"mode": "standard", "total_max_attempts": 1})
    outcomes = []
    for i in range(4):
        try:
            once.put_object(Bucket=bucket, Key=f"throttled/once-{i}", Body=b"x" * 100)
            outcomes.append("stored")
        except ClientError as e:
            meta = e.response["ResponseMetadata"]
            outcomes.append(
                (
                    e.response["Error"]["Code"],
                    meta["HTTPStatusCode"],
                    meta["HTTPHeaders"].get("x-ringstore-fault"),
                )
            )
    refused = ("SlowDown", 503, "throttle-every-2nd")
    assert outcomes == ["stored", refused, "stored", refused]
    # A throttled upload stored nothing.
    for i in (1, 3):
        with pytest.raises(ClientError) as e:
            once.head_object(Bucket=bucket, Key=f"throttled/once-{i}")
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # Standard retries: every upload completes, each throttled attempt retried.
    standard = client(endpoint, {"mode": "standard", "total_max_attempts": 3})
    keys = [f"throttled/retried-{i}" for i in range(6)]
    for key in keys:
        standard.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert standard.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
