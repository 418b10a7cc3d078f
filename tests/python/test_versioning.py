"""Object versioning from real clients: boto3 (client and resource APIs),
the aws CLI's s3api, and rclone's --s3-versions view."""
import json
import subprocess

import botocore
import pytest

from test_awscli import aws
from test_multipart import rclone_bin, rclone_runner


def enable(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def test_boto3_versions_and_delete_markers(s3, bucket):
    enable(s3, bucket)
    ids = [s3.put_object(Bucket=bucket, Key="doc", Body=b"v%d" % i)["VersionId"] for i in range(3)]
    assert len(set(ids)) == 3 and "null" not in ids
    for i, v in enumerate(ids):
        got = s3.get_object(Bucket=bucket, Key="doc", VersionId=v)
        assert got["Body"].read() == b"v%d" % i
        assert got["VersionId"] == v

    marker = s3.delete_object(Bucket=bucket, Key="doc")
    assert marker["DeleteMarker"] is True
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="doc")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="doc", VersionId=marker["VersionId"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405

    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing["Versions"]] == ids[::-1]
    assert [v["IsLatest"] for v in listing["Versions"]] == [False, False, False]
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [
        (marker["VersionId"], True)
    ]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    # Paging one row at a time walks markers and versions in order.
    seen, kwargs = [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=1, **kwargs)
        rows = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(rows) == 1
        seen.append(rows[0]["VersionId"])
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == [marker["VersionId"]] + ids[::-1]

    # Undelete: remove the marker.
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"v2"


def test_boto3_resource_empties_a_versioned_bucket(s3, s3_resource, bucket):
    """What tools that empty a bucket do: delete every object version."""
    enable(s3, bucket)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"k/{i % 2}", Body=b"x" * i)
    s3.delete_object(Bucket=bucket, Key="k/0")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"
    s3_resource.Bucket(bucket).object_versions.delete()
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)


def test_cli_s3api_versions(cli_env, endpoint, tmp_path):
    b = "cli-versions"
    aws(cli_env, endpoint, "s3", "mb", f"s3://{b}")
    aws(
        cli_env, endpoint, "s3api", "put-bucket-versioning", "--bucket", b,
        "--versioning-configuration", "Status=Enabled",
    )
    src = tmp_path / "in"
    ids = []
    for i in range(2):
        src.write_bytes(b"cli %d" % i)
        out = aws(cli_env, endpoint, "s3api", "put-object", "--bucket", b, "--key", "f", "--body", str(src))
        ids.append(json.loads(out.stdout)["VersionId"])
    listed = json.loads(aws(cli_env, endpoint, "s3api", "list-object-versions", "--bucket", b).stdout)
    assert [v["VersionId"] for v in listed["Versions"]] == ids[::-1]
    dst = tmp_path / "out"
    aws(cli_env, endpoint, "s3api", "get-object", "--bucket", b, "--key", "f", "--version-id", ids[0], str(dst))
    assert dst.read_bytes() == b"cli 0"
    # `aws s3 rm` leaves a marker; the old versions stay readable.
    aws(cli_env, endpoint, "s3", "rm", f"s3://{b}/f")
    assert aws(cli_env, endpoint, "s3", "ls", f"s3://{b}", check=False).stdout.strip() == ""
    aws(cli_env, endpoint, "s3api", "get-object", "--bucket", b, "--key", "f", "--version-id", ids[1], str(dst))
    assert dst.read_bytes() == b"cli 1"


def test_rclone_lists_old_versions(endpoint, s3, tmp_path):
    rclone = rclone_bin()
    b = "rclone-versions"
    s3.create_bucket(Bucket=b)
    enable(s3, b)
    for body in (b"first", b"second!"):
        s3.put_object(Bucket=b, Key="notes.txt", Body=body)
    run = rclone_runner(rclone, endpoint)
    plain = run("lsf", f"rs:{b}").stdout.split()
    assert plain == ["notes.txt"]
    # --s3-versions shows older versions as name-vTIMESTAMP.ext beside the current one.
    versions = run("lsl", "--s3-versions", f"rs:{b}").stdout.strip().splitlines()
    assert len(versions) == 2, versions
    sizes = sorted(int(line.split()[0]) for line in versions)
    assert sizes == [5, 7]
    out = subprocess.run([rclone, "version"], capture_output=True, text=True)
    assert out.returncode == 0
