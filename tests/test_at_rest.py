"""The startup check of the data folder's disk: which mount holds it, whether lsblk shows a crypt
layer, and that the check on this machine's real mounts and lsblk answers without raising."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway import at_rest

MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
/dev/mapper/vg-data /var/lib ext4 rw 0 0
/dev/mapper/crypt-alpr /var/lib/alpr ext4 rw 0 0
tmpfs /var/lib/alpr/tmp tmpfs rw 0 0
/dev/sdb1 /srv/my\\040data ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "device"),
    [
        ("/var/lib/alpr", "/dev/mapper/crypt-alpr"),
        ("/var/lib/alpr/events/x", "/dev/mapper/crypt-alpr"),
        ("/var/lib/alpr-other", "/dev/mapper/vg-data"),  # a name prefix is not a parent
        ("/var/lib/alpr/tmp/a", "tmpfs"),
        ("/srv/my data/db", "/dev/sdb1"),
        ("/home/x", "/dev/vda1"),
    ],
)
def test_the_deepest_mount_holding_the_folder_is_found(path: str, device: str) -> None:
    assert at_rest.mount_source(Path(path), MOUNTS) == device


def test_a_crypt_layer_anywhere_below_counts() -> None:
    assert at_rest.types_say_encrypted("lvm\ncrypt\npart\ndisk\n")  # LVM on LUKS
    assert at_rest.types_say_encrypted("crypt\ndisk\n")
    assert not at_rest.types_say_encrypted("part\ndisk\n")
    assert not at_rest.types_say_encrypted("")


def test_the_real_check_never_raises_and_warns_only_when_known(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    encrypted, detail = at_rest.data_dir_encrypted(tmp_path)
    assert encrypted in (True, False, None) and detail
    with caplog.at_level(logging.INFO, logger="alpr.at_rest"):
        at_rest.warn_if_unencrypted(tmp_path)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warned) == (encrypted is False)
    if warned:
        assert "no dm-crypt/LUKS layer" in warned[0].getMessage()


def test_an_unreadable_mount_table_is_unknown_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(at_rest, "MOUNTS", tmp_path / "no-such-file")
    assert at_rest.data_dir_encrypted(tmp_path)[0] is None
