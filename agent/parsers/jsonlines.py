"""``format: json`` — one ECS event per line (see ``normalise.from_json_line``)."""

from __future__ import annotations

from auditseal.errors import Rejected

from ..normalise import from_json_line
from . import Parsed, register


@register("json")
class JsonLines:
    checks_storable = True  # from_json_line applies auditseal.formats.storable to each line

    def __init__(self, config=None):
        self.field_map = (config.field_map if config is not None else None) or {}
        self.keep_original = config.keep_original if config is not None else "lossy"

    def parse(self, lines, source, created, final) -> Parsed:
        out = Parsed(consumed=len(lines))
        for line in lines:
            try:
                if line.cut:
                    raise Rejected("line_too_long", "line longer than max_line_bytes")
                out.events.append(from_json_line(line.data, source, created, self.field_map, self.keep_original))
            except Rejected as exc:
                out.rejected.append((line, exc))
            except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # never the whole file
                out.rejected.append((line, Rejected("bad_event", f"{type(exc).__name__}: {exc}")))
        return out
