"""The deployment config: one TOML file, validated before anything starts.

Every problem is reported as `ConfigError("<key path>: <problem>")`, e.g.
`cameras[1].site: unknown site 'elm-st'`, so the chief can fix the file without reading code.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.reader.reader import ReaderHints


class ConfigError(ValueError):
    """The config file is wrong; the message names the key and the problem."""


@dataclass(frozen=True)
class Site:
    """A place where cameras stand, as the chief approved it (the site plan)."""

    id: str
    name: str
    lat: float
    lon: float
    heading: float | None = None  # degrees clockwise from north; None: taken from its cameras
    lanes: tuple[str, ...] = ()
    purpose: str = ""
    approved_by: str = ""
    approved_on: str = ""
    status: str = "planned"  # planned, installed, retired
    view_range_m: float = 35.0
    view_angle_deg: float = 40.0


@dataclass(frozen=True)
class Neighbour:
    name: str
    contact: str
    boundary: Path | None = None


SITE_STATUSES = ("planned", "installed", "retired")
LOG_TARGETS = ("stderr", "file", "journald")


@dataclass(frozen=True)
class Camera:
    id: str
    site: str
    lat: float
    lon: float
    heading: float  # degrees clockwise from north, the direction the camera looks
    secret_ref: str  # "env:NAME", "file:PATH" or "literal:VALUE" (tests and demos only)
    hints: ReaderHints = field(default_factory=ReaderHints)


@dataclass(frozen=True)
class HotlistSource:
    source: str
    path: Path
    format: str  # csv or ncic
    max_bad_share: float = 0.05  # a file with a larger share of bad lines is refused whole


@dataclass(frozen=True)
class Retention:
    """How long the gateway keeps its own records (days); reads follow agency and storage retention."""

    alerts_days: int = 30  # alert payloads (plate, place, time); default: agency retention
    hits_days: int = 365  # hits with a disposition; an open hit is never purged
    heartbeats_days: int = 90
    access_log_plates_days: int = 30  # then the plate text in access-log rows is blanked
    access_log_days: int = 1095  # then the access-log row itself goes


@dataclass(frozen=True)
class AlertTarget:
    kind: str  # webhook or log
    url: str = ""


@dataclass(frozen=True)
class StorageConfig:
    """Where reads are synced, and how long the gateway keeps its own copies."""

    target: str = "file://var/store"  # file://PATH (relative to the config) or s3://BUCKET
    endpoint: str | None = None  # for a non-AWS server such as Ceph RGW
    region: str = "us-east-1"
    access_key_ref: str | None = None  # env:NAME or file:PATH, like camera secrets
    secret_key_ref: str | None = None
    local_retention_days: int = 7  # synced copies kept on the gateway this long
    queue_limit_mb: int = 2048  # unsynced data kept on disk at most
    base: Path = Path(".")
    gateway_principal: str | None = (
        None  # e.g. arn:aws:iam:::user/alpr-gateway, for the bucket policy
    )

    def credentials(self) -> tuple[str | None, str | None]:
        if not self.access_key_ref or not self.secret_key_ref:
            return None, None  # the SDK's own chain: environment, instance profile...
        access = resolve_secret(self.access_key_ref, "storage.access_key", self.base).decode()
        secret = resolve_secret(self.secret_key_ref, "storage.secret_key", self.base).decode()
        return access, secret


@dataclass(frozen=True)
class EvidenceConfig:
    """The evidence role's own keys: the gateway's keys may not set legal holds or read evidence."""

    access_key_ref: str | None = None  # env:NAME or file:PATH
    secret_key_ref: str | None = None
    principal: str | None = None  # e.g. arn:aws:iam:::user/alpr-evidence, for the bucket policy
    base: Path = Path(".")

    def credentials(self) -> tuple[str | None, str | None]:
        if not self.access_key_ref or not self.secret_key_ref:
            return None, None
        access = resolve_secret(self.access_key_ref, "evidence.access_key", self.base).decode()
        secret = resolve_secret(self.secret_key_ref, "evidence.secret_key", self.base).decode()
        return access, secret


@dataclass(frozen=True)
class Config:
    agency: str
    retention_days: int
    storage: StorageConfig
    listen_host: str
    listen_port: int
    data_dir: Path
    max_body_bytes: int
    clock_skew_s: int
    reader_workers: int
    max_substitutions: int
    sites: dict[str, Site]
    cameras: dict[str, Camera]
    hotlists: list[HotlistSource]
    alerts: list[AlertTarget]
    site_list: list[Site] = field(default_factory=list)  # as written, duplicates included
    boundary: Path | None = None  # the jurisdiction, a GeoJSON polygon
    coordination_distance_m: float = 1000.0
    neighbours: list[Neighbour] = field(default_factory=list)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    path: Path | None = None
    logging_target: str = "stderr"  # stderr, file or journald
    logging_file: Path | None = None  # with logging_target = "file"
    retention: Retention = field(default_factory=Retention)
    open_hit_hours: float = 12.0  # a hit without disposition older than this is flagged

    def secret(self, camera_id: str) -> bytes:
        """The camera's HMAC key, resolved from its reference when asked (never stored in the config)."""
        return resolve_secret(self.cameras[camera_id].secret_ref, f"cameras.{camera_id}.secret")


def resolve_secret(ref: str, key: str, base: Path | None = None) -> bytes:
    kind, _, value = ref.partition(":")
    if kind == "env":
        secret = os.environ.get(value)
        if not secret:
            raise ConfigError(f"{key}: environment variable {value} is not set")
        return secret.encode()
    if kind == "file":
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        try:
            return path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"{key}: cannot read secret file {path}: {exc.strerror}") from None
    if kind == "literal" and value:
        return value.encode()
    raise ConfigError(f"{key}: expected 'env:NAME', 'file:PATH' or 'literal:VALUE', got {ref!r}")


class _Reader:
    """Typed access to one table of the file, naming the key path in every error."""

    def __init__(self, table: Any, path: str) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: expected a table")
        self.table, self.path = table, path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.table:
            if default is ...:
                raise ConfigError(f"{self.key(name)}: required key is missing")
            return default
        value = self.table[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise ConfigError(f"{self.key(name)}: expected {names}, got {value!r}")
        return value

    def number(
        self, name: str, lo: float, hi: float, default: Any = ..., integer: bool = False
    ) -> Any:
        value = self.get(name, int if integer else float, default)
        if value is not None and not lo <= value <= hi:
            raise ConfigError(f"{self.key(name)}: {value} is out of range [{lo}, {hi}]")
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if name in self.table and not value.strip():
            raise ConfigError(f"{self.key(name)}: must not be empty")
        return value

    def table_list(self, name: str) -> list[_Reader]:
        items = self.get(name, list, [])
        return [_Reader(item, f"{self.key(name)}[{i}]") for i, item in enumerate(items)]

    def sub(self, name: str) -> _Reader:
        return _Reader(self.get(name, dict, {}), self.key(name))

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(f"{self.key(unknown[0])}: unknown key")


def _hints(r: _Reader) -> ReaderHints:
    roi = r.get("roi", list, None)
    if roi is not None and (len(roi) != 4 or not all(isinstance(v, int) and v >= 0 for v in roi)):
        raise ConfigError(f"{r.key('roi')}: expected [x, y, width, height] in pixels, got {roi!r}")
    if roi is not None and (roi[2] == 0 or roi[3] == 0):
        raise ConfigError(f"{r.key('roi')}: width and height must be positive")
    width = r.number("plate_width", 10, 2000, None, integer=True)
    r.finish()
    return ReaderHints(tuple(roi) if roi else None, width)


def _site(s: _Reader) -> Site:
    status = s.text("status", "planned")
    if status not in SITE_STATUSES:
        raise ConfigError(
            f"{s.key('status')}: expected one of {', '.join(SITE_STATUSES)}, got {status!r}"
        )
    lanes = s.get("lanes", (list, int), [])
    if isinstance(lanes, int):
        lanes = [f"lane {i + 1}" for i in range(lanes)]
    approved_on = s.get("approved_on", (str, dt.date), "")
    site = Site(
        s.text("id"),
        s.text("name", ""),
        s.number("lat", -90, 90),
        s.number("lon", -180, 180),
        s.number("heading", 0, 360, None),
        tuple(str(x) for x in lanes),
        s.text("purpose", ""),
        s.text("approved_by", ""),
        str(approved_on),
        status,
        s.number("view_range_m", 1, 500, 35.0),
        s.number("view_angle_deg", 1, 179, 40.0),
    )
    s.finish()
    return site


def parse(doc: dict[str, Any], base: Path, strict: bool = True) -> Config:
    """Validate a parsed TOML document; strict=False lets duplicate site ids through for `sites check`."""
    root = _Reader(doc, "")
    agency = root.sub("agency")
    name = agency.text("name")
    retention = agency.number("retention_days", 1, 3650, 30, integer=True)
    boundary = agency.text("boundary", None)
    coordination_m = agency.number("coordination_distance_m", 0, 100_000, 1000.0)
    neighbours = []
    for n in agency.table_list("neighbours"):
        nb = n.text("boundary", None)
        neighbours.append(Neighbour(n.text("name"), n.text("contact"), base / nb if nb else None))
        n.finish()
    agency.finish()

    st = root.sub("storage")
    target = st.text("target", "file://var/store")
    if not target.startswith(("file://", "s3://")):
        raise ConfigError(f"storage.target: expected file://PATH or s3://BUCKET, got {target!r}")
    storage = StorageConfig(
        target,
        st.text("endpoint", None),
        st.text("region", "us-east-1"),
        st.text("access_key", None),
        st.text("secret_key", None),
        st.number("local_retention_days", 0, 3650, 7, integer=True),
        st.number("queue_limit_mb", 1, 10_000_000, 2048, integer=True),
        base,
        st.text("gateway_principal", None),
    )
    if (storage.access_key_ref is None) != (storage.secret_key_ref is None):
        raise ConfigError("storage: give both access_key and secret_key, or neither")
    for key, ref in (
        ("access_key", storage.access_key_ref),
        ("secret_key", storage.secret_key_ref),
    ):
        if ref is not None:
            resolve_secret(ref, st.key(key), base)
    st.finish()

    ev = root.sub("evidence")
    evidence = EvidenceConfig(
        ev.text("access_key", None), ev.text("secret_key", None), ev.text("principal", None), base
    )
    if (evidence.access_key_ref is None) != (evidence.secret_key_ref is None):
        raise ConfigError("evidence: give both access_key and secret_key, or neither")
    for key, ref in (
        ("access_key", evidence.access_key_ref),
        ("secret_key", evidence.secret_key_ref),
    ):
        if ref is not None:
            resolve_secret(ref, ev.key(key), base)
    ev.finish()

    gw = root.sub("gateway")
    listen = gw.text("listen", "127.0.0.1:8080")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"gateway.listen: expected HOST:PORT, got {listen!r}")
    data_dir = Path(gw.text("data_dir", "var/gateway"))
    max_body = gw.number("max_body_bytes", 10_000, 100_000_000, 8_000_000, integer=True)
    skew = gw.number("clock_skew_s", 5, 3600, 300, integer=True)
    workers = gw.number("reader_workers", 1, 64, 1, integer=True)
    gw.finish()

    matching = root.sub("matching")
    max_subs = matching.number("max_substitutions", 0, 3, 1, integer=True)
    matching.finish()

    sites: dict[str, Site] = {}
    site_list = []
    for s in root.table_list("sites"):
        site = _site(s)
        if site.id in sites and strict:
            raise ConfigError(f"{s.path}.id: duplicate site id {site.id!r}")
        sites[site.id] = site
        site_list.append(site)

    cameras: dict[str, Camera] = {}
    for c in root.table_list("cameras"):
        cid, site_id = c.text("id"), c.text("site")
        if site_id not in sites:
            raise ConfigError(f"{c.key('site')}: unknown site {site_id!r}")
        if cid in cameras:
            raise ConfigError(f"{c.key('id')}: duplicate camera id {cid!r}")
        secret = c.text("secret")
        resolve_secret(secret, c.key("secret"), base)  # fail now, not on the first capture
        if secret.startswith("file:") and not Path(secret[5:]).is_absolute():
            secret = f"file:{base / secret[5:]}"
        cameras[cid] = Camera(
            cid,
            site_id,
            c.number("lat", -90, 90, sites[site_id].lat),
            c.number("lon", -180, 180, sites[site_id].lon),
            c.number("heading", 0, 360),
            secret,
            _hints(c.sub("hints")),
        )
        c.finish()

    hotlists = []
    for h in root.table_list("hotlists"):
        fmt = h.text("format", "csv")
        if fmt not in ("csv", "ncic"):
            raise ConfigError(f"{h.key('format')}: expected 'csv' or 'ncic', got {fmt!r}")
        hotlists.append(
            HotlistSource(
                h.text("source"), base / h.text("path"), fmt, h.number("max_bad_share", 0, 1, 0.05)
            )
        )
        h.finish()

    ret = root.sub("retention")
    retention_cfg = Retention(
        ret.number("alerts_days", 1, 36500, retention, integer=True),
        ret.number("hits_days", 1, 36500, 365, integer=True),
        ret.number("heartbeats_days", 1, 36500, 90, integer=True),
        ret.number("access_log_plates_days", 1, 36500, retention, integer=True),
        ret.number("access_log_days", 1, 36500, 1095, integer=True),
    )
    ret.finish()

    hits_table = root.sub("hits")
    open_hit_hours = hits_table.number("open_alert_hours", 0.1, 8760, 12.0)
    hits_table.finish()

    alerts = []
    for a in root.table_list("alerts"):
        kind = a.text("kind")
        if kind not in ("webhook", "log"):
            raise ConfigError(f"{a.key('kind')}: expected 'webhook' or 'log', got {kind!r}")
        url = a.text("url", "")
        if kind == "webhook" and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{a.key('url')}: a webhook needs an http:// or https:// URL")
        alerts.append(AlertTarget(kind, url))
        a.finish()
    lg = root.sub("logging")
    log_target = lg.text("target", "stderr")
    if log_target not in LOG_TARGETS:
        raise ConfigError(
            f"logging.target: expected one of {', '.join(LOG_TARGETS)}, got {log_target!r}"
        )
    log_file = lg.text("file", None)
    if log_target == "file" and log_file is None:
        raise ConfigError('logging.file: required with target = "file"')
    lg.finish()
    root.finish()
    return Config(
        agency=name,
        retention_days=retention,
        storage=storage,
        listen_host=host,
        listen_port=int(port),
        data_dir=data_dir if data_dir.is_absolute() else base / data_dir,
        max_body_bytes=max_body,
        clock_skew_s=skew,
        reader_workers=workers,
        max_substitutions=max_subs,
        sites=sites,
        cameras=cameras,
        hotlists=hotlists,
        alerts=alerts or [AlertTarget("log")],
        site_list=site_list,
        boundary=base / boundary if boundary else None,
        coordination_distance_m=coordination_m,
        neighbours=neighbours,
        evidence=evidence,
        logging_target=log_target,
        logging_file=base / log_file if log_file else None,
        retention=retention_cfg,
        open_hit_hours=open_hit_hours,
    )


def load(path: str | Path, strict: bool = True) -> Config:
    """Read and validate a config file; ConfigError names the first problem found."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse(doc, path.resolve().parent, strict)
    return Config(**{**config.__dict__, "path": path})
