"""`alpr flash` checks the image with esptool's image-info before touching a board."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.field import flash


def esp_image(tmp_path: Path, chip: str, extra: bytes = b"") -> Path:
    from esptool.bin_image import ELFSection, ESP32FirmwareImage, ESP32S3FirmwareImage

    image = ESP32FirmwareImage() if chip == "esp32" else ESP32S3FirmwareImage()
    image.entrypoint = 0x40080000
    payload = (b"\x01\x02\x03\x04" * 64 + extra).ljust(256 + len(extra) + 3 & ~3, b"\0")
    image.segments = [ELFSection(b".dram0.data", 0x3FFB0000, payload, 0)]
    path = tmp_path / f"micropython-{chip}.bin"
    image.save(str(path))
    return path


def test_a_good_image_passes_and_says_whether_it_has_the_driver(tmp_path: Path) -> None:
    plain = flash.check_image(esp_image(tmp_path, "esp32"))
    assert plain.chip == "esp32" and not plain.camera_driver
    (tmp_path / "s3").mkdir()
    names = b"\0".join(flash.DRIVER_NAMES) + b"\0"
    with_driver = flash.check_image(esp_image(tmp_path / "s3", "esp32s3", names))
    assert with_driver.chip == "esp32s3" and with_driver.camera_driver


def test_corrupt_and_truncated_images_are_refused(tmp_path: Path) -> None:
    path = esp_image(tmp_path, "esp32")
    good = path.read_bytes()
    corrupt = bytearray(good)
    corrupt[40] ^= 0xFF  # inside the segment: checksum and SHA-256 no longer match
    path.write_bytes(bytes(corrupt))
    with pytest.raises(flash.FlashError, match=r"corrupt image.*Checksum"):
        flash.check_image(path)
    path.write_bytes(good[:100])
    with pytest.raises(flash.FlashError, match="image-info refuses it"):
        flash.check_image(path)
    path.write_bytes(b"PK\x03\x04 a zip, not an image" * 8)
    with pytest.raises(flash.FlashError, match="not an ESP firmware image"):
        flash.check_image(path)


def test_the_camera_verdict_names_the_build_to_get() -> None:
    assert flash.camera_verdict("CAMERA ok v2.0.15\n", "esp32") == "v2.0.15"
    with pytest.raises(flash.FlashError, match="AI_THINKER") as err:
        flash.camera_verdict("CAMERA missing no module named 'camera'\n", "esp32")
    assert flash.DRIVER_RELEASES in str(err.value) and "ESP32S3" not in str(err.value)
    with pytest.raises(flash.FlashError, match="did not answer"):
        flash.camera_verdict(">>> \n", None)
