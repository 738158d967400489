"""docs/config.md from the config's JSON Schema: one section per TOML table, one row per key.

The reference is generated (`alpr config docs`), never written by hand, so it cannot drift from
what `alpr config check` accepts; the descriptions are the models' field docstrings
(gateway/config_schema.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Schema = dict[str, Any]

INTRO = """\
# Configuration reference

Every key of the gateway's deployment config (TOML), generated from its schema by
`alpr config docs > docs/config.md`; edit the descriptions in `gateway/config_schema.py`, not here.
`alpr config check --config FILE` names every problem in a file, `alpr config schema` prints the
JSON Schema itself. Paths are relative to the config file's folder. Secrets are references,
`env:NAME` or `file:PATH`, never the secret itself.
"""


def resolve(schema: Schema, node: Schema) -> Schema:
    """The definition a `$ref` points at (the node itself otherwise)."""
    ref = node.get("$ref")
    if ref is None:
        return node
    out: Schema = schema["$defs"][ref.rsplit("/", 1)[-1]]
    return out


def sub_table(schema: Schema, prop: Schema) -> tuple[Schema, bool] | None:
    """(model, is an array of tables) when a key holds a table or [[tables]], else None."""
    if "$ref" in prop:
        return resolve(schema, prop), False
    items = prop.get("items")
    if prop.get("type") == "array" and isinstance(items, dict) and "$ref" in items:
        return resolve(schema, items), True
    return None


def number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def bounds(node: Schema) -> str:
    lo, hi = node.get("minimum"), node.get("maximum")
    if lo is not None and hi is not None:
        return f" {number(lo)} to {number(hi)}"
    if lo is not None:
        return f" ≥ {number(lo)}"
    return f" ≤ {number(hi)}" if hi is not None else ""


def type_of(node: Schema) -> str:
    """A short type for a person: `number 0 to 360`, `"csv" or "ncic"`, `list of string`."""
    if "anyOf" in node:
        kinds = [type_of(n) for n in node["anyOf"] if n.get("type") != "null"]
        return " or ".join(kinds)
    if "enum" in node:
        return " or ".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    kind = node.get("type", "")
    if kind == "array":
        items = node.get("items")
        return f"list of {type_of(items)}" if isinstance(items, dict) else "list"
    if kind == "object":
        extra = node.get("additionalProperties")
        return f"table of {type_of(extra)}" if isinstance(extra, dict) else "table"
    if kind == "string" and node.get("format") in ("path", "date-time", "date"):
        return str(node["format"])
    if kind in ("number", "integer"):
        return kind + bounds(node)
    return str(kind)


def toml_value(value: Any) -> str:
    """A default as it would be written in TOML."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return f"{value:.1f}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def rows(schema: Schema, model: Schema, name: str) -> Iterator[str]:
    required = set(model.get("required", []))
    for key, prop in model.get("properties", {}).items():
        table = sub_table(schema, prop)
        if table is not None:
            child = f"[[{name}.{key}]]" if table[1] else f"[{name}.{key}]"
            kind, default = ("tables " if table[1] else "table ") + f"`{child}`", ""
        else:
            kind = type_of(prop)
            default = "required" if key in required else toml_value(prop.get("default"))
        shown = f"`{default}`" if default and default != "required" else default
        yield f"| `{key}` | {cell(kind)} | {cell(shown)} | {cell(prop.get('description', ''))} |"


def sections(
    schema: Schema, model: Schema, name: str, array: bool, note: str = ""
) -> Iterator[str]:
    """This table's section, then those of the tables inside it, in the order of the keys."""
    title = f"[[{name}]]" if array else f"[{name}]"
    yield f"## `{title}`"
    yield ""
    about = " ".join(x for x in (model.get("description", ""), note) if x)
    if about:
        yield cell(about)
        yield ""
    yield "| key | type | default | description |"
    yield "|---|---|---|---|"
    yield from rows(schema, model, name)
    yield ""
    for key, prop in model.get("properties", {}).items():
        table = sub_table(schema, prop)
        if table is not None:
            # the key's own description is its row above; it stands in for a model without one
            note = "" if table[0].get("description") else prop.get("description", "")
            yield from sections(schema, table[0], f"{name}.{key}", table[1], note)


def markdown(schema: Schema) -> str:
    """The whole reference, one section per table in the order of the file's keys."""
    lines = [INTRO]
    for key, prop in schema.get("properties", {}).items():
        table = sub_table(schema, prop)
        if table is None:
            raise ValueError(f"top-level key {key!r} is not a table")
        lines.extend(sections(schema, table[0], key, table[1], prop.get("description", "")))
    return "\n".join(lines).rstrip("\n") + "\n"


def undocumented(schema: Schema) -> list[str]:
    """`Model.key` of every key without a description, so none is left unexplained."""
    missing = []
    for model_name, model in schema.get("$defs", {}).items():
        for key, prop in model.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{model_name}.{key}")
    return missing
