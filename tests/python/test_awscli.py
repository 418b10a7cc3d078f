"""The aws CLI (installed in the venv) against ringstore."""
import hashlib
import os
import subprocess


def aws(cli_env, endpoint, *args, check=True):
    out = subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=cli_env, capture_output=True, text=True)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_cli_round_trip(cli_env, endpoint, tmp_path):
    aws(cli_env, endpoint, "s3", "mb", "s3://cli-bucket")
    src = tmp_path / "in.bin"
    body = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(body)
    aws(cli_env, endpoint, "s3", "cp", str(src), "s3://cli-bucket/dir/in.bin")
    aws(cli_env, endpoint, "s3api", "put-object", "--bucket", "cli-bucket", "--key", "api.txt", "--body", str(src))
    ls = aws(cli_env, endpoint, "s3", "ls", "--recursive", "s3://cli-bucket").stdout
    assert "dir/in.bin" in ls and "api.txt" in ls
    dst = tmp_path / "out.bin"
    aws(cli_env, endpoint, "s3", "cp", "s3://cli-bucket/dir/in.bin", str(dst))
    assert dst.read_bytes() == body
    aws(cli_env, endpoint, "s3api", "get-object", "--bucket", "cli-bucket", "--key", "api.txt", str(dst))
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(body).digest()
    aws(cli_env, endpoint, "s3", "rm", "--recursive", "s3://cli-bucket")
    aws(cli_env, endpoint, "s3", "rb", "s3://cli-bucket")
    out = aws(cli_env, endpoint, "s3api", "head-bucket", "--bucket", "cli-bucket", check=False)
    assert out.returncode != 0


def test_cli_put_object_sizes(cli_env, endpoint, tmp_path):
    aws(cli_env, endpoint, "s3", "mb", "s3://cli-sizes")
    for size in (0, 1, 8 * 1024 - 1, 8 * 1024, 64 * 1024 + 1, 5 * 1024 * 1024 + 1, 100 * 1024 * 1024):
        src = tmp_path / f"s{size}"
        body = os.urandom(size)
        src.write_bytes(body)
        aws(cli_env, endpoint, "s3api", "put-object", "--bucket", "cli-sizes", "--key", f"s{size}", "--body", str(src))
        dst = tmp_path / f"d{size}"
        aws(cli_env, endpoint, "s3api", "get-object", "--bucket", "cli-sizes", "--key", f"s{size}", str(dst))
        assert dst.read_bytes() == body, size


def test_cli_sse_s3(cli_env, endpoint, tmp_path):
    """`aws s3 cp --sse AES256` (multipart above 8 MiB), the bucket default
    through s3api, and HEAD showing the encryption."""
    import json

    aws(cli_env, endpoint, "s3", "mb", "s3://cli-sse")
    src = tmp_path / "in.bin"
    body = os.urandom(12 * 1024 * 1024 + 5)
    src.write_bytes(body)
    aws(cli_env, endpoint, "s3", "cp", "--sse", "AES256", str(src), "s3://cli-sse/big.bin")
    head = json.loads(aws(cli_env, endpoint, "s3api", "head-object", "--bucket", "cli-sse", "--key", "big.bin").stdout)
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == len(body)
    dst = tmp_path / "out.bin"
    aws(cli_env, endpoint, "s3", "cp", "s3://cli-sse/big.bin", str(dst))
    assert dst.read_bytes() == body
    config = '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'
    aws(cli_env, endpoint, "s3api", "put-bucket-encryption", "--bucket", "cli-sse",
        "--server-side-encryption-configuration", config)
    got = json.loads(aws(cli_env, endpoint, "s3api", "get-bucket-encryption", "--bucket", "cli-sse").stdout)
    rule = got["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    aws(cli_env, endpoint, "s3", "cp", str(src), "s3://cli-sse/default.bin")
    head = json.loads(aws(cli_env, endpoint, "s3api", "head-object", "--bucket", "cli-sse", "--key", "default.bin").stdout)
    assert head["ServerSideEncryption"] == "AES256"
