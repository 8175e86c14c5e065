"""Query matching and sorting of the Elasticsearch test server: ``bool``, ``term``,
``terms``, ``range``, ``exists``, ``match`` (text fields), ``match_all``; sort values as Elasticsearch returns them (dates as
epoch milliseconds, ``date_nanos`` as epoch nanoseconds)."""

from __future__ import annotations

import ipaddress
import re

from .model import DataStream, Unsupported, field_values, to_nanos


def field_type(stream: DataStream, path: str) -> str:
    node = {"properties": stream.mapping}
    for part in path.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return stream.dynamic.get(path, "keyword")
    return node.get("type", "object")


def norm(stream, path, value):
    kind = field_type(stream, path)
    if kind == "date":
        return to_nanos(value) // 1_000_000
    if kind == "date_nanos":
        return to_nanos(value)
    if kind == "ip" and isinstance(value, str):
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            return value
    return value


def analysed(text) -> set[str]:
    """The standard analyzer, approximated: lowercased runs of letters, digits and ``_`` (the
    real one keeps some ``.``/``'``-joined words whole, e.g. host names; see docs/admin.md)."""
    return set(re.findall(r"\w+", text.lower())) if isinstance(text, str) else set()


def matches(query: dict, doc: dict, stream: DataStream) -> bool:
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return True
    if kind == "bool":
        unknown = set(spec) - {"filter", "must", "should", "must_not", "minimum_should_match"}
        if unknown:
            raise Unsupported(f"bool {sorted(unknown)}")
        as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
        if not all(matches(q, doc, stream) for q in as_list(spec.get("filter", [])) + as_list(spec.get("must", []))):
            return False
        if any(matches(q, doc, stream) for q in as_list(spec.get("must_not", []))):
            return False
        should = as_list(spec.get("should", []))
        if should:
            need = int(spec.get("minimum_should_match", 1))
            return sum(matches(q, doc, stream) for q in should) >= need
        return True
    if kind in ("term", "terms"):
        ((path, wanted),) = spec.items()
        if kind == "term" and isinstance(wanted, dict):
            wanted = wanted["value"]
        wanted = wanted if kind == "terms" else [wanted]
        have = {norm(stream, path, v) for v in field_values(doc, path)}
        return any(norm(stream, path, w) in have for w in wanted)
    if kind == "range":
        ((path, bounds),) = spec.items()
        if set(bounds) - {"gte", "gt", "lte", "lt"}:
            raise Unsupported(f"range options {sorted(bounds)}")
        for v in field_values(doc, path):
            v = norm(stream, path, v)
            ok = all(
                [
                    ("gte" not in bounds or v >= norm(stream, path, bounds["gte"])),
                    ("gt" not in bounds or v > norm(stream, path, bounds["gt"])),
                    ("lte" not in bounds or v <= norm(stream, path, bounds["lte"])),
                    ("lt" not in bounds or v < norm(stream, path, bounds["lt"])),
                ]
            )
            if ok:
                return True
        return False
    if kind == "exists":
        if set(spec) != {"field"}:
            raise Unsupported(f"exists options {sorted(spec)}")
        return bool(field_values(doc, spec["field"]))
    if kind == "match":
        ((path, opts),) = spec.items()
        opts = opts if isinstance(opts, dict) else {"query": opts}
        if set(opts) - {"query", "operator"} or field_type(stream, path) not in ("text", "match_only_text"):
            raise Unsupported(f"match on {path} with {sorted(opts)}")
        wanted = analysed(opts["query"])
        have = set().union(*(analysed(v) for v in field_values(doc, path))) if field_values(doc, path) else set()
        if opts.get("operator", "or").lower() == "and":
            return bool(wanted) and wanted <= have
        return bool(wanted & have)
    if kind == "ids":
        raise Unsupported("ids query on data streams (use a term query)")
    raise Unsupported(f"query {kind}")


def sort_key(sort: list, d) -> dict:
    _, _, source, stream = d
    values, cmp = [], []
    for spec in sort:
        ((path, opts),) = spec.items() if isinstance(spec, dict) else [(spec, {"order": "asc"})]
        order = opts.get("order", "asc") if isinstance(opts, dict) else opts
        found = field_values(source, path)
        value = norm(stream, path, found[0]) if found else None
        values.append(value)
        cmp.append(_Ordered(value, order == "desc"))
    return {"values": values, "cmp": tuple(cmp)}


def cmp_from_values(sort: list, values: list) -> tuple:
    out = []
    for spec, value in zip(sort, values, strict=False):
        ((_, opts),) = spec.items() if isinstance(spec, dict) else [(spec, {"order": "asc"})]
        order = opts.get("order", "asc") if isinstance(opts, dict) else opts
        out.append(_Ordered(value, order == "desc"))
    return tuple(out)


class _Ordered:
    """A sort value: missing values last, descending flips the comparison."""

    def __init__(self, value, desc: bool):
        self.value, self.desc = value, desc

    def _key(self):
        return (self.value is None, self.value)

    def __lt__(self, other):
        a, b = self._key(), other._key()
        if a[0] != b[0]:
            return not a[0]
        return a[1] > b[1] if self.desc else a[1] < b[1]

    def __gt__(self, other):
        return other < self

    def __eq__(self, other):
        return self._key() == other._key()


def aggregate(aggs: dict, docs: list, stream_of) -> dict:
    """``terms`` (keyword, ``size``, ``order`` by ``_key``) with ``max`` and ``top_hits`` (``size``,
    ``sort``, ``_source`` includes) below it; anything else is refused."""
    out = {}
    for name, spec in aggs.items():
        sub = spec.get("aggs", {})
        kinds = set(spec) - {"aggs"}
        if kinds == {"terms"}:
            t = spec["terms"]
            if set(t) - {"field", "size", "order"} or t.get("order", {"_key": "asc"}) not in ({"_key": "asc"},):
                raise Unsupported(f"terms options {t}")
            groups: dict = {}
            for d in docs:
                for v in field_values(d[2], t["field"]):
                    groups.setdefault(v, []).append(d)
            buckets = []
            for key in sorted(groups)[: int(t.get("size", 10))]:
                bucket = {"key": key, "doc_count": len(groups[key])}
                bucket.update(aggregate(sub, groups[key], stream_of))
                buckets.append(bucket)
            out[name] = {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": buckets}
        elif kinds == {"max"} and not sub:
            values = [v for d in docs for v in field_values(d[2], spec["max"]["field"])]
            out[name] = {"value": float(max(values)) if values else None}
        elif kinds == {"top_hits"} and not sub:
            h = spec["top_hits"]
            if set(h) - {"size", "sort", "_source"}:
                raise Unsupported(f"top_hits options {sorted(h)}")
            ranked = sorted(docs, key=lambda d: sort_key(h.get("sort", []), d)["cmp"])[: int(h.get("size", 3))]
            keep = h.get("_source", True)
            hits = []
            for d in ranked:
                source = d[2] if keep is True else {k: d[2][k] for k in keep if k in d[2]}
                hits.append({"_index": d[0], "_id": d[1], "_source": source})
            out[name] = {"hits": {"total": {"value": len(docs), "relation": "eq"}, "hits": hits}}
        else:
            raise Unsupported(f"aggregation {sorted(kinds)}")
    return out
