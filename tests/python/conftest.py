"""Fixtures shared by the real-client tests: endpoint and credentials come
from the Rust test that started the server (tests/common/mod.rs)."""
import os
import uuid

import boto3
import pytest
from botocore.config import Config


@pytest.fixture(scope="session")
def endpoint():
    return os.environ["S3_ENDPOINT"]


@pytest.fixture(scope="session")
def s3(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="session")
def s3_resource(endpoint):
    """boto3's resource API (what `Bucket(...).object_versions.delete()` needs)."""
    return boto3.resource(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ.get("S3_REGION", "us-east-1"),
    )


@pytest.fixture
def bucket(s3):
    name = "py-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def cli_env(endpoint):
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=os.environ["S3_ACCESS_KEY"],
        AWS_SECRET_ACCESS_KEY=os.environ["S3_SECRET_KEY"],
        AWS_DEFAULT_REGION=os.environ.get("S3_REGION", "us-east-1"),
    )
    return env
