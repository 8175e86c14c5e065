"""Splitting a byte stream into complete lines with the file offset after each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Line(NamedTuple):  # a tuple: one is made per line, and a frozen dataclass costs 4x more
    data: bytes  # without the trailing newline (and without a trailing \r)
    end: int  # file offset just past what this line consumed
    cut: bool = False  # longer than the limit: only its first max_line_bytes kept


@dataclass(frozen=True)
class Split:
    lines: list[Line]
    consumed: int  # bytes of the chunk consumed; a partial last line is not
    skipping: bool  # inside the dropped rest of a cut line


def split_lines(chunk: bytes, start: int, max_line_bytes: int, skipping: bool = False) -> Split:
    """Complete lines in ``chunk``, read at file offset ``start``.

    A partial last line waits for its newline, unless it is already longer than
    ``max_line_bytes``: then it is emitted cut, and the rest of it up to the next newline
    is skipped (``skipping`` carries that across reads) so one endless line cannot stall
    the file. Blank lines are consumed and yield nothing.
    """
    lines: list[Line] = []
    pos, size = 0, len(chunk)
    if skipping:
        nl = chunk.find(b"\n")
        if nl < 0:
            return Split(lines, size, True)
        pos = nl + 1
    while pos < size:
        nl = chunk.find(b"\n", pos)
        if nl < 0:
            if size - pos > max_line_bytes:
                lines.append(Line(chunk[pos : pos + max_line_bytes], start + size, cut=True))
                return Split(lines, size, True)
            break
        data = chunk[pos:nl]
        if data.endswith(b"\r"):
            data = data[:-1]
        pos = nl + 1
        if len(data) > max_line_bytes:
            lines.append(Line(data[:max_line_bytes], start + pos, cut=True))
        elif data:
            lines.append(Line(data, start + pos))
    return Split(lines, pos, False)
