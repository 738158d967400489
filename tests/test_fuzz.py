"""Fuzzing the input parsers (tools/faults/fuzz.py): only each parser's own named error may come out.

ALPR_FUZZ_EXAMPLES sets the examples per parser (a few seconds in all by default);
`alpr faults --fuzz N` runs the same targets longer and prints the counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.faults.fuzz import TARGETS, Target, run_target

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("ALPR_FUZZ_EXAMPLES", "40"))


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_raises_only_its_named_error(target: Target) -> None:
    result = run_target(target, EXAMPLES)
    assert result["crashes"] == 0, f"{target.name}: {result['crash']}"
    assert result["examples"] > 0


@pytest.mark.parametrize("captured", ["NaN", "Infinity", "1e300", "1" + "0" * 40, "-5"])
def test_event_time_that_cannot_be_filed_is_refused(captured: str) -> None:
    """Found by fuzzing: such a time was stored, and then every sync pass failed on its read."""
    from gateway import protocol
    from tools.faults.fuzz import JPEG

    meta = b'{"captured":%s,"trigger":"radar","battery_v":3.9,"solar_v":5,"frames":1}' % (
        captured.encode()
    )
    body = len(meta).to_bytes(4, "big") + meta + len(JPEG).to_bytes(4, "big") + JPEG
    with pytest.raises(protocol.ProtocolError, match="captured"):
        protocol.decode_event(body)


def test_csv_with_a_lone_carriage_return_gives_line_errors() -> None:
    """Found by fuzzing: csv.Error escaped the parser and stopped the whole import."""
    from gateway import hotlist

    header = ",".join(hotlist.CSV_FIELDS)
    good = "ABC123,IL,stolen-vehicle,26-1,stolen,Det. Ray,dispatch,verify,2031-01-01"
    entries, errors = hotlist.parse(f"{header}\n{good}\n{'x' * 140_000}\n{good}\n", "t", "csv")
    assert len(entries) == 2 and len(errors) == 1 and "field limit" in errors[0].reason
    entries, errors = hotlist.parse(f"{header}\n{good}\r\n\r0\n", "t", "csv")
    assert len(entries) == 1 and errors


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        (b'{"x": 1' + b"0" * 5000 + b"}", "metadata has a number too long"),
        (b'{"x": ' + b"[" * 100_000 + b"}", "metadata is nested too deeply"),
    ],
)
def test_event_metadata_the_json_parser_cannot_take_is_refused(meta: bytes, reason: str) -> None:
    """json.loads raises plain ValueError for an integer past Python's
    digit limit and RecursionError for deep nesting; both escaped as a 500."""
    from gateway import protocol
    from tools.faults.fuzz import JPEG

    body = len(meta).to_bytes(4, "big") + meta + len(JPEG).to_bytes(4, "big") + JPEG
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.decode_event(body)


def test_fuzzing_leaves_no_folders_behind(tmp_path: Path) -> None:
    """The targets that read files write their input to a folder of the run, removed after it
    (they once made two folders in /tmp at import and left them there)."""
    code = (
        "from tools.faults.fuzz import TARGETS, run_target\n"
        "for t in TARGETS:\n"
        "    assert run_target(t, 5)['crashes'] == 0, t.name\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
