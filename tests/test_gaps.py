from collector.ingest.gaps import declared, find_holes, gap_event


def test_holes_after_the_high_water_mark_and_inside_a_batch():
    assert find_holes(0, [1, 2, 3]) == []
    assert find_holes(10, [11, 12]) == []
    assert find_holes(10, [14, 15, 18]) == [(11, 13, 0), (16, 17, 2)]


def test_a_hole_is_declared_only_when_every_number_is_covered():
    assert declared(5, 7, ((5, 7),))
    assert declared(5, 7, ((1, 5), (6, 9)))
    assert not declared(5, 7, ((5, 6),))
    assert not declared(5, 7, ())


def test_gap_event_names_the_agent_and_the_exact_range():
    doc = gap_event("collector.c1", 3, "acme", "web-1", 11, 13, False, "2026-11-28T10:00:00.000000Z")
    assert doc["event"]["action"] == "sequence_gap" and doc["organization"]["id"] == "acme"
    assert doc["labels"] == {
        "gap_agent": "web-1",
        "gap_first": 11,
        "gap_last": 13,
        "gap_events": 3,
        "gap_declared": False,
    }
    assert doc["agent"]["id"] == "collector.c1" and doc["event"]["sequence"] == 3
