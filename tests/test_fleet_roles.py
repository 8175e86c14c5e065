"""How a fleet shares its roles out (``collector.fleet.next_move``), as a model: collectors
take turns in any order, a take succeeds only on a role nobody holds (the lease's atomic
create). Whatever the order, the fleet settles with every role held by exactly one collector
and nobody above its share."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from collector.fleet import next_move
from collector.journal.nats_format import purge_floor, worth_purging


def roles_for(partitions: int) -> list[str]:
    return ["sinks"] + [f"sealer-p{k}" for k in range(partitions)]


def settle(roles: list[str], held: dict[str, list[str]], turns: list[int]) -> None:
    members = len(held)
    names = sorted(held)
    for turn in turns:
        me = names[turn % members]
        move = next_move(roles, held[me], members)
        if move is None:
            continue
        if move[0] == "give":
            held[me].remove(move[1])
        else:
            taken = {k for keys in held.values() for k in keys}
            free = [r for r in roles if r not in taken]
            if free:
                held[me].append(free[0])


@given(
    partitions=st.integers(1, 8),
    members=st.integers(1, 5),
    turns=st.lists(st.integers(0, 100), min_size=0, max_size=60),
    head_start=st.booleans(),
)
def test_roles_end_held_once_each_and_shared_out(partitions, members, turns, head_start):
    roles = roles_for(partitions)
    held: dict[str, list[str]] = {f"c{i}": [] for i in range(members)}
    if head_start:  # one collector ran alone and took everything before the others joined
        held["c0"] = list(roles)
    settle(roles, held, turns)
    settle(roles, held, list(range(members)) * (len(roles) * 2 + 2))  # then enough beats for all
    owners = [k for keys in held.values() for k in keys]
    assert sorted(owners) == sorted(roles)  # each role held, and by one collector only
    share = math.ceil(len(roles) / members)
    assert all(len(keys) <= share for keys in held.values())
    # Stable: nobody hands a role on (a standby still asks for one; none is free).
    assert all(next_move(roles, keys, members) in (None, ("take", None)) for keys in held.values())


def test_a_joining_collector_is_handed_a_sealer_never_the_sinks():
    roles = roles_for(2)
    assert next_move(roles, roles, 2) == ("give", "sealer-p1")
    assert next_move(roles, ["sinks", "sealer-p0"], 2) is None
    assert next_move(roles, ["sinks"], 1) == ("take", None)
    assert next_move(["sinks"], ["sinks"], 3) is None  # the sinks are never handed on by share


def test_purge_floor_is_what_every_consumer_passed():
    # index and alerts caught up, a partition's sealer with nothing of its own pending.
    assert purge_floor(100, [(0, 0, 100, None), (0, 0, 100, None), (0, 0, 7, None)]) == 101
    # a sealer with messages still pending: below its ack floor only.
    assert purge_floor(100, [(0, 0, 100, None), (3, 0, 42, None)]) == 43
    assert purge_floor(100, [(0, 1, 99, None)]) == 100  # delivered, not acknowledged
    assert purge_floor(100, [(0, 0, 100, None), None]) == 0  # a consumer not created yet needs all


def test_a_consumer_that_reports_nothing_left_while_the_stream_holds_its_messages_keeps_them():
    # Measured: a sealer's consumer recreated at its cursor 39 reported (0, 0, 0) for a moment
    # while index and alerts had passed 132 and the other sealer 82.
    seen = [(0, 0, 132, None), (0, 0, 129, None), (0, 0, 0, 39), (14, 2, 82, None)]
    assert purge_floor(132, seen) == 39
    assert purge_floor(132, [(0, 0, 38, 40)]) == 40  # message 39 is another partition's


@given(
    last=st.integers(0, 10_000),
    consumers=st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 10_000), st.none() | st.integers(1, 10_001)),
        max_size=6,
    ),
)
def test_purge_floor_never_passes_a_consumer_with_work_left(last, consumers):
    floor = purge_floor(last, consumers)
    assert floor <= last + 1
    for pending, ack_pending, ack_floor, next_match in consumers:
        if pending or ack_pending:
            assert floor <= ack_floor + 1
        elif next_match is not None:
            assert floor <= next_match  # a message on its subjects is kept whatever it reports


def test_a_purge_is_asked_only_when_it_drops_something():
    # An empty stream reports first 0; a floor of 1 there would, on nats-server 2.9, purge a
    # message published meanwhile: never asked.
    assert not worth_purging(1, 0, 0)
    assert not worth_purging(5, 5, 1)  # purged there already
    assert not worth_purging(3, 0, 3)  # nothing below the stream's first
    assert worth_purging(4, 0, 3)
