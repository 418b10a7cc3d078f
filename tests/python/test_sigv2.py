"""Signature Version 2 with the clients that still send it: boto3
`signature_version='s3'` (header auth and its presigned URLs), s3cmd
without --signature-v4 and the aws CLI v1's `aws s3 presign`. Run against
a server started with --allow-sigv2, and the refusal test against one
without it (tests/python_clients.rs selects which with -k)."""
import os
import subprocess

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

ALLOWED = os.environ.get("SIGV2_ALLOWED") == "1"


def v2_client(endpoint, secret=None):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=secret or os.environ["S3_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_refusal_says_how_to_use_sigv4(endpoint):
    assert not ALLOWED, "run against a server without --allow-sigv2"
    s3 = v2_client(endpoint)
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidRequest"
    for fix in ("signature_version='s3v4'", "aws configure set default.s3.signature_version s3v4", "s3cmd --signature-v4"):
        assert fix in err["Message"], err["Message"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert "AWSAccessKeyId=" in url
    r = requests.get(url)
    assert r.status_code == 400 and "--allow-sigv2" in r.text


def test_boto3_sigv2_header_and_presigned(endpoint):
    assert ALLOWED, "run against a server started with --allow-sigv2"
    s3 = v2_client(endpoint)
    s3.create_bucket(Bucket="v2-boto3")
    body = os.urandom(70_000)
    key = "dir/a key+with%chars ü"
    s3.put_object(Bucket="v2-boto3", Key=key, Body=body, ContentType="text/plain", Metadata={"m": "v"})
    got = s3.get_object(Bucket="v2-boto3", Key=key)
    assert got["Body"].read() == body and got["Metadata"] == {"m": "v"}
    # Sub-resources are part of what SigV2 signs.
    s3.put_object_tagging(Bucket="v2-boto3", Key=key, Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    assert s3.get_object_tagging(Bucket="v2-boto3", Key=key)["TagSet"] == [{"Key": "t", "Value": "1"}]
    up = s3.create_multipart_upload(Bucket="v2-boto3", Key="mp")
    part = s3.upload_part(Bucket="v2-boto3", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"abc")
    s3.complete_multipart_upload(Bucket="v2-boto3", Key="mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert [o["Key"] for o in s3.list_objects(Bucket="v2-boto3")["Contents"]] == [key, "mp"]
    # boto3's default presigned URL under signature_version='s3' is SigV2.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "v2-boto3", "Key": key,
                                                          "ResponseContentType": "x/y"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    r = requests.get(url)
    assert r.status_code == 200 and r.content == body and r.headers["Content-Type"] == "x/y"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "v2-boto3", "Key": "via-url"}, ExpiresIn=60)
    assert requests.put(put_url, data=b"posted").status_code == 200
    assert s3.get_object(Bucket="v2-boto3", Key="via-url")["Body"].read() == b"posted"
    # S3's errors: a wrong signature, an expired URL, missing parameters.
    with pytest.raises(ClientError) as e:
        v2_client(endpoint, secret="wrong-secret").list_objects(Bucket="v2-boto3")
    err = e.value.response["Error"]
    assert err["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert requests.get(url.replace("Signature=", "Signature=x")).status_code == 403
    expired = s3.generate_presigned_url("get_object", Params={"Bucket": "v2-boto3", "Key": key}, ExpiresIn=-10)
    r = requests.get(expired)
    assert r.status_code == 403 and "Request has expired" in r.text
    bare = url.split("&Signature=")[0]
    r = requests.get(bare)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text


def test_s3cmd_sigv2(endpoint, tmp_path):
    assert ALLOWED, "run against a server started with --allow-sigv2"
    host = endpoint.split("://", 1)[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {os.environ['S3_ACCESS_KEY']}\n"
        f"secret_key = {os.environ['S3_SECRET_KEY']}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        "use_https = False\n"
        "signature_v2 = True\n"
        "check_ssl_certificate = False\n"
    )

    def s3cmd(*args):
        out = subprocess.run(["s3cmd", "-c", str(cfg), *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    s3cmd("mb", "s3://v2-cmd")
    src = tmp_path / "in"
    data = os.urandom(6 * 1024 * 1024 + 3)
    src.write_bytes(data)
    s3cmd("put", str(src), "s3://v2-cmd/d/in")  # multipart above 5 MiB (s3cmd's default chunk 15 MiB: single)
    dst = tmp_path / "out"
    s3cmd("get", "--force", "s3://v2-cmd/d/in", str(dst))
    assert dst.read_bytes() == data
    assert "s3://v2-cmd/d/in" in s3cmd("ls", "s3://v2-cmd/d/")
    url = s3cmd("signurl", "s3://v2-cmd/d/in", "+60").strip()
    assert "Signature=" in url
    r = requests.get(url)
    assert r.status_code == 200 and r.content == data
    s3cmd("del", "s3://v2-cmd/d/in")
    s3cmd("rb", "s3://v2-cmd")


def test_aws_cli_v1_presign(cli_env, endpoint, tmp_path):
    assert ALLOWED, "run against a server started with --allow-sigv2"
    version = subprocess.run(["aws", "--version"], env=cli_env, capture_output=True, text=True)
    assert version.stdout.startswith("aws-cli/1.") or version.stderr.startswith("aws-cli/1."), version
    s3 = v2_client(endpoint)
    s3.create_bucket(Bucket="v2-cli")
    s3.put_object(Bucket="v2-cli", Key="k", Body=b"from the cli")
    # What users set to make the aws CLI v1 sign S3 requests with SigV2.
    config = tmp_path / "config"
    config.write_text("[default]\ns3 =\n    signature_version = s3\n")
    env = dict(cli_env, AWS_CONFIG_FILE=str(config))
    out = subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "presign", "s3://v2-cli/k", "--expires-in", "60"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    # awscli 1.46 presigns with SigV4 even so (older v1 releases and its
    # s3 signature_version=s3 gave SigV2): either way the URL must work.
    assert "AWSAccessKeyId=" in url or "X-Amz-Signature=" in url, url
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"from the cli"


def test_sigv2_post_form(endpoint, s3):
    """A POST Object form signed as s3-tests signs them (HMAC-SHA1 over the
    base64 policy, AWSAccessKeyId + signature fields): taken with
    --allow-sigv2, checked like a SigV4 one."""
    assert ALLOWED, "run against a server started with --allow-sigv2"
    import base64
    import datetime
    import hashlib
    import hmac
    import json
    import uuid

    bucket = "v2post-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)
    policy = base64.b64encode(json.dumps({
        "expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "conditions": [{"bucket": bucket}, ["starts-with", "$key", "foo"], {"acl": "private"},
                       ["starts-with", "$Content-Type", "text/plain"], ["content-length-range", 0, 1024]],
    }).encode())
    signature = base64.b64encode(hmac.new(os.environ["S3_SECRET_KEY"].encode(), policy, hashlib.sha1).digest())
    fields = {"key": "foo.txt", "AWSAccessKeyId": os.environ["S3_ACCESS_KEY"], "acl": "private",
              "signature": signature, "policy": policy, "Content-Type": "text/plain"}
    r = requests.post(f"{endpoint}/{bucket}", files={**{k: (None, v) for k, v in fields.items()}, "file": ("f", b"bar")})
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="foo.txt")["Body"].read() == b"bar"
    fields["signature"] = signature[::-1]
    r = requests.post(f"{endpoint}/{bucket}", files={**{k: (None, v) for k, v in fields.items()}, "file": ("f", b"baz")})
    assert r.status_code == 403, r.text
    assert s3.get_object(Bucket=bucket, Key="foo.txt")["Body"].read() == b"bar"


def test_boto3_sigv2_presigned_post(endpoint, s3):
    """boto3's generate_presigned_post under signature_version='s3': a form
    with AWSAccessKeyId, policy and an HMAC-SHA1 signature, posted as a
    browser would; a tampered signature or a condition it breaks is refused
    and stores nothing."""
    assert ALLOWED, "run against a server started with --allow-sigv2"
    import uuid

    bucket = "v2form-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    v2 = v2_client(endpoint)
    form = v2.generate_presigned_post(
        bucket, "up/${filename}",
        Fields={"Content-Type": "text/plain"},
        Conditions=[["starts-with", "$key", "up/"], {"Content-Type": "text/plain"},
                    ["content-length-range", 1, 1024]],
        ExpiresIn=120,
    )
    fields = form["fields"]
    assert {"AWSAccessKeyId", "policy", "signature"} <= set(fields), fields
    assert not any(k.lower().startswith("x-amz-") for k in fields), fields

    def post(fields, data):
        files = {**{k: (None, v) for k, v in fields.items()}, "file": ("a.txt", data)}
        return requests.post(form["url"], files=files)

    r = post(fields, b"hello v2")
    assert r.status_code == 204, r.text
    got = s3.get_object(Bucket=bucket, Key="up/a.txt")
    assert got["Body"].read() == b"hello v2" and got["ContentType"] == "text/plain"
    sig = fields["signature"]
    bad = dict(fields, signature=("B" if sig[0] == "A" else "A") + sig[1:])
    r = post(bad, b"other")
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text, r.text
    r = post(fields, b"x" * 2000)
    assert r.status_code == 400 and "<Code>EntityTooLarge</Code>" in r.text, r.text
    assert s3.get_object(Bucket=bucket, Key="up/a.txt")["Body"].read() == b"hello v2"


def v2_signed(method, path, date, key=None, secret=None):
    """Headers of a SigV2 header-authenticated request with no body."""
    import base64
    import hashlib
    import hmac

    key = key or os.environ["S3_ACCESS_KEY"]
    secret = secret or os.environ["S3_SECRET_KEY"]
    sts = f"{method}\n\n\n{date or ''}\n{path}"
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers = {"Authorization": f"AWS {key}:{sig}"}
    if date is not None:
        headers["Date"] = date
    return headers


def test_sigv2_errors_as_s3_answers_them(endpoint):
    """Raw SigV2 header auth (what the SDKs hide): a missing or unreadable
    date, a skewed clock, a malformed header, an unknown key."""
    assert ALLOWED, "run against a server started with --allow-sigv2"
    import email.utils
    import time

    now = email.utils.formatdate(usegmt=True)

    def get(headers):
        return requests.get(f"{endpoint}/", headers=headers)

    r = get(v2_signed("GET", "/", now))
    assert r.status_code == 200, r.text
    for date in (None, "yesterday"):
        r = get(v2_signed("GET", "/", date))
        assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, r.text
        assert "AWS authentication requires a valid Date or x-amz-date header" in r.text
    hour_ago = email.utils.formatdate(time.time() - 3600, usegmt=True)
    r = get(v2_signed("GET", "/", hour_ago))
    assert r.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in r.text, r.text
    r = get({"Date": now, "Authorization": "AWS " + os.environ["S3_ACCESS_KEY"]})
    assert r.status_code == 400 and "<Code>InvalidArgument</Code>" in r.text, r.text
    r = get(v2_signed("GET", "/", now, key="AKIANOSUCHKEY0000000"))
    assert r.status_code == 403 and "<Code>InvalidAccessKeyId</Code>" in r.text, r.text
    r = get(v2_signed("GET", "/", now, secret="not-the-secret"))
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text, r.text
    assert "<StringToSign>GET\n\n\n" in r.text
