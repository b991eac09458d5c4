"""A deadline per key, earliest first: how the sans-I/O core says when it
next needs the clock (aioquic's `get_timer` / `handle_timer`), so the
adapter arms one loop timer instead of walking every SA once a second.

Each key (an IKE SA, a pending IKE_SA_INIT) has at most one live deadline.
Moving a deadline later is free: the earlier heap entry fires, the owner
finds nothing due yet and arms the new time. Moving it earlier, or dropping
it, leaves a stale heap entry that is skipped when it surfaces, so the heap
holds at most the live keys plus the entries superseded since they were due.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)


class TimerQueue(Generic[K]):
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._armed: dict[K, float] = {}
        self._order = itertools.count()  # ties fire in arming order; keys never compared

    def __len__(self) -> int:
        return len(self._armed)

    def arm(self, key: K, deadline: float | None) -> None:
        """`key` needs the clock at `deadline` (None: no longer)."""
        if deadline is None:
            self._armed.pop(key, None)
            return
        current = self._armed.get(key)
        if current is not None and current <= deadline:
            return  # the earlier entry fires first; its owner re-arms then
        self._armed[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._order), key))

    def disarm(self, key: K) -> None:
        self._armed.pop(key, None)

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            deadline, _, key = heap[0]
            if self._armed.get(key) == deadline:
                return deadline
            heapq.heappop(heap)  # superseded or disarmed
        return None

    def pop_due(self, now: float) -> list[K]:
        """The keys whose deadline has come, disarmed: their owners re-arm
        whatever they still need."""
        due: list[K] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            if self._armed.get(key) == deadline:
                del self._armed[key]
                due.append(key)
        return due
