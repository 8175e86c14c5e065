"""Where a sealer keeps its logs' state, seal intents and journal cursor.

``FileState``: files in the sealer's state directory (the embedded default; one host).
``KvState``: a replicated JetStream key-value bucket (a NATS-journal fleet), so any collector
of the fleet can take a partition's sealing over, whichever machine died, and roll its last
seal forward. Every write is a compare-and-set on the revision this sealer last saw: a
sealer that lost its lease and still runs (paused, cut off) cannot write over its successor —
its write is refused (``Fenced``) and it stops, so a chain has one writer even when two
sealers believe they hold it.

Values are the JSON the file layout uses: ``<stem>.log.json`` → key ``p<shard>.log.<stem>``
as ``{"state": …, "intent": … | null}``; ``cursor.json`` → ``p<shard>.cursor``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from auditseal.storage.files import write_atomic

from ..journal.nats_format import escape_token


class Fenced(OSError):
    """Another sealer wrote this partition's state since we read it: we are not its writer."""


class FileState:
    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)

    @property
    def where(self) -> str:
        return f"the state directory {self.dir}"

    def load(self) -> tuple[list[bytes], list[bytes], bytes | None]:
        """(log states, intents, cursor) as stored."""
        self.dir.mkdir(parents=True, exist_ok=True)
        states = [p.read_bytes() for p in sorted(self.dir.glob("*.log.json"))]
        intents = [p.read_bytes() for p in sorted(self.dir.glob("*.intent.json"))]
        cursor = self.dir / "cursor.json"
        return states, intents, cursor.read_bytes() if cursor.exists() else None

    def write_intent(self, stem: str, intent: bytes) -> None:
        write_atomic(self.dir / f"{stem}.intent.json", intent)

    def save(self, stem: str, state: bytes) -> None:
        write_atomic(self.dir / f"{stem}.log.json", state)

    def commit(self, stem: str, state: bytes) -> None:
        """The log's new state saved, then its intent removed."""
        self.save(stem, state)
        self.drop_intent(stem)

    def drop_intent(self, stem: str) -> None:
        (self.dir / f"{stem}.intent.json").unlink(missing_ok=True)

    def save_cursor(self, cursor: bytes) -> None:
        write_atomic(self.dir / "cursor.json", cursor)

    def check(self, stem: str) -> None:
        """One host, one writer (the lock file): nothing to check."""


class KvState:
    """A partition's sealer state in a JetStream key-value bucket. Called from the sealer's
    worker thread; the bucket's calls run on the event loop that owns the connection."""

    def __init__(
        self, bucket, loop: asyncio.AbstractEventLoop, shard: int, timeout: float, seed: FileState | None = None
    ):
        self.bucket = bucket
        self.seed = seed  # a state directory written before the state moved here: imported once
        self.loop = loop
        self.prefix = f"p{shard}."
        self.timeout = timeout
        self.revisions: dict[str, int] = {}  # key → the revision we last read or wrote
        self.values: dict[str, dict] = {}  # log key → {"state", "intent"} as last written

    @property
    def where(self) -> str:
        return f"the sealer-state bucket {getattr(self.bucket, '_name', '?')} (keys {self.prefix}*)"

    def _run(self, coro):
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:  # waiting here for the loop would wait forever
            coro.close()
            raise RuntimeError("KvState is called from the sealer's worker thread, not the event loop")
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout)
        except Fenced:
            raise
        except Exception as exc:  # the bucket unreachable or timed out: the store's health
            raise OSError(f"sealer state: {type(exc).__name__}: {exc}") from None

    def load(self) -> tuple[list[bytes], list[bytes], bytes | None]:
        return self._run(self._load())

    async def _load(self):
        from nats.js.errors import NoKeysError

        self.revisions.clear()
        self.values.clear()
        try:
            keys = [k for k in await self.bucket.keys() if k.startswith(self.prefix)]
        except NoKeysError:
            keys = []
        if not keys and self.seed is not None:
            return await self._import(*self.seed.load())
        states, intents, cursor = [], [], None
        for key in sorted(keys):
            entry = await self.bucket.get(key)
            self.revisions[key] = entry.revision
            if key == self.prefix + "cursor":
                cursor = entry.value
                continue
            value = orjson.loads(entry.value)
            self.values[key] = value
            states += [orjson.dumps(value["state"])] if value.get("state") else []
            intents += [orjson.dumps(value["intent"])] if value.get("intent") else []
        return states, intents, cursor

    async def _import(self, states: list[bytes], intents: list[bytes], cursor: bytes | None):
        """Copy a state directory's logs, intents and cursor into the bucket (first start on it)."""
        by_stem: dict[str, dict] = {}
        for data in states:
            state = orjson.loads(data)
            by_stem.setdefault(_stem(state), {"state": None, "intent": None})["state"] = state
        for data in intents:
            intent = orjson.loads(data)
            by_stem.setdefault(_stem(intent["state"]), {"state": None, "intent": None})["intent"] = intent
        for stem, value in by_stem.items():
            key = self._log_key(stem)
            await self._put(key, orjson.dumps(value))
            self.values[key] = value
        if cursor is not None:
            await self._put(self.prefix + "cursor", cursor)
        return states, intents, cursor

    def _log_key(self, stem: str) -> str:
        return f"{self.prefix}log.{escape_token(stem)}"

    def _write_log(self, stem: str, **change) -> None:
        key = self._log_key(stem)
        value = {**self.values.get(key, {"state": None, "intent": None}), **change}
        self._run(self._put(key, orjson.dumps(value)))
        self.values[key] = value

    async def _put(self, key: str, data: bytes) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            if key in self.revisions:
                self.revisions[key] = await self.bucket.update(key, data, last=self.revisions[key])
            else:
                self.revisions[key] = await self.bucket.create(key, data)
        except KeyWrongLastSequenceError:
            raise Fenced(f"sealer state {key} was written by another sealer; this one stops") from None

    def write_intent(self, stem: str, intent: bytes) -> None:
        self._write_log(stem, intent=orjson.loads(intent))

    def save(self, stem: str, state: bytes) -> None:
        self._write_log(stem, state=orjson.loads(state))

    def commit(self, stem: str, state: bytes) -> None:
        self._write_log(stem, state=orjson.loads(state), intent=None)  # one write: both at once

    def drop_intent(self, stem: str) -> None:
        self._write_log(stem, intent=None)

    def save_cursor(self, cursor: bytes) -> None:
        self._run(self._put(self.prefix + "cursor", cursor))

    def check(self, stem: str) -> None:
        """``Fenced`` unless the log's state is still at the revision we last wrote (read
        right before writing an archive object: a zombie's window shrinks to that write)."""
        self._run(self._check(self._log_key(stem)))

    async def _check(self, key: str) -> None:
        from nats.js.errors import KeyNotFoundError

        try:
            revision = (await self.bucket.get(key)).revision
        except KeyNotFoundError:
            revision = None
        if revision != self.revisions.get(key):
            raise Fenced(f"sealer state {key} was written by another sealer; this one stops")


def _stem(state: dict) -> str:
    """The file stem of a log state (``LogState.file_stem``): ``<tenant>`` or ``<tenant>@<partition>``."""
    partition = state.get("partition", "0")
    return state["tenant"] if partition == "0" else f"{state['tenant']}@{partition}"
