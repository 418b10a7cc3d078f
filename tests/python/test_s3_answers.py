"""S3's answers in the edge cases real clients hit (issue 26), driven by
boto3: multipart checksums (composite and full-object, as the SDKs send
them by default), GetObjectAttributes' parts, and the small answers where
ringstore used to differ from S3."""
import base64
import hashlib
import os
import zlib

import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def code(e):
    return e.value.response["Error"]["Code"]


def b64(raw):
    return base64.b64encode(raw).decode()


def crc_of(alg, data):
    """The big-endian CRC as S3 shows it, from the CRT's checksums (the
    ones botocore itself validates downloads with)."""
    from awscrt import checksums

    if alg == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if alg == "CRC32C":
        return checksums.crc32c(data).to_bytes(4, "big")
    return checksums.crc64nvme(data).to_bytes(8, "big")


def checked_download(s3, bucket, key, alg):
    """GET with checksum mode: botocore verifies a FULL_OBJECT checksum as it
    reads the body (and raises on a mismatch); the answer must carry one."""
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    body = got["Body"].read()
    assert got.get("ChecksumType") == "FULL_OBJECT", got.get("ChecksumType")
    assert got.get(f"Checksum{alg}"), sorted(k for k in got if k.startswith("Checksum"))
    return body, got[f"Checksum{alg}"]


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_multipart_verifies_on_download(s3, bucket, alg):
    """CreateMultipartUpload(FULL_OBJECT), parts with the algorithm, the
    full-object CRC sent at Complete: the server combines the parts' CRCs,
    checks the client's value, and a checksum-mode GET verifies end to end."""
    size = 5 * MIB + 1
    data = os.urandom(size)
    key = f"full/{alg}/{size}"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=alg, ChecksumType="FULL_OBJECT")
    assert up["ChecksumAlgorithm"] == alg and up["ChecksumType"] == "FULL_OBJECT"
    step = 8 * MIB if size > 8 * MIB else 5 * MIB
    parts = []
    for n, at in enumerate(range(0, size, step), start=1):
        chunk = data[at : at + step]
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=chunk, ChecksumAlgorithm=alg)
        assert r[f"Checksum{alg}"] == b64(crc_of(alg, chunk))
        parts.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{alg}": r[f"Checksum{alg}"]})
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=up["UploadId"])
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (alg, "FULL_OBJECT")
    assert [p[f"Checksum{alg}"] for p in listed["Parts"]] == [p[f"Checksum{alg}"] for p in parts]
    whole = b64(crc_of(alg, data))
    wrong = b64(bytes(len(crc_of(alg, b""))))
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts},
                                     ChecksumType="FULL_OBJECT", **{f"Checksum{alg}": wrong})
    assert code(e) == "BadDigest"
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts},
                                        ChecksumType="FULL_OBJECT", **{f"Checksum{alg}": whole})
    assert done[f"Checksum{alg}"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    body, value = checked_download(s3, bucket, key, alg)
    assert body == data and value == whole
    # GetObjectAttributes lists the parts of an object with an additional
    # checksum, full-object ones included (S3's ObjectPart documents a
    # CRC64NVME part checksum, which only full-object uploads have).
    attrs = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"])
    assert attrs["Checksum"] == {f"Checksum{alg}": whole, "ChecksumType": "FULL_OBJECT"}
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == len(parts) and not op["IsTruncated"]
    assert [(p["PartNumber"], p["Size"], p[f"Checksum{alg}"]) for p in op["Parts"]] == [
        (p["PartNumber"], len(data[i * step:(i + 1) * step]), p[f"Checksum{alg}"]) for i, p in enumerate(parts)]


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
@pytest.mark.parametrize("size", [5 * MIB + 1, 64 * MIB])
def test_transfer_manager_full_object_upload_verifies_on_download(s3, bucket, tmp_path, alg, size):
    """boto3's upload_file given the file's full-object CRC (s3transfer
    then declares FULL_OBJECT and sends the value at Complete), then a
    checksum-mode download that botocore verifies."""
    src = tmp_path / "in.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    whole = b64(crc_of(alg, data))
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(src), bucket, "tm.bin", Config=cfg, ExtraArgs={f"Checksum{alg}": whole})
    head = s3.head_object(Bucket=bucket, Key="tm.bin", ChecksumMode="ENABLED")
    assert head["ETag"].endswith(f'-{-(-size // (5 * MIB))}"'), head["ETag"]
    assert (head[f"Checksum{alg}"], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    body, value = checked_download(s3, bucket, "tm.bin", alg)
    assert body == data and value == whole


def test_transfer_manager_default_upload(s3, bucket, tmp_path):
    """boto3's upload_file with its defaults: s3transfer declares CRC32
    (COMPOSITE) and sends every part's; the object's composite checksum is
    the CRC32 of the part CRC32s, and the download still reads back."""
    src = tmp_path / "in.bin"
    data = os.urandom(5 * MIB + 1)
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_file(str(src), bucket, "tm.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="tm.bin", ChecksumMode="ENABLED")
    parts = [data[:5 * MIB], data[5 * MIB:]]
    composite = b64(zlib.crc32(b"".join(crc_of("CRC32", p) for p in parts)).to_bytes(4, "big"))
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (composite + "-2", "COMPOSITE")
    got = s3.get_object(Bucket=bucket, Key="tm.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data


def test_composite_upload_rules(s3, bucket):
    """A composite (SHA256) upload: the algorithm is echoed, a part without
    it is refused as S3 refuses it, ListParts shows each part's checksum,
    Complete needs every part's and answers the composite in the XML."""
    key = "composite"
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    assert up["ChecksumAlgorithm"] == "SHA256" and up["ChecksumType"] == "COMPOSITE"
    # S3's model carries both as headers (InitiateMultipartUploadResult
    # itself has only Bucket, Key and UploadId).
    sent = up["ResponseMetadata"]["HTTPHeaders"]
    assert (sent["x-amz-checksum-algorithm"], sent["x-amz-checksum-type"]) == ("SHA256", "COMPOSITE")
    uid = up["UploadId"]
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * 10, ChecksumAlgorithm="CRC32")
    assert code(e) == "InvalidRequest"
    assert "expected checksum Type: sha256, actual checksum Type: crc32" in e.value.response["Error"]["Message"]
    # A part with no checksum at all is refused the same way.
    with pytest.raises(ClientError) as e:
        bare_client().upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * 10)
    assert code(e) == "InvalidRequest"
    assert "expected checksum Type: sha256, actual checksum Type: null" in e.value.response["Error"]["Message"]
    bodies = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(777)]
    parts = []
    for n, body in enumerate(bodies, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body, ChecksumAlgorithm="SHA256")
        assert r["ChecksumSHA256"] == b64(hashlib.sha256(body).digest())
        parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumSHA256": r["ChecksumSHA256"]})
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert [p["ChecksumSHA256"] for p in listed["Parts"]] == [p["ChecksumSHA256"] for p in parts]
    assert listed["ChecksumAlgorithm"] == "SHA256" and listed["ChecksumType"] == "COMPOSITE"
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["ChecksumAlgorithm"], u["ChecksumType"]) for u in uploads] == [("SHA256", "COMPOSITE")]
    bare = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": bare})
    assert code(e) == "InvalidRequest"
    assert "It was missing for part 1 in the request." in e.value.response["Error"]["Message"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts})
    digests = b"".join(base64.b64decode(p["ChecksumSHA256"]) for p in parts)
    composite = b64(hashlib.sha256(digests).digest())
    # boto3 reads the checksum from CompleteMultipartUploadResult's XML;
    # the same travels as headers.
    assert done["ChecksumSHA256"] == composite + "-3" and done["ChecksumType"] == "COMPOSITE"
    sent = done["ResponseMetadata"]["HTTPHeaders"]
    assert (sent["x-amz-checksum-sha256"], sent["x-amz-checksum-type"]) == (composite + "-3", "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == composite + "-3" and head["ChecksumType"] == "COMPOSITE"
    # A part read with checksum mode carries that part's checksum.
    part2 = s3.get_object(Bucket=bucket, Key=key, PartNumber=2, ChecksumMode="ENABLED")
    assert part2["ChecksumSHA256"] == parts[1]["ChecksumSHA256"]
    assert part2["Body"].read() == bodies[1]
    # GetObjectAttributes: the composite without -N, the parts paginated.
    attrs = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["Checksum", "ObjectParts"], MaxParts=2)
    assert attrs["Checksum"] == {"ChecksumSHA256": composite, "ChecksumType": "COMPOSITE"}
    op = attrs["ObjectParts"]
    assert op["TotalPartsCount"] == 3 and op["IsTruncated"] and op["MaxParts"] == 2
    assert [(p["PartNumber"], p["Size"]) for p in op["Parts"]] == [(1, 5 * MIB), (2, 5 * MIB)]
    assert [p["ChecksumSHA256"] for p in op["Parts"]] == [p["ChecksumSHA256"] for p in parts[:2]]
    rest = s3.get_object_attributes(Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=op["NextPartNumberMarker"])["ObjectParts"]
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 777)] and not rest["IsTruncated"]


def test_checksum_type_refusals(s3, bucket):
    cases = [
        ({"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"},
         "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."),
        ({"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"},
         "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
        ({"ChecksumType": "FULL_OBJECT"},
         "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."),
    ]
    for args, message in cases:
        with pytest.raises(ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", **args)
        assert code(e) == "InvalidRequest" and e.value.response["Error"]["Message"] == message


def bare_client():
    """boto3 without its default request checksums: an UploadPart or a PUT
    carries none unless asked."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(request_checksum_calculation="when_required", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}),
    )


def test_full_object_part_without_checksum_gets_one(s3, bucket):
    """A FULL_OBJECT upload's part sent without a checksum: S3 computes the
    upload's CRC for it (needed to combine the object's)."""
    bare = bare_client()
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    body = os.urandom(1000)
    r = bare.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1, Body=body)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]})
    assert done["ChecksumCRC32"] == b64(zlib.crc32(body).to_bytes(4, "big"))


def test_complete_retried_answers_the_same(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="again")
    r = s3.upload_part(Bucket=bucket, Key="again", UploadId=up["UploadId"], PartNumber=1, Body=b"abc")
    parts = {"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="again", UploadId=up["UploadId"], MultipartUpload=parts)
    second = s3.complete_multipart_upload(Bucket=bucket, Key="again", UploadId=up["UploadId"], MultipartUpload=parts)
    assert second["ETag"] == first["ETag"] and second["Key"] == "again"
    # Other parts than the completion's: that upload is gone.
    other = {"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]}
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="again", UploadId=up["UploadId"], MultipartUpload=other)
    assert code(e) == "NoSuchUpload"


def test_attributes_of_a_multipart_object_without_checksums(bucket):
    """GetObjectAttributes' ObjectParts of a multipart object uploaded with
    no checksum at all: the part count, and no Part elements, as S3
    documents for an object without an additional checksum. (S3 would give
    such an object its default CRC64NVME; ringstore computes none, so it
    has none to list.)"""
    bare = bare_client()
    up = bare.create_multipart_upload(Bucket=bucket, Key="plain")
    parts = []
    for n, body in enumerate([os.urandom(5 * MIB), b"tail"], start=1):
        r = bare.upload_part(Bucket=bucket, Key="plain", UploadId=up["UploadId"], PartNumber=n, Body=body)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    bare.complete_multipart_upload(Bucket=bucket, Key="plain", UploadId=up["UploadId"],
                                   MultipartUpload={"Parts": parts})
    attrs = bare.get_object_attributes(Bucket=bucket, Key="plain", ObjectAttributes=["ObjectParts", "ObjectSize"])
    assert attrs["ObjectSize"] == 5 * MIB + 4
    assert attrs["ObjectParts"] == {"TotalPartsCount": 2}, attrs["ObjectParts"]


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


def test_bucket_acl_grant_order(s3):
    """GetBucketAcl lists grants as S3 does: an ACL given as a document or
    grants keeps the order it was given in (group grants need not follow
    the owner's), and a canned ACL expands with the owner's FULL_CONTROL
    first, then its group grants (S3's documented get-object-acl answer
    for public-read; log-delivery-write as S3 answers it)."""
    name = "order-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    owner = s3.get_bucket_acl(Bucket=name)["Owner"]["ID"]

    def shown():
        return [(g["Grantee"]["Type"], g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"])
                for g in s3.get_bucket_acl(Bucket=name)["Grants"]]

    me = ("CanonicalUser", owner, "FULL_CONTROL")
    s3.put_bucket_acl(Bucket=name, ACL="public-read-write")
    assert shown() == [me, ("Group", ALL_USERS, "READ"), ("Group", ALL_USERS, "WRITE")]
    s3.put_bucket_acl(Bucket=name, ACL="log-delivery-write")
    assert shown() == [me, ("Group", LOG_DELIVERY, "WRITE"), ("Group", LOG_DELIVERY, "READ_ACP")]
    groups_first = [
        ("Group", AUTHENTICATED_USERS, "READ"),
        ("Group", ALL_USERS, "READ_ACP"),
        me,
        ("Group", LOG_DELIVERY, "WRITE"),
    ]

    def grant(t, who, permission):
        grantee = {"Type": t, "ID": who} if t == "CanonicalUser" else {"Type": t, "URI": who}
        return {"Grantee": grantee, "Permission": permission}

    for order in (groups_first, list(reversed(groups_first))):
        s3.put_bucket_acl(Bucket=name, AccessControlPolicy={
            "Owner": {"ID": owner}, "Grants": [grant(*g) for g in order]})
        assert shown() == order


def test_list_objects_v1_prefix_stays_unencoded(s3, bucket):
    for k in ["a b/c d", "a b/e+f", "other"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    # botocore asks for encoding-type=url itself and decodes every listed
    # field but v1's Prefix, which S3 leaves unencoded.
    got = s3.list_objects(Bucket=bucket, Prefix="a b/", Delimiter="/")
    assert got["EncodingType"] == "url"
    assert got["Prefix"] == "a b/"
    assert [o["Key"] for o in got["Contents"]] == ["a b/c d", "a b/e+f"]
    got = s3.list_objects(Bucket=bucket, Delimiter=" ")
    assert [p["Prefix"] for p in got["CommonPrefixes"]] == ["a "]


def test_content_encoding_kept_as_sent(s3, bucket):
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding="deflate, gzip")
    assert s3.head_object(Bucket=bucket, Key="enc")["ContentEncoding"] == "deflate, gzip"


def test_list_buckets_paginated(s3):
    names = [f"lb-{i:02}-{os.urandom(3).hex()}" for i in range(5)]
    for n in names:
        s3.create_bucket(Bucket=n)
    seen, token = [], None
    while True:
        args = {"MaxBuckets": 2, "Prefix": "lb-", "BucketRegion": "us-east-1"}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_buckets(**args)
        assert page["Prefix"] == "lb-" and len(page["Buckets"]) <= 2
        seen += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert seen == sorted(names)
    assert s3.list_buckets(BucketRegion="eu-west-1")["Buckets"] == []


def test_create_own_bucket_again(s3):
    """S3's legacy answer in us-east-1: 200, and the ACL reset; in every
    other region BucketAlreadyOwnedByYou (run against both, see
    tests/python_clients.rs)."""
    region = os.environ.get("S3_REGION", "us-east-1")
    name = "again-" + os.urandom(4).hex()
    config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    # ACLs enabled (new buckets have them disabled, as in S3).
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter", **config)
    s3.put_bucket_acl(Bucket=name, ACL="public-read")
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
        grants = s3.get_bucket_acl(Bucket=name)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]
    else:
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name, **config)
        assert code(e) == "BucketAlreadyOwnedByYou"


def test_lifecycle_rule_ids_and_transitions(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 3}},
        {"ID": "mine", "Filter": {"Prefix": "old/"}, "Status": "Enabled", "Expiration": {"Days": 9}},
    ]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(rules[0]["ID"]) == 48 and rules[1]["ID"] == "mine"
    again = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert again[0]["ID"] == rules[0]["ID"], "the generated ID is stored"

    def transition(t):
        return {"Rules": [{"ID": "t", "Filter": {"Prefix": ""}, "Status": "Enabled", "Transitions": [t]}]}

    bad = [
        ({"Days": 10, "StorageClass": "STANDARD_IA"}, "InvalidArgument",
         "'Days' in Transition action must be greater than or equal to 30 for storageClass 'STANDARD_IA'"),
        ({"Days": -1, "StorageClass": "GLACIER"}, "InvalidArgument", "'Days' in Transition action must be nonnegative"),
        ({"Date": "2030-01-01T12:00:00Z", "StorageClass": "GLACIER"}, "InvalidArgument", "'Date' must be at midnight GMT"),
        ({"Days": 1, "StorageClass": "NOPE"}, "MalformedXML", None),
    ]
    for t, want_code, message in bad:
        with pytest.raises(ClientError) as e:
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=transition(t))
        assert code(e) == want_code, t
        if message:
            assert e.value.response["Error"]["Message"] == message
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=transition({"Days": 30, "StorageClass": "GLACIER"}))
    assert code(e) == "NotImplemented"


def test_part_number_beyond_the_count(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"abc")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=2)
    assert code(e) == "InvalidPartNumber" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="one", PartNumber=2)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    # Part 1 of a single-part object: the whole object, as a range (206).
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206 and got["ContentRange"] == "bytes 0-2/3"
    assert got["Body"].read() == b"abc" and "PartsCount" not in got
    head = s3.head_object(Bucket=bucket, Key="one", PartNumber=1)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206 and head["ContentLength"] == 3


def test_torrent(s3, bucket):
    with pytest.raises(ClientError) as e:
        s3.get_object_torrent(Bucket=bucket, Key="missing")
    assert code(e) == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key="there", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object_torrent(Bucket=bucket, Key="there")
    assert code(e) == "NotImplemented"


def test_malformed_digests(s3, bucket):
    # Short, not base64, decodes to 3 bytes, empty (boto3 sends the header empty).
    for bad in ["abc", "not base64!", "AAAA", ""]:
        with pytest.raises(ClientError) as e:
            s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentMD5=bad)
        assert code(e) == "InvalidDigest", bad
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentMD5=b64(hashlib.md5(b"y").digest()))
    assert code(e) == "BadDigest"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ChecksumSHA256="AAAA")
    assert code(e) == "InvalidRequest"
    assert e.value.response["Error"]["Message"] == "Value for x-amz-checksum-sha256 header is invalid."


def presigned_v4(url, expires):
    """A SigV4 presigned GET with any X-Amz-Expires (the CRT signer
    refuses 0 and negatives; botocore's own query signer does not)."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials(os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"])
    req = AWSRequest(method="GET", url=url)
    S3SigV4QueryAuth(creds, "s3", os.environ.get("S3_REGION", "us-east-1"), expires=expires).add_auth(req)
    return req.url


def test_presigned_expiry_zero_and_negative(s3, bucket, endpoint):
    import time

    s3.put_object(Bucket=bucket, Key="p", Body=b"x")
    url = f"{endpoint}/{bucket}/p"
    assert requests.get(presigned_v4(url, 60)).status_code == 200
    r = requests.get(presigned_v4(url, -1))
    assert r.status_code == 400 and "<Code>AuthorizationQueryParametersError</Code>" in r.text, r.text
    assert "X-Amz-Expires must be non-negative" in r.text
    zero = presigned_v4(url, 0)
    time.sleep(1.1)
    r = requests.get(zero)
    assert r.status_code == 403 and "Request has expired" in r.text, r.text
