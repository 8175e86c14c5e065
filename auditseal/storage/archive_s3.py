"""The archive on S3 with Object Lock: every object written once, COMPLIANCE-locked.

Same calls as ``archive.LocalStore`` (list, get, exists, put_once), plus what S3 adds:

- ``put_once`` writes with ``ObjectLockMode=COMPLIANCE`` and the retain-until date the
  retention policy gives, ``Content-MD5`` on every PUT, optional SSE-KMS, and user metadata
  ``events-from``/``events-to`` (the time span of a segment's events, for legal holds).
- Reads go by version id: an object is its *first* version, so a later overwrite or a
  delete marker cannot change what is read; both are reported by ``anomalies``.
- ``check_posture`` refuses a bucket that cannot hold records immutably (versioning off,
  Object Lock off).

boto3 is synchronous; the collector calls it from worker threads. Foreign errors become
``Retryable`` (network, throttling, 5xx) or ``Halt`` (access, missing bucket) here.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from auditseal.errors import Halt, Retryable

DELETE_MARKER = "delete_marker"
EXTRA_VERSION = "extra_version"
VERSION_CACHE = 100_000
RETRYABLE_CODES = {
    "SlowDown",
    "RequestTimeout",
    "ServiceUnavailable",
    "InternalError",
    "503",
    "500",
    "Throttling",
    "RequestTimeTooSkewed",
}


@dataclass(frozen=True)
class Anomaly:
    key: str
    kind: str  # DELETE_MARKER | EXTRA_VERSION
    version_id: str


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ends with "/"

    @classmethod
    def parse(cls, url: str) -> "S3Location":
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise Halt(f"{url}: not an s3://bucket[/prefix] address")
        prefix = parsed.path.strip("/")
        return cls(parsed.netloc, prefix + "/" if prefix else "")


def make_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    path_style: bool = True,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
):
    """A boto3 S3 client: credentials from the standard chain (env, profile, instance role)."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path" if path_style else "auto"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
        region_name=region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=config,
    )


def translate(exc: Exception, what: str) -> Exception:
    """A boto/botocore exception as the error its caller acts on."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in RETRYABLE_CODES or status >= 500 or status == 429:
            return Retryable(f"{what}: S3 answered {status} {code}")
        return Halt(f"{what}: S3 refused: {status} {code}")
    if isinstance(exc, BotoCoreError):
        return Retryable(f"{what}: {type(exc).__name__}: {exc}")
    return exc


class S3Store:
    immutable = True  # Object Lock in compliance mode: a version, once written, stays

    def __init__(self, client, location: S3Location, sse_kms_key_id: str | None = None):
        self.client = client
        self.bucket = location.bucket
        self.prefix = location.prefix.strip("/") + "/" if location.prefix.strip("/") else ""
        self.sse_kms_key_id = sse_kms_key_id
        # key → version id of its first write; bounded: a years-long archive has millions of keys
        self._first_version: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _call(self, what: str, fn, **kwargs):
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            raise translate(exc, what) from None

    # -- posture ---------------------------------------------------------------------------
    def check_posture(self) -> None:
        """Refuse to run on a bucket that cannot hold records immutably."""
        from botocore.exceptions import ClientError

        where = f"s3://{self.bucket}"
        versioning = self._call(f"{where}: reading versioning", self.client.get_bucket_versioning)
        if versioning.get("Status") != "Enabled":
            raise Halt(
                f"{where}: versioning is {versioning.get('Status', 'off')}; an audit archive needs a "
                f"bucket created with Object Lock (versioning Enabled, Object Lock Enabled)"
            )
        try:
            lock = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ObjectLockConfigurationNotFoundError":
                raise Halt(
                    f"{where}: Object Lock is not enabled; records there could be deleted or "
                    f"overwritten. Create the bucket with Object Lock enabled "
                    f"(aws s3api create-bucket --object-lock-enabled-for-bucket)"
                ) from None
            raise translate(exc, f"{where}: reading Object Lock configuration") from None
        except Exception as exc:
            raise translate(exc, f"{where}: reading Object Lock configuration") from None
        if lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            raise Halt(f"{where}: Object Lock is not enabled; refusing to archive there")

    # -- the Store calls -----------------------------------------------------------------
    def _versions(self, prefix: str, start_after: str | None = None):
        """(versions, delete markers) under prefix, oldest first per key."""
        versions, markers = [], []
        paginator = self.client.get_paginator("list_object_versions")
        extra = {"KeyMarker": self.prefix + start_after} if start_after else {}
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, **extra):
                versions.extend(page.get("Versions", []))
                markers.extend(page.get("DeleteMarkers", []))
        except Exception as exc:
            raise translate(exc, f"listing s3://{self.bucket}/{self.prefix}{prefix}") from None
        versions.sort(key=lambda v: (v["Key"], v["LastModified"]))
        return versions, markers

    def _scan(self, prefix: str, start_after: str | None = None) -> tuple[dict[str, str], list[Anomaly]]:
        versions, markers = self._versions(prefix, start_after)
        first: dict[str, str] = {}
        anomalies = []
        for v in versions:
            key = v["Key"][len(self.prefix) :]
            if key in first:
                anomalies.append(Anomaly(key, EXTRA_VERSION, v["VersionId"]))
            else:
                first[key] = v["VersionId"]
        anomalies.extend(Anomaly(m["Key"][len(self.prefix) :], DELETE_MARKER, m["VersionId"]) for m in markers)
        self._remember(first)
        return first, anomalies

    def _remember(self, versions: dict[str, str]) -> None:
        with self._lock:
            for key, version in versions.items():
                self._first_version[key] = version
                self._first_version.move_to_end(key)
            while len(self._first_version) > VERSION_CACHE:
                self._first_version.popitem(last=False)

    def list(self, prefix: str, start_after: str | None = None) -> list[str]:
        return sorted(self._scan(prefix, start_after)[0])

    def _children(self, prefix: str) -> list[str]:
        names = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/"):
                names.extend(
                    p["Prefix"][len(self.prefix + prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])
                )
        except Exception as exc:
            raise translate(exc, f"listing s3://{self.bucket}/{self.prefix}{prefix}") from None
        return names

    def logs(self) -> list[tuple[str, str]]:
        """(tenant, partition) of every log, by prefix listing (not every object).

        A log whose every object is hidden by a delete marker is still a log: the versions
        listing of ``anomalies`` reports those; here a tenant with only markers is missed."""
        return sorted(
            (tenant, partition) for tenant in self._children("") for partition in self._children(f"{tenant}/")
        )

    def anomalies(self, prefix: str = "") -> list[Anomaly]:
        """Delete markers and versions written over an object (both mean someone tried)."""
        return self._scan(prefix)[1]

    def _version_of(self, key: str) -> str | None:
        with self._lock:
            known = self._first_version.get(key)
        if known:
            return known
        first, _ = self._scan(key)
        return first.get(key)

    def exists(self, key: str) -> bool:
        return self._version_of(key) is not None

    def get(self, key: str) -> bytes:
        version = self._version_of(key)
        if version is None:
            raise FileNotFoundError(f"s3://{self.bucket}/{self.prefix}{key}")
        reply = self._call(f"reading {key}", self.client.get_object, Key=self.prefix + key, VersionId=version)
        return reply["Body"].read()

    def put_once(
        self, key: str, data: bytes, retain_until: datetime | None = None, metadata: dict[str, str] | None = None
    ) -> str:
        """Write ``key`` COMPLIANCE-locked until ``retain_until``; refuses an existing key."""
        if self.exists(key):
            raise FileExistsError(f"{key} exists: archive objects are written once")
        if retain_until is None:
            raise Halt(f"{key}: an S3 archive object needs a retain-until date")
        extra = {}
        if self.sse_kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.sse_kms_key_id}
        reply = self._call(
            f"writing {key}",
            self.client.put_object,
            Key=self.prefix + key,
            Body=data,
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=retain_until,
            Metadata=metadata or {},
            **extra,
        )
        version = reply.get("VersionId")
        if not version:
            raise Halt(f"s3://{self.bucket}: the PUT of {key} returned no version id; versioning is off")
        self._remember({key: version})
        return version

    def remove_unsealed(self, key: str) -> None:
        raise Halt(
            f"s3://{self.bucket}/{self.prefix}{key} is beyond the sealer's recorded state and "
            f"cannot be removed from a locked bucket; restore the sealer state directory"
        )

    # -- retention and legal holds -------------------------------------------------------
    def retention(self, key: str) -> tuple[str, datetime]:
        reply = self._call(
            f"reading retention of {key}",
            self.client.get_object_retention,
            Key=self.prefix + key,
            VersionId=self._version_of(key),
        )
        return reply["Retention"]["Mode"], reply["Retention"]["RetainUntilDate"]

    def metadata(self, key: str) -> dict[str, str]:
        reply = self._call(
            f"reading {key}", self.client.head_object, Key=self.prefix + key, VersionId=self._version_of(key)
        )
        return reply.get("Metadata", {})

    def set_legal_hold(self, key: str, on: bool) -> None:
        self._call(
            f"legal hold on {key}",
            self.client.put_object_legal_hold,
            Key=self.prefix + key,
            VersionId=self._version_of(key),
            LegalHold={"Status": "ON" if on else "OFF"},
        )

    def legal_hold(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.get_object_legal_hold(
                Bucket=self.bucket, Key=self.prefix + key, VersionId=self._version_of(key)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchObjectLockConfiguration":
                return False
            raise translate(exc, f"reading legal hold of {key}") from None
        return reply["LegalHold"]["Status"] == "ON"
