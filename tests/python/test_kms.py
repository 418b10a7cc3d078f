"""SSE-KMS through boto3 and the aws CLI (started by tests/kms.rs, which
creates the key `alias/py` and passes its ARN and the admin API key)."""
import base64
import json
import os
import subprocess
import urllib.request

import boto3.s3.transfer
import pytest
from botocore.exceptions import ClientError

ALIAS = "alias/py"


@pytest.fixture(scope="module")
def arn():
    return os.environ["KMS_KEY_ARN"]


def admin(endpoint, path):
    req = urllib.request.Request(
        f"{endpoint}/_admin/api/v1/kms/keys/{path}",
        method="POST",
        data=b"",
        headers={"Authorization": "Bearer " + os.environ["ADMIN_API_KEY"]},
    )
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def context(d):
    return base64.b64encode(json.dumps(d).encode()).decode()


def test_boto3_sizes_context_and_headers(s3, bucket, arn):
    ctx = context({"app": "py", "tenant": "7"})
    for size in (1, 1000, 64 * 1024 + 1, 1024 * 1024, 8 * 1024 * 1024):
        body = os.urandom(size)
        put = s3.put_object(Bucket=bucket, Key=f"s{size}", Body=body, ServerSideEncryption="aws:kms",
                            SSEKMSKeyId=ALIAS, SSEKMSEncryptionContext=ctx, BucketKeyEnabled=True)
        assert put["ServerSideEncryption"] == "aws:kms"
        assert put["SSEKMSKeyId"] == arn
        assert put["SSEKMSEncryptionContext"] == ctx
        assert put["BucketKeyEnabled"] is True
        got = s3.get_object(Bucket=bucket, Key=f"s{size}")
        assert got["SSEKMSKeyId"] == arn and got["Body"].read() == body, size
        head = s3.head_object(Bucket=bucket, Key=f"s{size}")
        assert head["ServerSideEncryption"] == "aws:kms" and head["ContentLength"] == size


def test_boto3_managed_multipart_and_copy(s3, bucket, arn, tmp_path):
    body = os.urandom(12 * 1024 * 1024 + 3)
    src = tmp_path / "in.bin"
    src.write_bytes(body)
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), bucket, "big", ExtraArgs={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": arn},
                   Config=config)
    head = s3.head_object(Bucket=bucket, Key="big")
    assert head["SSEKMSKeyId"] == arn and head["ETag"].endswith('-3"')
    dst = tmp_path / "out.bin"
    s3.download_file(bucket, "big", str(dst))
    assert dst.read_bytes() == body
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain bytes")
    cp = s3.copy_object(Bucket=bucket, Key="plain-to-kms", CopySource={"Bucket": bucket, "Key": "plain"},
                        ServerSideEncryption="aws:kms", SSEKMSKeyId=ALIAS)
    assert cp["SSEKMSKeyId"] == arn
    back = s3.copy_object(Bucket=bucket, Key="kms-to-plain", CopySource={"Bucket": bucket, "Key": "plain-to-kms"})
    assert "ServerSideEncryption" not in back
    assert s3.get_object(Bucket=bucket, Key="kms-to-plain")["Body"].read() == b"plain bytes"


def test_boto3_disabled_key_refuses_reads_until_enabled(s3, bucket, endpoint):
    s3.put_object(Bucket=bucket, Key="k", Body=b"guarded", ServerSideEncryption="aws:kms", SSEKMSKeyId=ALIAS)
    assert admin(endpoint, "alias%2Fpy/disable")["state"] == "Disabled"
    try:
        with pytest.raises(ClientError) as e:
            s3.get_object(Bucket=bucket, Key="k")
        assert e.value.response["Error"]["Code"] == "KMS.DisabledException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    finally:
        assert admin(endpoint, "alias%2Fpy/enable")["state"] == "Enabled"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"guarded"


def test_boto3_unknown_key_and_misplaced_headers(s3, bucket):
    for kwargs, code in [
        ({"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/absent"}, "KMS.NotFoundException"),
        ({"SSEKMSKeyId": ALIAS}, "InvalidArgument"),
        ({"ServerSideEncryption": "AES256", "SSEKMSKeyId": ALIAS}, "InvalidArgument"),
    ]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="refused", Body=b"x", **kwargs)
        assert e.value.response["Error"]["Code"] == code, kwargs
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="refused")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def aws(cli_env, endpoint, *args):
    out = subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=cli_env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cli_sse_kms(cli_env, endpoint, tmp_path, arn):
    """`aws s3 cp --sse aws:kms --sse-kms-key-id` (multipart above 8 MiB and
    a single PUT), HEAD showing the key, and a bucket default through s3api."""
    aws(cli_env, endpoint, "s3", "mb", "s3://cli-kms")
    for name, size in (("small.bin", 1000), ("big.bin", 12 * 1024 * 1024 + 5)):
        src = tmp_path / name
        body = os.urandom(size)
        src.write_bytes(body)
        aws(cli_env, endpoint, "s3", "cp", "--sse", "aws:kms", "--sse-kms-key-id", ALIAS, str(src), f"s3://cli-kms/{name}")
        head = json.loads(aws(cli_env, endpoint, "s3api", "head-object", "--bucket", "cli-kms", "--key", name))
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == arn
        dst = tmp_path / f"out-{name}"
        aws(cli_env, endpoint, "s3", "cp", f"s3://cli-kms/{name}", str(dst))
        assert dst.read_bytes() == body
    config = json.dumps({"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ALIAS}}]})
    aws(cli_env, endpoint, "s3api", "put-bucket-encryption", "--bucket", "cli-kms",
        "--server-side-encryption-configuration", config)
    got = json.loads(aws(cli_env, endpoint, "s3api", "get-bucket-encryption", "--bucket", "cli-kms"))
    rule = got["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ALIAS}
    aws(cli_env, endpoint, "s3", "cp", str(tmp_path / "small.bin"), "s3://cli-kms/by-default.bin")
    head = json.loads(aws(cli_env, endpoint, "s3api", "head-object", "--bucket", "cli-kms", "--key", "by-default.bin"))
    assert head["SSEKMSKeyId"] == arn


def test_bucket_policy_conditions_on_kms_headers(endpoint, arn):
    """A policy that admits only SSE-KMS writes under one key, by the
    condition keys s3:x-amz-server-side-encryption and
    s3:x-amz-server-side-encryption-aws-kms-key-id (the request's headers),
    on a bucket of a credential other than root (which policies do not bind)."""
    import uuid

    from botocore.config import Config

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["TENANT_ACCESS_KEY"],
        aws_secret_access_key=os.environ["TENANT_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    bucket = "py-tenant-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{bucket}/*",
             "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{bucket}/*",
             "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": arn}}},
        ],
    }))
    for key, kwargs in [
        ("plain", {}),
        ("sse-s3", {"ServerSideEncryption": "AES256"}),
        ("other-name", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ALIAS}),
    ]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x", **kwargs)
        assert e.value.response["Error"]["Code"] == "AccessDenied", key
    put = s3.put_object(Bucket=bucket, Key="sealed", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=arn)
    assert put["SSEKMSKeyId"] == arn
    names = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert names == ["sealed"]
    s3.delete_bucket_policy(Bucket=bucket)
