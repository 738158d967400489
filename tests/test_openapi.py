"""The HTTP API's spec: what the gateway serves is what is checked in (gateway/openapi.json).

After changing a route, regenerate it with `alpr gateway openapi > gateway/openapi.json`.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from gateway_helpers import load_config, serve_ingest

from gateway.web.app import openapi_text

CHECKED_IN = Path(__file__).resolve().parents[1] / "gateway" / "openapi.json"


def test_served_spec_is_the_checked_in_file(tmp_path: Path) -> None:
    with serve_ingest(load_config(tmp_path)) as (url, _store):
        response = urllib.request.urlopen(f"{url}/openapi.json", timeout=10)
        served = json.loads(response.read())
        response.close()
    assert served == json.loads(CHECKED_IN.read_text()), (
        "the API changed: run `alpr gateway openapi > gateway/openapi.json`"
    )
    assert set(served["paths"]) == {"/v1/events", "/v1/heartbeat", "/v1/survey", "/v1/health"}


def test_openapi_command_writes_the_checked_in_file() -> None:
    assert openapi_text() == CHECKED_IN.read_text()
