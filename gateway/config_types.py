"""Value types of the config file: ranges, non-empty text, paths, secret references.

Each check raises ValueError with a short problem ("400.0 is out of range [0, 360]"); the loader
puts the key path in front of it, so every message reads `cameras[0].heading: ...`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, GetCoreSchemaHandler, ValidationInfo
from pydantic.json_schema import GetJsonSchemaHandler, JsonSchemaValue
from pydantic_core import core_schema

SECRET_FORMS = "'env:NAME' or 'file:PATH'"


class ConfigError(ValueError):
    """The config file is wrong; the message names the key and the problem."""


# values never echoed in errors
SECRET_KEYS = frozenset({"secret", "access_key", "secret_key", "password"})


@dataclass(frozen=True)
class Between:
    """A number within [lo, hi], with the bounds in the JSON Schema and in the error."""

    lo: float
    hi: float

    def check(self, value: float) -> float:
        if not self.lo <= value <= self.hi:
            raise ValueError(f"{value} is out of range [{self.lo:g}, {self.hi:g}]")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minimum=self.lo, maximum=self.hi)
        return json_schema


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_non_empty)]


def context(info: ValidationInfo) -> dict[str, Any]:
    """What the loader passes to validation: `base` (the config's folder), `allow_literal`, `strict`."""
    return info.context if isinstance(info.context, dict) else {}


def base_of(info: ValidationInfo) -> Path:
    base = context(info).get("base")
    return Path(base) if base is not None else Path.cwd()


def _relative_path(value: object, info: ValidationInfo) -> object:
    """A path as written, relative to the config file's folder, or absolute."""
    if isinstance(value, Path):  # a default already made a Path
        return base_of(info) / value
    if not isinstance(value, str):
        raise ValueError(f"expected str, got {value!r}")
    if not value.strip():
        raise ValueError("must not be empty")
    return base_of(info) / value


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"no such file: {value}")
    return value


RelPath = Annotated[Path, BeforeValidator(_relative_path)]
ExistingFile = Annotated[Path, BeforeValidator(_relative_path), AfterValidator(_existing_file)]


def _date_text(value: object) -> object:
    """TOML dates (approved_on = 2026-10-01) are kept as their ISO text."""
    return value.isoformat() if isinstance(value, dt.date) else value


DateText = Annotated[str, BeforeValidator(_date_text)]


def read_secret(ref: str, base: Path | None = None) -> bytes:
    """The secret a reference names; ValueError names the problem, never the secret."""
    kind, _, value = ref.partition(":")
    if kind == "env" and value:
        secret = os.environ.get(value)
        if not secret:
            raise ValueError(f"environment variable {value} is not set")
        return secret.encode()
    if kind == "file" and value:
        path = Path(value) if base is None or Path(value).is_absolute() else base / value
        try:
            data = path.read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        if not data:
            raise ValueError(f"secret file {path} is empty")
        return data
    if kind == "literal" and value:
        return value.encode()
    raise ValueError(f"expected {SECRET_FORMS} (the value is not shown)")


def resolve_secret(ref: str, key: str, base: Path | None = None) -> bytes:
    """The secret behind `env:NAME`, `file:PATH` or `literal:VALUE`; ConfigError names `key`."""
    try:
        return read_secret(ref, base)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _secret_ref(value: str, info: ValidationInfo) -> str:
    """Checked now (the service must not fail on its first capture); relative files made absolute."""
    kind, _, rest = value.partition(":")
    if kind == "literal" and rest and not context(info).get("allow_literal"):
        raise ValueError(
            f"'literal:' secrets are only for the embedded demo config; use {SECRET_FORMS}"
        )
    base = base_of(info)
    read_secret(value, base)
    if kind == "file" and not Path(rest).is_absolute():
        return f"file:{base / rest}"
    return value


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
