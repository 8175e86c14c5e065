"""The spool's pure parts: the resume point from the commits a reader passed."""

import orjson

from agent.spool import ResumeTracker


def commit(next_seq, offset):
    return orjson.dumps({"inputs": {"app": {"f": {"offset": offset}}}})


def test_the_resume_point_is_the_newest_commit_whose_events_are_all_acknowledged():
    tracker = ResumeTracker()
    for next_seq, offset in [(4, 30), (8, 70), (11, 100)]:  # events 1-3, 4-7, 8-10
        tracker.seen(next_seq, commit(next_seq, offset))
    assert tracker.resume_for(2) is None  # event 3 is not acknowledged yet
    assert tracker.resume_for(7) == {"next_seq": 8, "inputs": {"app": {"f": {"offset": 70}}}}
    assert tracker.resume_for(7) is None, "each commit is handed out once"
    assert tracker.resume_for(20) == {"next_seq": 11, "inputs": {"app": {"f": {"offset": 100}}}}
