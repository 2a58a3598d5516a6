"""Token buckets that pace calls to one remote API, shared by all threads of the process.

A connector declares its bucket (capacity, refill rate) and gets it from ``limiters``;
the HTTP client takes ``cost`` tokens before every attempt, and connectors adopt the
numbers a server reports (``update``) or its ``Retry-After`` (``pause_for``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_EPSILON = 1e-9


class TokenBucket:
    """A thread-safe token bucket; waiters are served first come, first served."""

    def __init__(
        self,
        capacity: float,
        refill_per_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check_positive(capacity=capacity, refill_per_s=refill_per_s)
        self._capacity = float(capacity)
        self._rate = float(refill_per_s)
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._available = self._capacity
        self._last = clock()
        self._not_before = self._last
        self._next_ticket = 0
        self._serving = 0

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def refill_per_s(self) -> float:
        return self._rate

    @property
    def available(self) -> float:
        """Tokens available now (negative while an acquire larger than the capacity is repaid)."""
        with self._cond:
            self._refill()
            return self._available

    def acquire(self, tokens: float = 1.0) -> float:
        """Block until ``tokens`` are available, take them; return the seconds waited."""
        start = self._clock()
        self._wait_turn()
        try:
            while (delay := self._take_or_delay(tokens)) > 0:
                self._sleep(delay)
        finally:
            self._end_turn()
        return self._clock() - start

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if that needs no waiting and nobody is queued; never blocks."""
        with self._cond:
            if self._serving != self._next_ticket:
                return False
            return self._take_or_delay(tokens) == 0

    def update(
        self,
        *,
        capacity: float | None = None,
        refill_per_s: float | None = None,
        available: float | None = None,
    ) -> None:
        """Adopt the numbers a server reports; ``available`` is clamped to [0, capacity]."""
        with self._cond:
            self._refill()
            if capacity is not None:
                _check_positive(capacity=capacity)
                self._capacity = float(capacity)
            if refill_per_s is not None:
                _check_positive(refill_per_s=refill_per_s)
                self._rate = float(refill_per_s)
            if available is not None:
                self._available = max(float(available), 0.0)
            self._available = min(self._available, self._capacity)

    def pause_for(self, seconds: float) -> None:
        """Empty the bucket and hand out no token for ``seconds`` (e.g. after a 429)."""
        with self._cond:
            self._refill()
            self._available = min(self._available, 0.0)
            self._not_before = max(self._not_before, self._clock() + max(seconds, 0.0))

    def _wait_turn(self) -> None:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._cond.wait_for(lambda: self._serving == ticket)

    def _end_turn(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def _take_or_delay(self, tokens: float) -> float:
        """Take the tokens and return 0, or return how long to sleep before trying again."""
        with self._cond:
            now = self._refill()
            if now < self._not_before:
                return self._not_before - now
            need = min(tokens, self._capacity)
            deficit = need - self._available
            if deficit > _EPSILON:
                return deficit / self._rate
            self._available -= tokens
            return 0.0

    def _refill(self) -> float:
        now = self._clock()
        if now > self._last:
            self._available = min(self._capacity, self._available + (now - self._last) * self._rate)
            self._last = now
        return now


def _check_positive(**numbers: float) -> None:
    for name, value in numbers.items():
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")


class LimiterRegistry:
    """Process-wide buckets by key (e.g. ``shopify:<shop>``), created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[TokenBucket, tuple[float, float]]] = {}

    def get(self, key: str, capacity: float, refill_per_s: float) -> TokenBucket:
        """Return the bucket for ``key``; when the declared numbers changed, update it."""
        declared = (float(capacity), float(refill_per_s))
        with self._lock:
            entry = self._buckets.get(key)
            if entry is None:
                bucket = TokenBucket(capacity, refill_per_s)
            else:
                bucket, before = entry
                if before != declared:
                    bucket.update(capacity=capacity, refill_per_s=refill_per_s)
            self._buckets[key] = (bucket, declared)
            return bucket


limiters = LimiterRegistry()

_gates: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_gates_lock = threading.Lock()


def gate(key: str, slots: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore that caps one connection's requests in flight."""
    with _gates_lock:
        return _gates.setdefault((key, slots), threading.BoundedSemaphore(slots))
