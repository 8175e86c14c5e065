"""What parsing a JSON line with orjson would lose (pure).

orjson reads an integer beyond 64 bits as a float (a 31-digit id becomes ``1e+30``), a
number with more digits than a double holds is rounded, and of duplicate keys only the last
survives. ``losses`` names each such place, so the agent can keep the line
(``event.original``) or refuse it, and never change a value silently.

Cheap first: a reading with no float, or a line with no long digit run or exponent after
``:``/``[``/``,``, has no lossy number, and a line whose ``":`` count equals the parsed key
count has no duplicate key (an unescaped ``":`` only ends a key). Only a line that fails a
cheap test is decoded again with the standard library, which reports exactly what differs.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

RISKY_NUMBER = re.compile(rb"[:\[,]\s*-?(?:\d[\d.]{15,}|\d[\d.]*[eE])")
KEY_END = re.compile(rb'"\s+:')
U64_MAX = (1 << 64) - 1
I64_MIN = -(1 << 63)


def count_keys(doc) -> tuple[int, bool]:
    """The number of keys in ``doc``, and whether any value is a float."""
    n, floats = 0, False
    stack = [doc]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            n += len(node)
            values = node.values()
        else:
            values = node
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append(value)
            elif kind is float:
                floats = True
    return n, floats


def losses(line: bytes, doc: dict) -> list[str]:
    """Why ``doc`` (orjson's reading of ``line``) is not all of ``line``; [] when it is."""
    return losses_counted(line, *count_keys(doc))


def losses_counted(line: bytes, keys: int, floats: bool) -> list[str]:
    """``losses`` when the caller has counted ``keys`` and seen ``floats`` in orjson's reading
    (``auditseal.formats.storable.repair_counting`` does, in the walk it makes anyway). A lossy
    number is always read as a float: an integer past 64 bits, or a long decimal."""
    keys_written = line.count(b'":') + (len(KEY_END.findall(line)) if b'" ' in line else 0)
    if keys_written == keys and not (floats and RISKY_NUMBER.search(line)):
        return []
    return _exact(line)


def _exact(line: bytes) -> list[str]:
    found: list[str] = []

    def on_int(text: str) -> int:
        value = int(text) if len(text) < 4000 else I64_MIN - 1
        if not I64_MIN <= value <= U64_MAX:
            found.append(f"integer {_short(text)} has more than 64 bits")
        return 0

    def on_float(text: str) -> float:
        try:
            value = float(text)
            exact = Decimal(repr(value)) == Decimal(text)
        except (ValueError, InvalidOperation, OverflowError):
            exact = False
        if not exact:
            found.append(f"number {_short(text)} does not fit a double")
        return 0.0

    def on_object(pairs: list) -> dict:
        seen: set = set()
        for key, _ in pairs:
            if key in seen:
                found.append(f"duplicate key {_short(key)!r}")
            seen.add(key)
        return {}

    try:
        json.loads(line, parse_int=on_int, parse_float=on_float, object_pairs_hook=on_object)
    except (ValueError, RecursionError):
        return found  # orjson read it; the stdlib's limits (depth, size) are not the line's
    return sorted(set(found))


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
