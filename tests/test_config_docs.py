"""docs/config.md is generated from the config's schema: committed as generated, every key there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.config import json_schema
from gateway.config_docs import markdown, undocumented

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_reference_is_the_generators_output() -> None:
    """Regenerate with `alpr config docs > docs/config.md` when the models change."""
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "config", "docs"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert (ROOT / "docs/config.md").read_text() == out.stdout


def test_every_key_of_every_table_is_described_and_listed() -> None:
    schema = json_schema()
    assert undocumented(schema) == []
    text = markdown(schema)
    for model in schema["$defs"].values():
        for key, prop in model["properties"].items():
            row = f"| `{key}` |"
            assert row in text and " ".join(prop["description"].split()) in text, key
    for table in ("[agency]", "[[agency.neighbours]]", "[gateway]", "[[cameras]]",
                  "[cameras.hints]", "[[sharing.agencies]]", "[[alerts]]"):  # fmt: skip
        assert f"## `{table}`" in text
    gateway = text.split("## `[gateway]`")[1].split("## ")[0]
    assert "| `rotation_grace_hours` | number 0 to 8760 | `72.0` |" in gateway
    cameras = text.split("## `[[cameras]]`")[1].split("## ")[0]
    assert "| `heading` | number 0 to 360 | required |" in cameras
    assert '| `format` | "csv" or "ncic" | `"csv"` |' in text
