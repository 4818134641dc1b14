"""A bounded LRU that many clients share without one evicting the others.

The in-process stores (chats, stored responses, cached answers) keep every client's entries
within one bound. In a plain LRU a client that writes fast pushes everyone else's entries
out. Here each owner has an LRU of its own, and when all of them together hold `capacity`
entries, the owner holding the most loses its least recently used one (of two holding as
many, the one that was idle longer). A client that writes fast therefore evicts only its own
entries, until it holds no more than anyone else. An owner that holds at most
`capacity / owners` entries (`owners` counts every owner holding at least one) never loses
one to another owner.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FairShareLRU(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # Owners from the least to the most recently active, each with its entries from
        # the least to the most recently used.
        self._owners: OrderedDict[str, OrderedDict[K, V]] = OrderedDict()
        self._owner_of: dict[K, str] = {}

    @property
    def capacity(self) -> int:
        return self._capacity

    @capacity.setter
    def capacity(self, capacity: int) -> None:
        self._capacity = capacity
        self._evict()

    def __len__(self) -> int:
        return len(self._owner_of)

    def held_by(self, owner: str) -> int:
        """How many entries `owner` holds."""
        return len(self._owners.get(owner, ()))

    def oldest_of(self, owner: str) -> K | None:
        """`owner`'s least recently used key; None if it holds none."""
        entries = self._owners.get(owner)
        return next(iter(entries)) if entries else None

    def get(self, key: K) -> V | None:
        """The entry, marked as just used; None if there is none."""
        owner = self._owner_of.get(key)
        if owner is None:
            return None
        entries = self._owners[owner]
        entries.move_to_end(key)
        self._owners.move_to_end(owner)
        return entries[key]

    def put(self, owner: str, key: K, value: V) -> None:
        """Keep `value` under `key` for `owner`, then evict past the capacity."""
        if self._owner_of.get(key, owner) != owner:
            self.pop(key)
        entries = self._owners.setdefault(owner, OrderedDict())
        entries[key] = value
        entries.move_to_end(key)
        self._owners.move_to_end(owner)
        self._owner_of[key] = owner
        self._evict()

    def pop(self, key: K) -> None:
        owner = self._owner_of.pop(key, None)
        if owner is None:
            return
        entries = self._owners[owner]
        del entries[key]
        if not entries:
            del self._owners[owner]

    def clear(self) -> None:
        self._owners.clear()
        self._owner_of.clear()

    def _evict(self) -> None:
        while len(self._owner_of) > self._capacity:
            # max() keeps the first of equals: the owner idle the longest.
            owner = max(self._owners, key=lambda name: len(self._owners[name]))
            key, _ = self._owners[owner].popitem(last=False)
            del self._owner_of[key]
            if not self._owners[owner]:
                del self._owners[owner]
