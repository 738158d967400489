"""The config file's shape as pydantic models: one model per TOML table, unknown keys refused.

`ConfigFile.model_json_schema()` is the reference of every key (`alpr config schema`). Values that
need the file's folder (paths, `file:` secrets) read it from the validation context.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from cloud import sse_c
from gateway.config_types import (
    Between,
    DateText,
    ExistingFile,
    RelPath,
    SecretRef,
    Text,
    base_of,
    context,
    read_secret,
    resolve_secret,
)
from gateway.hotlist import (
    CATEGORIES,
    CATEGORY_RE,
    DESCRIPTION_FIELDS,
    ENTRY_FIELDS,
    SCOPE_FIELDS,
    Profile,
)
from gateway.schedule import parse_schedule

SITE_STATUSES = ("planned", "installed", "retired")
LOG_TARGETS = ("stderr", "file", "journald")


class Table(BaseModel):
    """A TOML table: strict types (no "40" for 40), unknown keys refused, fields documented."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True
    )


class Neighbour(Table):
    """A neighbouring agency to coordinate with when a site is near the boundary."""

    name: Text
    """The agency's name."""
    contact: Text
    """Whom to call there about a site near the boundary."""
    boundary: RelPath | None = None
    """Its jurisdiction, a GeoJSON polygon file (relative to the config)."""


class Agency(Table):
    """The agency that runs the system, and how long it keeps reads."""

    name: Text
    """The agency's name, as it appears on reads and reports."""
    retention_days: Annotated[int, Between(1, 3650)] = 30
    """Reads are deleted after this many days, synced or not."""
    boundary: RelPath | None = None
    """The jurisdiction, a GeoJSON polygon file (relative to the config)."""
    coordination_distance_m: Annotated[float, Between(0, 100_000)] = 1000.0
    """Sites closer than this to the boundary are listed with the neighbour to coordinate with."""
    neighbours: list[Neighbour] = []
    """Neighbouring agencies, for sites near the boundary."""


class Credentials(Table):
    """An access key pair given as secret references (env:NAME or file:PATH), both or neither."""

    access_key_ref: SecretRef | None = Field(None, alias="access_key")
    """env:NAME or file:PATH; with neither key the SDK's own chain is used."""
    secret_key_ref: SecretRef | None = Field(None, alias="secret_key")
    """env:NAME or file:PATH."""
    table: ClassVar[str] = ""  # its name in the file, for errors
    _base: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="after")
    def _both_or_neither(self, info: ValidationInfo) -> Credentials:
        if (self.access_key_ref is None) != (self.secret_key_ref is None):
            raise ValueError("give both access_key and secret_key, or neither")
        self._base = base_of(info)
        return self

    @property
    def base(self) -> Path:
        """The config file's folder: relative paths in this table start here."""
        return self._base

    def credentials(self) -> tuple[str | None, str | None]:
        """(access, secret); (None, None) lets the SDK use its own chain (environment, profile)."""
        if not self.access_key_ref or not self.secret_key_ref:
            return None, None
        access = resolve_secret(self.access_key_ref, f"{self.table}.access_key", self._base)
        secret = resolve_secret(self.secret_key_ref, f"{self.table}.secret_key", self._base)
        return access.decode(), secret.decode()


class StorageConfig(Credentials):
    """Where reads are synced, and how long the gateway keeps its own copies."""

    table: ClassVar[str] = "storage"
    target: Text = "file://var/store"
    """file://PATH (relative to the config) or s3://BUCKET."""
    endpoint: Text | None = None
    """For a server other than AWS, such as Ceph RGW."""
    region: Text = "us-east-1"
    """The S3 region."""
    local_retention_days: Annotated[int, Between(0, 3650)] = 7
    """Synced copies are kept on the gateway this long."""
    queue_limit_mb: Annotated[int, Between(1, 10_000_000)] = 2048
    """Unsynced data kept on disk at most."""
    gateway_principal: Text | None = None
    """The gateway's identity for the bucket policy, e.g. arn:aws:iam:::user/alpr-gateway."""
    encryption: Literal["none", "sse-c"] = "none"
    """Server-side encryption of every object: "sse-c" sends sse_c_key with each request (Ceph
    RGW applies SSE-C, not SSE-S3). s3:// targets only."""
    sse_c_key_ref: SecretRef | None = Field(None, alias="sse_c_key")
    """With encryption = "sse-c": env:NAME or file:PATH holding a 32-byte AES-256 key, raw or
    base64. Keep a safe copy: without it the objects cannot be read back."""
    _sse_c_key: bytes | None = PrivateAttr(default=None)

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://")):
            raise ValueError(f"expected file://PATH or s3://BUCKET, got {value!r}")
        return value

    @model_validator(mode="after")
    def _encryption(self) -> StorageConfig:
        if self.encryption == "none":
            if self.sse_c_key_ref is not None:
                raise ValueError('sse_c_key is set but encryption is not "sse-c"')
            return self
        if not self.target.startswith("s3://"):
            raise ValueError(f'encryption = "sse-c" needs an s3:// target, not {self.target}')
        if self.sse_c_key_ref is None:
            raise ValueError('encryption = "sse-c" needs sse_c_key (env:NAME or file:PATH)')
        try:
            self._sse_c_key = sse_c.decode_key(_key_material(self.sse_c_key_ref))
        except ValueError as exc:
            raise ValueError(f"sse_c_key: {exc}") from None
        return self

    def sse_c_key(self) -> bytes | None:
        """The 32-byte SSE-C key (checked when the config was loaded), or None without SSE-C."""
        return self._sse_c_key


def _key_material(ref: str) -> bytes:
    """A key file's exact bytes (a raw key may begin or end with a whitespace byte, which
    read_secret would strip); other references as read_secret gives them."""
    kind, _, value = ref.partition(":")
    if kind == "file":
        try:
            return Path(value).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {value}: {exc.strerror}") from None
    return read_secret(ref)


class EvidenceConfig(Credentials):
    """Who holds, releases and exports evidence copies (a key pair other than the gateway's)."""

    table: ClassVar[str] = "evidence"
    principal: Text | None = None
    """The evidence user's ARN, for the bucket policy."""


def host_port(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return value


class GatewaySection(Table):
    """The gateway's HTTP service and its workers."""

    listen: Text = "127.0.0.1:8080"
    """HOST:PORT to accept camera requests on."""
    data_dir: RelPath = Field(Path("var/gateway"), validate_default=True)
    """The read store (SQLite and files), relative to the config."""
    max_body_bytes: Annotated[int, Between(10_000, 100_000_000)] = 8_000_000
    """A camera request with a larger body is refused (413) before it is read."""
    clock_skew_s: Annotated[int, Between(5, 3600)] = 300
    """A camera request whose timestamp is further off than this is refused."""
    reader_workers: Annotated[int, Between(1, 64)] = 1
    """Plate reader threads; each reads one event at a time."""
    tls_cert: ExistingFile | None = None
    """PEM certificate chain (relative to the config); give tls_key with it."""
    tls_key: ExistingFile | None = None
    """PEM private key (relative to the config); give tls_cert with it."""
    header_timeout_s: Annotated[float, Between(1, 600)] = 10.0
    """A client must send its request headers within this time."""
    request_timeout_s: Annotated[float, Between(1, 3600)] = 30.0
    """Deadline for a whole request, headers and body."""
    keepalive_timeout_s: Annotated[float, Between(0, 600)] = 5.0
    """An idle kept-alive connection is closed after this time."""
    max_connections: Annotated[int, Between(1, 10_000)] = 64
    """Connections served at once; more wait or are refused."""
    reload: Literal["signal", "watch"] = "signal"
    """How a changed config is taken up without a restart: on SIGHUP (`alpr gateway reload`), or
    also when the file (or a hot-list file) changes ("watch", checked every second)."""
    rotation_grace_hours: Annotated[float, Between(0, 8760)] = 72.0
    """After `alpr provision --rotate`, a camera's previous secret is still accepted this long,
    until the camera's first request signed with the new one."""
    min_free_mb: Annotated[float, Between(0, 1_000_000)] = 256.0
    """Free space kept under data_dir: below it events are refused with 507 (the cameras keep them
    and send them later) and a disk-full alert is raised, while SQLite can still commit."""
    integrity_check_hours: Annotated[float, Between(0, 8760)] = 24.0
    """How often the running gateway runs SQLite's full integrity check on its store (0: never;
    a quick check runs at every start). A damaged store stops ingest and raises an alert."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return host_port(value)

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        if self.header_timeout_s > self.request_timeout_s:
            raise ValueError("header_timeout_s must not exceed request_timeout_s")
        return self


class Matching(Table):
    """How a read is compared with the hot lists."""

    max_substitutions: Annotated[int, Between(0, 3)] = 1
    """Confusable characters tolerated in a match (0/O/D/Q, 1/I/L/T, 2/Z ...)."""


class Hits(Table):
    """Hits: reads that matched a hot list."""

    open_alert_hours: Annotated[float, Between(0.1, 8760)] = 12.0
    """A hit without a disposition older than this is flagged, and alerted to managers once."""
    reminder: Text | None = None
    """The verification reminder that opens every alert, naming the agency's own state system
    (MULES, ACIC ...); default: the standard text (NCIC or the state system)."""


class LoggingSection(Table):
    """Where the service writes its log."""

    target: Literal["stderr", "file", "journald"] = "stderr"
    """stderr, a file, or the systemd journal."""
    file: RelPath | None = Field(None, validate_default=True)
    """The log file (relative to the config), with target = "file"."""

    @field_validator("file")
    @classmethod
    def _file(cls, file: Path | None, info: ValidationInfo) -> Path | None:
        if info.data.get("target") == "file" and file is None:
            raise ValueError('required with target = "file"')
        return file


Days = Annotated[int, Between(1, 36_500)]


class RetentionSection(Table):
    """How long the gateway keeps its records, in days."""

    alerts_days: Days | None = None
    """Delivered alerts; default: agency.retention_days."""
    hits_days: Days = 365
    """Hits with a disposition; a hit without one is never purged."""
    heartbeats_days: Days = 90
    """Camera heartbeats (battery, signal, queue)."""
    access_log_plates_days: Days | None = None
    """After this the plate text in access-log rows is blanked, the row stays; default:
    agency.retention_days."""
    access_log_days: Days = 1095
    """Then the access-log row itself goes (3 years by default)."""


def _lanes(value: object) -> object:
    """`lanes = 2` names them "lane 1", "lane 2"; a list keeps its names."""
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(f"lane {i + 1}" for i in range(value))
    return tuple(value) if isinstance(value, list) else value


LANES_SCHEMA = {
    "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "integer", "minimum": 0}]
}


class Site(Table):
    """A place where cameras stand, as the chief approved it (the site plan)."""

    id: Text
    """Short unique id, e.g. elm-st; cameras name it."""
    name: Text = ""
    """A name people use, e.g. "Elm St at 5th"."""
    lat: Annotated[float, Between(-90, 90)]
    """Latitude, decimal degrees (WGS 84)."""
    lon: Annotated[float, Between(-180, 180)]
    """Longitude, decimal degrees (WGS 84)."""
    heading: Annotated[float, Between(0, 360)] | None = None
    """Degrees clockwise from north; default: taken from its cameras."""
    lanes: Annotated[tuple[str, ...], BeforeValidator(_lanes), WithJsonSchema(LANES_SCHEMA)] = ()
    """Lane names, or how many lanes."""
    purpose: Text = ""
    """Why this site, as approved; published in the transparency report."""
    approved_by: Text = ""
    """Who approved the site."""
    approved_on: DateText = ""
    """When, a date such as 2026-10-01."""
    status: Literal["planned", "installed", "retired"] = "planned"
    """Captures from a site not installed are kept but flagged."""
    view_range_m: Annotated[float, Between(1, 500)] = 35.0
    """How far the cameras read plates, for the site map's view cone."""
    view_angle_deg: Annotated[float, Between(1, 179)] = 40.0
    """The cameras' field of view, for the site map's view cone."""


class Hints(Table):
    """Reader hints from the site survey."""

    roi: list[int] | None = None
    """[x, y, width, height] in pixels: where plates appear."""
    plate_width: Annotated[int, Between(10, 2000)] | None = None
    """Typical plate width in pixels."""

    @field_validator("roi")
    @classmethod
    def _roi(cls, roi: list[int] | None) -> list[int] | None:
        if roi is not None and (len(roi) != 4 or any(v < 0 for v in roi)):
            raise ValueError(f"expected [x, y, width, height] in pixels, got {roi!r}")
        if roi is not None and (roi[2] == 0 or roi[3] == 0):
            raise ValueError("width and height must be positive")
        return roi


class CameraEntry(Table):
    """A camera, as `alpr provision` registers it."""

    id: Text
    """Unique id, e.g. cam-03; the camera sends it with every request."""
    site: Text
    """The id of a site in [[sites]]."""
    lat: Annotated[float, Between(-90, 90)] | None = None
    """Default: the site's."""
    lon: Annotated[float, Between(-180, 180)] | None = None
    """Default: the site's."""
    heading: Annotated[float, Between(0, 360)]
    """Degrees clockwise from north, the direction the camera looks."""
    secret: SecretRef
    """The camera's HMAC key: env:NAME or file:PATH, never the key itself."""
    previous_secret: SecretRef | None = None
    """The key the board held before `alpr provision --rotate`: accepted for
    gateway.rotation_grace_hours after rotated_at, until the camera first uses `secret`."""
    rotated_at: dt.datetime | None = None
    """When the secret was rotated, with its offset (e.g. 2026-11-29T19:42:00Z); with
    previous_secret."""
    hints: Hints = Hints()
    """Reader hints from the site survey (`alpr survey`)."""

    @field_validator("rotated_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("give the time with its offset, e.g. 2026-11-29T19:42:00Z")
        return value

    @model_validator(mode="after")
    def _rotation(self) -> CameraEntry:
        if (self.previous_secret is None) != (self.rotated_at is None):
            raise ValueError("give previous_secret and rotated_at together, or neither")
        return self


class HotlistSource(Table):
    """A hot-list file, imported at each start as the whole of its source (gateway/HOTLISTS.md)."""

    source: Text
    """The list's name, e.g. ncic or local; a new file replaces the source's entries."""
    path: RelPath
    """The file, relative to the config."""
    format: Text = "csv"
    """csv, ncic (an NCIC-style extract), or the name of a profile in [hotlist.profiles]."""
    max_bad_share: Annotated[float, Between(0, 1)] = 0.05
    """A file with a larger share of bad lines is refused whole."""
    refresh: Text | None = None
    """Re-import schedule while the gateway runs: "daily 04:00" (local time) or "every 6h";
    default: at start only."""
    max_age_hours: Annotated[float, Between(0.1, 8760)] = 24.0
    """A list not imported successfully for longer than this raises a stale-list alert."""

    @field_validator("refresh")
    @classmethod
    def _refresh(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value


IMPORT_FIELDS = frozenset({*ENTRY_FIELDS, *DESCRIPTION_FIELDS, *SCOPE_FIELDS})
REQUIRED_FIELDS = frozenset(ENTRY_FIELDS) - {"state"}


class ImportProfile(Table):
    """The layout of a delimited hot-list file, so a state system's extract needs no code."""

    delimiter: str = ","
    """One character: a comma, a pipe, a tab ("\\t") or another."""
    header: bool = True
    """The first line names the columns; without one, columns are 1-based positions."""
    columns: dict[str, str]
    """Column (header name, or position "1", "2" ... without a header) -> entry field."""
    date_format: Text = "%Y-%m-%d"
    """strptime format of the expiry column, e.g. "%m/%d/%Y" or "%Y%m%d"."""
    categories: dict[str, str] = {}
    """The file's category codes -> category ids; empty: the file holds category ids."""
    defaults: dict[str, str] = {}
    """Values of fields the file lacks, e.g. contact = "MULES terminal, dispatch"."""
    comment: str = "#"
    """Lines starting with this are skipped ("" for none)."""

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if len(value) != 1 or value in '\r\n"':
            raise ValueError(f"expected one character (not a quote or a line break), got {value!r}")
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        import datetime as dt

        probe = dt.date(2031, 12, 24)
        try:
            back = dt.datetime.strptime(probe.strftime(value), value).date()
        except ValueError:
            back = None
        if back != probe:
            raise ValueError(f"{value!r} does not give back a date (e.g. %Y-%m-%d, %m/%d/%Y)")
        return value

    @model_validator(mode="after")
    def _mapping(self) -> ImportProfile:
        for column, name in self.columns.items():
            if name not in IMPORT_FIELDS:
                raise ValueError(
                    f"columns.{column}: {name!r} is not an entry field"
                    f" ({', '.join(sorted(IMPORT_FIELDS))})"
                )
            if not self.header and not (column.isdigit() and int(column) >= 1):
                raise ValueError(f"columns.{column}: without a header, give 1-based positions")
        for name in self.defaults:
            if name not in IMPORT_FIELDS:
                raise ValueError(f"defaults.{name}: not an entry field")
        missing = sorted(REQUIRED_FIELDS - set(self.columns.values()) - set(self.defaults))
        if missing:
            raise ValueError(f"columns: no column or default for {', '.join(missing)}")
        return self

    def profile(self, name: str) -> Profile:
        return Profile(
            name,
            self.delimiter,
            self.header,
            dict(self.columns),
            self.date_format,
            dict(self.categories),
            dict(self.defaults),
            self.comment,
        )


def _category(value: str) -> str:
    if not CATEGORY_RE.match(value):
        raise ValueError(f"{value!r}: a category id is lower-case letters, digits and dashes")
    return value


class HotlistSettings(Table):
    """Rules for every hot list: the agency's own categories and file layouts."""

    categories: list[Annotated[str, AfterValidator(_category)]] = []
    """Categories besides the fixed eight, e.g. ["blue-alert", "silver-alert"]."""
    profiles: dict[str, ImportProfile] = {}
    """Import profiles by name, used as a source's format (see HOTLISTS.md)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The keys each kind takes (attribute names); any other key given is refused, naming the kind.
SERVER_KEYS = frozenset({"host", "port", "username", "password_ref", "ca_file"})
KIND_KEYS: dict[str, frozenset[str]] = {
    "log": frozenset(),
    "webhook": frozenset({"url", "secret_ref"}),
    "mqtt": SERVER_KEYS | {"tls", "topic_prefix", "client_id"},
    "email": SERVER_KEYS | {"starttls", "sender", "to", "recipients"},
}
TOPIC_FORBIDDEN = ("+", "#", "\0")


def _address(value: str) -> str:
    """One mail address (`name@host`); display names and lists belong in separate entries."""
    value = value.strip()
    local, at, host = value.rpartition("@")
    if not at or not local or not host or any(c in value for c in ' ,;<>"\n'):
        raise ValueError(f"expected one mail address like name@host, got {value!r}")
    return value


Address = Annotated[str, AfterValidator(_address)]


class AlertTarget(Table):
    """Where hits are sent: the log, a signed webhook, an MQTT broker or mail (SMTP)."""

    kind: Literal["webhook", "log", "mqtt", "email"]
    """The channel; each kind takes only its own keys."""
    url: str = Field("", validate_default=True)
    """https:// (http:// only on loopback); webhooks only."""
    secret_ref: SecretRef | None = Field(None, alias="secret", validate_default=True)
    """The HMAC key that signs each webhook request: env:NAME or file:PATH."""
    host: Text | None = None
    """The MQTT broker or SMTP server."""
    port: Annotated[int, Between(1, 65535)] | None = None
    """Default: 1883 (MQTT), 8883 (MQTT with tls), 587 (email)."""
    username: Text | None = None
    """MQTT or SMTP login; with password."""
    password_ref: SecretRef | None = Field(None, alias="password")
    """env:NAME or file:PATH; with username."""
    tls: bool = False
    """MQTT over TLS."""
    starttls: bool = True
    """Email: upgrade the SMTP connection with STARTTLS (refused if the server does not offer it)."""
    ca_file: ExistingFile | None = None
    """PEM certificates to trust for the broker or mail server (default: the system's)."""
    topic_prefix: Text = "alpr"
    """MQTT topics: <prefix>/<site>/<camera>/hit and <prefix>/<camera>/health."""
    client_id: str = ""
    """MQTT client id; default: one the broker assigns."""
    sender: Address | None = Field(None, alias="from")
    """Email: the From address."""
    to: list[Address] = []
    """Email: recipients of every category without its own list."""
    recipients: dict[str, list[Address]] = {}
    """Email: hot-list category -> recipients, e.g. amber = ["dispatch@pd.example"]."""
    audience: list[Literal["officers", "managers"]] = Field(
        ["officers", "managers"], min_length=1, max_length=2
    )
    """Who this channel reaches: "officers" get the hits, "managers" the notices meant for them
    (a stale hot list, a hit left open, a full disk). A dispatch channel takes only "officers"."""

    @field_validator("url")
    @classmethod
    def _url(cls, url: str, info: ValidationInfo) -> str:
        if info.data.get("kind") != "webhook":
            if url:
                raise ValueError("only for kind = 'webhook'")
            return url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook needs an https:// URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("http:// is allowed only on loopback; use https://")
        return url

    @field_validator("secret_ref")
    @classmethod
    def _secret(cls, ref: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "webhook" and ref is None:
            raise ValueError("a webhook needs a secret (env:NAME or file:PATH) to sign requests")
        if kind != "webhook" and ref is not None:
            raise ValueError("only for kind = 'webhook'")
        return ref

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if (
            any(c in prefix for c in TOPIC_FORBIDDEN)
            or prefix.startswith("/")
            or prefix.endswith("/")
        ):
            raise ValueError(
                f"an MQTT topic prefix without +, # or a leading/trailing /, got {prefix!r}"
            )
        return prefix

    @field_validator("recipients")
    @classmethod
    def _categories(
        cls, recipients: dict[str, list[str]], info: ValidationInfo
    ) -> dict[str, list[str]]:
        known = [*CATEGORIES, *context(info).get("categories", ())]
        for category, addresses in recipients.items():
            if category not in known:
                raise ValueError(f"{category!r} is not a hot-list category ({', '.join(known)})")
            if not addresses:
                raise ValueError(f"{category}: give at least one address")
        return recipients

    @model_validator(mode="after")
    def _kind_keys(self) -> AlertTarget:
        """Keys of another kind are refused; each kind's required keys are present."""
        allowed = KIND_KEYS[self.kind] | {"kind", "audience"}
        for name in sorted(self.model_fields_set - allowed):
            alias = type(self).model_fields[name].alias or name
            raise ValueError(f"{alias}: not a key of kind = {self.kind!r}")
        if self.kind in ("mqtt", "email") and self.host is None:
            raise ValueError(f"host: required with kind = {self.kind!r}")
        if self.password_ref is not None and self.username is None:
            raise ValueError("password: give username with it")
        if self.kind == "email":
            if self.sender is None:
                raise ValueError("from: required with kind = 'email'")
            if not self.to:
                raise ValueError(
                    "to: give at least one address (used for categories without a list)"
                )
        return self

    @property
    def server_port(self) -> int:
        """The port to connect to: the configured one or the kind's usual one."""
        if self.port is not None:
            return self.port
        if self.kind == "email":
            return 587
        return 8883 if self.tls else 1883


class ConsoleSection(Table):
    """The officers' web console: its own listener, apart from the cameras' network."""

    url: str | None = None
    """Base URL, e.g. https://alpr.county.example; alerts link to <url>/hits/<id>."""
    listen: Text | None = None
    """HOST:PORT the console listens on, e.g. "127.0.0.1:8443"; absent: no console."""
    tls_cert: ExistingFile | None = None
    """PEM certificate chain for the console (relative to the config); give tls_key with it."""
    tls_key: ExistingFile | None = None
    """PEM private key for the console (relative to the config); give tls_cert with it."""
    idle_minutes: Annotated[float, Between(1, 480)] = 15.0
    """A console session unused this long ends; the officer logs in again."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return None if value is None else host_port(value)

    @model_validator(mode="after")
    def _pair(self) -> ConsoleSection:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both tls_cert and tls_key, or neither")
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an https:// URL, got {url!r}")
        return url.rstrip("/")


class SharingAgency(Table):
    """An agency ALPR data may be released to; without a signed MOU only the chief may approve."""

    name: Text
    """The agency's name, unique in the list."""
    mou_signed: DateText | None = None
    """The date the memorandum of understanding was signed; leave it out when there is none."""
    contact: Text = ""
    """Who at that agency receives releases (name, phone, address)."""


class SharingSection(Table):
    """Release of data to other agencies (`alpr share`)."""

    agencies: list[SharingAgency] = []
    """The agencies data may be released to."""

    @field_validator("agencies")
    @classmethod
    def _unique(cls, agencies: list[SharingAgency]) -> list[SharingAgency]:
        seen: set[str] = set()
        for a in agencies:
            key = a.name.strip().casefold()
            if key in seen:
                raise ValueError(f"agency {a.name!r} is listed twice")
            seen.add(key)
        return agencies


class PolicySection(Table):
    """The agency's use policy, as published in the transparency report."""

    allowed_uses: list[Text] = []
    """What ALPR data may be used for."""
    prohibited_uses: list[Text] = []
    """What it must never be used for."""


DEFAULT_PURPOSES = (
    "stolen vehicle",
    "wanted person",
    "missing person",
    "AMBER alert",
    "criminal investigation",
)


class SearchSection(Table):
    """Historical search (`alpr search`) over the index in storage."""

    purposes: Annotated[list[Text], Field(min_length=1)] = list(DEFAULT_PURPOSES)
    """The purposes a search may give; every search names one, and a case number or reason."""
    approval: Literal["none", "supervisor"] = "none"
    """"supervisor": a manager approves each search before its requester runs it."""


SECTIONS = (
    "agency",
    "storage",
    "gateway",
    "matching",
    "hits",
    "hotlist",
    "retention",
    "evidence",
    "logging",
    "sharing",
    "policy",
    "console",
    "search",
)


class ConfigFile(Table):
    """The gateway's deployment config (TOML)."""

    agency: Agency
    # Sections left out are validated from {} like any other, so that their relative paths
    # resolve against this config's folder rather than the folder the process started in.
    storage: StorageConfig = Field(default_factory=dict, validate_default=True)
    gateway: GatewaySection = Field(default_factory=dict, validate_default=True)
    matching: Matching = Field(default_factory=dict, validate_default=True)
    hits: Hits = Field(default_factory=dict, validate_default=True)
    hotlist: HotlistSettings = Field(default_factory=dict, validate_default=True)
    retention: RetentionSection = Field(default_factory=dict, validate_default=True)
    evidence: EvidenceConfig = Field(default_factory=dict, validate_default=True)
    logging: LoggingSection = Field(default_factory=dict, validate_default=True)
    sharing: SharingSection = Field(default_factory=dict, validate_default=True)
    policy: PolicySection = Field(default_factory=dict, validate_default=True)
    console: ConsoleSection = Field(default_factory=dict, validate_default=True)
    search: SearchSection = Field(default_factory=dict, validate_default=True)
    sites: list[Site] = []
    cameras: list[CameraEntry] = []
    hotlists: list[HotlistSource] = []
    alerts: list[AlertTarget] = []
    """Default: one alert to the log."""

    @model_validator(mode="before")
    @classmethod
    def _tables_present(cls, data: Any, info: ValidationInfo) -> Any:
        """Absent tables validate as empty ones, so their paths and defaults get the context; the
        agency's own categories go into the context for the tables that name categories."""
        if isinstance(data, dict):
            hotlist = data.get("hotlist")
            extra = hotlist.get("categories") if isinstance(hotlist, dict) else None
            if isinstance(info.context, dict) and isinstance(extra, list):
                info.context["categories"] = [c for c in extra if isinstance(c, str)]
            return {**{k: {} for k in SECTIONS if k != "agency"}, **data}
        return data

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> ConfigFile:
        """Ids unique, every camera at a known site: messages carry their own key path."""
        seen: set[str] = set()
        for i, site in enumerate(self.sites):
            if site.id in seen and context(info).get("strict", True):
                raise ValueError(f"sites[{i}].id: duplicate site id {site.id!r}")
            seen.add(site.id)
        cameras: set[str] = set()
        for i, cam in enumerate(self.cameras):
            if cam.site not in seen:
                raise ValueError(f"cameras[{i}].site: unknown site {cam.site!r}")
            if cam.id in cameras:
                raise ValueError(f"cameras[{i}].id: duplicate camera id {cam.id!r}")
            cameras.add(cam.id)
        categories = {*CATEGORIES, *self.hotlist.categories}
        for name, profile in self.hotlist.profiles.items():
            for code, category in profile.categories.items():
                if category not in categories:
                    raise ValueError(
                        f"hotlist.profiles.{name}.categories.{code}: unknown category {category!r}"
                    )
        for i, source in enumerate(self.hotlists):
            if source.format not in ("csv", "ncic", *self.hotlist.profiles):
                raise ValueError(
                    f"hotlists[{i}].format: {source.format!r} is not csv, ncic or a profile in"
                    " [hotlist.profiles]"
                )
        return self
