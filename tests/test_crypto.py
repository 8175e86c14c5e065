import pytest

from auditseal.errors import Rejected
from auditseal.formats.crypto import HEADER, SegmentCipher, is_encrypted
from tests.journal_helpers import journal_batch

KEY = bytes(range(32))


def test_roundtrip_with_a_fresh_data_key_each_time():
    cipher = SegmentCipher(KEY)
    a, b = cipher.seal(b"secret events", b"acme/0/segments/x"), cipher.seal(b"secret events", b"acme/0/segments/x")
    assert a != b and is_encrypted(a) and a[:5] == b"ASEG\x01" and len(a) == HEADER + len(b"secret events") + 16
    assert b"secret" not in a
    assert cipher.open(a, b"acme/0/segments/x") == b"secret events"


def test_tampering_another_name_or_another_key_fail_loudly():
    cipher = SegmentCipher(KEY)
    blob = bytearray(cipher.seal(b"secret events", b"k"))
    with pytest.raises(Rejected, match="decrypt"):
        cipher.open(bytes(blob), b"another segment key")
    blob[-1] ^= 1
    with pytest.raises(Rejected, match="decrypt"):
        cipher.open(bytes(blob), b"k")
    with pytest.raises(Rejected, match="not in this key file"):
        SegmentCipher(bytes(32)).open(cipher.seal(b"x", b"k"), b"k")


def test_rotating_the_archive_key_keeps_every_checkpoint_valid(tmp_path):
    """Half the archive sealed under the first key, half after a rotation: nothing stored is
    rewritten, every segment verifies against its checkpoint and decrypts with the rotated
    file, and the old file alone cannot read the new segments."""
    import shutil
    import subprocess
    import sys

    from auditseal.audit.verify import verify_store
    from auditseal.formats.crypto import SegmentCipher, new_key_file
    from auditseal.formats.note import Signer
    from auditseal.storage import archive
    from auditseal.storage.segments import Position
    from collector.sinks.sealer import Sealer
    from tests import integrity_corpus

    key_file = new_key_file(tmp_path / "archive.key")
    signer = Signer.generate("auditseal.test")
    batches = integrity_corpus.journal_batches([("acme", 100), ("acme", 100)])

    def seal(records):
        sealer = Sealer(
            archive.LocalStore(tmp_path / "archive"),
            tmp_path / "sealer",
            signer,
            signer.name,
            cipher=SegmentCipher.load(key_file),
        )
        sealer.open()
        sealer.process(journal_batch(records, Position(1, records[-1][1].end)))

    seal(batches[0])
    before = {p: p.read_bytes() for p in (tmp_path / "archive").rglob("*") if p.is_file()}
    shutil.copyfile(key_file, tmp_path / "old.key")
    done = subprocess.run(
        [sys.executable, "-m", "auditseal.cli", "keys", "rotate-archive-key", "--file", str(key_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and "new archive key" in done.stdout, done.stderr
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and len(key_file.read_text().split()) == 2
    seal(batches[1])
    assert all(p.read_bytes() == data for p, data in before.items()), "nothing stored was rewritten"
    store = archive.LocalStore(tmp_path / "archive")
    report = verify_store(store, [signer.verifier()], cipher=SegmentCipher.load(key_file))
    assert report.findings == [] and report.events_verified == 200
    old_only = verify_store(store, [signer.verifier()], cipher=SegmentCipher.load(tmp_path / "old.key"))
    assert [f.code for f in old_only.findings] == ["SEGMENT_CORRUPT"] and old_only.events_verified == 100
    assert verify_store(store, [signer.verifier()]).findings == [], "without a key: by signed hash"
