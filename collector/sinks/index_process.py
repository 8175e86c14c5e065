"""The SQLite index in a process of its own: the collector's second core.

The collector is one Python process: ingest, the sealer, the alert rules and the index share
one GIL, and indexing fell behind what ingest acknowledged (docs/performance.md). Here the
collector keeps the sink runner, the cursor bookkeeping and the quarantine; the worker process
(``python -m collector.sinks.index_process FD PATH``) materialises the events, builds the rows
and writes them with ``SqliteIndex`` — so the events are decoded there, not in the collector.

Protocol over a socket pair (``multiprocessing.connection``, pickled tuples; both ends are
this program):

- collector → worker: ``("open",)``, ``("process", [Entry…], end, replay)``,
  ``("retry", [(meta, line)…])``, ``("close",)``
- worker → collector: ``("ok", result)``, ``("unavailable", message, retry_after)``,
  ``("halt", message)``, ``("defect", message, traceback)``; and, inside a transaction, before
  it commits, ``("quarantine", cursor, meta, line, error_type, error)``, which the collector
  answers ``("ok",)`` once the quarantine holds it, or ``("failed", message)``.

One batch is in flight at a time (``IndexProcess``): the collector reads and sends the next
while the worker stores the last. The worker dies with its pipe: the collector sees it as
``SinkUnavailable`` with the cursor to replay from (rows are idempotent), and the next call
starts a new worker. The worker ignores SIGINT and SIGTERM, which a terminal or systemd sends
the whole group: it stops when the collector closes it, after the collector's own orderly stop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NoReturn

from auditseal.errors import Halt

from ..journal import BatchMeta, Cursor
from .base import Batch, SinkUnavailable
from .quarantine import Quarantine
from .sqlite_index import SqliteIndex

CLOSE_WAIT = 10.0  # seconds a closing worker is given before it is killed


class Relayed(Exception):
    """An event the worker set aside, as the collector quarantines it: the worker's reason."""

    def __init__(self, type_name: str, message: str):
        super().__init__(message)
        self.type_name = type_name


class IndexWorkerDefect(RuntimeError):
    """The worker raised something no sink should (its traceback is in the message)."""

    def __init__(self, message: str, replay_from: Cursor | None = None):
        super().__init__(message)
        self.replay_from = replay_from  # the runner replays from here, as after SinkUnavailable


class IndexProcess:
    """The ``Sink`` the runner drives; the work happens in the worker process.

    One batch is in flight: ``process`` hands the worker a batch and returns while it stores
    it, so the collector reads and sends the next meanwhile. It returns the cursor the index
    has durably recorded (the journal keeps what lies after it), and the next call (or
    ``checkpoint``, when the runner is caught up) collects the answer; a batch that failed
    makes that call raise with ``replay_from`` = the durable cursor, and the runner replays."""

    name = "index"

    def __init__(self, path: Path, quarantine: Quarantine | None = None):
        self.path = Path(path)
        self.quarantine = quarantine
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # one call at a time: the runner's and a quarantine retry
        self._durable: Cursor | None = None  # what the index holds up to, as far as answered
        self._in_flight: Cursor | None = None  # the end of the batch sent and not yet answered
        self._failure: Exception | None = None  # the batch in flight failed; not yet raised to the runner

    # -- the sink port ----------------------------------------------------------------------
    def open(self) -> Cursor | None:
        with self._lock:
            self._stop()  # opening again (after a failure) starts afresh
            self._failure = None
            self._durable = self._started()
            return self._durable

    def process(self, batch: Batch) -> Cursor | None:
        with self._lock:
            self._settle()
            if self._conn is None:
                self._started()
            if self._durable is None:  # nothing stored yet: all before this batch is the journal's
                self._durable = batch.entries[0].cursor
            self._send(("process", batch.entries, batch.end, batch.replay))
            self._in_flight = batch.end
            return self._durable

    def checkpoint(self) -> Cursor | None:
        """The runner is caught up: the batch in flight answered, and what is durable."""
        with self._lock:
            self._settle()
            return self._durable

    def retry(self, items: list[tuple[BatchMeta, bytes]]) -> list[str]:
        with self._lock:
            try:
                self._settle()
            except (SinkUnavailable, IndexWorkerDefect) as exc:
                # Raised again by the runner's next call, which replays from its replay_from
                # (a quarantine retry failing is only logged).
                self._failure = exc
                raise
            if self._conn is None:
                self._started()
            self._send(("retry", items))
            return self._answer()

    def close(self) -> None:
        with self._lock:
            try:
                self._settle()
            except (SinkUnavailable, Halt, IndexWorkerDefect):
                pass  # stopping: the runner replays it at the next start
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    # -- the worker -------------------------------------------------------------------------
    def _started(self) -> Cursor | None:
        ours, theirs = socket.socketpair()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(self.path)],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            ours.close()
            raise SinkUnavailable(f"SQLite index: cannot start its worker process: {exc}") from exc
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._send(("open",))
        return self._answer()

    def _settle(self) -> None:
        """Collect the answer for the batch in flight; raise, to replay from the durable
        cursor, when it was not stored."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if self._in_flight is None:
            return
        end, self._in_flight = self._in_flight, None
        self._answer()
        self._durable = end

    def _send(self, message: tuple) -> None:
        assert self._conn is not None
        try:
            self._conn.send(message)
        except OSError as exc:
            self._ended(exc)

    def _answer(self):
        assert self._conn is not None
        try:
            while (reply := self._conn.recv())[0] == "quarantine":
                self._conn.send(self._quarantine(*reply[1:]))
        except (EOFError, OSError) as exc:
            self._ended(exc)
        kind = reply[0]
        if kind == "ok":
            return reply[1]
        if kind == "unavailable":
            raise SinkUnavailable(reply[1], reply[2], replay_from=self._durable)
        if kind == "halt":
            raise Halt(reply[1])
        raise IndexWorkerDefect(f"{reply[1]}\n{reply[2]}", replay_from=self._durable)

    def _ended(self, exc: BaseException) -> NoReturn:
        self._in_flight = None
        code = self._stop()
        raise SinkUnavailable(
            f"SQLite index {self.path}: its worker process ended ({code}); restarting it", replay_from=self._durable
        ) from exc

    def _quarantine(self, cursor: Cursor, meta: BatchMeta, line: bytes, type_name: str, error: str) -> tuple:
        if self.quarantine is None:  # the worker only relays when the collector has one
            return ("failed", "no quarantine")
        try:
            self.quarantine.add(cursor, meta, line, Relayed(type_name, error))
        except OSError as exc:  # its disk: the worker rolls back and the batch is retried
            return ("failed", f"{type(exc).__name__}: {exc}")
        return ("ok",)

    def _stop(self) -> int | None:
        """Close the worker (asked, then killed); its exit code."""
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        self._in_flight = None
        if conn is not None:
            try:
                if proc is not None and proc.poll() is None:
                    conn.send(("close",))
                    conn.recv()
            except (EOFError, OSError):
                pass
            conn.close()
        if proc is None:
            return None
        try:
            return proc.wait(CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


# -- the worker process's side --------------------------------------------------------------
class _RelayQuarantine:
    """What ``SqliteIndex`` quarantines goes to the collector, which answers once it holds it."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def add(self, cursor: Cursor, meta: BatchMeta, line: bytes, exc: BaseException) -> None:
        self.conn.send(("quarantine", cursor, meta, bytes(line), type(exc).__name__, str(exc)))
        answer = self.conn.recv()
        if answer[0] != "ok":
            raise OSError(f"the collector could not quarantine an event: {answer[1]}")


def _answer(index: SqliteIndex, message: tuple):
    op = message[0]
    if op == "open":
        return index.open()
    if op == "process":
        _, entries, end, replay = message
        index.process(Batch(entries, end, replay))
        return None
    if op == "retry":
        return index.retry(message[1])
    raise ValueError(f"unknown request {op!r}")


def serve(conn: Connection, path: Path) -> None:
    index = SqliteIndex(path, _RelayQuarantine(conn))  # type: ignore[arg-type]
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the collector is gone
            if message[0] == "close":
                index.close()
                with contextlib.suppress(OSError):
                    conn.send(("ok", None))
                return
            try:
                reply: tuple = ("ok", _answer(index, message))
            except SinkUnavailable as exc:
                reply = ("unavailable", str(exc), exc.retry_after)
            except Halt as exc:
                reply = ("halt", str(exc))
            except (EOFError, BrokenPipeError, ConnectionResetError):
                return  # the collector went away mid-call: the open transaction rolls back
            except Exception as exc:
                reply = ("defect", f"{type(exc).__name__}: {exc}", traceback.format_exc())
            try:
                conn.send(reply)
            except OSError:
                return
    finally:
        index.close()


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd, path = int(argv[0]), Path(argv[1])
    os.set_inheritable(fd, False)
    serve(Connection(fd), path)


if __name__ == "__main__":
    main(sys.argv[1:])
