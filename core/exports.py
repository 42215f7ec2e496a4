"""The one export sanitiser: what a cell of a CSV or XLSX export may contain so that
opening the file in a spreadsheet never runs user text as a formula (CSV injection).

A cell is dangerous when it starts, after any leading blanks, with a character a
spreadsheet reads as the start of a formula (``= + - @``, their full-width forms, or
a tab/CR/LF that some programs strip first), unless it is a plain number (``-12.5``).
It is also dangerous when any part after a ``;`` ``,`` or tab starts that way: a
Spanish Excel splits an unquoted CSV line on ``;``, so ``a;=HYPERLINK(...)`` would
become a live ``=HYPERLINK`` cell of its own.

CSV: dangerous starts get a leading apostrophe (the convention spreadsheets display
as text). XLSX: the text is written as a string cell (never a formula) with the
same apostrophe at each dangerous start, so both formats carry the same text.
Used by the LAN API's CSV export and the desktop's CSV and XLSX exports.
"""

from __future__ import annotations

import json
import re
from typing import Any

TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
SEPARATORS = re.compile(r"([;,\t])")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BLANKS = " \u00a0\u3000"


def _starts_dangerously(part: str) -> bool:
    stripped = part.lstrip(_BLANKS)
    if not stripped or stripped[0] not in TRIGGERS:
        return False
    return not _NUMBER.match(stripped.strip())


def neutralise(text: str) -> str:
    """``text`` with an apostrophe before each start a spreadsheet would run."""
    if not text:
        return text
    parts = SEPARATORS.split(text)  # [segment, sep, segment, sep, ...]
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0 and _starts_dangerously(part):
            out.append("'" + part)
        else:
            out.append(part)
    return "".join(out)


def is_dangerous(text: str) -> bool:
    return neutralise(text) != text


def csv_cell(value: Any) -> str:
    """A stored value as safe CSV text (None empty, lists and objects as JSON)."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return neutralise(json.dumps(value, ensure_ascii=False))
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(str(value))
