"""The moto S3 server works for the clients the pipeline uses: boto3 and pyarrow's S3FileSystem."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from revolt_pipeline_tests.fixtures.s3 import S3Bucket, S3Server, _dummy_aws_env

pytestmark = pytest.mark.services


def test_bucket_url(s3_bucket: S3Bucket) -> None:
    assert s3_bucket.url() == f"s3://{s3_bucket.name}/"
    assert s3_bucket.url("raw/2026-11-20/") == f"s3://{s3_bucket.name}/raw/2026-11-20/"
    assert s3_bucket.endpoint_url.startswith("http://127.0.0.1:")


def test_dummy_credentials_are_set(s3_server: S3Server) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert os.environ.get(key), key


def test_boto3_put_list_get(s3_server: S3Server, s3_bucket: S3Bucket) -> None:
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket.name, Key="raw/a.jsonl", Body=b'{"event": "signup"}\n')
    listed = client.list_objects_v2(Bucket=s3_bucket.name, Prefix="raw/")
    assert [obj["Key"] for obj in listed["Contents"]] == ["raw/a.jsonl"]
    body = client.get_object(Bucket=s3_bucket.name, Key="raw/a.jsonl")["Body"].read()
    assert body == b'{"event": "signup"}\n'


def test_buckets_are_fresh(s3_server: S3Server, s3_bucket: S3Bucket) -> None:
    assert s3_server.client().list_objects_v2(Bucket=s3_bucket.name)["KeyCount"] == 0


def test_pyarrow_s3_filesystem(s3_server: S3Server, s3_bucket: S3Bucket) -> None:
    s3 = fs.S3FileSystem(
        endpoint_override=s3_server.endpoint_override,
        scheme="http",
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )
    path = f"{s3_bucket.name}/cleaned/part-0.parquet"
    table = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})
    pq.write_table(table, path, filesystem=s3)
    assert pq.read_table(path, filesystem=s3).equals(table)
    # The file is visible through boto3 too: same server, same bucket.
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket.name)["Contents"]]
    assert keys == ["cleaned/part-0.parquet"]


def test_dummy_env_keeps_user_settings_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "users-own")
    with _dummy_aws_env():
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
        assert os.environ["AWS_SECRET_ACCESS_KEY"] == "users-own"
        assert "127.0.0.1" in os.environ["NO_PROXY"].split(",")
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "users-own"
