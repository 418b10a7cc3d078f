"""Rate limits seen by boto3 (docs/rate-limits.md). The server runs with
2 shards and `--rate-limit-credential 40:4` (tests/python_clients.rs):
this credential may make 40 requests per second over both shards."""
import os
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

# Uploads per thread and threads in the retried run: 120 uploads, 3 s of
# the limit at least, from more threads than shards.
UPLOADS_PER_THREAD = 30
THREADS = 4


def client(endpoint, retries):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries=retries),
    )


def test_boto3_sees_slowdown_over_the_limit_and_nothing_is_stored(endpoint, bucket):
    once = client(endpoint, {"mode": "standard", "total_max_attempts": 1})
    refused = None
    # A burst far over one shard's slice (20/s, burst 2) meets SlowDown.
    for i in range(200):
        try:
            once.put_object(Bucket=bucket, Key=f"burst/{i}", Body=b"x" * 100)
        except ClientError as e:
            meta = e.response["ResponseMetadata"]
            assert (e.response["Error"]["Code"], meta["HTTPStatusCode"]) == ("SlowDown", 503)
            refused = f"burst/{i}"
            break
    assert refused is not None, "200 uploads at full speed never met the limit"
    patient = client(endpoint, {"mode": "standard", "total_max_attempts": 10})
    with pytest.raises(ClientError) as e:
        patient.head_object(Bucket=bucket, Key=refused)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_boto3_with_standard_retries_completes_every_upload_against_the_limit(endpoint, bucket):
    retried = [0] * THREADS
    errors = []

    def upload(t):
        # One client per thread: its own connections, spread over shards.
        s3 = client(endpoint, {"mode": "standard", "total_max_attempts": 10})
        try:
            for i in range(UPLOADS_PER_THREAD):
                key = f"retried/{t}/{i}"
                r = s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
                retried[t] += r["ResponseMetadata"]["RetryAttempts"]
        except Exception as e:  # reported below, with the thread
            errors.append((t, repr(e)))

    threads = [threading.Thread(target=upload, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sum(retried) > 0, "the uploads never met the limit: nothing was tested"
    check = client(endpoint, {"mode": "standard", "total_max_attempts": 10})
    keys = []
    for page in check.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="retried/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert len(keys) == THREADS * UPLOADS_PER_THREAD
    print(f"{len(keys)} uploads stored, {sum(retried)} retries after SlowDown")
