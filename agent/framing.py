"""Syslog over a byte stream (RFC 6587): octet counting or LF framing, told apart per
message (a frame starting with a digit is ``<length> <message>``; otherwise it runs to LF).

``Framer`` is pure: feed it bytes as they arrive, take complete messages out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Frame:
    data: bytes
    cut: bool = False  # longer than the limit: only the first max_bytes kept


class FramingError(Exception):
    """The stream cannot be framed any more (a bad or oversized octet count)."""


class Framer:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skipping = False  # inside the dropped rest of an over-long LF frame
        self._skip_bytes = 0  # the dropped rest of an over-long octet-counted frame

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while self._buffer:
            if self._skip_bytes:
                drop = min(self._skip_bytes, len(self._buffer))
                del self._buffer[:drop]
                self._skip_bytes -= drop
                continue
            if self._skipping:
                nl = self._buffer.find(b"\n")
                if nl < 0:
                    self._buffer.clear()
                    break
                del self._buffer[: nl + 1]
                self._skipping = False
                continue
            first = self._buffer[0]
            if 0x30 <= first <= 0x39:  # octet counting
                space = self._buffer.find(b" ", 0, 12)
                if space < 0:
                    if len(self._buffer) >= 12:
                        raise FramingError("octet count without a space after it")
                    break
                try:
                    length = int(self._buffer[:space])
                except ValueError as exc:
                    raise FramingError("malformed octet count") from exc
                if length > self.max_bytes:
                    # Keep the first max_bytes, flagged as cut; drop the rest as it arrives.
                    if len(self._buffer) < space + 1 + self.max_bytes:
                        break
                    frames.append(Frame(bytes(self._buffer[space + 1 : space + 1 + self.max_bytes]), cut=True))
                    taken = min(len(self._buffer), space + 1 + length)
                    self._skip_bytes = space + 1 + length - taken
                    del self._buffer[:taken]
                    continue
                end = space + 1 + length
                if len(self._buffer) < end:
                    break
                frames.append(Frame(bytes(self._buffer[space + 1 : end])))
                del self._buffer[:end]
                continue
            nl = self._buffer.find(b"\n")
            if nl < 0:
                if len(self._buffer) > self.max_bytes:
                    frames.append(Frame(bytes(self._buffer[: self.max_bytes]), cut=True))
                    self._buffer.clear()
                    self._skipping = True
                break
            message = bytes(self._buffer[:nl]).rstrip(b"\r")
            del self._buffer[: nl + 1]
            if len(message) > self.max_bytes:
                frames.append(Frame(message[: self.max_bytes], cut=True))
            elif message:
                frames.append(Frame(message))
        return frames

    def pending(self) -> bytes:
        return bytes(self._buffer)
