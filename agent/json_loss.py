"""What parsing a JSON line with orjson would lose (pure).

orjson reads an integer beyond 64 bits as a float (a 31-digit id becomes ``1e+30``), a
number with more digits than a double holds is rounded, and of duplicate keys only the last
survives. ``losses`` names each such place, so the agent can keep the line
(``event.original``) or refuse it, and never change a value silently.

Cheap first: a line with no long digit run or exponent after ``:``/``[``/``,`` has no lossy
number, and a line whose ``":`` count equals the parsed key count has no duplicate key (an
unescaped ``":`` only ends a key). Only a line that fails a cheap test is decoded again with
the standard library, which reports exactly what differs.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

RISKY_NUMBER = re.compile(rb"[:\[,]\s*-?(?:\d[\d.]{15,}|\d[\d.]*[eE])")
KEY_END = re.compile(rb'"\s+:')
U64_MAX = (1 << 64) - 1
I64_MIN = -(1 << 63)


def count_keys(doc) -> int:
    n = 0
    stack = [doc]
    while stack:
        node = stack.pop()
        values = node.values() if type(node) is dict else node
        if type(node) is dict:
            n += len(node)
        for value in values:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append(value)
    return n


def losses(line: bytes, doc: dict) -> list[str]:
    """Why ``doc`` (orjson's reading of ``line``) is not all of ``line``; [] when it is."""
    risky_numbers = RISKY_NUMBER.search(line) is not None
    keys_written = line.count(b'":') + (len(KEY_END.findall(line)) if b'" ' in line else 0)
    duplicates_possible = keys_written != count_keys(doc)
    if not risky_numbers and not duplicates_possible:
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
