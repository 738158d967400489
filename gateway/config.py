"""The deployment config: one TOML file, validated before anything starts.

The file's shape lives in `gateway.config_schema` (pydantic models, one per table); this module
loads it and gives the rest of the gateway a flat `Config`. Every problem is reported as
`ConfigError("<key path>: <problem>")`, e.g. `cameras[1].site: unknown site 'elm-st'`, so the chief
can fix the file without reading code.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from gateway.config_schema import (
    LOG_TARGETS,
    SITE_STATUSES,
    AlertTarget,
    CameraEntry,
    ConfigFile,
    ConsoleSection,
    EvidenceConfig,
    HotlistSource,
    Neighbour,
    PolicySection,
    SearchSection,
    SharingAgency,
    SharingSection,
    Site,
    StorageConfig,
)
from gateway.config_types import SECRET_KEYS, ConfigError, resolve_secret
from gateway.hotlist import Format, all_categories
from gateway.reader.reader import ReaderHints

__all__ = [
    "LOG_TARGETS",
    "SITE_STATUSES",
    "AlertTarget",
    "Camera",
    "Config",
    "ConfigError",
    "EvidenceConfig",
    "HotlistSource",
    "Neighbour",
    "PolicySection",
    "Retention",
    "SharingAgency",
    "SharingSection",
    "Site",
    "StorageConfig",
    "json_schema",
    "load",
    "load_embedded",
    "parse",
    "resolve_secret",
]

EMBEDDED = Path(__file__).with_name("default.toml")


@dataclass(frozen=True)
class Camera:
    id: str
    site: str
    lat: float
    lon: float
    heading: float  # degrees clockwise from north, the direction the camera looks
    secret_ref: str  # "env:NAME", "file:/absolute/path" or "literal:VALUE" (the demo only)
    hints: ReaderHints = field(default_factory=ReaderHints)
    previous_secret_ref: str | None = None  # the key before `alpr provision --rotate`
    rotated_at: float | None = None  # unix seconds of that rotation


@dataclass(frozen=True)
class Retention:
    """How long the gateway keeps its own records (days), defaults resolved; reads follow the
    agency's and the storage's retention."""

    alerts_days: int = 30  # alert payloads (plate, place, time); default: agency retention
    hits_days: int = 365  # hits with a disposition; an open hit is never purged
    heartbeats_days: int = 90
    access_log_plates_days: int = 30  # then the plate text in access-log rows is blanked
    access_log_days: int = 1095  # then the access-log row itself goes


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
    path: Path | None = None
    source_sha256: str = ""  # of the file as loaded: watch mode compares the file with it
    logging_target: str = "stderr"  # stderr, file or journald
    logging_file: Path | None = None  # with logging_target = "file"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    header_timeout_s: float = 10.0
    request_timeout_s: float = 30.0
    keepalive_timeout_s: float = 5.0
    max_connections: int = 64
    reload: str = "signal"  # "signal" (SIGHUP) or "watch" (the file too)
    open_hit_hours: float = 12.0
    retention: Retention = field(default_factory=Retention)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    sharing: SharingSection = field(default_factory=SharingSection)
    policy: PolicySection = field(default_factory=PolicySection)
    console_url: str | None = None  # alerts link to <console_url>/hits/<id>
    console: ConsoleSection = field(default_factory=ConsoleSection)
    search: SearchSection = field(default_factory=SearchSection)
    rotation_grace_hours: float = 72.0  # a rotated camera's previous key is accepted this long
    min_free_mb: float = 256.0  # free space under data_dir below which ingest answers 507
    integrity_check_hours: float = 24.0  # full PRAGMA integrity_check while running; 0: never
    alert_reminder: str | None = None  # None: the standard text (gateway.alerts.VERIFY_REMINDER)
    categories: dict[str, str] = field(default_factory=all_categories)  # fixed and [hotlist] ones
    profiles: dict[str, Format] = field(default_factory=dict)  # [hotlist.profiles], by name

    def hotlist_format(self, name: str) -> Format:
        """csv, ncic or a configured import profile; ConfigError for any other name."""
        if name in ("csv", "ncic"):
            return name
        if name not in self.profiles:
            known = ", ".join(["csv", "ncic", *self.profiles])
            raise ConfigError(f"hot-list format {name!r} is not one of {known}")
        return self.profiles[name]

    def secret(self, camera_id: str) -> bytes:
        """The camera's HMAC key, resolved from its reference when asked (never stored in the config)."""
        return resolve_secret(self.cameras[camera_id].secret_ref, f"cameras.{camera_id}.secret")

    def previous_secret(self, camera_id: str) -> bytes | None:
        """The key the camera held before its last rotation, if the config still names one."""
        ref = self.cameras[camera_id].previous_secret_ref
        return None if ref is None else resolve_secret(ref, f"cameras.{camera_id}.previous_secret")


ALIASES = {
    "secret_ref": "secret",
    "access_key_ref": "access_key",
    "secret_key_ref": "secret_key",
    "password_ref": "password",
    "sender": "from",
}


def key_path(loc: tuple[int | str, ...]) -> str:
    """('cameras', 1, 'site') -> 'cameras[1].site', in the file's own key names."""
    out = ""
    for part in loc:
        part = ALIASES.get(part, part) if isinstance(part, str) else part
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _kind(error_type: str) -> str:
    names = {"float": "float", "int": "int", "string": "str", "bool": "bool", "list": "list"}
    names |= {"tuple": "list", "date": "date", "model": "table", "dict": "table"}
    return names.get(error_type.split("_")[0], error_type)


def describe(error: ErrorDetails) -> str:
    """One pydantic error as `key.path: problem`; a secret's value is never repeated."""
    loc = tuple(error["loc"])
    kind = error["type"]
    secret = any(ALIASES.get(p, p) in SECRET_KEYS for p in loc if isinstance(p, str))
    shown = "" if secret else f", got {error.get('input')!r}"
    if kind == "value_error":
        problem = str(error.get("ctx", {}).get("error", error["msg"]))
    elif kind == "missing":
        problem = "required key is missing"
    elif kind == "extra_forbidden":
        problem = "unknown key"
    elif kind == "literal_error":
        problem = f"expected {error.get('ctx', {}).get('expected', '')}{shown}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        problem = "expected a table"
    elif kind.endswith(("_type", "_parsing")):
        problem = f"expected {_kind(kind)}{shown}"
    else:
        problem = error["msg"] if secret else f"{error['msg']}{shown}"
    if not loc:  # checks across tables put the key path in their message
        return problem
    return f"{key_path(loc)}: {problem}"


def validate(doc: Any, base: Path, strict: bool = True, allow_literal: bool = False) -> ConfigFile:
    """The file's models, or ConfigError with one line per problem."""
    ctx = {"base": base, "strict": strict, "allow_literal": allow_literal}
    try:
        return ConfigFile.model_validate(doc, context=ctx)
    except ValidationError as exc:
        raise ConfigError("\n".join(describe(e) for e in exc.errors())) from None


def _camera(entry: CameraEntry, site: Site) -> Camera:
    r = entry.hints.roi
    roi = (r[0], r[1], r[2], r[3]) if r else None
    return Camera(
        entry.id,
        entry.site,
        site.lat if entry.lat is None else entry.lat,
        site.lon if entry.lon is None else entry.lon,
        entry.heading,
        entry.secret,
        ReaderHints(roi, entry.hints.plate_width),
        entry.previous_secret,
        None if entry.rotated_at is None else entry.rotated_at.timestamp(),
    )


def build(file: ConfigFile, path: Path | None = None) -> Config:
    """The flat view the gateway uses, defaults that depend on other keys resolved."""
    agency, gw, ret = file.agency, file.gateway, file.retention
    sites = {s.id: s for s in file.sites}
    host, _, port = gw.listen.rpartition(":")
    return Config(
        agency=agency.name,
        retention_days=agency.retention_days,
        storage=file.storage,
        listen_host=host,
        listen_port=int(port),
        data_dir=gw.data_dir,
        max_body_bytes=gw.max_body_bytes,
        clock_skew_s=gw.clock_skew_s,
        reader_workers=gw.reader_workers,
        max_substitutions=file.matching.max_substitutions,
        sites=sites,
        cameras={c.id: _camera(c, sites[c.site]) for c in file.cameras},
        hotlists=list(file.hotlists),
        alerts=list(file.alerts) or [AlertTarget(kind="log")],
        site_list=list(file.sites),
        boundary=agency.boundary,
        coordination_distance_m=agency.coordination_distance_m,
        neighbours=list(agency.neighbours),
        path=path,
        logging_target=file.logging.target,
        logging_file=file.logging.file,
        tls_cert=gw.tls_cert,
        tls_key=gw.tls_key,
        header_timeout_s=gw.header_timeout_s,
        request_timeout_s=gw.request_timeout_s,
        keepalive_timeout_s=gw.keepalive_timeout_s,
        max_connections=gw.max_connections,
        reload=gw.reload,
        open_hit_hours=file.hits.open_alert_hours,
        retention=Retention(
            alerts_days=ret.alerts_days or agency.retention_days,
            hits_days=ret.hits_days,
            heartbeats_days=ret.heartbeats_days,
            access_log_plates_days=ret.access_log_plates_days or agency.retention_days,
            access_log_days=ret.access_log_days,
        ),
        evidence=file.evidence,
        sharing=file.sharing,
        policy=file.policy,
        console_url=file.console.url,
        console=file.console,
        search=file.search,
        rotation_grace_hours=gw.rotation_grace_hours,
        min_free_mb=gw.min_free_mb,
        integrity_check_hours=gw.integrity_check_hours,
        alert_reminder=file.hits.reminder,
        categories=all_categories(file.hotlist.categories),
        profiles={k: v.profile(k) for k, v in file.hotlist.profiles.items()},
    )


def parse(
    doc: dict[str, Any], base: Path, strict: bool = True, allow_literal: bool = False
) -> Config:
    """Validate a parsed TOML document.

    strict=False lets duplicate site ids through for `sites check`; allow_literal=True is for the
    embedded demo config and the configs the demo writes, whose secrets are public anyway.
    """
    return build(validate(doc, base, strict, allow_literal))


def read_toml(path: Path) -> dict[str, Any]:
    return read_source(path)[0]


def read_source(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed file and the sha256 of the bytes it was parsed from."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    try:
        return tomllib.loads(data.decode()), hashlib.sha256(data).hexdigest()
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load(path: str | Path, strict: bool = True, allow_literal: bool = False) -> Config:
    """Read and validate a config file; ConfigError names every problem found."""
    path = Path(path)
    doc, digest = read_source(path)
    config = parse(doc, path.resolve().parent, strict, allow_literal)
    return replace(config, path=path, source_sha256=digest)


def load_embedded(base: Path) -> Config:
    """The embedded demo config, its folders relative to `base`; its literal secrets are public."""
    return parse(read_toml(EMBEDDED), base, allow_literal=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file: every key, its type, bounds, default and meaning."""
    return ConfigFile.model_json_schema()
