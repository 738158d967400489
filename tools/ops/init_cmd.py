"""`alpr init DIR`: a new deployment's folder, ready to edit and valid as written.

It writes `alpr.toml` with every key (the optional ones commented out at their defaults), a
jurisdiction boundary to redraw, an empty hot list with its header, and `secrets/` (0700) with the
first camera's secret (0600), so that the config loads and `alpr sites check` passes before the
first edit. It never overwrites an existing `alpr.toml`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from pathlib import Path

from tools.common import CONFIG_NAME

HOTLIST_HEADER = (
    "plate,state,category,case_number,reason,requested_by,contact,instructions,expires\n"
)
BOUNDARY_HALF_DEG = 0.05  # the placeholder jurisdiction: about 11 km north to south

CONFIG_TEMPLATE = """\
# fixed-alpr deployment config, written by `alpr init`. Paths are relative to this file.
# Lines starting with "# key =" are optional and show their default; uncomment to change.
# Check the site plan with: alpr sites check --config {config}

[agency]
name = {agency}
# retention_days = 30                    # reads are deleted after this many days, everywhere
boundary = "boundary.geojson"            # the jurisdiction (GeoJSON polygon): redraw it
# coordination_distance_m = 1000         # sites this close to the boundary name a neighbour

# [[agency.neighbours]]                  # one table per neighbouring agency
# name = "City of Northbrook PD"
# contact = "Lt. A. Moss, 555-0101"
# boundary = "northbrook.geojson"        # optional

[storage]
target = "file://var/store"              # or s3://BUCKET
# endpoint = "http://10.0.0.5:7480"      # for Ceph RGW or another non-AWS server; omit for AWS
# region = "us-east-1"
# access_key = "env:ALPR_S3_ACCESS_KEY"  # env:NAME or file:PATH; omit for the SDK's own chain
# secret_key = "env:ALPR_S3_SECRET_KEY"
# local_retention_days = 7               # synced copies kept on the gateway this long
# queue_limit_mb = 2048                  # unsynced data kept on disk at most
# gateway_principal = "arn:aws:iam:::user/alpr-gateway"   # for the bucket policy

[gateway]
listen = "0.0.0.0:8080"
data_dir = "var/gateway"                 # /var/lib/alpr under `alpr service install`
# reader_workers = 1
# max_body_bytes = 8000000
# clock_skew_s = 300                     # captures older or newer than this are refused
# tls_cert = "tls/gateway.crt"           # both or neither
# tls_key = "tls/gateway.key"
# header_timeout_s = 10
# request_timeout_s = 30                 # deadline for a whole request: headers and body
# keepalive_timeout_s = 5
# max_connections = 64

# [matching]
# max_substitutions = 1                  # confusable characters tolerated (0/O, 1/I, 2/Z ...)

# [hits]
# open_alert_hours = 12                  # open longer: flagged and alerted to managers once
# reminder = "..."                       # opens every alert; name your state system (MULES, ACIC)

# [hotlist]
# categories = ["blue-alert", "silver-alert"]   # besides the fixed eight
# import profiles for state files ([hotlist.profiles.NAME]): gateway/HOTLISTS.md

# [retention]                            # days; defaults follow agency.retention_days
# alerts_days = 30
# hits_days = 365                        # a hit without a disposition is never purged
# heartbeats_days = 90
# access_log_plates_days = 30            # after this the plate text in access-log rows is blanked
# access_log_days = 1095

# [evidence]
# access_key = "env:ALPR_EVIDENCE_ACCESS_KEY"
# secret_key = "env:ALPR_EVIDENCE_SECRET_KEY"
# principal = "arn:aws:iam:::user/alpr-evidence"

# [logging]
# target = "stderr"                      # stderr, file or journald
# file = "var/log/alpr.log"              # with target = "file"

# [policy]                               # published by `alpr report transparency`
# allowed_uses = ["stolen vehicles", "wanted persons", "missing persons"]
# prohibited_uses = ["immigration enforcement", "lawful protest or assembly"]

# [[sharing.agencies]]                   # agencies data may be released to (`alpr share`)
# name = "City of Northbrook PD"
# mou_signed = 2025-03-01                # without an MOU only the chief may approve a release
# contact = "Lt. A. Moss, 555-0101"

[[sites]]
id = "site-01"
name = "First site: rename me"
lat = {lat}
lon = {lon}
# heading = 180                          # degrees from north; default: its cameras' heading
# lanes = ["NB 1", "NB 2"]
# purpose = "arterial into downtown"
# approved_by = "Chief R. Ortiz"         # required once status is "installed"
# approved_on = 2026-10-01
status = "planned"                       # planned, installed or retired
# view_range_m = 35.0
# view_angle_deg = 40.0

[[cameras]]
id = "cam-01"
site = "site-01"
heading = 180
secret = "file:secrets/cam-01.key"       # or env:NAME; never the secret itself
# lat = {lat}                              # default: the site's
# lon = {lon}
# [cameras.hints]                        # from `alpr survey --apply`
# roi = [0, 300, 1280, 420]
# plate_width = 110

[[hotlists]]
source = "local"
path = "hotlists/local.csv"              # fields: gateway/HOTLISTS.md
format = "csv"                           # or ncic, or a [hotlist.profiles] name
# max_bad_share = 0.05                   # a file with more bad lines is refused whole
# refresh = "daily 04:00"                # or "every 6h"; re-imported while the gateway runs
# max_age_hours = 24                     # older: a stale-list alert
# (a manager approves the source once: alpr hotlist approve-source local)

[[alerts]]
kind = "log"

# [[alerts]]
# kind = "webhook"
# url = "https://dispatch.example/alpr"  # https, except on loopback
# secret = "file:secrets/webhook.key"    # signs each alert (X-ALPR-Signature)

# [[alerts]]
# kind = "mqtt"                          # <prefix>/<site>/<camera>/hit, <prefix>/<camera>/health
# host = "broker.county.example"
# tls = true
# username = "alpr-gateway"
# password = "file:secrets/mqtt.key"

# [[alerts]]
# kind = "email"                         # SMTP with STARTTLS
# host = "smtp.county.example"
# from = "alpr@county.example"
# to = ["watch-commander@county.example"]
# [alerts.recipients]
# amber = ["dispatch@county.example"]

# [console]                              # the officers' web console, on the station's network
# listen = "127.0.0.1:8443"
# tls_cert = "tls/console.crt"           # with tls_key: HTTPS and Secure cookies
# tls_key = "tls/console.key"
# idle_minutes = 15
# url = "https://alpr.county.example"    # alerts link to <url>/hits/<id>
"""


def toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def boundary_geojson(lat: float, lon: float, half: float = BOUNDARY_HALF_DEG) -> str:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    doc = {
        "type": "Feature",
        "properties": {"name": "placeholder jurisdiction: replace with the real boundary"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    return json.dumps(doc, indent=2) + "\n"


def write_new(path: Path, text: str, mode: int = 0o644) -> None:
    """Create a file that must not exist yet, with its mode set from the start."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)  # against a restrictive or permissive umask alike


def init(folder: Path, agency: str, lat: float, lon: float) -> Path:
    """Write the deployment folder; SystemExit names what is in the way, before any write."""
    config = folder / CONFIG_NAME
    if config.exists():
        raise SystemExit(f"alpr init: {config} already exists; it was not touched")
    secret_dir = folder / "secrets"
    in_the_way = [
        p
        for p in (
            folder / "boundary.geojson",
            folder / "hotlists" / "local.csv",
            secret_dir / "cam-01.key",
        )
        if p.exists()
    ]
    if in_the_way:
        raise SystemExit(f"alpr init: {in_the_way[0]} already exists; nothing was written")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hotlists").mkdir(exist_ok=True)
    secret_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(secret_dir, 0o700)
    write_new(secret_dir / "cam-01.key", secrets.token_hex(32) + "\n", 0o600)
    write_new(folder / "boundary.geojson", boundary_geojson(lat, lon))
    write_new(folder / "hotlists" / "local.csv", HOTLIST_HEADER)
    text = CONFIG_TEMPLATE.format(
        agency=toml_string(agency), lat=lat, lon=lon, config=config.as_posix()
    )
    write_new(config, text)  # last: its presence means the folder is complete
    return config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a new deployment folder: alpr.toml, boundary, secrets")
    p.add_argument("dir", type=Path, help="the deployment folder (created if missing)")
    p.add_argument("--agency", default="Example County Sheriff's Office", help="agency name")
    p.add_argument("--lat", type=float, default=40.1106, help="latitude of the first site")
    p.add_argument("--lon", type=float, default=-88.2073, help="longitude of the first site")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
        raise SystemExit(f"alpr init: {args.lat}, {args.lon} is not a latitude and longitude")
    config = init(args.dir, args.agency, args.lat, args.lon)
    print(f"wrote {config}, boundary.geojson, hotlists/local.csv and secrets/cam-01.key (0600)")
    print("next: edit the agency, site and boundary, then")
    print(f"  alpr sites check --config {config}")
    print(
        f"  alpr provision --camera cam-02 --config {config} --heading DEG"
        " --gateway-url http://HOST:PORT ...   # more cameras"
    )
    return 0
