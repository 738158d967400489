"""`alpr service install`: the gateway as a systemd service run by its own user.

It writes the unit (a dedicated system user, `ProtectSystem=strict` with only the data, store and
log folders writable, `Restart=on-failure`), a sysusers.d entry that creates that user, a
tmpfiles.d entry that creates those folders owned by it, and a logrotate file when the config
logs to a file. `--print` shows them instead. Every path comes from the validated config.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Config
from tools.common import add_config_arg, find_config, load_config

UNIT_NAME = "alpr-gateway"


@dataclass(frozen=True)
class ServiceFiles:
    """Each file's path (under the root it is installed to) and its text."""

    files: dict[Path, str]
    next_steps: list[str]


def alpr_executable() -> str:
    """The `alpr` of the environment running this command (a venv's own), not another one."""
    beside = Path(sys.executable).absolute().parent / "alpr"  # not resolved: keep the venv
    if beside.is_file():
        return str(beside)
    found = shutil.which("alpr")
    if found:
        return str(Path(found).absolute())
    return f"{Path(sys.executable).absolute()} -m tools.cli"


def writable_paths(config: Config) -> list[Path]:
    """What the service writes: its data, a file:// store, and the log file's folder."""
    paths = [config.data_dir.resolve()]
    if config.storage.target.startswith("file://"):
        store = Path(config.storage.target[len("file://") :])
        paths.append((store if store.is_absolute() else config.storage.base / store).resolve())
    if config.logging_target == "file" and config.logging_file is not None:
        paths.append(config.logging_file.resolve().parent)
    return list(dict.fromkeys(paths))


def unit(config: Config, config_path: Path, user: str, exe: str) -> str:
    rw = " ".join(str(p) for p in writable_paths(config))
    journald = config.logging_target == "journald"
    output = "StandardError=journal\nSyslogLevelPrefix=yes\n" if journald else ""
    return f"""\
# fixed-alpr gateway, written by `alpr service install`
[Unit]
Description=fixed-alpr gateway ({config.agency})
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={user}
Group={user}
ExecStart={exe} gateway serve --config {config_path}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5
TimeoutStopSec=30
UMask=0027
{output}# nothing is writable but the data, store and log folders; /home is read-only
ProtectSystem=strict
ReadWritePaths={rw}
ProtectHome=read-only
PrivateTmp=true
PrivateDevices=true
NoNewPrivileges=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectControlGroups=true
RestrictSUIDSGID=true
LockPersonality=true

[Install]
WantedBy=multi-user.target
"""


def logrotate(log_file: Path, user: str) -> str:
    return f"""\
# fixed-alpr gateway log, written by `alpr service install`. The service reopens the file
# when it has been moved (WatchedFileHandler), so no copytruncate is needed.
{log_file} {{
    weekly
    rotate 12
    compress
    delaycompress
    missingok
    notifempty
    create 0640 {user} {user}
}}
"""


def service_files(config: Config, config_path: Path, user: str, exe: str) -> ServiceFiles:
    files = {
        Path(f"etc/systemd/system/{UNIT_NAME}.service"): unit(config, config_path, user, exe),
        Path(f"etc/sysusers.d/{UNIT_NAME}.conf"): (
            f'u {user} - "fixed-alpr gateway" {config.data_dir.resolve()} /usr/sbin/nologin\n'
        ),
        Path(f"etc/tmpfiles.d/{UNIT_NAME}.conf"): "".join(
            f"d {p} 0750 {user} {user} -\n" for p in writable_paths(config)
        ),
    }
    if config.logging_target == "file" and config.logging_file is not None:
        files[Path(f"etc/logrotate.d/{UNIT_NAME}")] = logrotate(config.logging_file.resolve(), user)
    steps = [
        f"systemd-sysusers /etc/sysusers.d/{UNIT_NAME}.conf",
        f"systemd-tmpfiles --create /etc/tmpfiles.d/{UNIT_NAME}.conf",
        f"chgrp -R {user} {config_path.parent} && chmod -R g+rX,o-rwx {config_path.parent}"
        "   # the config and its secrets, readable by the service only",
        "systemctl daemon-reload",
        f"systemctl enable --now {UNIT_NAME}",
        f"systemctl status {UNIT_NAME}; journalctl -u {UNIT_NAME} -f",
    ]
    return ServiceFiles(files, steps)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("service", help="install the gateway as a systemd service")
    ssub = p.add_subparsers(dest="service_command", required=True)
    i = ssub.add_parser("install", help="write the unit, its user, folders and logrotate file")
    add_config_arg(i)
    i.add_argument("--user", default="alpr", help="the dedicated system user (default: alpr)")
    i.add_argument("--print", action="store_true", help="print the files instead of writing")
    i.add_argument("--root", type=Path, default=Path("/"), help="install under this root")
    i.add_argument("--force", action="store_true", help="replace files that are already there")
    i.set_defaults(func=run_install)


def run_install(args: argparse.Namespace) -> int:
    config = load_config(args)
    config_path = (config.path or find_config(args)).resolve()
    out = service_files(config, config_path, args.user, alpr_executable())
    if args.print:
        for path, text in out.files.items():
            print(f"# ---- /{path}\n{text}")
        print("# ---- then, as root:\n" + "\n".join(out.next_steps))
        return 0
    targets = {args.root / path: text for path, text in out.files.items()}
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.force:
        print(f"alpr service: already there: {', '.join(existing)} (--force)", file=sys.stderr)
        return 1
    try:
        for target, text in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target}")
    except PermissionError as exc:
        print(f"alpr service: {exc.filename}: permission denied (run as root)", file=sys.stderr)
        return 1
    print("then, as root:\n  " + "\n  ".join(out.next_steps))
    return 0
