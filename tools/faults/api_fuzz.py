"""Fuzzing the camera API over HTTP with schemathesis: requests generated from gateway/openapi.json
against the real server (uvicorn on loopback, a store in a temporary folder).

Most requests are signed with a provisioned camera's key (PROTOCOL.md), so that they pass the
signature check and reach the handlers; the rest go unsigned, under a wrong key, with a stale
timestamp or from an unknown camera. Event bodies are schemathesis's bytes or, half the time, bodies
close to valid (real layout, odd metadata, real JPEG frames). Every answer must be one the spec
documents (status code, content type, headers, schema) and none may be a 5xx; a failure is
recorded with the request that caused it and the run goes on, so that the counts cover every case.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from requests.exceptions import RequestException
from requests.models import PreparedRequest, Request
from requests.sessions import Session
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway import protocol
from gateway.config import load
from gateway.store import Store
from gateway.web import camera_server
from tools.bench.gateway import bench_config
from tools.faults.fuzz import event_bodies

SPEC = Path(__file__).resolve().parents[2] / "gateway" / "openapi.json"
CAMERAS = 2  # cam-00 with key k0, cam-01 with key k1 (tools/bench/gateway.py)
# how a request is signed; "signed" most often, so that cases get past the signature check
MODES = ("signed",) * 6 + ("unsigned", "as-generated", "wrong-key", "stale", "unknown-camera")
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# an event body is bytes on the wire, as application/octet-stream
schemathesis.serializer.alias(protocol.EVENT_TYPE, "application/octet-stream")
# sequences at the edges of what the protocol allows
EDGES = (-1, 0, protocol.MAX_SEQUENCE, protocol.MAX_SEQUENCE + 1)
SIGNING_HEADERS = ("X-ALPR-Camera", "X-ALPR-Timestamp", "X-ALPR-Sequence", "X-ALPR-Signature")


def real_jpeg(seed: int) -> bytes:
    """A small JPEG that decodes, so that an event can get past the frame checks and be stored."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return bytes(cv2.imencode(".jpg", img)[1].tobytes())


@st.composite
def near_valid_events(draw: st.DrawFn) -> bytes:
    """An event body that the gateway can accept: fresh metadata, 1 to 3 real frames; or one
    from the parser fuzzing's strategy (odd metadata, cut or lying lengths)."""
    if draw(st.booleans()):
        return draw(event_bodies())
    frames = [real_jpeg(draw(st.integers(0, 7))) for _ in range(draw(st.integers(1, 3)))]
    meta = {
        "captured": draw(st.floats(0, 2**32) | st.just(time.time())),
        "trigger": draw(st.sampled_from([*protocol.TRIGGERS, "x"])),
        "battery_v": draw(st.floats(-10, 10)),
        "solar_v": draw(st.floats(-10, 30)),
    }
    return protocol.encode_event(meta, frames)


@dataclass
class Counts:
    """What the run saw: cases by operation and status, by signing mode; failures by kind, each
    with the first request that caused it."""

    cases: int = 0
    fresh: int = 1000  # the last sequence handed out as new
    control: int = 0  # of the CONTROLS valid captures sent after the fuzzing, how many were stored
    by_operation: dict[str, Counter[int]] = field(default_factory=dict)
    by_mode: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def answered(self, operation: str, status: int) -> None:
        self.by_operation.setdefault(operation, Counter())[status] += 1

    def fail(self, kind: str, example: str) -> None:
        self.failures[kind] += 1
        self.examples.setdefault(kind, example[:1500])

    def as_dict(self) -> dict[str, Any]:
        by_status: Counter[int] = Counter()
        for statuses in self.by_operation.values():
            by_status.update(statuses)
        return {
            "cases": self.cases,
            "controls_stored": f"{self.control}/{CONTROLS}",
            "by_status": {str(k): v for k, v in sorted(by_status.items())},
            "by_operation": {
                op: {str(k): v for k, v in sorted(c.items())}
                for op, c in sorted(self.by_operation.items())
            },
            "by_mode": dict(sorted(self.by_mode.items())),
            "failures": sum(self.failures.values()),
            "failure_kinds": dict(self.failures),
            "failure_examples": self.examples,
        }


def sign(prepared: PreparedRequest, mode: str, camera: int, sequence: int, now: int) -> None:
    """Set the four X-ALPR-* headers of `prepared` as `mode` says, over its exact path and body."""
    headers = prepared.headers
    if mode == "as-generated":  # schemathesis's own values for the headers: random strings
        return
    if mode == "unsigned":
        for name in SIGNING_HEADERS:
            headers.pop(name, None)
        return
    key = f"k{camera}".encode() if mode != "wrong-key" else b"not-the-key"
    name = f"cam-{camera:02d}" if mode != "unknown-camera" else "cam-99"
    timestamp = now - 3600 * 24 if mode == "stale" else now
    headers.update(
        protocol.signed_headers(
            key,
            prepared.path_url,
            name,
            timestamp,
            sequence,
            body_of(prepared),
            str(prepared.method),
        )
    )


def body_of(prepared: PreparedRequest) -> bytes:
    """The exact bytes that go on the wire (a case's body is bytes or text, never a stream)."""
    body = prepared.body or b""
    if isinstance(body, str):
        return body.encode()
    if not isinstance(body, bytes):
        raise TypeError(f"unexpected request body {type(body).__name__}")
    return body


def run_api_fuzz(cases: int, seed_value: int = 0) -> dict[str, Any]:
    """`cases` generated requests against a fresh gateway; returns the counts (see Counts)."""
    counts = Counts()
    schema = schemathesis.openapi.from_dict(json.loads(SPEC.read_text()))
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    strategies = [
        op.as_strategy(generation_mode=mode)
        for op in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode == GenerationMode.POSITIVE or op.path != protocol.HEALTH_PATH
    ]
    ingest_log = logging.getLogger("alpr.ingest")  # one warning per refusal: thousands of lines
    level = ingest_log.level
    ingest_log.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="alpr-fuzz-api-") as tmp:
        config = load(bench_config(Path(tmp), CAMERAS, 0))
        store = Store(config.data_dir)
        server = camera_server(config, store)
        server.start()
        session = Session()
        try:

            @seed(seed_value)
            @settings(
                max_examples=cases,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=st.one_of(strategies), data=st.data())
            def check(case: Any, data: st.DataObject) -> None:
                send_one(case, data, server.url, session, counts)

            check()
            counts.control = send_controls(server.url, session, counts)
        finally:
            session.close()
            server.shutdown()
            ingest_log.setLevel(level)
    return counts.as_dict()


CONTROLS = 3  # valid, signed captures sent after the fuzzing: the signing here matches the gateway's


def send_controls(url: str, session: Session, counts: Counts) -> int:
    """Send CONTROLS valid captures signed as the fuzzed cases are; returns how many were stored
    (201). A random run may store few of its own, so this shows that signed cases do get through."""
    stored = 0
    for i in range(CONTROLS):
        meta = {"captured": time.time(), "trigger": protocol.TRIGGERS[0], "battery_v": 3.9,
                "solar_v": 5.0}  # fmt: skip
        body = protocol.encode_event(meta, [real_jpeg(i)])
        headers = {"Content-Type": protocol.EVENT_TYPE}
        request = Request("POST", url + protocol.EVENT_PATH, data=body, headers=headers)
        prepared = session.prepare_request(request)
        counts.fresh += 1
        sign(prepared, "signed", i % CAMERAS, counts.fresh, int(time.time()))
        stored += session.send(prepared, timeout=30).status_code == 201
    return stored


def send_one(case: Any, data: st.DataObject, url: str, session: Session, counts: Counts) -> None:
    """Send one case, signed as a drawn mode says; record its status and any failed check."""
    operation = f"{case.method.upper()} {case.path}"
    if case.path == protocol.EVENT_PATH and data.draw(st.booleans()):
        case.body = data.draw(near_valid_events())
    kwargs = case.as_transport_kwargs(base_url=url)
    for option in ("timeout", "allow_redirects", "verify"):  # for sending, not for the request
        kwargs.pop(option, None)
    prepared = session.prepare_request(Request(**kwargs))
    mode = "none" if case.path == protocol.HEALTH_PATH else data.draw(st.sampled_from(MODES))
    camera = data.draw(st.integers(0, CAMERAS - 1))
    if data.draw(st.booleans()):  # a sequence not used before: the event can be stored
        counts.fresh += 1
        sequence = counts.fresh
    else:  # small ones repeat (200 or 409), and the edges
        sequence = data.draw(
            st.integers(0, 40) | st.integers(0, 2**63 - 1) | st.sampled_from(EDGES)
        )
    if mode != "none":
        sign(prepared, mode, camera, sequence, int(time.time()))
    counts.cases += 1
    counts.by_mode[mode] += 1
    try:
        response = session.send(prepared, timeout=30, allow_redirects=False)
    except RequestException as exc:
        counts.answered(operation, 0)
        counts.fail(f"{operation}: no answer ({type(exc).__name__})", repr(exc))
        return
    counts.answered(operation, response.status_code)
    where = f"{operation} [{mode}]"
    example = (
        f"{case.method} {prepared.path_url} headers={dict(prepared.headers)}"
        f" body={body_of(prepared)[:300]!r} -> {response.status_code} {response.text[:300]}"
    )
    if response.status_code >= 500:
        counts.fail(f"{where}: {response.status_code}", example)
    try:
        case.validate_response(response, checks=CHECKS)
    except (FailureGroup, Failure) as exc:  # a group holds one failure per check that failed
        for failure in exc.exceptions if isinstance(exc, FailureGroup) else [exc]:
            title = getattr(failure, "title", type(failure).__name__)
            counts.fail(f"{where}: {title}", f"{example}\n{failure}")


def api_markdown(result: dict[str, Any]) -> str:
    """The README's table: cases per operation, by status code, and failed checks."""
    lines = [
        f"camera API fuzzing ({dt.date.today()}, schemathesis)\n",
        "| operation | cases | answers by status | failed checks |",
        "| --- | ---: | --- | ---: |",
    ]
    kinds = result["failure_kinds"]
    for op, statuses in result["by_operation"].items():
        failed = sum(n for kind, n in kinds.items() if kind.startswith(op))
        answers = ", ".join(f"{s}: {n}" for s, n in statuses.items())
        lines.append(f"| {op} | {sum(statuses.values())} | {answers} | {failed} |")
    total = ", ".join(f"{s}: {n}" for s, n in result["by_status"].items())
    lines.append(f"| all | {result['cases']} | {total} | {result['failures']} |")
    for kind, example in result["failure_examples"].items():
        lines.append(f"\nfailed: {kind} ({kinds[kind]} cases), first: {example}")
    return "\n".join(lines)
