"""The JSON Schema of the sync wire, for people and other clients.

``python -m core.sync.wire_schema`` writes ``docs/sync-wire.schema.json`` from
``core.sync.wire``; a test fails while the committed file differs from what this
produces, so the document never drifts from the code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from core.sync import wire

DOC_PATH = Path("docs") / "sync-wire.schema.json"
_REF = "#/$defs/{model}"


def wire_schema() -> dict[str, Any]:
    """One JSON Schema (2020-12) document: every message under ``$defs``, and the
    document itself valid for any one of them."""
    defs: dict[str, Any] = {}
    for name, message in wire.MESSAGES.items():
        schema = TypeAdapter(message).json_schema(ref_template=_REF)
        defs.update(schema.pop("$defs", {}))
        if schema.get("$ref") != _REF.format(model=name):
            defs[name] = schema  # a union (OpResult): its own definition
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:structura:sync-wire",
        "title": "Structura sync wire",
        "description": (
            f"Messages between a site's sync agent and the central server, schema version "
            f"{wire.SCHEMA_VERSION} (sent in the {wire.SCHEMA_HEADER} header; servers accept "
            f"{wire.MIN_SCHEMA_VERSION}..{wire.SCHEMA_VERSION}). Generated from "
            "core/sync/wire.py by `python -m core.sync.wire_schema`."
        ),
        "x-schema-version": wire.SCHEMA_VERSION,
        "anyOf": [{"$ref": _REF.format(model=name)} for name in wire.MESSAGES],
        "$defs": dict(sorted(defs.items())),
    }


def render() -> str:
    return json.dumps(wire_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DOC_PATH
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
