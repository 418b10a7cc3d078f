"""Access control through boto3 with two credentials (alice owns the
buckets, bob is another account) and anonymous HTTP: bucket policies,
ACL grants by canonical id, object ownership, block public access, the
expected-bucket-owner header, presigned URLs, and bad input that must
change nothing. The Rust test that runs this (tests/python_clients.rs)
creates both credentials through the admin API."""
import json
import os
import urllib.error
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ALICE_ID = os.environ["ALICE_CANONICAL_ID"]
BOB_ID = os.environ["BOB_CANONICAL_ID"]
ALICE_ACCOUNT = os.environ["ALICE_ACCOUNT_ID"]
BOB_ACCOUNT = os.environ["BOB_ACCOUNT_ID"]
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def client(endpoint, key, secret):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="session")
def alice(endpoint):
    return client(endpoint, os.environ["ALICE_ACCESS_KEY"], os.environ["ALICE_SECRET_KEY"])


@pytest.fixture(scope="session")
def bob(endpoint):
    return client(endpoint, os.environ["BOB_ACCESS_KEY"], os.environ["BOB_SECRET_KEY"])


@pytest.fixture
def abucket(alice):
    """A bucket of alice's with the server's default ownership
    (BucketOwnerEnforced: ACLs disabled, as S3 creates buckets)."""
    name = "acl-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=name)
    return name


@pytest.fixture
def acl_bucket(alice):
    """A bucket of alice's with ACLs enabled (ObjectWriter)."""
    name = "acl-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    return name


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def http(url, method="GET"):
    """(status, body) of an unsigned request (or a presigned URL)."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_public_read_prefix_policy(alice, abucket, endpoint):
    alice.put_object(Bucket=abucket, Key="public/logo.png", Body=b"logo")
    alice.put_object(Bucket=abucket, Key="private/plan.txt", Body=b"plan")
    assert http(f"{endpoint}/{abucket}/public/logo.png")[0] == 403
    doc = policy({
        "Sid": "PublicAssets", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{abucket}/public/*",
    })
    alice.put_bucket_policy(Bucket=abucket, Policy=doc)
    assert http(f"{endpoint}/{abucket}/public/logo.png") == (200, b"logo")
    assert http(f"{endpoint}/{abucket}/private/plan.txt")[0] == 403
    # No s3:ListBucket for anonymous: a missing key is AccessDenied, not NoSuchKey.
    assert http(f"{endpoint}/{abucket}/public/missing")[0] == 403
    assert http(f"{endpoint}/{abucket}")[0] == 403
    assert json.loads(alice.get_bucket_policy(Bucket=abucket)["Policy"]) == json.loads(doc)
    assert alice.get_bucket_policy_status(Bucket=abucket)["PolicyStatus"]["IsPublic"] is True
    alice.delete_bucket_policy(Bucket=abucket)
    assert http(f"{endpoint}/{abucket}/public/logo.png")[0] == 403
    with pytest.raises(ClientError) as e:
        alice.get_bucket_policy(Bucket=abucket)
    assert code(e) == "NoSuchBucketPolicy"
    alice.delete_bucket_policy(Bucket=abucket)  # absent: still 204


def test_deny_put_without_sse(alice, abucket):
    alice.put_bucket_policy(Bucket=abucket, Policy=policy(
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{abucket}/*",
         "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}},
    ))
    with pytest.raises(ClientError) as e:
        alice.put_object(Bucket=abucket, Key="plain", Body=b"x")
    assert code(e) == "AccessDenied"
    alice.put_object(Bucket=abucket, Key="sealed", Body=b"x", ServerSideEncryption="AES256")
    assert alice.get_object(Bucket=abucket, Key="sealed")["Body"].read() == b"x"
    names = [o["Key"] for o in alice.list_objects_v2(Bucket=abucket).get("Contents", [])]
    assert names == ["sealed"]


def test_cross_user_grants_by_canonical_id(alice, bob, acl_bucket):
    abucket = acl_bucket
    alice.put_object(Bucket=abucket, Key="shared", Body=b"for bob")
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=abucket, Key="shared")
    assert code(e) == "AccessDenied"
    # Object grants need per-object ACLs (not stored yet): refused, and
    # nothing changes.
    with pytest.raises(ClientError) as e:
        alice.put_object_acl(Bucket=abucket, Key="shared", GrantRead=f'id="{BOB_ID}"')
    assert code(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        bob.get_object(Bucket=abucket, Key="shared")
    assert code(e) == "AccessDenied"
    acl = alice.get_object_acl(Bucket=abucket, Key="shared")
    assert acl["Owner"]["ID"] == ALICE_ID
    assert [(g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"]] == [(ALICE_ID, "FULL_CONTROL")]
    # The ACL in effect, asked for again, is accepted (it changes nothing).
    alice.put_object_acl(Bucket=abucket, Key="shared", ACL="private")
    # Bob has neither READ_ACP nor WRITE_ACP.
    for call in (lambda: bob.get_object_acl(Bucket=abucket, Key="shared"),
                 lambda: bob.put_object_acl(Bucket=abucket, Key="shared", ACL="public-read")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    # Bucket grants: READ lets bob list, not write.
    with pytest.raises(ClientError) as e:
        bob.list_objects_v2(Bucket=abucket)
    assert code(e) == "AccessDenied"
    alice.put_bucket_acl(Bucket=abucket, GrantRead=f'id="{BOB_ID}"', GrantFullControl=f'id="{ALICE_ID}"')
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=abucket)["Contents"]] == ["shared"]
    with pytest.raises(ClientError) as e:
        bob.put_object(Bucket=abucket, Key="from-bob", Body=b"b")
    assert code(e) == "AccessDenied"
    grants = alice.get_bucket_acl(Bucket=abucket)["Grants"]
    assert sorted((g["Grantee"]["ID"], g["Permission"]) for g in grants) == sorted(
        [(BOB_ID, "READ"), (ALICE_ID, "FULL_CONTROL")])


def bucket_with(alice, ownership):
    name = "own-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=name, ObjectOwnership=ownership)
    alice.put_bucket_policy(Bucket=name, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BOB_ACCOUNT}:root"},
         "Action": ["s3:PutObject", "s3:GetObject", "s3:GetObjectAcl"], "Resource": f"arn:aws:s3:::{name}/*"},
    ))
    return name


def owner_of(client, bucket, key):
    return client.get_object_acl(Bucket=bucket, Key=key)["Owner"]["ID"]


def refused(call):
    with pytest.raises(ClientError) as e:
        call()
    return code(e)


def test_uploads_by_a_second_user_under_each_ownership_mode(alice, bob):
    # Objects have no owner of their own yet: every object is the bucket
    # owner's, whatever the mode, and GetObjectAcl says so. An ACL that
    # would make the uploader the owner, or grant anyone else, is refused
    # (NotImplemented) rather than stored and ignored.
    b = bucket_with(alice, "ObjectWriter")
    assert alice.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "ObjectWriter"}]
    bob.put_object(Bucket=b, Key="mine", Body=b"1")
    assert owner_of(bob, b, "mine") == ALICE_ID
    assert alice.get_object(Bucket=b, Key="mine")["Body"].read() == b"1"
    for acl in ("private", "bucket-owner-full-control", "public-read"):
        assert refused(lambda: bob.put_object(Bucket=b, Key="acl", Body=b"x", ACL=acl)) == "NotImplemented"
    # The bucket owner's own private upload is the ACL in effect: accepted.
    alice.put_object(Bucket=b, Key="alices", Body=b"a", ACL="private")
    alice.delete_object(Bucket=b, Key="mine")
    # BucketOwnerPreferred: bucket-owner-full-control hands the object over.
    b = bucket_with(alice, "BucketOwnerPreferred")
    bob.put_object(Bucket=b, Key="mine", Body=b"1")
    bob.put_object(Bucket=b, Key="yours", Body=b"2", ACL="bucket-owner-full-control")
    assert owner_of(alice, b, "yours") == ALICE_ID
    assert alice.get_object(Bucket=b, Key="yours")["Body"].read() == b"2"
    assert refused(lambda: bob.put_object(Bucket=b, Key="acl", Body=b"x", ACL="private")) == "NotImplemented"
    # BucketOwnerEnforced: ACLs off, the bucket owner owns everything;
    # only bucket-owner-full-control (or an ACL granting the bucket owner
    # alone, such as the owner's own private) is accepted, as S3 does.
    b = bucket_with(alice, "BucketOwnerEnforced")
    bob.put_object(Bucket=b, Key="mine", Body=b"1")
    bob.put_object(Bucket=b, Key="ok", Body=b"3", ACL="bucket-owner-full-control")
    alice.put_object(Bucket=b, Key="own", Body=b"4", ACL="private")
    assert owner_of(alice, b, "mine") == ALICE_ID
    assert alice.get_object(Bucket=b, Key="mine")["Body"].read() == b"1"
    for acl in ("public-read", "private"):
        assert refused(lambda: bob.put_object(Bucket=b, Key="pub", Body=b"x", ACL=acl)) == \
            "AccessControlListNotSupported"
    assert refused(lambda: alice.put_object_acl(Bucket=b, Key="own", ACL="public-read")) == \
        "AccessControlListNotSupported"
    with pytest.raises(ClientError) as e:
        alice.put_bucket_acl(Bucket=b, ACL="public-read")
    assert code(e) == "AccessControlListNotSupported"
    with pytest.raises(ClientError) as e:
        alice.head_object(Bucket=b, Key="pub")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_public_access_block_refuses_public_acls_and_policies(alice, acl_bucket, endpoint):
    abucket = acl_bucket
    alice.put_public_access_block(Bucket=abucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    got = alice.get_public_access_block(Bucket=abucket)["PublicAccessBlockConfiguration"]
    assert all(got[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    for call in (
        lambda: alice.put_bucket_acl(Bucket=abucket, ACL="public-read"),
        lambda: alice.put_object(Bucket=abucket, Key="p", Body=b"x", ACL="public-read"),
        lambda: alice.put_bucket_policy(Bucket=abucket, Policy=policy(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{abucket}/*"})),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDenied"
    assert "Contents" not in alice.list_objects_v2(Bucket=abucket)
    with pytest.raises(ClientError) as e:
        alice.get_bucket_policy(Bucket=abucket)
    assert code(e) == "NoSuchBucketPolicy"
    # A policy for a named account is not public, and is accepted.
    alice.put_bucket_policy(Bucket=abucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": BOB_ACCOUNT}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{abucket}/*"}))
    alice.delete_public_access_block(Bucket=abucket)
    alice.delete_public_access_block(Bucket=abucket)  # absent: still 204
    with pytest.raises(ClientError) as e:
        alice.get_public_access_block(Bucket=abucket)
    assert code(e) == "NoSuchPublicAccessBlockConfiguration"
    # Without the block the public bucket ACL is accepted, and
    # IgnorePublicAcls hides it without changing it.
    alice.put_object(Bucket=abucket, Key="p", Body=b"x")
    alice.put_bucket_acl(Bucket=abucket, ACL="public-read")
    assert http(f"{endpoint}/{abucket}?list-type=2")[0] == 200
    alice.put_public_access_block(Bucket=abucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    assert http(f"{endpoint}/{abucket}?list-type=2")[0] == 403
    grants = alice.get_bucket_acl(Bucket=abucket)["Grants"]
    assert (ALL_USERS, "READ") in [(g["Grantee"].get("URI"), g["Permission"]) for g in grants]


def test_expected_bucket_owner(alice, abucket):
    alice.put_object(Bucket=abucket, Key="k", Body=b"v")
    alice.head_bucket(Bucket=abucket, ExpectedBucketOwner=ALICE_ACCOUNT)
    alice.get_object(Bucket=abucket, Key="k", ExpectedBucketOwner=ALICE_ACCOUNT)
    with pytest.raises(ClientError) as e:
        alice.get_object(Bucket=abucket, Key="k", ExpectedBucketOwner=BOB_ACCOUNT)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        alice.put_object(Bucket=abucket, Key="new", Body=b"v", ExpectedBucketOwner=BOB_ACCOUNT)
    assert code(e) == "AccessDenied"
    with pytest.raises(ClientError) as e:
        alice.copy_object(Bucket=abucket, Key="copy", CopySource={"Bucket": abucket, "Key": "k"},
                          ExpectedSourceBucketOwner=BOB_ACCOUNT)
    assert code(e) == "AccessDenied"
    keys = [o["Key"] for o in alice.list_objects_v2(Bucket=abucket)["Contents"]]
    assert keys == ["k"], "refused writes stored nothing"
    alice.copy_object(Bucket=abucket, Key="copy", CopySource={"Bucket": abucket, "Key": "k"},
                      ExpectedSourceBucketOwner=ALICE_ACCOUNT, ExpectedBucketOwner=ALICE_ACCOUNT)


def test_presigned_urls_of_a_second_user_under_a_policy(alice, bob, abucket):
    alice.put_object(Bucket=abucket, Key="doc", Body=b"contents")
    url = bob.generate_presigned_url("get_object", Params={"Bucket": abucket, "Key": "doc"}, ExpiresIn=300)
    assert http(url)[0] == 403
    alice.put_bucket_policy(Bucket=abucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BOB_ACCOUNT}:root"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{abucket}/*"}))
    assert http(url) == (200, b"contents")
    put_url = bob.generate_presigned_url("put_object", Params={"Bucket": abucket, "Key": "up"}, ExpiresIn=300)
    req = urllib.request.Request(put_url, data=b"up", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    # A deny on presigned access wins over the allow.
    alice.put_bucket_policy(Bucket=abucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": BOB_ACCOUNT}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{abucket}/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{abucket}/*",
         "Condition": {"StringEquals": {"s3:authType": "REST-QUERY-STRING"}}}))
    assert http(url)[0] == 403
    assert bob.get_object(Bucket=abucket, Key="doc")["Body"].read() == b"contents"


def test_private_object_in_a_public_read_bucket_stays_private(alice, endpoint):
    """Was answered 200 and ignored: the object then read anonymously."""
    b = "pub-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=b, ACL="public-read", ObjectOwnership="ObjectWriter")
    alice.put_object(Bucket=b, Key="secret", Body=b"s", ACL="private")
    assert http(f"{endpoint}/{b}/secret")[0] == 403
    # A public object ACL is refused (not stored yet), never accepted and ignored.
    assert refused(lambda: alice.put_object(Bucket=b, Key="open", Body=b"o", ACL="public-read")) == \
        "NotImplemented"
    assert http(f"{endpoint}/{b}/open")[0] == 404
    status, body = http(f"{endpoint}/{b}?list-type=2")
    assert status == 200 and b"secret" in body, "public-read lists the bucket"
    # A missing key is NoSuchKey to whoever may list.
    assert http(f"{endpoint}/{b}/none")[0] == 404


def test_bad_policies_answer_malformed_policy_and_change_nothing(alice, abucket):
    good = policy({"Effect": "Allow", "Principal": {"AWS": BOB_ACCOUNT}, "Action": "s3:GetObject",
                   "Resource": f"arn:aws:s3:::{abucket}/*"})
    alice.put_bucket_policy(Bucket=abucket, Policy=good)
    bad = [
        "{not json",
        json.dumps({"Version": "2012-10-17", "Id": "x" * (25 * 1024), "Statement": json.loads(good)["Statement"]}),
        policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{abucket}/*",
                "Condition": {"StringSortaEquals": {"aws:Referer": "x"}}}),
        policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObjekt",
                "Resource": f"arn:aws:s3:::{abucket}/*"}),
        policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::someone-elses-bucket/*"}),
        policy({"Effect": "Allow", "NotPrincipal": {"AWS": BOB_ACCOUNT}, "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{abucket}/*"}),
        policy({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
                "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{abucket}/*"}),
    ]
    for doc in bad:
        with pytest.raises(ClientError) as e:
            alice.put_bucket_policy(Bucket=abucket, Policy=doc)
        assert code(e) == "MalformedPolicy", doc[:80]
        assert json.loads(alice.get_bucket_policy(Bucket=abucket)["Policy"]) == json.loads(good)


def test_bad_acls_answer_s3_codes_and_change_nothing(alice, acl_bucket):
    abucket = acl_bucket
    alice.put_object(Bucket=abucket, Key="k", Body=b"v")
    before_bucket = alice.get_bucket_acl(Bucket=abucket)["Grants"]
    before_object = alice.get_object_acl(Bucket=abucket, Key="k")["Grants"]
    unknown = "ab" * 32
    cases = [
        (lambda: alice.put_bucket_acl(Bucket=abucket, GrantRead=f'id="{unknown}"'), "InvalidArgument"),
        (lambda: alice.put_object_acl(Bucket=abucket, Key="k", GrantRead=f'id="{unknown}"'), "InvalidArgument"),
        (lambda: alice.put_bucket_acl(Bucket=abucket, GrantRead='emailAddress="a@example.com"'),
         "UnresolvableGrantByEmailAddress"),
        (lambda: alice.put_bucket_acl(Bucket=abucket, AccessControlPolicy={
            "Owner": {"ID": BOB_ID},
            "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]}),
         "AccessDenied"),
        (lambda: alice.put_object_acl(Bucket=abucket, Key="k", AccessControlPolicy={
            "Owner": {"ID": BOB_ID},
            "Grants": [{"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}]}),
         "AccessDenied"),
        (lambda: alice.put_object(Bucket=abucket, Key="k2", Body=b"x", ACL="everyone-please"), "InvalidArgument"),
        (lambda: alice.put_object(Bucket=abucket, Key="k2", Body=b"x", ACL="private", GrantRead=f'id="{BOB_ID}"'),
         "InvalidRequest"),
    ]
    for call, want in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == want
    assert alice.get_bucket_acl(Bucket=abucket)["Grants"] == before_bucket
    assert alice.get_object_acl(Bucket=abucket, Key="k")["Grants"] == before_object
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=abucket)["Contents"]] == ["k"]


def test_post_object_forms_go_through_the_policy(alice, bob, abucket):
    """A browser form signed by bob (POST Object) is decided like bob's
    PutObject, with s3:authType POST."""
    import requests

    def post_as_bob(key):
        p = bob.generate_presigned_post(abucket, key, ExpiresIn=300)
        return requests.post(p["url"], data=p["fields"], files={"file": ("f", b"posted")}, timeout=30)

    assert post_as_bob("denied").status_code == 403
    alice.put_bucket_policy(Bucket=abucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": BOB_ACCOUNT}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{abucket}/forms/*"}))
    assert post_as_bob("outside").status_code == 403
    assert post_as_bob("forms/in").status_code == 204
    assert alice.get_object(Bucket=abucket, Key="forms/in")["Body"].read() == b"posted"
    alice.put_bucket_policy(Bucket=abucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": BOB_ACCOUNT}, "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{abucket}/forms/*"},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{abucket}/*",
         "Condition": {"StringEquals": {"s3:authType": "POST"}}}))
    assert post_as_bob("forms/again").status_code == 403
    bob.put_object(Bucket=abucket, Key="forms/by-put", Body=b"p")
    keys = [o["Key"] for o in alice.list_objects_v2(Bucket=abucket)["Contents"]]
    assert keys == ["forms/by-put", "forms/in"]
