"""The README's shell examples run as written, in a temporary folder, with `alpr` on the PATH.

Every ```sh block of README.md is either run, command by command, in README order, or listed in
SKIPPED_BLOCKS with the reason; single commands that cannot run here are in SKIPPED_COMMANDS. A new
block fails this test until it runs or is listed, so the README cannot drift from the code unseen.

What the test supplies: a logged-in user with every data role (the README's `alpr users` and
`alpr login` block needs a terminal); since the README writes placeholders, upper-case words (FILE, DIR, NAME ...)
get the values in PLACEHOLDERS, `...` becomes a sample value, optional `[--flag VALUE]` parts are
given (alternatives `[--a | --b]` are left out), and the gateway started by the quick start listens
on a free loopback port instead of 0.0.0.0:8080, which another program may hold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from access_helpers import DATA_ROLES, Team

from tools.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

SKIPPED_BLOCKS = {  # how one of a block's commands starts -> why the block is not run here
    "make demo": "runs the demo and the whole test suite (minutes); the suite is what runs this",
    "alpr cloud init": "needs an S3 bucket; tests/test_cloud_rgw.py runs these commands"
    " against a real Ceph RGW",
    "alpr read photo.jpg": "needs plate photos, and half the block is output;"
    " tests/test_reader.py reads photos",
    "alpr eval crops": "needs the development data; training takes minutes",
    "alpr emulator start": "needs the emulated board (Node.js, `npm ci` in"
    " hwtest/emulator); hwtest/ drives it",
    "alpr share request": "the ids (share 4, deployment 2) and sites (fairgrounds) of a gateway with a"
    " history; tests/test_share.py, test_deployments.py and test_reports.py run these commands",
    "alpr search --plate 7ABC123": "searches the index of reads synced to the bucket over past"
    " days; tests/test_search.py runs these commands on a synced index and on a real Ceph RGW",
    "alpr users add chief": "passwords and TOTP"
    " codes are typed at a terminal; tests/test_access_cli.py runs these commands. The test logs"
    " in before the gateway's commands instead, through the same password and TOTP check",
}
SKIPPED_COMMANDS = {  # a command's start -> why it is not run here
    "alpr gateway serve --config alpr.toml": "the gateway the quick start started still serves"
    " this config (a second one is refused by the service lock)",
    "alpr hits disposition": "needs a hot-list hit; tests/test_records.py records dispositions",
    "alpr hits verify": "needs a hot-list hit; tests/test_hit_outcomes.py records checks",
    "alpr hits outcome": "needs a hot-list hit; tests/test_hit_outcomes.py records outcomes",
    "alpr hits history": "needs a hot-list hit; tests/test_hit_outcomes.py reads histories",
    "alpr hotlist approve ENTRY": "a manager other than the one who entered the entry;"
    " tests/test_hotlist_workflow.py approves and rejects",
    "alpr hotlist reject": "the entry is cancelled by the block; tests/test_hotlist_workflow.py",
    "alpr survey": "needs test captures of plates from a camera; tests/test_survey.py",
    "alpr flash": "needs a board on a serial port; hwtest/ flashes the emulated board",
    "alpr deploy": "needs a board on a serial port; hwtest/ deploys to the emulated board",
}
NEXT_YEAR = (dt.date.today() + dt.timedelta(days=365)).isoformat()


def entry_id(work: Path) -> str:
    """The hot-list entry the README's `hotlist add` made, for `hotlist remove ENTRY`."""
    db = sqlite3.connect(work / "county" / "var" / "gateway" / "gateway.db")
    return str(db.execute("SELECT max(id) FROM hotlist WHERE plate='7ABC123'").fetchone()[0])


PLACEHOLDERS: dict[str, Callable[[Path], str]] = {
    "FILE": lambda w: "ncic.txt",
    "DIR": lambda w: "captures",
    "N": lambda w: "2",
    "R": lambda w: "20",
    "ENTRY": entry_id,
    "NAME": lambda w: "sgt.diaz",
    "CASE": lambda w: "26-0042",
    "WHY": lambda w: "audit-26-0042",
    "P": lambda w: "7abc-123",
    "T": lambda w: "2026-01-01",
    "F": lambda w: "alpr.toml",
    "...": lambda w: "sample-value",
}


@dataclass
class Command:
    line: int  # where it starts in README.md
    text: str


@dataclass
class Block:
    line: int
    commands: list[Command]


def sh_blocks(text: str) -> list[Block]:
    """The README's ```sh blocks as commands: continuations joined, comments, prompts and output
    lines dropped, `a; b` split."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while lines[i].strip() != "```":
            body.append((i + 1, lines[i]))
            i += 1
        prompted = any(t.startswith("$ ") for _, t in body)
        commands: list[Command] = []
        pending: Command | None = None
        for number, raw in body:
            if prompted and not raw.startswith("$ ") and pending is None:
                continue  # output shown after a prompt
            line = raw[2:] if prompted and raw.startswith("$ ") else raw
            line = re.sub(r"\s+#(\s.*)?$", "", line)
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if pending is not None:
                pending.text += " " + line.strip()
            else:
                pending = Command(number, line.strip())
            if pending.text.endswith("\\"):
                pending.text = pending.text[:-1].rstrip()
                continue
            parts = re.split(r"; (?=alpr )", pending.text)  # `a; alpr b`, not a `;` in quotes
            commands += [Command(pending.line, part.strip()) for part in parts]
            pending = None
        blocks.append(Block(start, commands))
        i += 1
    return blocks


def as_run(command: str, work: Path) -> str:
    """The command with the README's placeholders filled in."""

    def optional(m: re.Match[str]) -> str:
        return "" if "|" in m.group(1) else m.group(1)

    command = re.sub(r"\[([^\[\]]*)\]", optional, command)
    command = re.sub(r"\d{4}-\d{2}-\d{2}", lambda m: max(m.group(0), NEXT_YEAR), command)
    words = []
    for word in shlex.split(command):
        fill = PLACEHOLDERS.get(word)
        words.append(fill(work) if fill else word)
    return shlex.join(words)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    """A folder with `alpr` on the PATH and the files the README expects its reader to have: a
    folder of JPEG captures (DIR), an NCIC extract (FILE), the site's Wi-Fi password (wifi.pass)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "alpr"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tools.cli "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "work"
    (work / "county" / "captures").mkdir(parents=True)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    cv2.imwrite(str(work / "county" / "captures" / "a.jpg"), image)
    expiry = NEXT_YEAR.replace("-", "")
    (work / "county" / "ncic.txt").write_text(
        "0001|V|7XYZ890|CA|24-001234|STOLEN VEH|CA0190000 DET DIAZ|DISPATCH 5550100|"
        f"CONFIRM WITH NCIC BEFORE STOP|{expiry}\n"
    )
    (work / "county" / "wifi.pass").write_text("site wifi password\n")  # the reader's own file
    yield work


def environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ALPR_CONFIG"}  # token file kept
    env["PATH"] = f"{work.parent / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    return env


def start_gateway(command: str, cwd: Path, work: Path) -> subprocess.Popen[str]:
    """`alpr gateway serve` runs until stopped: start it, wait until it listens."""
    config = cwd / shlex.split(command)[-1]
    port = free_port()
    text = config.read_text()
    assert 'listen = "0.0.0.0:8080"' in text
    config.write_text(text.replace('listen = "0.0.0.0:8080"', f'listen = "127.0.0.1:{port}"'))
    proc = subprocess.Popen(
        shlex.split(command),
        cwd=cwd,
        env=environment(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"README: `{command}` exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"README: `{command}` did not listen within 60 s")


def test_every_sh_block_is_run_or_says_why_not() -> None:
    """A block not listed in SKIPPED_BLOCKS is run (below); each listed reason still applies."""
    blocks = sh_blocks(README.read_text())
    commands = [c.text for b in blocks for c in b.commands]
    gone = [k for k in SKIPPED_BLOCKS if not any(c.startswith(k) for c in commands)]
    assert gone == [], "skipped blocks no longer in the README"
    assert len([b for b in blocks if b.commands and not skipped_block(b)]) >= 3


def skipped_block(block: Block) -> bool:
    return any(c.text.startswith(k) for c in block.commands for k in SKIPPED_BLOCKS)


def log_in(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin, then `chief` with every data role, logged in; commands find the token."""
    team = Team(work / "county" / "var" / "gateway", work / "tokens")
    team.add("chief", *DATA_ROLES)
    monkeypatch.setenv("ALPR_TOKEN_FILE", str(team.token_file("chief")))


@pytest.mark.slow
def test_readme_sh_examples_run_as_written(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway: subprocess.Popen[str] | None = None
    ran: list[str] = []
    try:
        for block in sh_blocks(README.read_text()):
            if not block.commands or skipped_block(block):
                continue
            # the quick start runs where `alpr init` writes county/; the rest inside it
            cwd = work if block.commands[0].text.startswith("alpr init") else work / "county"
            if cwd != work and "ALPR_TOKEN_FILE" not in os.environ:
                log_in(work, monkeypatch)
            for command in block.commands:
                if any(command.text.startswith(s) for s in SKIPPED_COMMANDS):
                    continue
                text = as_run(command.text, work)
                if text.startswith("alpr gateway serve"):
                    gateway = start_gateway(text, cwd, work)
                    ran.append(text)
                    continue
                out = subprocess.run(
                    ["bash", "-c", text],
                    cwd=cwd,
                    env=environment(work),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert out.returncode == 0, (
                    f"README.md line {command.line}: `{text}` exited {out.returncode}:\n"
                    f"{out.stdout[-2000:]}{out.stderr[-2000:]}"
                )
                ran.append(text)
    finally:
        if gateway is not None:
            gateway.send_signal(signal.SIGINT)
            try:
                gateway.wait(timeout=30)
            except subprocess.TimeoutExpired:
                gateway.kill()
    assert gateway is not None and gateway.returncode == 0, "the gateway did not stop cleanly"
    assert any(r.startswith("alpr init") for r in ran) and any("hotlist import" in r for r in ran)
    assert any(r.startswith("alpr camera simulate") for r in ran)
    assert (work / "county" / "store-backup.db").is_file()  # taken while the gateway ran


def test_readme_toml_examples_parse_and_the_full_config_passes_its_check(work: Path) -> None:
    """Each ```toml block is valid TOML; the complete config, dropped into the folder `alpr init`
    writes (for its secrets/cam-01.key), passes `alpr sites check`."""
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    docs = [tomllib.loads(b) for b in blocks]
    full = [b for b, d in zip(blocks, docs, strict=True) if {"gateway", "cameras"} <= set(d)]
    assert len(full) == 1
    env = environment(work)
    for name in re.findall(r'"env:([A-Z0-9_]+)"', full[0]):
        env[name] = "a secret the deployment sets"  # env: secrets are the reader's to provide
    init = subprocess.run(["alpr", "init", "county"], cwd=work, env=env, capture_output=True)
    assert init.returncode == 0, init.stderr
    (work / "county" / "readme.toml").write_text(full[0])
    out = subprocess.run(
        ["alpr", "sites", "check", "--config", "county/readme.toml"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def command_words(text: str) -> list[str]:
    """Words of a README command line; `[...]` optional parts and `a|b` alternatives kept apart."""
    spaced = text.replace("[", " ").replace("]", " ").replace("|", " | ")
    try:
        return shlex.split(spaced)
    except ValueError:  # an unbalanced quote in prose
        return spaced.split()


def check_against_parser(text: str) -> list[str]:
    """Problems of one README command line against `alpr`'s own parser: unknown subcommands
    (each of `a|b` alternatives) and options the (sub)command does not have."""
    parser: argparse.ArgumentParser = build_parser()
    words = command_words(text)[1:]
    problems: list[str] = []
    i = 0
    while i < len(words):
        if any(a.nargs == argparse.REMAINDER for a in parser._actions):
            break  # the rest goes to another program's own parser (`alpr train`)
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        word = words[i]
        if word.startswith("-"):
            action = parser._option_string_actions.get(word.split("=")[0])
            if action is None:
                problems.append(f"{parser.prog}: no option {word}")
            elif "=" not in word and action.nargs not in (0, "?", "*"):
                i += 1  # its value, never a subcommand
        elif subs and word not in ("...", "|"):
            names = [word]
            while i + 2 < len(words) and words[i + 1] == "|":  # `train|disable|...`
                names.append(words[i + 2])
                i += 2
            unknown = [n for n in names if n not in subs[0].choices]
            if unknown:
                problems.append(f"{parser.prog}: no subcommand {', '.join(unknown)}")
                break
            parser = subs[0].choices[names[0]]
        i += 1
    return problems


def test_every_alpr_command_in_the_readme_exists_with_its_options() -> None:
    """Also the blocks that cannot run here, and `alpr ...` in the prose, against the parser."""
    text = README.read_text()
    lines = [c.text for b in sh_blocks(text) for c in b.commands if c.text.startswith("alpr ")]
    lines += re.findall(r"`(alpr [^`]*)`", text)
    assert len(lines) > 50
    problems = {line: p for line in lines if (p := check_against_parser(line))}
    assert problems == {}
