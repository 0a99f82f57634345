"""Objects staged for the engines keep their names: raw records the landed file each row came from."""

from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq

from revolt_pipeline.layers.raw import build_raw_day
from revolt_pipeline.storage import ObjectStore
from revolt_pipeline_tests.fixtures.s3 import S3Bucket
from revolt_pipeline_tests.transforms.harness import DEFAULT_RULES, at, duckdb_connection, land_by_hour, landed


def _landed_files(store: ObjectStore, workdir: Path) -> list[str]:
    records = [landed(f"m{hour}", at("2026-11-20 08:00") + timedelta(hours=hour)) for hour in range(3)]
    day = land_by_hour(store, records)[0].date()
    workdir.mkdir()
    with duckdb_connection(threads=1) as connection:
        raw = build_raw_day(store, connection, day, DEFAULT_RULES, workdir)
    return sorted(pq.read_table(raw.raw_path)["landed_file"].to_pylist())


def test_raw_names_each_rows_landed_file_alike_on_a_local_folder_and_on_s3(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    local = _landed_files(ObjectStore((tmp_path / "store").as_uri()), tmp_path / "local")
    on_s3 = _landed_files(ObjectStore(s3_bucket.url("lake"), s3_endpoint_url=s3_bucket.endpoint_url), tmp_path / "s3")
    # Three hours' objects, all named c1-000001.jsonl.gz in their hour's folder (land_by_hour): staged side by side.
    assert local == on_s3 == ["c1-000001.jsonl.gz"] * 3
