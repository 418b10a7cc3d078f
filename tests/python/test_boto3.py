"""boto3 (latest, with the CRT) against ringstore: everyday bucket and object
operations, listing across shards, ranges, metadata, and error codes."""
import hashlib
import os

import boto3.s3.transfer
import botocore
import pytest


def data(n, seed=1):
    return (hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1))[:n]


SIZES = [0, 1, 8 * 1024 - 1, 8 * 1024, 64 * 1024 + 1, 5 * 1024 * 1024 + 1, 100 * 1024 * 1024]


@pytest.mark.parametrize("size", SIZES)
def test_put_get_default_checksums(s3, bucket, size):
    body = data(size, size)
    put = s3.put_object(Bucket=bucket, Key=f"sz/{size}", Body=body)
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key=f"sz/{size}")
    assert got["Body"].read() == body
    assert got["ContentLength"] == size


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_put_with_each_checksum_algorithm(s3, bucket, alg):
    body = data(70_000, 7)
    s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=alg)
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got.get("Checksum" + alg), f"checksum {alg} returned"


def test_metadata_and_headers(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="m",
        Body=b"hello",
        ContentType="text/plain",
        Metadata={"Project": "ringstore", "n": "1"},
        CacheControl="no-cache",
        ContentDisposition="inline",
    )
    head = s3.head_object(Bucket=bucket, Key="m")
    assert head["ContentType"] == "text/plain"
    assert head["Metadata"] == {"project": "ringstore", "n": "1"}
    assert head["CacheControl"] == "no-cache"
    assert head["ContentLength"] == 5


def test_ranges(s3, bucket):
    body = data(1000)
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=100-199")
    assert got["Body"].read() == body[100:200]
    assert got["ContentRange"] == "bytes 100-199/1000"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")
    assert e.value.response["Error"]["Code"] == "InvalidRange"


def test_listing_with_delimiter_and_pagination(s3, bucket):
    keys = [f"{d}/{i:03d}" for d in ("x", "y", "z/w") for i in range(40)] + ["root"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 9})
    seen = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert seen == sorted(keys)
    out = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["x/", "y/", "z/"]
    assert [o["Key"] for o in out["Contents"]] == ["root"]
    v1 = s3.list_objects(Bucket=bucket, Prefix="y/", MaxKeys=5)
    assert [o["Key"] for o in v1["Contents"]] == [f"y/{i:03d}" for i in range(5)]
    assert v1["IsTruncated"]


def test_delete_objects(s3, bucket):
    for i in range(10):
        s3.put_object(Bucket=bucket, Key=f"d{i}", Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"d{i}"} for i in range(10)]})
    assert len(out["Deleted"]) == 10
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_errors(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket="Invalid_Bucket")
    assert e.value.response["Error"]["Code"] == "InvalidBucketName"
    s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"


def test_presigned_get_and_put(s3, bucket):
    import requests

    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    r = requests.put(url, data=b"presigned body")
    assert r.status_code == 200, r.text
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"presigned body"
    sig = url.split("X-Amz-Signature=")[1][:64]
    bad = url.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    r = requests.get(bad)
    assert r.status_code == 403
    assert "SignatureDoesNotMatch" in r.text


def test_sigv2_presigned_urls_are_refused_clearly(endpoint, bucket):
    import boto3
    import requests
    from botocore.config import Config

    v2 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(signature_version="s3", s3={"addressing_style": "path"}),
    )
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300)
    assert "AWSAccessKeyId=" in url
    r = requests.get(url)
    assert r.status_code == 400
    assert "AWS4-HMAC-SHA256" in r.text


def test_emptying_a_bucket_through_its_versions(s3, s3_resource, bucket):
    """What tools that empty a bucket do: list object versions, delete them
    by version id (the resource API's `object_versions.delete()`)."""
    for i in range(7):
        s3.put_object(Bucket=bucket, Key=f"v/{i}", Body=data(10, i))
    versions = s3.list_object_versions(Bucket=bucket, MaxKeys=3)
    assert versions["IsTruncated"] and versions["NextVersionIdMarker"] == "null"
    assert [v["VersionId"] for v in versions["Versions"]] == ["null"] * 3
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") is None
    s3_resource.Bucket(bucket).object_versions.delete()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)


def test_public_read_bucket_serves_anonymous_clients(endpoint, s3, bucket):
    import json

    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    s3.put_object(Bucket=bucket, Key="pub", Body=b"for everyone")
    anonymous = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        anonymous.get_object(Bucket=bucket, Key="pub")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # New buckets have ACLs disabled (BucketOwnerEnforced, as S3): a public
    # bucket ACL needs ACLs enabled first.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert e.value.response["Error"]["Code"] == "AccessControlListNotSupported"
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert {(g["Grantee"].get("URI"), g["Permission"]) for g in grants} == {
        (None, "FULL_CONTROL"),
        ("http://acs.amazonaws.com/groups/global/AllUsers", "READ"),
    }
    # A public-read bucket lists for anyone; its objects are not public.
    assert [o["Key"] for o in anonymous.list_objects_v2(Bucket=bucket)["Contents"]] == ["pub"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        anonymous.get_object(Bucket=bucket, Key="pub")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # A public object ACL needs per-object ACLs: refused, not ignored.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object_acl(Bucket=bucket, Key="pub", ACL="public-read")
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    # A bucket policy makes objects public.
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }))
    assert anonymous.get_object(Bucket=bucket, Key="pub")["Body"].read() == b"for everyone"
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    with pytest.raises(botocore.exceptions.ClientError) as e:
        anonymous.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_sse_s3_put_upload_file_and_copy(s3, bucket, tmp_path):
    body = os.urandom(200 * 1024)
    out = s3.put_object(Bucket=bucket, Key="enc", Body=body, ServerSideEncryption="AES256")
    assert out["ServerSideEncryption"] == "AES256"
    head = s3.head_object(Bucket=bucket, Key="enc")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(body)
    assert s3.get_object(Bucket=bucket, Key="enc")["Body"].read() == body
    # The transfer manager: a multipart upload and a ranged, parallel download.
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(17 * 1024 * 1024))
    cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), bucket, "big", ExtraArgs={"ServerSideEncryption": "AES256"}, Config=cfg)
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big", str(dst), Config=cfg)
    assert dst.read_bytes() == src.read_bytes()
    assert s3.head_object(Bucket=bucket, Key="big")["ServerSideEncryption"] == "AES256"
    # A copy without encryption headers is plain, whatever its source was.
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "enc"})
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="copy")
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == body
