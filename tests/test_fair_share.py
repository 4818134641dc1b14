"""The fair-share LRU behind the in-process stores: a client that writes fast evicts only its
own entries, and one within its share never loses an entry to another."""

from __future__ import annotations

import random

from gateway.limits.fair_share import FairShareLRU


def test_one_owner_writing_fast_evicts_only_its_own_entries() -> None:
    lru: FairShareLRU[str, int] = FairShareLRU(1000)
    lru.put("a", "a-chat", 1)
    lru.put("a", "a-response", 2)
    for n in range(1100):
        lru.put("b", f"b-{n}", n)

    assert lru.get("a-chat") == 1 and lru.get("a-response") == 2
    assert len(lru) == 1000 and lru.held_by("b") == 998
    assert lru.get("b-101") is None  # b's oldest went
    assert lru.get("b-102") == 102 and lru.get("b-1099") == 1099


def test_alone_an_owner_may_fill_the_whole_capacity_and_yields_it_to_newcomers() -> None:
    lru: FairShareLRU[str, int] = FairShareLRU(10)
    for n in range(10):
        lru.put("b", f"b-{n}", n)
    assert lru.held_by("b") == 10
    for n in range(5):
        lru.put("a", f"a-{n}", n)
    assert lru.held_by("a") == 5 and lru.held_by("b") == 5
    lru.put("a", "a-5", 5)  # a now holds as many as b, and more once it adds: its own goes
    assert lru.held_by("a") == 5 and lru.get("a-0") is None


def test_of_owners_holding_as_many_the_one_idle_longest_loses() -> None:
    lru: FairShareLRU[str, int] = FairShareLRU(4)
    lru.put("a", "a-1", 1)
    lru.put("b", "b-1", 1)
    lru.put("a", "a-2", 2)
    lru.put("b", "b-2", 2)
    lru.get("a-1")  # a is active again: b has been idle longer
    lru.put("c", "c-1", 1)
    assert lru.get("b-1") is None
    assert lru.held_by("a") == 2 and lru.held_by("b") == 1 and lru.held_by("c") == 1


def test_an_owner_within_its_share_never_loses_an_entry_to_others() -> None:
    capacity, owners = 60, 6
    lru: FairShareLRU[str, int] = FairShareLRU(capacity)
    modest = [f"modest-{n}" for n in range(capacity // owners)]
    for key in modest:
        lru.put("modest", key, 0)
    chooser = random.Random(21)
    for n in range(5000):
        lru.put(f"greedy-{chooser.randrange(owners - 1)}", f"g-{n}", n)
        assert len(lru) <= capacity
    assert all(lru.get(key) == 0 for key in modest)


def test_a_key_that_changes_owner_moves_and_a_popped_key_is_gone() -> None:
    lru: FairShareLRU[str, int] = FairShareLRU(3)
    lru.put("a", "k", 1)
    lru.put("b", "k", 2)
    assert lru.held_by("a") == 0 and lru.held_by("b") == 1 and lru.get("k") == 2
    lru.pop("k")
    lru.pop("never")
    assert len(lru) == 0 and lru.get("k") is None


def test_a_smaller_capacity_evicts_at_once() -> None:
    lru: FairShareLRU[str, int] = FairShareLRU(6)
    for n in range(3):
        lru.put("a", f"a-{n}", n)
        lru.put("b", f"b-{n}", n)
    lru.capacity = 4
    assert len(lru) == 4 and lru.held_by("a") == 2 and lru.held_by("b") == 2
    assert lru.get("a-0") is None and lru.get("b-0") is None
