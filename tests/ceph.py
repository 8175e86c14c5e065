"""A real Ceph RADOS Gateway (S3 with Object Lock), started by ``scripts/ceph-rgw.sh``.

One cluster per test session (its monitor ports are fixed). Tests that need S3 take the
``ceph`` fixture; if Ceph is not installed the fixture fails: CI installs it.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
from pathlib import Path

from auditseal.storage.archive_s3 import S3Location, S3Store, make_client

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "ceph-rgw.sh"
ACCESS, SECRET = "auditsealtest", "auditsealtestsecret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ceph:
    _buckets = itertools.count(1)

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a program needs to reach this S3 (standard AWS variables)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def _script(self, *args: str) -> str:
        done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            logs = "\n".join(p.read_text()[-2000:] for p in (self.dir / "log").glob("*") if p.is_file())
            raise RuntimeError(f"ceph-rgw.sh {' '.join(args)} failed: {done.stderr}\n{logs}")
        return done.stdout

    def start(self) -> None:
        self._script("start", str(self.dir), str(self.port))

    def stop(self) -> None:
        self._script("stop", str(self.dir))

    def gateway_stop(self) -> None:
        self._script("gateway-stop", str(self.dir))

    def gateway_start(self) -> None:
        self._script("gateway-start", str(self.dir))

    def client(self):
        os.environ.update(self.env)
        return make_client(self.endpoint)

    def bucket(self, object_lock: bool = True, versioning: bool = True) -> str:
        name = f"auditseal-test-{os.getpid()}-{next(self._buckets)}"
        client = self.client()
        if object_lock:
            client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            client.create_bucket(Bucket=name)
            if versioning:
                client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name

    def store(self, bucket: str, prefix: str = "") -> S3Store:
        return S3Store(self.client(), S3Location(bucket, prefix))


def rados_objects(ceph: Ceph, pool: str = "default.rgw.buckets.data") -> list[bytes]:
    """The raw bytes RADOS holds for every object in the gateway's data pool."""
    conf = str(ceph.dir / "ceph.conf")
    names = subprocess.run(
        ["rados", "-c", conf, "-p", pool, "ls"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    return [
        subprocess.run(
            ["rados", "-c", conf, "-p", pool, "get", name, "-"], capture_output=True, check=True, timeout=60
        ).stdout
        for name in names
    ]
