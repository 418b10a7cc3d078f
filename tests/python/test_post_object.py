"""POST Object (browser form uploads) as web applications do it: boto3's
generate_presigned_post makes the form, requests posts it. Every success
mode, S3's answer to each kind of bad form, and the PutObject features a
form reaches (versioning, SSE-S3, SSE-C, tagging, checksums, ACLs, CORS).
The server runs with --allow-sse-c-over-http (tests/python_clients.rs)."""
import base64
import datetime
import hashlib
import hmac
import json
import os
import xml.etree.ElementTree as ET

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = os.environ.get("S3_REGION", "us-east-1")


def form(s3, bucket, key, fields=None, conditions=None, expires=600):
    return s3.generate_presigned_post(
        bucket, key, Fields=fields or {}, Conditions=conditions or [], ExpiresIn=expires
    )


def post(p, content=b"hello post", filename="hello.txt", extra=None, drop=(), headers=None, url=None):
    fields = {k: v for k, v in p["fields"].items() if k not in drop}
    fields.update(extra or {})
    return requests.post(
        url or p["url"],
        data=fields,
        files={"file": (filename, content)},
        headers=headers or {},
        allow_redirects=False,
        timeout=60,
    )


def error(r):
    doc = ET.fromstring(r.content)
    return doc.findtext("Code"), doc.findtext("Message")


def absent(s3, bucket, key):
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key=key)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def signed_fields(policy_text, bucket, key):
    """A form signed by the test credential over `policy_text` (any text)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    date = now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{os.environ['S3_ACCESS_KEY']}/{date[:8]}/{REGION}/s3/aws4_request"
    policy = base64.b64encode(policy_text.replace("{credential}", credential).replace("{date}", date).encode()).decode()

    def mac(k, m):
        return hmac.new(k, m.encode(), hashlib.sha256).digest()

    k = mac(("AWS4" + os.environ["S3_SECRET_KEY"]).encode(), date[:8])
    for part in (REGION, "s3", "aws4_request"):
        k = mac(k, part)
    return {
        "key": key,
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": credential,
        "x-amz-date": date,
        "policy": policy,
        "x-amz-signature": hmac.new(k, policy.encode(), hashlib.sha256).hexdigest(),
    }


def test_default_answer_is_204_and_the_object_is_a_put_one(s3, bucket):
    p = form(
        s3,
        bucket,
        "dir/hello.txt",
        fields={
            "Content-Type": "text/plain",
            "x-amz-meta-color": "blue",
            "Cache-Control": "max-age=60",
            "Content-Disposition": 'attachment; filename="hello.txt"',
            "Content-Language": "en",
            "x-amz-storage-class": "STANDARD",
        },
        conditions=[
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-color": "blue"},
            ["eq", "$Cache-Control", "max-age=60"],
            ["starts-with", "$Content-Disposition", "attachment"],
            {"Content-Language": "en"},
            {"x-amz-storage-class": "STANDARD"},
        ],
    )
    r = post(p, content=b"hello post")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert r.headers["ETag"] == f'"{md5_hex(b"hello post")}"'
    assert r.headers["Location"].endswith(f"/{bucket}/dir%2Fhello.txt")
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == b"hello post"
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="hello.txt"'
    assert got["ContentLanguage"] == "en"
    assert got["Metadata"] == {"color": "blue"}


def test_success_action_status_201_200_and_anything_else(s3, bucket):
    cond = [["starts-with", "$success_action_status", ""]]
    r = post(form(s3, bucket, "a", {"success_action_status": "201"}, cond), content=b"201 body")
    assert r.status_code == 201, r.text
    doc = ET.fromstring(r.content)
    assert doc.tag == "PostResponse"
    assert doc.findtext("Bucket") == bucket
    assert doc.findtext("Key") == "a"
    assert doc.findtext("ETag") == f'"{md5_hex(b"201 body")}"'
    assert doc.findtext("Location").endswith(f"/{bucket}/a")
    r = post(form(s3, bucket, "b", {"success_action_status": "200"}, cond))
    assert (r.status_code, r.content) == (200, b"")
    # S3: "If the value is not set or if it is set to an invalid value,
    # Amazon S3 returns an empty document with a 204 status code."
    r = post(form(s3, bucket, "c", {"success_action_status": "404"}, cond))
    assert (r.status_code, r.content) == (204, b"")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"hello post"


def test_success_action_redirect_and_redirect(s3, bucket):
    target = "http://app.example/done?from=form"
    p = form(s3, bucket, "up load.txt", {"success_action_redirect": target}, [{"success_action_redirect": target}])
    r = post(p, content=b"redirected")
    assert r.status_code == 303, r.text
    etag = md5_hex(b"redirected")
    assert r.headers["Location"] == f"{target}&bucket={bucket}&key=up+load.txt&etag=%22{etag}%22"
    p = form(s3, bucket, "old", {"redirect": "https://app.example/x"}, [["starts-with", "$redirect", "https://"]])
    r = post(p)
    assert r.status_code == 303
    assert r.headers["Location"].startswith("https://app.example/x?bucket=")
    # A URL S3 cannot follow is ignored: the status answer instead.
    p = form(s3, bucket, "rel", {"success_action_redirect": "/relative"}, [["starts-with", "$success_action_redirect", ""]])
    assert post(p).status_code == 204


def test_filename_variable_names_the_key(s3, bucket):
    p = form(s3, bucket, "uploads/${filename}")
    r = post(p, content=b"photo", filename="photo.jpg")
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="uploads/photo.jpg")["Body"].read() == b"photo"


def test_missing_fields_are_invalid_arguments(s3, bucket):
    p = form(s3, bucket, "k")
    for field in ("key", "x-amz-signature", "policy"):
        r = post(p, drop=(field,))
        assert r.status_code == 400, (field, r.text)
        assert error(r)[0] == "InvalidArgument", (field, r.text)
    absent(s3, bucket, "k")


def test_policy_violations_are_access_denied(s3, bucket, endpoint):
    s3.create_bucket(Bucket=bucket + "-other")
    p = form(s3, bucket, "k")
    checks = [
        (post(form(s3, bucket, "k", expires=-10)), 403, "AccessDenied", "Policy expired"),
        (post(p, url=f"{endpoint}/{bucket}-other"), 403, "AccessDenied", "Policy Condition failed"),
        (post(p, extra={"key": "other"}), 403, "AccessDenied", "Policy Condition failed"),
        (post(p, extra={"x-amz-meta-sneaky": "1"}), 403, "AccessDenied", "Extra input fields: x-amz-meta-sneaky"),
        (post(p, extra={"x-amz-signature": "0" * 64}), 403, "SignatureDoesNotMatch", None),
    ]
    for r, status, code, message in checks:
        assert r.status_code == status, r.text
        got_code, got_message = error(r)
        assert got_code == code, r.text
        if message:
            assert message in got_message, r.text
    absent(s3, bucket, "k")
    absent(s3, bucket, "other")
    absent(s3, bucket + "-other", "k")
    assert post(p, extra={"x-ignore-tracking": "1"}).status_code == 204


def test_unknown_access_key(endpoint, bucket):
    stranger = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDNOSUCHKEY0000000",
        aws_secret_access_key="x" * 40,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    r = post(form(stranger, bucket, "k"))
    assert r.status_code == 403
    assert error(r)[0] == "InvalidAccessKeyId"


def test_content_length_range(s3, bucket):
    p = form(s3, bucket, "sized", conditions=[["content-length-range", 5, 10]])
    r = post(p, content=b"abc")
    assert (r.status_code, error(r)[0]) == (400, "EntityTooSmall"), r.text
    r = post(p, content=b"x" * 11)
    assert (r.status_code, error(r)[0]) == (400, "EntityTooLarge"), r.text
    absent(s3, bucket, "sized")
    assert post(p, content=b"x" * 10).status_code == 204
    assert s3.head_object(Bucket=bucket, Key="sized")["ContentLength"] == 10


def test_malformed_policies_and_forms(s3, bucket):
    bad_json = signed_fields("{not json", bucket, "k")
    r = requests.post(f"{os.environ['S3_ENDPOINT']}/{bucket}", data=bad_json, files={"file": ("f", b"x")})
    assert (r.status_code, error(r)[0]) == (400, "InvalidPolicyDocument"), r.text
    uppercase = signed_fields(
        '{"EXPIRATION": "2099-01-01T00:00:00Z", "conditions": [{"bucket": "%s"}]}' % bucket, bucket, "k"
    )
    r = requests.post(f"{os.environ['S3_ENDPOINT']}/{bucket}", data=uppercase, files={"file": ("f", b"x")})
    assert (r.status_code, error(r)[0]) == (400, "InvalidPolicyDocument"), r.text
    p = form(s3, bucket, "k")
    r = requests.post(p["url"], data=p["fields"])  # urlencoded, no file
    assert (r.status_code, error(r)[0]) == (412, "PreconditionFailed"), r.text
    r = requests.post(p["url"], files={k: (None, v) for k, v in p["fields"].items()})
    assert (r.status_code, error(r)[0]) == (400, "IncorrectNumberOfFilesInPostRequest"), r.text
    r = requests.post(
        p["url"],
        data=b"--B\r\nContent-Disposition: nonsense\r\n\r\nx\r\n--B--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert (r.status_code, error(r)[0]) == (400, "MalformedPOSTRequest"), r.text
    huge = {"x-ignore-pad": "p" * (21 * 1024)}
    r = post(p, extra=huge)
    assert (r.status_code, error(r)[0]) == (400, "MaxPostPreDataLengthExceeded"), r.text
    absent(s3, bucket, "k")


def test_sigv2_forms_are_refused_like_every_sigv2_request(s3, bucket):
    fields = {"key": "k", "AWSAccessKeyId": os.environ["S3_ACCESS_KEY"], "policy": "e30=", "signature": "x"}
    r = requests.post(f"{os.environ['S3_ENDPOINT']}/{bucket}", data=fields, files={"file": ("f", b"x")})
    assert (r.status_code, error(r)[0]) == (400, "InvalidRequest"), r.text
    absent(s3, bucket, "k")


def test_versioned_bucket_keeps_every_post(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    p = form(s3, bucket, "v")
    first = post(p, content=b"one")
    second = post(p, content=b"two")
    assert first.status_code == second.status_code == 204
    v1, v2 = first.headers["x-amz-version-id"], second.headers["x-amz-version-id"]
    assert v1 != v2
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="v")["Body"].read() == b"two"
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 2


def test_sse_s3_and_sse_c(s3, bucket):
    p = form(s3, bucket, "s3", {"x-amz-server-side-encryption": "AES256"}, [{"x-amz-server-side-encryption": "AES256"}])
    r = post(p, content=b"sealed")
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-server-side-encryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="s3")["ServerSideEncryption"] == "AES256"
    key = bytes(range(32))
    sse_c = {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
        "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }
    p = form(s3, bucket, "c", sse_c, [["starts-with", f"${k}", ""] for k in sse_c])
    r = post(p, content=b"customer sealed")
    assert r.status_code == 204, r.text
    got = s3.get_object(Bucket=bucket, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert got["Body"].read() == b"customer sealed"
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="c")


def test_tagging_and_checksums(s3, bucket):
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>web &amp; app</Value></Tag></TagSet></Tagging>"
    p = form(s3, bucket, "t", {"tagging": tagging}, [{"tagging": tagging}])
    assert post(p).status_code == 204
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert tags == [{"Key": "team", "Value": "web & app"}]
    data = b"checked bytes"
    good = base64.b64encode(hashlib.sha256(data).digest()).decode()
    cond = [["starts-with", "$x-amz-checksum-sha256", ""]]
    r = post(form(s3, bucket, "sum", {"x-amz-checksum-sha256": good}, cond), content=data)
    assert r.status_code == 204, r.text
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == good
    bad = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    r = post(form(s3, bucket, "badsum", {"x-amz-checksum-sha256": bad}, cond), content=data)
    assert (r.status_code, error(r)[0]) == (400, "BadDigest"), r.text
    absent(s3, bucket, "badsum")
    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    r = post(form(s3, bucket, "badmd5", {"Content-MD5": md5}, [{"Content-MD5": md5}]), content=data)
    assert (r.status_code, error(r)[0]) == (400, "BadDigest"), r.text
    absent(s3, bucket, "badmd5")


def test_anonymous_forms_need_a_public_write_bucket(s3, bucket, endpoint):
    url = f"{endpoint}/{bucket}"
    r = requests.post(url, data={"key": "anon"}, files={"file": ("f", b"from anyone")})
    assert (r.status_code, error(r)[0]) == (403, "AccessDenied"), r.text
    absent(s3, bucket, "anon")
    # New buckets have ACLs disabled (BucketOwnerEnforced, as S3): enable them.
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    r = requests.post(url, data={"key": "anon"}, files={"file": ("f", b"from anyone")})
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="anon")["Body"].read() == b"from anyone"


def test_cors_headers_on_the_post_answer(s3, bucket):
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["POST"]}]},
    )
    p = form(s3, bucket, "x")
    pre = requests.options(p["url"], headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 200
    r = post(p, headers={"Origin": "https://app.example"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
    r = post(p, extra={"key": "y"}, headers={"Origin": "https://app.example"})
    assert r.status_code == 403
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example", "errors carry CORS headers too"


def test_virtual_hosted_post(s3, bucket, endpoint):
    """`POST /` to `bucket.localhost` (virtual-hosted addressing)."""
    port = endpoint.rsplit(":", 1)[1]
    host = f"{bucket}.localhost:{port}"
    r = post(form(s3, bucket, "vh/x"), content=b"virtual", url=f"{endpoint}/", headers={"Host": host})
    assert r.status_code == 204, r.text
    assert r.headers["Location"] == f"http://{host}/vh%2Fx"
    assert s3.get_object(Bucket=bucket, Key="vh/x")["Body"].read() == b"virtual"


def signed_policy(bucket, key, conditions):
    """A form whose policy holds `conditions` (JSON text of list items) and
    the conditions every signed form needs (its signing fields)."""
    text = (
        '{"expiration": "2099-01-01T00:00:00Z", "conditions": [%s'
        '{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "{credential}"}, {"x-amz-date": "{date}"}]}'
        % conditions
    )
    return signed_fields(text, bucket, key)


def test_a_policy_must_name_the_bucket(s3, bucket, endpoint):
    """S3 counts the bucket as a field the policy must cover; `{}` covers nothing."""
    url = f"{endpoint}/{bucket}"
    key = '["starts-with", "$key", ""], '
    for conditions, extra in [(key, "bucket"), ('{}, ' + key, "bucket"), ('{"bucket": "%s"}, {}, ' % bucket, "key")]:
        r = requests.post(url, data=signed_policy(bucket, "k", conditions), files={"file": ("f", b"x")})
        assert (r.status_code, error(r)[0]) == (403, "AccessDenied"), (conditions, r.text)
        assert error(r)[1] == f"Invalid according to Policy: Extra input fields: {extra}", r.text
    absent(s3, bucket, "k")
    prefix = '["starts-with", "$bucket", ""], ' + key
    r = requests.post(url, data=signed_policy(bucket, "k", prefix), files={"file": ("f", b"any bucket")})
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"any bucket"


def test_an_unsigned_policy_is_refused_not_ignored(s3, bucket, endpoint):
    """A policy (here: at most 3 bytes) without its signature on a
    public-write bucket: refused, never taken for an anonymous form that
    ignores the policy's limits."""
    s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]}
    )
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    p = form(s3, bucket, "k", conditions=[["content-length-range", 0, 3]])
    fields = {"key": "k", "policy": p["fields"]["policy"]}
    r = requests.post(f"{endpoint}/{bucket}", data=fields, files={"file": ("f", b"far more than 3 bytes")})
    assert (r.status_code, error(r)[0]) == (400, "InvalidArgument"), r.text
    assert "must contain a field named 'X-Amz-Algorithm'" in error(r)[1]
    absent(s3, bucket, "k")


def test_anonymous_form_through_a_bucket_policy_with_acls_disabled(s3, bucket, endpoint):
    """BucketOwnerEnforced (the default): a bucket policy letting anyone
    s3:PutObject under uploads/ takes anonymous forms there, and the object
    belongs to the bucket owner, as in S3. Nothing else is opened."""
    url = f"{endpoint}/{bucket}"
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/uploads/*"}]}),
    )
    r = requests.post(url, data={"key": "uploads/${filename}"}, files={"file": ("a.txt", b"from anyone")})
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket=bucket, Key="uploads/a.txt")["Body"].read() == b"from anyone"
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]["ID"]
    assert s3.get_object_acl(Bucket=bucket, Key="uploads/a.txt")["Owner"]["ID"] == owner
    r = requests.post(url, data={"key": "elsewhere"}, files={"file": ("f", b"x")})
    assert (r.status_code, error(r)[0]) == (403, "AccessDenied"), r.text
    absent(s3, bucket, "elsewhere")
    # A grant the bucket cannot hold (ACLs disabled) is refused as PutObject refuses it.
    r = requests.post(url, data={"key": "uploads/open", "acl": "public-read"}, files={"file": ("f", b"x")})
    assert (r.status_code, error(r)[0]) == (400, "AccessControlListNotSupported"), r.text
    absent(s3, bucket, "uploads/open")
    assert requests.get(f"{url}/uploads/a.txt").status_code == 403, "reads stay private"


def test_acl_field_is_put_objects_acl(s3, bucket):
    """`acl` is PutObject's x-amz-acl: what the bucket can hold is applied,
    anything else refused with PutObject's own error, nothing stored."""
    cond = [["starts-with", "$acl", ""]]
    for acl in ("private", "bucket-owner-full-control"):
        r = post(form(s3, bucket, acl, {"acl": acl}, cond))
        assert r.status_code == 204, (acl, r.text)
    for acl in ("public-read", "authenticated-read"):
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="put-" + acl, Body=b"x", ACL=acl)
        put_code = e.value.response["Error"]["Code"]
        r = post(form(s3, bucket, acl, {"acl": acl}, cond))
        assert (r.status_code, error(r)[0]) == (e.value.response["ResponseMetadata"]["HTTPStatusCode"], put_code), r.text
        absent(s3, bucket, acl)


def test_object_lock_fields_are_refused_as_put_refuses_them(s3, bucket):
    """A form asking for a retention the bucket cannot give (no object lock):
    PutObject's refusal, nothing stored."""
    lock = {"x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-retain-until-date": "2099-01-01T00:00:00Z"}
    r = post(form(s3, bucket, "locked", lock, [{k: v} for k, v in lock.items()]))
    assert (r.status_code, error(r)[0]) == (400, "InvalidRequest"), r.text
    absent(s3, bucket, "locked")


def test_a_field_sent_twice_is_checked_twice(s3, bucket):
    """The policy pins x-amz-meta-team to "web": a second value smuggled
    in after the first is a failed condition, not stored metadata."""
    p = form(s3, bucket, "twice", {"x-amz-meta-team": "web"}, [{"x-amz-meta-team": "web"}])
    fields = list(p["fields"].items()) + [("x-amz-meta-team", "ops")]
    r = requests.post(p["url"], data=fields, files={"file": ("f", b"x")}, timeout=30)
    assert (r.status_code, error(r)[0]) == (403, "AccessDenied"), r.text
    assert "Policy Condition failed" in error(r)[1]
    absent(s3, bucket, "twice")


def test_unknown_storage_class_is_refused_as_put_refuses_it(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="put", Body=b"x", StorageClass="NO_SUCH_CLASS")
    assert e.value.response["Error"]["Code"] == "InvalidStorageClass"
    cls = {"x-amz-storage-class": "NO_SUCH_CLASS"}
    r = post(form(s3, bucket, "cls", cls, [cls]))
    assert (r.status_code, error(r)[0]) == (400, "InvalidStorageClass"), r.text
    absent(s3, bucket, "cls")
    absent(s3, bucket, "put")


def test_sse_kms(s3, bucket):
    """aws:kms fields: PutObject's SSE-KMS (the server's default key when
    the form names none, an encryption context kept); a key that does not
    exist is PutObject's KMS.NotFoundException, nothing stored."""
    kms = {"x-amz-server-side-encryption": "aws:kms"}
    r = post(form(s3, bucket, "kms", kms, [kms]), content=b"kms sealed")
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-server-side-encryption"] == "aws:kms"
    head = s3.head_object(Bucket=bucket, Key="kms")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == r.headers["x-amz-server-side-encryption-aws-kms-key-id"]
    assert s3.get_object(Bucket=bucket, Key="kms")["Body"].read() == b"kms sealed"
    ctx = base64.b64encode(json.dumps({"app": "form"}).encode()).decode()
    with_ctx = {**kms, "x-amz-server-side-encryption-context": ctx}
    r = post(form(s3, bucket, "ctx", with_ctx, [{k: v} for k, v in with_ctx.items()]))
    assert r.status_code == 204, r.text
    assert r.headers["x-amz-server-side-encryption-context"] == ctx
    missing = {**kms, "x-amz-server-side-encryption-aws-kms-key-id": "alias/no-such-key"}
    r = post(form(s3, bucket, "nokey", missing, [{k: v} for k, v in missing.items()]))
    assert (r.status_code, error(r)[0]) == (400, "KMS.NotFoundException"), r.text
    absent(s3, bucket, "nokey")
