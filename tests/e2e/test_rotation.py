"""Rotation under load: a writer at 10,000 numbered lines/s for 60 s, rotating every 5 s,
and every test ends by counting at the collector: no line lost, none duplicated.
(``AUDITSEAL_ROTATION_SECONDS`` shortens a local run; `make test` uses 60.)"""

import os
import shutil
import subprocess
import threading
import time

import orjson
import pytest
import yaml

from tests.harness import Pipeline, assert_exactly_once, wait_for

pytestmark = pytest.mark.timeout(900)

RATE = 10_000
SECONDS = int(os.environ.get("AUDITSEAL_ROTATION_SECONDS", "60"))
EVERY = 5.0


def line(n: int) -> bytes:
    return (
        orjson.dumps(
            {"event": {"action": "rotation_test", "category": ["file"]}, "labels": {"n": n}, "message": f"line {n:08d}"}
        )
        + b"\n"
    )


class Writer(threading.Thread):
    """Appends numbered lines at RATE/s to ``path`` (O_APPEND), calling ``rotate`` every
    EVERY seconds with the writer paused, like a logrotate run between two writes."""

    def __init__(self, path, rotate=None, seconds=SECONDS, start=0):
        super().__init__(daemon=True)
        self.path, self.rotate, self.seconds, self.n = path, rotate, seconds, start
        self.rotations = 0
        self.error = None

    def _open(self):
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def run(self):
        try:
            fd = self._open()
            began = next_rotation = time.monotonic()
            next_rotation += EVERY
            step = RATE // 100
            while time.monotonic() - began < self.seconds:
                os.write(fd, b"".join(line(i) for i in range(self.n, self.n + step)))
                self.n += step
                if self.rotate and time.monotonic() >= next_rotation:
                    if self.rotate(self) == "reopen":
                        os.close(fd)
                        fd = self._open()
                    self.rotations += 1
                    next_rotation += EVERY
                lag = began + self.n / RATE - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
            os.close(fd)
        except Exception as exc:  # surfaced by the test
            self.error = exc


def pipeline_for(tmp_path, paths, close_inactive=None):
    pipe = Pipeline(tmp_path / "pipe")
    config = yaml.safe_load(pipe.setup.agent_config.read_text())
    config["inputs"][0]["paths"] = [str(p) for p in paths]
    if close_inactive:
        config["inputs"][0]["close_inactive"] = close_inactive
    pipe.setup.agent_config.write_text(yaml.safe_dump(config))
    return pipe


def finish(pipe, writer, total):
    writer.join()
    assert writer.error is None, writer.error
    pipe.wait_indexed(total, timeout=300)
    time.sleep(2)
    assert_exactly_once(pipe.index_rows(), range(total))


def run_rotating(tmp_path, paths, app, rotate, close_inactive=None) -> Writer:
    """A pipeline tailing ``paths`` while a writer fills ``app`` and rotates it every 5 s."""
    pipe = pipeline_for(tmp_path, paths, close_inactive)
    try:
        pipe.start_collector()
        pipe.start_agent()
        writer = Writer(app, rotate)
        writer.start()
        finish(pipe, writer, writer.seconds * RATE)
        assert writer.rotations >= SECONDS // EVERY - 1
        return writer
    finally:
        pipe.stop()


@pytest.fixture
def logs(tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    return d


def test_rename_rotation_every_5s(tmp_path, logs):
    app = logs / "app.log"

    def rotate(w):
        os.rename(app, logs / f"app.log.{w.rotations + 1}")  # outside the glob: drained, released
        return "reopen"

    run_rotating(tmp_path, [app], app, rotate)


def test_copytruncate_every_5s_with_the_copy_in_the_glob(tmp_path, logs):
    app, copy = logs / "app.log", logs / "app.log.1"

    def rotate(w):
        shutil.copyfile(app, copy)
        os.truncate(app, 0)

    run_rotating(tmp_path, [app, copy], app, rotate)


def test_truncation_while_the_agent_is_stopped_then_two_restarts(tmp_path, logs):
    app = logs / "app.log"
    pipe = pipeline_for(tmp_path, [app])
    spooled = lambda: pipe.agent_metric("auditseal_agent_events_spooled_total")  # noqa: E731
    try:
        pipe.start_collector()
        pipe.start_agent()
        first = Writer(app, seconds=SECONDS // 3)
        first.start()
        first.join()
        wait_for(lambda: spooled() >= first.n, 60, "everything read")
        pipe.agent.stop()
        os.truncate(app, 0)  # truncated while the agent is away, then written again
        second = Writer(app, seconds=SECONDS // 3, start=first.n)
        second.start()
        pipe.start_agent()
        second.join()
        wait_for(lambda: spooled() >= second.n - first.n, 60, "second part read")
        pipe.agent.stop()
        third = Writer(app, seconds=SECONDS // 3, start=second.n)
        third.start()
        pipe.start_agent()
        finish(pipe, third, third.n)
    finally:
        pipe.stop()


def test_delete_and_recreate_reusing_the_inode(tmp_path, logs):
    # tmpfs on this kernel never reuses inode numbers (it counts up); ext4 reuses a freed
    # inode at once, so a small ext4 filesystem is where "same inode, new file" happens.
    image = tmp_path / "fs.img"
    subprocess.run(["truncate", "-s", "256M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(logs)], check=True)
    app = logs / "app.log"
    inodes = []

    def rotate(w):
        inodes.append(os.stat(app).st_ino)
        os.unlink(app)
        return "reopen"

    try:
        run_rotating(tmp_path, [app], app, rotate, close_inactive=0.5)
        assert len(set(inodes)) < len(inodes), f"no inode was reused: {inodes}"
    finally:
        subprocess.run(["umount", "-l", str(logs)], check=False)


def test_two_files_with_an_identical_first_kilobyte(tmp_path, logs):
    header = b"".join(
        orjson.dumps({"event": {"action": "header", "category": ["file"]}, "message": "x" * 80, "labels": {"h": i}})
        + b"\n"
        for i in range(12)
    )
    assert len(header) > 1024
    a, b = logs / "a.log", logs / "b.log"
    a.write_bytes(header)
    b.write_bytes(header)
    pipe = pipeline_for(tmp_path, [logs / "*.log"])
    try:
        pipe.start_collector()
        pipe.start_agent()
        half = SECONDS * RATE // 2
        wa = Writer(a, seconds=SECONDS // 2)
        wb = Writer(b, seconds=SECONDS // 2, start=half)
        wa.start()
        wb.start()
        wa.join()
        wb.join()
        total = wa.n + (wb.n - half)
        wait_for(lambda: len(pipe.index_rows()) >= total + 24, 300, "both files")
        time.sleep(2)
        rows = pipe.index_rows()
        numbered = [(agent, seq, n) for agent, seq, n in rows if n is not None]
        assert sorted(n for _, _, n in numbered) == list(range(wa.n)) + list(range(half, wb.n))
        assert len(rows) - len(numbered) == 24  # each file's 12 header lines, once each
    finally:
        pipe.stop()
