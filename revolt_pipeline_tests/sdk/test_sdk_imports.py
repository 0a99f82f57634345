"""The SDK is embedded in applications: importing it pulls in the standard library only.

orjson is the one exception, and optional: used when installed, not needed when not.
"""

import json
import sys

from revolt_pipeline_tests.sdk.conftest import run_python

_LIST_NEW_MODULES = """
import json, sys
before = set(sys.modules)
import revolt_pipeline.sdk
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_importing_the_sdk_loads_only_the_standard_library() -> None:
    result = run_python(_LIST_NEW_MODULES)
    assert result.returncode == 0, result.stderr

    loaded = json.loads(result.stdout)
    foreign = {
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith(("revolt_pipeline.sdk", "_"))
        and name not in ("revolt_pipeline", "orjson", "orjson.orjson")
    }
    assert foreign == set()
    assert not any(name.startswith(("revolt_pipeline.collector", "revolt_pipeline.contract")) for name in loaded)


_WITHOUT_ORJSON = """
import sys
sys.modules["orjson"] = None  # as if it were not installed
from revolt_pipeline.sdk import Client
client = Client("key", "http://127.0.0.1:9", send_in_background=False)
print(client.track(user_id="u", event="E", properties={"x": float("nan")}))
client.shutdown(timeout=0)
"""


def test_the_sdk_works_without_orjson() -> None:
    result = run_python(_WITHOUT_ORJSON)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
