"""Rule evaluation over stored events, in event time (pure; DESIGN.md section 8).

- Time is ``@timestamp`` in ms. A set of events fits a window W when max − min ≤ W (inclusive).
- ``organization.id`` is always the first part of a group key: tenants never combine. An event
  missing a ``group_by`` field is not grouped under "nothing": it is skipped and counted.
- Lateness L: per tenant, an event older than (newest seen − L) is skipped by every rule and
  counted (``late``); it was stored all the same.
- Duplicates (same ``event.id``) never count twice (``duplicates``): the last ``RECENT`` ids
  of each tenant are remembered, and every window and sequence step knows its own events.
- A threshold/distinct window that fires is used up (its events count for no later alert);
  throttle per (rule, group): alerts within ``throttle`` of the last one are suppressed and
  counted.
- Alert id = hash(rule, tenant, group, window start); for per-event kinds (match, first_seen,
  off_hours) the event id is part of the group, so a replay gives the same ids.

``Engine.snapshot()`` is plain JSON data; ``Engine(rules, state=snapshot)`` continues exactly
where it stood (the alert sink stores it with its journal cursor).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import hashlib
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable
from zoneinfo import ZoneInfo

from auditseal.errors import Rejected
from auditseal.formats.event import format_ts, parse_ts

from . import model

RECENT = 4096  # event ids remembered per tenant for dedupe (beyond: each window's own ids)
PER_EVENT = frozenset({"match", "first_seen", "off_hours"})
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
MISSING = object()


def alert_id(rule: str, tenant: str, group: str, window_start: str) -> str:
    return hashlib.sha256("\x00".join([rule, tenant, group, window_start]).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule: str
    kind: str
    severity: str
    tenant: str
    group: list[str]  # the group key's values after the tenant
    window_start: str  # ISO UTC
    at: str  # event time of the event that fired it
    events: list[str]  # event ids that make it
    summary: str
    context: dict = field(default_factory=dict)  # per-event kinds: what the event said

    def to_json(self) -> dict:
        return asdict(self)


EVIDENCE = ("event.action", "event.outcome", "user.name", "source.ip", "host.name", "message", "labels")


def evidence(doc: dict) -> dict:
    """The fields of an alert's one event worth showing with it (bounded in size)."""
    out = {}
    for path in EVIDENCE:
        value = getter(path)(doc)
        if value is MISSING or value is None:
            continue
        if isinstance(value, str):
            value = value[:1000]
        elif isinstance(value, dict):
            value = {str(k)[:100]: v for k, v in list(value.items())[:20] if isinstance(v, (str, int, float, bool))}
        elif not isinstance(value, (int, float, bool)):
            continue
        out[path] = value
    return out


def field_value(doc: dict, path: str) -> Any:
    """``a.b.c`` through nested objects (or a flat dotted key); MISSING when absent."""
    return getter(path)(doc)


def _typed(value: Any):
    """Equal values of the same kind only: true is not 1, "1" is not 1 (1 and 1.0 are equal)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    return None  # objects, lists, null: equal to no condition value


@functools.lru_cache(maxsize=4096)
def getter(path: str) -> Callable[[dict], Any]:
    parts = path.split(".")
    if len(parts) == 2:  # the common case (event.action, source.ip), unrolled
        first, second = parts

        def get2(doc: dict) -> Any:
            if path in doc:
                return doc[path]
            node = doc.get(first, MISSING)
            if type(node) is not dict:
                return MISSING
            return node.get(second, MISSING)

        return get2

    def get(doc: dict) -> Any:
        if path in doc:
            return doc[path]
        node: Any = doc
        for part in parts:
            if type(node) is not dict:
                return MISSING
            node = node.get(part, MISSING)
            if node is MISSING:
                return MISSING
        return node

    return get


def _condition(get: Callable[[dict], Any], cond) -> Callable[[dict], bool]:
    """One field's condition: equal to a value (or any of a list), or contained in a list field."""
    values = cond if isinstance(cond, list) else [cond]
    wanted = frozenset(t for t in map(_typed, values) if t is not None)
    strings = frozenset(v for kind, v in wanted if kind == "s")
    if len(strings) == len(wanted):  # strings only: no typing per value

        def check_strings(doc: dict) -> bool:
            value = get(doc)
            kind = type(value)
            if kind is str:
                return value in strings
            if kind is list:
                for v in value:  # a loop, not any(genexpr): this is the hottest line
                    if type(v) is str and v in strings:
                        return True
            return False

        return check_strings

    def check(doc: dict) -> bool:
        value = get(doc)
        if isinstance(value, list):
            return any(_typed(v) in wanted for v in value)
        return _typed(value) in wanted

    return check


def compile_where(where: dict) -> Callable[[dict], bool]:
    """``where`` as one predicate over a document (built once per rule)."""
    checks: list[Callable[[dict], bool]] = []
    for path, cond in where.items():
        get = getter(path)
        if isinstance(cond, model.Exists):

            def exists(doc: dict, get=get, want: bool = cond.exists) -> bool:
                return (get(doc) not in (MISSING, None)) == want

            checks.append(exists)
            continue
        checks.append(_condition(get, cond))
    if not checks:
        return lambda doc: True
    if len(checks) == 1:
        return checks[0]

    def every(doc: dict) -> bool:
        for check in checks:
            if not check(doc):
                return False
        return True

    return every


# Fields whose string values index the rules: an event is offered only to the rules whose
# filter could admit it (the filter still decides).
INDEX_FIELDS = ("event.action", "event.category", "event.outcome", "user.roles")


def _index_entry(where: dict) -> tuple[int, frozenset[str]] | None:
    """The first index field a filter names with string values only, and those values."""
    for number, path in enumerate(INDEX_FIELDS):
        cond = where.get(path)
        if cond is None or isinstance(cond, model.Exists):
            continue
        values = cond if isinstance(cond, list) else [cond]
        if all(isinstance(v, str) for v in values):
            return number, frozenset(values)
    return None


def _strings(value: Any) -> tuple:
    if type(value) is str:
        return (value,)
    if type(value) is list:
        return tuple(v for v in value if type(v) is str)
    return ()


def _key_part(value: Any) -> str | None:
    if value is MISSING or value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _holds(entries: list, ts: int, event_id: str) -> bool:
    """Whether a time-sorted ``[ts, id, ...]`` list has this event already."""
    at = bisect.bisect_left(entries, [ts])
    while at < len(entries) and entries[at][0] == ts:
        if entries[at][1] == event_id:
            return True
        at += 1
    return False


EPOCH_ORDINAL = EPOCH.toordinal()


def to_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch, floored (integer arithmetic: a timedelta division costs
    more than the rest of an event's evaluation)."""
    offset = moment.utcoffset()
    seconds = (moment.toordinal() - EPOCH_ORDINAL) * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    micros = seconds * 1_000_000 + moment.microsecond
    if offset:
        micros -= (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds
    return micros // 1000


def iso(ms: int) -> str:
    return format_ts(EPOCH + dt.timedelta(milliseconds=ms))


class Engine:
    def __init__(
        self,
        rules: list,
        lateness_ms: int = 300_000,
        tz_of: Callable[[str], str] | None = None,
        state: dict | None = None,
    ):
        self.rules = [r for r in rules if r.enabled]
        self._where = {r.name: compile_where(r.where) for r in self.rules}
        self._steps = {
            r.name: [compile_where(step.where) for step in r.steps] for r in self.rules if r.kind == "sequence"
        }
        # Rules by the index field values they admit; the rest see every event.
        self._indexed: list[dict[str, set[int]]] = [{} for _ in INDEX_FIELDS]
        self._always: list[int] = []
        for number, rule in enumerate(self.rules):
            wheres = [step.where for step in rule.steps] if rule.kind == "sequence" else [rule.where]
            entries = [_index_entry(w) for w in wheres]
            if any(e is None for e in entries):
                self._always.append(number)
                continue
            for field_number, values in entries:  # type: ignore[misc]
                for value in values:
                    self._indexed[field_number].setdefault(value, set()).add(number)
        self._index_getters = [getter(path) for path in INDEX_FIELDS]
        self._candidates: dict[Any, list] = {}
        self.lateness = lateness_ms
        self.tz_of = tz_of or (lambda tenant: "UTC")
        self._zones: dict[str, ZoneInfo] = {}
        self.stats: Counter = Counter()  # (counter, rule or "") → n
        state = state or {}
        self.newest: dict[str, int] = dict(state.get("newest", {}))  # tenant → newest ms
        # OrderedDict: dropping the oldest id is O(1) (a dict's first key is not, after many deletes)
        self.seen: dict[str, OrderedDict[str, int]] = {t: OrderedDict(v) for t, v in state.get("seen", {}).items()}
        self.throttles: dict[str, int] = dict(state.get("throttles", {}))  # rule\x1fgroup → until ms
        self._throttle_limit = max(4096, 2 * len(self.throttles))
        self.windows: dict[str, dict[str, list]] = {  # rule → group → sorted [ts, id, value]
            r: {g: [list(e) for e in entries] for g, entries in groups.items()}
            for r, groups in state.get("windows", {}).items()
        }
        self.history: dict[str, dict[str, dict[str, int]]] = {  # rule → group → value → last ms
            r: {g: dict(v) for g, v in groups.items()} for r, groups in state.get("history", {}).items()
        }

    # -- state -----------------------------------------------------------------------------
    def snapshot(self) -> dict:
        return {
            "version": 1,
            "newest": self.newest,
            "seen": self.seen,
            "throttles": self.throttles,
            "windows": self.windows,
            "history": self.history,
        }

    # -- evaluation --------------------------------------------------------------------------
    def process(self, doc: dict) -> list[Alert]:
        """The alerts ``doc`` fires (each rule at most once)."""
        tenant = _key_part(field_value(doc, "organization.id"))
        event_id = _key_part(field_value(doc, "event.id"))
        try:
            ts = to_ms(parse_ts(doc["@timestamp"]))
        except (KeyError, TypeError, Rejected):
            self.stats["unusable", ""] += 1
            return []
        if tenant is None or event_id is None:
            self.stats["unusable", ""] += 1
            return []
        newest = max(self.newest.get(tenant, ts), ts)
        self.newest[tenant] = newest
        horizon = newest - self.lateness
        if ts < horizon:
            self.stats["late", ""] += 1
            return []
        seen = self.seen.get(tenant)
        if seen is None:
            seen = self.seen[tenant] = OrderedDict()
        if event_id in seen:
            self.stats["duplicates", ""] += 1
            return []
        seen[event_id] = ts
        if len(seen) > RECENT:  # the oldest goes; windows still know their own events
            seen.popitem(last=False)
        out = []
        key = tuple(_strings(get(doc)) for get in self._index_getters)
        candidates = self._candidates.get(key)
        if candidates is None:
            numbers = set(self._always)
            for by_value, values in zip(self._indexed, key, strict=True):
                for value in values:
                    numbers |= by_value.get(value, set())
            candidates = [self.rules[n] for n in sorted(numbers)]
            if len(self._candidates) < 10_000:  # combinations are few; a flood of odd ones is not cached
                self._candidates[key] = candidates
        for rule in candidates:
            self.stats["evaluations", rule.name] += 1
            alert = self._evaluate(rule, doc, tenant, event_id, ts, horizon)
            if alert is not None:
                out.append(replace(alert, context=evidence(doc)) if rule.kind in PER_EVENT else alert)
        return out

    def _group(self, rule, doc: dict, tenant: str) -> list[str] | None:
        parts = [_key_part(field_value(doc, f)) for f in rule.group_by]
        if any(p is None for p in parts):
            self.stats["missing_group", rule.name] += 1
            return None
        return [tenant, *parts]  # type: ignore[list-item]

    def _evaluate(self, rule, doc, tenant, event_id, ts, horizon) -> Alert | None:
        if rule.kind == "sequence":
            return self._sequence(rule, doc, tenant, event_id, ts, horizon)
        if not self._where[rule.name](doc):
            return None
        self.stats["matches", rule.name] += 1
        group = self._group(rule, doc, tenant)
        if group is None:
            return None
        if rule.kind == "match":
            message = doc.get("message")
            what = message[:500] if isinstance(message, str) and message else f"matching event {event_id}"
            return self._fire_one(rule, group, event_id, ts, f"{rule.name}: {what}")
        if rule.kind == "off_hours":
            return self._off_hours(rule, group, tenant, event_id, ts)
        if rule.kind == "first_seen":
            return self._first_seen(rule, doc, group, event_id, ts, horizon)
        value = None
        if rule.kind == "distinct":
            value = _key_part(field_value(doc, rule.field))
            if value is None:
                self.stats["missing_group", rule.name] += 1
                return None
        return self._window(rule, group, event_id, ts, value, horizon)

    def _window(self, rule, group, event_id, ts, value, horizon) -> Alert | None:
        key = "\x1f".join(group)
        entries = self.windows.setdefault(rule.name, {}).setdefault(key, [])
        if _holds(entries, ts, event_id):
            self.stats["duplicates", rule.name] += 1
            return None
        bisect.insort(entries, [ts, event_id, value])
        found = None
        times = [e[0] for e in entries]
        for start_at in range(bisect.bisect_left(times, ts - rule.window), bisect.bisect_right(times, ts)):
            start = times[start_at]
            inside = entries[start_at : bisect.bisect_right(times, start + rule.window)]
            if not any(e[1] == event_id for e in inside):
                continue
            size = len(inside) if rule.kind == "threshold" else len({e[2] for e in inside})
            if size >= rule.count:
                found = (start, inside)
                break
        # What no later non-late event can share a window with is dropped.
        entries[:] = [e for e in entries if e[0] >= horizon - rule.window]
        if found is None:
            if not entries:
                del self.windows[rule.name][key]
            return None
        start, inside = found
        used = {e[1] for e in inside}
        entries[:] = [e for e in entries if e[1] not in used]  # a window that fired is used up
        last = max(e[0] for e in inside)
        what = (
            f"{len(inside)} events"
            if rule.kind == "threshold"
            else f"{len({e[2] for e in inside})} distinct {rule.field}"
        )
        return self._fire(
            rule,
            group,
            [e[1] for e in inside],
            start,
            last,
            f"{rule.name}: {what} within {rule.window // 1000}s for {', '.join(group)}",
        )

    def _sequence(self, rule, doc, tenant, event_id, ts, horizon) -> Alert | None:
        state = self.windows.setdefault(rule.name, {})
        fired = None
        keys: list[tuple[int, str]] = []
        for number, step in enumerate(rule.steps):
            if not self._steps[rule.name][number](doc):
                continue
            key = _key_part(field_value(doc, step.key))
            if key is None:
                self.stats["missing_group", rule.name] += 1
                continue
            self.stats["matches", rule.name] += 1
            keys.append((number, key))
            keys.append((1 - number, key))
            group_key = "\x1f".join([tenant, key])
            mine = state.setdefault(f"{number}\x1e{group_key}", [])
            other = state.get(f"{1 - number}\x1e{group_key}", [])
            # Step 1 at a, step 2 at b: a ≤ b ≤ a + W.
            lo, hi = (ts, ts + rule.window) if number == 0 else (ts - rule.window, ts)
            partner = next(
                (e for e in (other if number == 0 else reversed(other)) if lo <= e[0] <= hi and e[1] != event_id), None
            )
            if _holds(mine, ts, event_id):
                self.stats["duplicates", rule.name] += 1
            elif partner is None or fired is not None:
                bisect.insort(mine, [ts, event_id, None])
            else:
                other.remove(partner)
                first, second = (ts, partner[0]) if number == 0 else (partner[0], ts)
                ids = [event_id, partner[1]] if number == 0 else [partner[1], event_id]
                fired = self._fire(
                    rule,
                    [tenant, key],
                    ids,
                    first,
                    second,
                    f"{rule.name}: step 2 {(second - first) // 1000}s after step 1 for {key}",
                )
        # Entries no later non-late event can pair with: the touched keys now, all of them now and then.
        touched = {f"{n}\x1e{tenant}\x1f{k}" for n, k in keys}
        sweep = self.stats["evaluations", rule.name] % 4096 == 0
        for name in list(state) if sweep else [t for t in touched if t in state]:
            state[name] = [e for e in state[name] if e[0] >= horizon - rule.window]
            if not state[name]:
                del state[name]
        return fired

    def _first_seen(self, rule, doc, group, event_id, ts, horizon) -> Alert | None:
        value = _key_part(field_value(doc, rule.field))
        if value is None:
            self.stats["missing_group", rule.name] += 1
            return None
        key = "\x1f".join(group)
        known = self.history.setdefault(rule.name, {}).setdefault(key, {})
        last = known.get(value)
        new_group = not known
        known[value] = max(last or ts, ts)
        for v in [v for v, t in known.items() if t < horizon - rule.history]:
            del known[v]
        if last is not None and last >= ts - rule.history:
            return None  # seen within the history (or later: out of order)
        if new_group and not rule.alert_on_new_group:
            return None  # learning this group's first value
        return self._fire_one(
            rule, group, event_id, ts, f"{rule.name}: {rule.field}={value} not seen for {', '.join(group)} before"
        )

    def _off_hours(self, rule, group, tenant, event_id, ts) -> Alert | None:
        zone = self._zones.get(tenant)
        if zone is None:
            zone = self._zones[tenant] = ZoneInfo(self.tz_of(tenant))
        local = (EPOCH + dt.timedelta(milliseconds=ts)).astimezone(zone)
        start, end = rule.hours.split("-")
        clock = f"{local.hour:02d}:{local.minute:02d}"
        if model.DAYS[local.weekday()] in rule.days and start <= clock < end:
            return None
        return self._fire_one(
            rule,
            group,
            event_id,
            ts,
            f"{rule.name}: at {local.isoformat(timespec='minutes')} "
            f"({zone.key}), outside {rule.hours} {'/'.join(rule.days)}",
        )

    def _fire_one(self, rule, group, event_id, ts, summary) -> Alert | None:
        """An alert of one event (match, first_seen, off_hours): its id is part of the group."""
        return self._fire(rule, group, [event_id], ts, ts, summary, event_id)

    def _fire(self, rule, group, ids, start, last, summary, own_id=None) -> Alert | None:
        key = "\x1f".join(group)
        throttle_key = f"{rule.name}\x1f{key}"
        until = self.throttles.get(throttle_key)
        if until is not None and last < until:
            self.stats["suppressed", rule.name] += 1
            return None
        if rule.throttle:
            self.throttles[throttle_key] = last + rule.throttle
            if len(self.throttles) > self._throttle_limit:  # ended throttles are forgotten
                self.throttles = {k: u for k, u in self.throttles.items() if u > last}
                # Many still running: prune again only when they have doubled (amortised O(1)).
                self._throttle_limit = max(4096, 2 * len(self.throttles))
        self.stats["alerts", rule.name] += 1
        group_id = key if own_id is None else f"{key}\x1f{own_id}"
        return Alert(
            alert_id(rule.name, group[0], group_id, iso(start)),
            rule.name,
            rule.kind,
            rule.severity,
            group[0],
            group[1:],
            iso(start),
            iso(last),
            ids,
            summary,
        )
