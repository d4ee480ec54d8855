"""A real S3-compatible server (moto's standalone server over HTTP) for the storage tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from storages.backends.s3 import S3Storage

S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_options(endpoint: str, bucket: str) -> dict[str, Any]:
    """The OPTIONS kling_site/settings.py builds from AWS_* variables, pointed at the test server."""
    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        **S3_KEYS,
        "addressing_style": "path",
        "signature_version": "s3v4",
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": 3600,  # the storage's own default, which MEDIA_URL_EXPIRE_SECONDS must override
        "file_overwrite": False,
    }


def make_bucket(endpoint: str) -> str:
    bucket = f"kling-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    """A storage object on a fresh bucket."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    return S3Storage(**s3_options(s3_endpoint, make_bucket(s3_endpoint)))


@pytest.fixture
def s3_default_storage(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make S3 the site's default storage for one test, exactly as AWS_STORAGE_BUCKET_NAME would."""
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    bucket = make_bucket(s3_endpoint)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage",
                                                          "OPTIONS": s3_options(s3_endpoint, bucket)}}
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    storages._storages.pop("default", None)
    default_storage._wrapped = empty  # rebuilt lazily from the new settings
    yield default_storage
    storages._storages.pop("default", None)
    default_storage._wrapped = empty
