"""The self-check's decisions: which findings are one incident, which are confirmed."""

from auditseal.audit.verify import CHECKPOINT_MISSING, LOG_MISSING, SEGMENT_HASH_MISMATCH, SEGMENT_UNSIGNED, Finding
from collector.integrity import alert_group, confirmed


def f(code, first=0, last=499, obj="globex/0/", log="globex/0"):
    return Finding(code, log, first, last, obj, "detail")


def test_the_same_lost_leaves_seen_through_other_evidence_are_one_alert():
    gone = f(LOG_MISSING)
    later = f(CHECKPOINT_MISSING, obj="globex/0/checkpoints/")
    assert alert_group(gone) == alert_group(later)
    assert alert_group(f(LOG_MISSING, 0, 600)) != alert_group(gone), "more lost leaves: a new incident"
    assert alert_group(f(LOG_MISSING, log="acme/0", obj="acme/0/")) != alert_group(gone)


def test_tampering_findings_are_told_apart_by_object_and_code():
    a = f(SEGMENT_HASH_MISMATCH, obj="globex/0/segments/a")
    b = f(SEGMENT_HASH_MISMATCH, obj="globex/0/segments/b")
    assert len({alert_group(a), alert_group(b), alert_group(f(LOG_MISSING))}) == 3


def test_only_findings_seen_in_both_passes_are_confirmed():
    in_flight = f(SEGMENT_UNSIGNED, 500, 509, "globex/0/segments/x")  # its checkpoint was being written
    half_deleted = f(CHECKPOINT_MISSING, 0, 99, "globex/0/checkpoints/")
    deleted = f(LOG_MISSING)
    assert confirmed([in_flight, half_deleted], [deleted]) == []
    assert confirmed([deleted, in_flight], [f(CHECKPOINT_MISSING, obj="globex/0/checkpoints/")]) == [
        f(CHECKPOINT_MISSING, obj="globex/0/checkpoints/")
    ]
    assert confirmed([], []) == []
