"""s3cmd (SigV4, path style, plain HTTP) against ringstore."""
import hashlib
import os
import subprocess


def s3cmd(cfg, *args):
    out = subprocess.run(["s3cmd", "-c", str(cfg), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_s3cmd_round_trip(endpoint, tmp_path):
    host = endpoint.split("://", 1)[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {os.environ['S3_ACCESS_KEY']}\n"
        f"secret_key = {os.environ['S3_SECRET_KEY']}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n"
        "signature_v2 = False\n"
        "bucket_location = us-east-1\n"
        "check_ssl_certificate = False\n"
    )
    s3cmd(cfg, "mb", "s3://cmd-bucket")
    for size in (0, 1, 8 * 1024 - 1, 8 * 1024, 64 * 1024 + 1, 5 * 1024 * 1024 + 1):
        src = tmp_path / f"f{size}"
        data = os.urandom(size)
        src.write_bytes(data)
        s3cmd(cfg, "put", "--disable-multipart", str(src), f"s3://cmd-bucket/d/f{size}")
        dst = tmp_path / f"g{size}"
        s3cmd(cfg, "get", "--force", f"s3://cmd-bucket/d/f{size}", str(dst))
        assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest(), size
    listing = s3cmd(cfg, "ls", "s3://cmd-bucket/d/")
    assert listing.count("s3://cmd-bucket/d/f") == 6
    # --server-side-encryption asks for SSE-S3; `info` shows it back.
    src = tmp_path / "enc"
    data = os.urandom(100_000)
    src.write_bytes(data)
    s3cmd(cfg, "put", "--server-side-encryption", str(src), "s3://cmd-bucket/d/enc")
    assert "AES256" in s3cmd(cfg, "info", "s3://cmd-bucket/d/enc")
    dst = tmp_path / "enc-back"
    s3cmd(cfg, "get", "--force", "s3://cmd-bucket/d/enc", str(dst))
    assert dst.read_bytes() == data
    s3cmd(cfg, "del", "--recursive", "--force", "s3://cmd-bucket/d/")
    s3cmd(cfg, "rb", "s3://cmd-bucket")
