"""TokenBucket and LimiterRegistry: deterministic with a fake clock, plus one real-threads check."""

from __future__ import annotations

import threading
import time

import pytest

from hub.ratelimit import LimiterRegistry, TokenBucket, limiters


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def bucket(clock: FakeClock, capacity: float = 3, rate: float = 2) -> TokenBucket:
    return TokenBucket(capacity, rate, clock=clock, sleep=clock.sleep)


def test_starts_full_and_bursts_without_waiting(clock: FakeClock) -> None:
    b = bucket(clock)
    assert b.available == 3
    assert [b.acquire() for _ in range(3)] == [0, 0, 0]
    assert clock.sleeps == []
    assert b.available == 0


def test_paces_exactly_at_the_refill_rate_after_the_burst(clock: FakeClock) -> None:
    b = bucket(clock)
    start = clock.now
    waits = [b.acquire() for _ in range(7)]
    assert waits == pytest.approx([0, 0, 0, 0.5, 0.5, 0.5, 0.5])
    assert clock.sleeps == pytest.approx([0.5] * 4)  # one exact sleep per wait, no polling
    assert clock.now - start == pytest.approx((7 - 3) / 2)


def test_acquire_several_tokens_waits_for_the_deficit(clock: FakeClock) -> None:
    b = bucket(clock, capacity=10, rate=4)
    b.acquire(9)
    assert b.acquire(3) == pytest.approx(0.5)
    assert b.available == pytest.approx(0)


def test_refill_is_capped_at_capacity(clock: FakeClock) -> None:
    b = bucket(clock)
    b.acquire(3)
    clock.now += 100
    assert b.available == 3


def test_try_acquire_never_waits(clock: FakeClock) -> None:
    b = bucket(clock, capacity=2, rate=1)
    assert b.try_acquire()
    assert b.try_acquire()
    assert not b.try_acquire()
    clock.now += 1
    assert b.try_acquire()
    assert clock.sleeps == []


def test_update_adopts_server_numbers(clock: FakeClock) -> None:
    b = bucket(clock, capacity=40, rate=2)
    b.update(capacity=40, available=40 - 32)  # Shopify: "32/40"
    assert b.available == 8
    b.update(available=-5)
    assert b.available == 0
    b.update(available=500)
    assert b.available == 40
    b.update(capacity=10)
    assert (b.capacity, b.available) == (10, 10)
    b.update(refill_per_s=5, available=0)
    assert b.refill_per_s == 5
    assert b.acquire(2) == pytest.approx(0.4)


def test_update_rejects_nonsense(clock: FakeClock) -> None:
    b = bucket(clock)
    with pytest.raises(ValueError, match="refill_per_s"):
        b.update(refill_per_s=0)
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(0, 1)


def test_pause_for_holds_every_token_until_then(clock: FakeClock) -> None:
    b = bucket(clock, capacity=10, rate=2)
    b.pause_for(2.0)
    assert b.available == 0
    assert not b.try_acquire()
    clock.now += 1.0
    assert not b.try_acquire()  # tokens accrue, but nobody gets one before the pause ends
    assert b.acquire() == pytest.approx(1.0)
    assert b.available == pytest.approx(3.0)


def test_pause_for_does_not_shorten_a_longer_pause(clock: FakeClock) -> None:
    b = bucket(clock)
    b.pause_for(5)
    b.pause_for(1)
    assert b.acquire() == pytest.approx(5)


def test_oversized_acquire_waits_for_a_full_bucket_and_goes_into_debt(clock: FakeClock) -> None:
    b = bucket(clock, capacity=2, rate=1)
    b.acquire(1)
    assert b.acquire(4) == pytest.approx(1)
    assert b.available == pytest.approx(-2)
    assert b.acquire() == pytest.approx(3)


def test_registry_returns_one_bucket_per_key_and_follows_declared_changes() -> None:
    reg = LimiterRegistry()
    a = reg.get("shopify:a", 40, 2)
    assert reg.get("shopify:a", 40, 2) is a
    assert reg.get("shopify:b", 40, 2) is not a
    a.update(capacity=80)  # learned from the server: not undone while the declaration is unchanged
    assert reg.get("shopify:a", 40, 2).capacity == 80
    assert reg.get("shopify:a", 20, 1) is a
    assert (a.capacity, a.refill_per_s) == (20, 1)


def test_module_registry_exists() -> None:
    assert isinstance(limiters, LimiterRegistry)


def test_threads_together_pace_to_the_refill_rate() -> None:
    capacity, rate, threads, each = 5, 50.0, 8, 10
    b = TokenBucket(capacity, rate)
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(each):
            b.acquire()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    start = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    elapsed = time.monotonic() - start
    assert not any(w.is_alive() for w in workers)
    assert elapsed >= (threads * each - capacity) / rate * 0.95
