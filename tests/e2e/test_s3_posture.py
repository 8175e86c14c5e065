"""The collector refuses to archive into a bucket that cannot hold records immutably."""

from tests.harness import Pipeline


def test_collector_refuses_a_bucket_without_object_lock(ceph, tmp_path):
    bucket = ceph.bucket(object_lock=False, versioning=True)
    pipe = Pipeline(
        tmp_path / "pipe",
        collector_overrides={"archive": {"type": "s3", "bucket": bucket, "endpoint_url": ceph.endpoint}},
    )
    pipe.collector.env = ceph.env
    pipe.collector.start()
    try:
        code = pipe.collector.popen.wait(60)
    finally:
        pipe.stop()
    out = pipe.collector.output()
    assert code == 2, out[-2000:]
    assert f"s3://{bucket}: Object Lock is not enabled" in out
    assert "Traceback" not in out and ceph.env["AWS_SECRET_ACCESS_KEY"] not in out
    assert ceph.client().list_object_versions(Bucket=bucket).get("Versions") is None  # wrote nothing
