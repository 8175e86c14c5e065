"""The S3 Object Lock archive against a real Ceph RADOS Gateway (tests/ceph.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from botocore.exceptions import ClientError

from auditseal.audit.verify import OBJECT_DELETE_MARKER, verify_store
from auditseal.errors import Halt
from auditseal.formats.note import Signer
from auditseal.storage.segments import Position
from collector.retention import RetentionPolicy, RetentionRule
from collector.sinks.sealer import Sealer
from tests.integrity_corpus import journal_batches
from tests.journal_helpers import journal_batch


class ShortRetention(RetentionPolicy):
    """Locks that expire in seconds, so a test can show what outlives them (legal holds)."""

    def retain_until(self, partition, now=None):
        return datetime.now(timezone.utc) + timedelta(seconds=3)


def seal(store, tmp_path, batches, retention=None, signer=None):
    signer = signer or Signer.generate("auditseal.test")
    sealer = Sealer(store, tmp_path / "sealer", signer, signer.name, retention=retention)
    sealer.open()
    for records in journal_batches(batches):
        sealer.process(journal_batch(records, Position(1, records[-1][1].end)))
    (tmp_path / "verifier.vkey").write_text(signer.verifier().encode() + "\n")
    return signer


def run_cli(ceph, *args):
    import os

    env = {**os.environ, **ceph.env}
    return subprocess.run(
        [sys.executable, "-m", "auditseal.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_posture_check_refuses_buckets_that_cannot_lock_records(ceph):
    plain = ceph.store(ceph.bucket(object_lock=False, versioning=False))
    with pytest.raises(Halt, match="versioning is off"):
        plain.check_posture()
    versioned = ceph.store(ceph.bucket(object_lock=False, versioning=True))
    with pytest.raises(Halt, match="Object Lock is not enabled"):
        versioned.check_posture()
    ceph.store(ceph.bucket()).check_posture()  # a locked bucket passes


def test_segments_and_checkpoints_land_compliance_locked_for_the_policy(ceph, tmp_path):
    bucket = ceph.bucket()
    store = ceph.store(bucket, "audit/")
    policy = RetentionPolicy(
        archive_days=30, rules=[RetentionRule(name="auth", categories=["authentication"], archive_days=400)]
    )
    signer = seal(store, tmp_path, [("acme", 30), ("globex", 12)], policy)
    keys = store.list("")
    assert any("/segments/" in k for k in keys) and any("/checkpoints/" in k for k in keys)
    now = datetime.now(timezone.utc)
    for key in keys:
        mode, until = store.retention(key)
        days = 400 if key.split("/")[1] == "auth" else 30
        assert mode == "COMPLIANCE", key
        assert abs((until - now) - timedelta(days=days)) < timedelta(minutes=5), (key, until)
    # Every key really sits under the prefix; nothing outside it.
    raw = ceph.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert raw and all(o["Key"].startswith("audit/") for o in raw)
    report = verify_store(store, [signer.verifier()])
    assert report.findings == [] and report.events_verified == 42


def test_locked_versions_cannot_be_deleted_nor_their_retention_shortened(ceph, tmp_path):
    bucket = ceph.bucket()
    store = ceph.store(bucket)
    seal(store, tmp_path, [("acme", 5)], RetentionPolicy(archive_days=10))
    client = ceph.client()
    key = next(k for k in store.list("") if "/segments/" in k)
    version = client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"][0]["VersionId"]
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=bucket,
            Key=key,
            VersionId=version,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(timezone.utc) + timedelta(days=1)},
        )
    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=bucket,
            Key=key,
            VersionId=version,
            BypassGovernanceRetention=True,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(timezone.utc) + timedelta(days=20)},
        )
    assert store.retention(key)[0] == "COMPLIANCE"
    assert store.get(key)  # still there, still readable by its version
    # Writing the same key again is refused by the store itself.
    with pytest.raises(FileExistsError):
        store.put_once(key, b"x", retain_until=datetime.now(timezone.utc) + timedelta(days=1))


def test_a_legal_hold_keeps_what_retention_would_release(ceph, tmp_path):
    bucket = ceph.bucket()
    store = ceph.store(bucket)
    seal(store, tmp_path, [("acme", 6)], ShortRetention())
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    until = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    held = run_cli(ceph, "archive", "hold", "--archive", f"s3://{bucket}", "--since", since, "--until", until)
    assert held.returncode == 0, held.stderr
    assert "legal hold placed on 1 segments and 1 checkpoints" in held.stdout
    # A range with no events holds nothing (and says so with exit 1).
    empty = run_cli(
        ceph,
        "archive",
        "hold",
        "--archive",
        f"s3://{bucket}",
        "--since",
        "2001-01-01T00:00:00Z",
        "--until",
        "2001-01-02T00:00:00Z",
    )
    assert empty.returncode == 1 and "0 segments" in empty.stdout
    time.sleep(4)  # the 3-second retention has expired: only the hold protects the records now
    client = ceph.client()
    key = next(k for k in store.list("") if "/segments/" in k)
    assert store.legal_hold(key)
    version = client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"][0]["VersionId"]
    with pytest.raises(ClientError) as refused:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    released = run_cli(
        ceph, "archive", "hold", "--release", "--archive", f"s3://{bucket}", "--since", since, "--until", until
    )
    assert released.returncode == 0 and "lifted from 1 segments" in released.stdout
    assert not store.legal_hold(key)
    client.delete_object(Bucket=bucket, Key=key, VersionId=version)  # retention over, hold lifted: allowed


def test_verify_s3_passes_untouched_and_reports_a_delete_marker(ceph, tmp_path):
    bucket = ceph.bucket()
    store = ceph.store(bucket, "prod")
    seal(store, tmp_path, [("acme", 20), ("acme", 15)], RetentionPolicy(archive_days=10))
    pubkey = str(tmp_path / "verifier.vkey")
    clean = run_cli(ceph, "verify", "--archive", f"s3://{bucket}/prod", "--pubkey", pubkey)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "2/2 segments valid (35 events verified, 0 findings)" in clean.stdout
    key = next(k for k in store.list("") if "/segments/" in k)
    ceph.client().delete_object(Bucket=bucket, Key=f"prod/{key}")  # no version: a delete marker
    marked = run_cli(ceph, "verify", "--archive", f"s3://{bucket}/prod", "--pubkey", pubkey, "--json")
    assert marked.returncode == 1
    report = orjson.loads(marked.stdout)
    assert [f["code"] for f in report["findings"]] == [OBJECT_DELETE_MARKER]
    assert report["findings"][0]["object"] == key and report["segments_valid"] == 2
    assert report["events_verified"] == 35  # the locked version was read by its id, intact


def test_unreachable_s3_is_a_retryable_error_not_a_crash(ceph):
    from auditseal.errors import Retryable
    from auditseal.storage.archive_s3 import S3Location, S3Store, make_client
    from tests.ceph import free_port

    dead = S3Store(make_client(f"http://127.0.0.1:{free_port()}", connect_timeout=0.5), S3Location("nothing-here", ""))
    with pytest.raises(Retryable):
        dead.list("")


def test_every_locked_put_carries_content_md5_and_the_lock_headers(ceph, tmp_path):
    store = ceph.store(ceph.bucket())
    sent = []
    store.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    seal(store, tmp_path, [("acme", 8)], RetentionPolicy(archive_days=3))
    assert len(sent) == 2  # segment + checkpoint
    import base64
    import hashlib

    for headers in sent:
        assert headers["x-amz-object-lock-mode"] == b"COMPLIANCE" or headers["x-amz-object-lock-mode"] == "COMPLIANCE"
        assert headers["x-amz-object-lock-retain-until-date"]
        assert len(base64.b64decode(headers["Content-MD5"])) == len(hashlib.md5().digest())
    # A body that does not match its Content-MD5 is refused by S3 (so a corrupted upload never lands).
    with pytest.raises(ClientError) as refused:
        store.client.put_object(
            Bucket=store.bucket,
            Key="x",
            Body=b"one",
            ContentMD5=base64.b64encode(hashlib.md5(b"two").digest()).decode(),
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=datetime.now(timezone.utc) + timedelta(seconds=5),
        )
    assert refused.value.response["Error"]["Code"] == "BadDigest"


def test_sse_kms_segments_are_encrypted_at_rest_in_rados(ceph, tmp_path):
    from auditseal.storage.archive_s3 import S3Location, S3Store
    from tests.ceph import rados_objects

    bucket = ceph.bucket()
    store = S3Store(ceph.client(), S3Location(bucket, "kms"), sse_kms_key_id="auditseal-test-key")
    signer = seal(store, tmp_path, [("acme", 12)], RetentionPolicy(archive_days=3))
    key = next(k for k in store.list("") if "/checkpoints/" in k)
    head = store.client.head_object(Bucket=bucket, Key=f"kms/{key}")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == "auditseal-test-key"
    checkpoint_text = store.get(key)  # decrypted by the gateway for an authorised reader
    assert b"auditseal.test" in checkpoint_text
    # Control: an object stored without SSE is found in RADOS as plaintext by the same search.
    marker = f"plaintext-control-{bucket}".encode()
    store.client.put_object(Bucket=bucket, Key="control", Body=marker)
    raw = rados_objects(ceph)
    assert any(marker in blob for blob in raw)
    # The bytes RADOS stores for the archive are ciphertext: the checkpoint's text is nowhere.
    assert not any(checkpoint_text[:40] in blob for blob in raw)
    assert verify_store(store, [signer.verifier()]).findings == []


def test_incremental_verification_of_a_locked_archive_with_a_delete_marker(ceph, tmp_path):
    bucket = ceph.bucket()
    store = ceph.store(bucket)
    signer = seal(store, tmp_path, [("acme", 10), ("acme", 10)], RetentionPolicy(archive_days=3))
    first = verify_store(ceph.store(bucket), [signer.verifier()], {}, incremental=True)
    assert first.findings == [] and first.events_verified == 20
    key = next(k for k in store.list("") if "/segments/" in k)
    ceph.client().delete_object(Bucket=bucket, Key=key)
    again = verify_store(ceph.store(bucket), [signer.verifier()], first.state, incremental=True)
    assert [f.code for f in again.findings] == [OBJECT_DELETE_MARKER] and again.events_verified == 0


def test_collector_test_output_checks_the_bucket_on_real_s3(ceph, tmp_path):
    """``auditseal-collector test output`` against Ceph RGW: a locked bucket passes; one without
    Object Lock, a missing bucket and wrong credentials fail, each with its reason."""
    import os
    import subprocess
    import sys

    import yaml

    from auditseal.dev import devsetup

    config = devsetup.setup(tmp_path / "dev").collector_config
    cfg = yaml.safe_load(config.read_text())
    local = {k: v for k, v in cfg["archive"].items() if k not in ("type", "path")}  # keys, intervals

    def check(bucket: str, **env) -> subprocess.CompletedProcess:
        cfg["archive"] = {**local, "type": "s3", "bucket": bucket, "endpoint_url": ceph.endpoint, "region": "us-east-1"}
        config.write_text(yaml.safe_dump(cfg))
        argv = [sys.executable, "-m", "collector.main", "test", "output", "-c", str(config)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, **ceph.env, **env})

    locked = ceph.bucket()
    done = check(locked)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ok    archive (s3): s3://{locked}: versioning and Object Lock enabled" in done.stdout
    unlocked = ceph.bucket(object_lock=False)
    done = check(unlocked)
    assert done.returncode == 1 and "FAIL  archive (s3)" in done.stdout and "Object Lock" in done.stdout, done.stdout
    done = check("auditseal-no-such-bucket")
    assert done.returncode == 1 and "FAIL  archive (s3)" in done.stdout and "NoSuchBucket" in done.stdout, done.stdout
    done = check(locked, AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert done.returncode == 1 and "FAIL  archive (s3)" in done.stdout and "SignatureDoesNotMatch" in done.stdout
    assert "not-the-secret" not in done.stdout + done.stderr and "Traceback" not in done.stdout + done.stderr
