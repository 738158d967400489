"""Fuzzing the gateway's input parsers with hypothesis: whatever comes in, only the parser's own
named error may come out (a crash elsewhere would stop a service or lose the rest of a file).

Each target is a hypothesis strategy and a function that feeds one drawn input to the parser and
says "accepted" or "refused"; any other exception is a crash. tests/test_fuzz.py runs them under
pytest; `alpr faults --fuzz N` runs them with N examples each and prints the counts.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway import hotlist, protocol
from gateway.config import ConfigError, load, parse
from gateway.reader import images

Outcome = str  # "accepted" or "refused"

_scratch: list[Path] = []  # the folder of the run in progress (run_target makes and removes it)


def scratch() -> Path:
    """Where the targets that read files write their input: one folder per run, removed after."""
    if not _scratch:
        raise RuntimeError("fuzz targets that write files run inside run_target()")
    return _scratch[-1]


# ---------------------------------------------------------------- config
BASE_CONFIG: dict[str, Any] = {
    "agency": {"name": "Fuzz PD", "retention_days": 30},
    "gateway": {"listen": "127.0.0.1:0", "data_dir": "data", "reader_workers": 1},
    "sites": [{"id": "s1", "name": "Main St", "lat": 40.0, "lon": -88.0}],
    "cameras": [
        {"id": "cam-01", "site": "s1", "heading": 90, "secret": "literal:k1"},
        {"id": "cam-02", "site": "s1", "heading": 270, "secret": "literal:k2"},
    ],
    "storage": {"target": "file://store"},
    "hotlists": [{"source": "local", "path": "hot.csv"}],
    "alerts": [{"kind": "log"}],
}
toml_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.sampled_from(["env:", "file:", "literal:", "file:/etc/passwd", "s3://", "0.0.0.0:99999"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def config_docs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid config with a few values replaced, keys added or removed; or any table at all."""
    if draw(st.integers(0, 4)) == 0:
        doc: dict[str, Any] = draw(st.dictionaries(st.text(max_size=10), toml_values, max_size=6))
        return doc
    doc = copy.deepcopy(BASE_CONFIG)
    for _ in range(draw(st.integers(1, 4))):
        node: Any = doc
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(
                st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
            )
            if not isinstance(node[key], dict | list):
                break
            node = node[key]
        if isinstance(node, dict):
            key = draw(st.sampled_from([*sorted(node), "extra"]) if node else st.just("extra"))
            if draw(st.integers(0, 3)) == 0:
                node.pop(key, None)
            else:
                node[key] = draw(toml_values)
        elif isinstance(node, list):
            node.append(draw(toml_values))
    return doc


def fuzz_config_doc(doc: dict[str, Any]) -> Outcome:
    try:
        parse(doc, Path("/nonexistent-fuzz-base"), allow_literal=True)
    except ConfigError:
        return "refused"
    return "accepted"


def fuzz_config_text(text: str) -> Outcome:
    path = scratch() / "alpr.toml"
    path.write_text(text, errors="surrogateescape")
    try:
        load(path)
    except ConfigError:
        return "refused"
    return "accepted"


toml_lines = st.lists(
    st.one_of(
        st.sampled_from(["[agency]", "[gateway]", "[[sites]]", "[[cameras]]", "[storage]", "[["]),
        st.builds(
            lambda k, v: f"{k} = {v}",
            st.sampled_from(["name", "id", "lat", "listen", "site", "secret", "retention_days"]),
            st.sampled_from(
                ['"x"', "1", "-1e999", "nan", "inf", "[1,2]", "{a=1}", '"', "1979-05-27"]
            ),
        ),
        st.text(max_size=30),
    ),
    max_size=12,
).map("\n".join)


# ---------------------------------------------------------------- hot lists
csv_cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["ABC123", "AB?12*", "IL", "stolen-vehicle", "2031-01-01", "20310101", '"', ","]
    ),
    st.sampled_from(["\r", "0\r1", "\x00", '"a""b"', "x" * 140_000]),  # line ends, NUL, size limit
)


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    header = draw(
        st.one_of(
            st.just(",".join(hotlist.CSV_FIELDS)),
            st.permutations(hotlist.CSV_FIELDS).map(",".join),
            st.text(max_size=40),
        )
    )
    rows = draw(st.lists(st.lists(csv_cells, min_size=0, max_size=11).map(",".join), max_size=8))
    return "\n".join([header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n", '"']))


@st.composite
def ncic_files(draw: st.DrawFn) -> str:
    codes = st.sampled_from([*hotlist.NCIC_CATEGORY, "X", "", "lp"])
    line = st.one_of(
        st.lists(
            st.one_of(csv_cells, codes),
            min_size=len(hotlist.NCIC_FIELDS),
            max_size=len(hotlist.NCIC_FIELDS),
        ).map("|".join),
        st.text(max_size=40),
        st.just("# comment"),
    )
    return "\n".join(draw(st.lists(line, max_size=8)))


def _hotlist(text: str, fmt: str) -> Outcome:
    good, errors = hotlist.parse(text, "fuzz", fmt)
    assert all(isinstance(e, hotlist.LineError) for e in errors)
    why = hotlist.refusal("fuzz.txt", len(good), errors, 0.05, 0)
    return "refused" if why else "accepted"


def fuzz_hotlist_csv(text: str) -> Outcome:
    return _hotlist(text, "csv")


def fuzz_hotlist_ncic(text: str) -> Outcome:
    return _hotlist(text, "ncic")


# ---------------------------------------------------------------- camera protocol
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 12 + b"\xff\xd9"
meta_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(max_size=6),
    st.none(),
    st.booleans(),
    st.sampled_from(list(protocol.TRIGGERS)),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, 10**40, -1.0, 2**63]),
)


@st.composite
def event_bodies(draw: st.DrawFn) -> bytes:
    """Raw bytes, or bodies close to valid: real layout, odd metadata, cut or lying lengths."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=200))
    meta: dict[str, Any] = {
        "captured": 1_795_330_000.25,
        "trigger": "radar",
        "battery_v": 3.9,
        "solar_v": 5.0,
    }
    for key in draw(st.lists(st.sampled_from([*meta, "awake_ms", "frames"]), max_size=3)):
        meta[key] = draw(meta_values)
    frames = draw(st.lists(st.one_of(st.just(JPEG), st.binary(max_size=30)), max_size=3))
    raw_meta = json.dumps(meta, allow_nan=True).encode()
    if "frames" not in meta:
        raw_meta = json.dumps({**meta, "frames": len(frames)}, allow_nan=True).encode()
    parts = [struct.pack(">I", len(raw_meta)), raw_meta]
    for f in frames:
        size = len(f) if kind != 3 else draw(st.integers(0, 2**32 - 1))
        parts += [struct.pack(">I", size), f]
    body = b"".join(parts)
    if kind == 2 and body:
        cut = draw(st.integers(0, len(body)))
        body = body[:cut]
    return body


def fuzz_event(body: bytes) -> Outcome:
    try:
        event = protocol.decode_event(body)
    except protocol.ProtocolError:
        return "refused"
    # what was accepted can be stored, filed by day and synced
    for key in ("captured", "battery_v", "solar_v", "awake_ms"):
        value = event.meta.get(key)
        if value is None:  # awake_ms is optional
            continue
        assert abs(value) <= 2**53 and math.isfinite(value), f"{key} {value!r} accepted"
    time.gmtime(event.meta["captured"])
    return "accepted"


header_text = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)


@st.composite
def signing_inputs(draw: st.DrawFn) -> tuple[str, str, int, int, bytes]:
    """What a request's headers can carry (HTTP headers are Latin-1 text)."""
    return (
        draw(header_text),
        draw(header_text),
        draw(st.integers(min_value=-(2**70), max_value=2**70)),
        draw(st.integers(min_value=-(2**70), max_value=2**70)),
        draw(st.binary(max_size=50)),
    )


def fuzz_signing(args: tuple[str, str, int, int, bytes]) -> Outcome:
    """The string to sign (the canonical form of a request) and the answer's signature: total."""
    path, camera, timestamp, sequence, body = args
    a = protocol.sign(b"k", "POST", path, camera, timestamp, sequence, body)
    b = protocol.sign(b"k", "POST", path, camera, timestamp, sequence, body)
    assert a == b and len(a) == 64
    protocol.sign_response(b"k", 200, camera, sequence, body)
    return "accepted"


# ---------------------------------------------------------------- images
@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    """Raw bytes, and PNG and JPEG headers with odd sizes, cut short or with lying lengths."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=100))
    w, h = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**32 - 1))
    if kind == 1:
        data = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + struct.pack(">II", w, h)
    else:
        marker = draw(st.integers(0xC0, 0xFF))
        seg_len = draw(st.integers(0, 0xFFFF))
        data = (
            b"\xff\xd8"
            + bytes([0xFF, marker])
            + struct.pack(">HBHH", seg_len, 8, h % 65536, w % 65536)
        )
    data += draw(st.binary(max_size=40))
    return data[: draw(st.integers(0, len(data)))]


def fuzz_image(data: bytes) -> Outcome:
    try:
        size = images.header_size(data)
        if size is not None:
            images.check_size(*size)
        path = scratch() / "input.bin"
        path.write_bytes(data)
        images.load(path)
    except images.ImageError:
        return "refused"
    return "accepted"


# ---------------------------------------------------------------- running
@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    run: Callable[[Any], Outcome]
    allowed: str  # the one error that may come out, for the report


TARGETS = (
    Target("config: TOML tables", config_docs(), fuzz_config_doc, "ConfigError"),
    Target("config: TOML text", toml_lines | st.text(max_size=80), fuzz_config_text, "ConfigError"),
    Target(
        "hot list: CSV",
        csv_files() | st.text(max_size=80),
        fuzz_hotlist_csv,
        "LineError list / refusal",
    ),
    Target("hot list: NCIC", ncic_files(), fuzz_hotlist_ncic, "LineError list / refusal"),
    Target("protocol: event body", event_bodies(), fuzz_event, "ProtocolError"),
    Target("protocol: string to sign", signing_inputs(), fuzz_signing, "none"),
    Target("images: header, size, load", image_bytes(), fuzz_image, "ImageError"),
)


def run_target(target: Target, examples: int) -> dict[str, Any]:
    """Run one target with hypothesis; count outcomes; a crash is reported with its input."""
    counts: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def check(value: Any) -> None:
        counts[target.run(value)] += 1

    started = time.monotonic()
    crash = ""
    with tempfile.TemporaryDirectory(prefix="alpr-fuzz-") as folder:
        _scratch.append(Path(folder))
        try:
            check()
        except Exception as exc:  # the falsifying examples, already shrunk by hypothesis
            crash = describe_crash(exc)
        finally:
            _scratch.pop()
    return {
        "target": target.name,
        "examples": sum(counts.values()),
        "accepted": counts["accepted"],
        "refused": counts["refused"],
        "allowed_error": target.allowed,
        "crashes": 1 if crash else 0,
        "crash": crash,
        "seconds": round(time.monotonic() - started, 1),
    }


def describe_crash(exc: BaseException) -> str:
    """Each distinct failure: the exception and the input that caused it."""
    found = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    out = []
    for e in found:
        notes = " ".join(getattr(e, "__notes__", []))
        out.append(f"{type(e).__name__}: {e} [{notes.strip()[:300]}]")
    return "; ".join(out)


def run_all(examples: int) -> list[dict[str, Any]]:
    return [run_target(t, examples) for t in TARGETS]


def fuzz_markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        f"fuzzing ({dt.date.today()})\n",
        "| input | examples | accepted | refused (named error) | crashes |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['target']} | {r['examples']} | {r['accepted']} | {r['refused']}"
            f" ({r['allowed_error']}) | {r['crashes']} |"
        )
    return "\n".join(lines)
