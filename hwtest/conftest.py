"""Fixtures for the hardware-in-the-loop suite: a real gateway on loopback (or the bench's LAN),
a provisioned camera, and the board (emulated unless HWTEST_PORT names a real one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwtest.board import Board, EmulatedBoard, RealBoard, node_ready
from hwtest.rig import (  # noqa: F401 - the tests import these from here
    REAL_PORT,
    ROOT,
    Gateway,
    deploy_to,
    free_port,
    gateway_url,
    site_config,
    wait_for,
    write_gateway_config,
    write_images,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hardware: needs a real board (skipped in emulation)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "hardware" in item.keywords and not REAL_PORT:
            item.add_marker(pytest.mark.skip(reason="real board only (set HWTEST_PORT)"))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    port = free_port()
    host = os.environ.get("HWTEST_GATEWAY_HOST", "127.0.0.1") if REAL_PORT else "127.0.0.1"
    gw = Gateway(write_gateway_config(tmp_path, port, host), port)
    site_config(gw, tmp_path)  # provision cam-hw before the start: no test waits for a restart
    gw.start()
    yield gw
    gw.stop()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_images(tmp_path / "images")


@pytest.fixture
def board(tmp_path: Path, images: Path) -> Iterator[Board]:
    if REAL_PORT:
        yield RealBoard(REAL_PORT)
        return
    why = node_ready()
    if why:
        pytest.fail(f"the emulated board cannot start: {why}")
    b = EmulatedBoard(images, tmp_path / "console.log")
    b.set_supply(3.95, 5.1)
    yield b
    b.close()
