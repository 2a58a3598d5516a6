"""The shared OAuth token cache: one fetch however many threads ask, renewal before expiry,
and a refused token dropped only once."""

from __future__ import annotations

import threading
import time

from hub.oauth import Token, TokenCache, token_from_response


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fifty_threads_one_fetch() -> None:
    cache, fetched = TokenCache(), []
    start = threading.Barrier(50)

    def fetch() -> Token:
        fetched.append(1)
        time.sleep(0.05)  # a slow token endpoint: the others must wait, not fetch
        return Token("tok-1", time.monotonic() + 3600)

    def ask(out: list[str]) -> None:
        start.wait()
        out.append(cache.get("k", fetch))

    got: list[str] = []
    threads = [threading.Thread(target=ask, args=(got,)) for _ in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert fetched == [1] and got == ["tok-1"] * 50


def test_renewed_a_margin_before_expiry() -> None:
    clock = Clock()
    cache = TokenCache(clock=clock, margin=60)
    tokens = iter(["a", "b"])
    fetch = lambda: token_from_response(next(tokens), 3600, now=clock())  # noqa: E731
    assert cache.get("k", fetch) == "a"
    clock.now += 3600 - 61
    assert cache.get("k", fetch) == "a"
    clock.now += 2  # within the last minute: renewed
    assert cache.get("k", fetch) == "b"


def test_a_refused_token_is_dropped_once() -> None:
    cache = TokenCache()
    tokens = iter(["old", "new", "newer"])
    fetch = lambda: Token(next(tokens), time.monotonic() + 3600)  # noqa: E731
    assert cache.get("k", fetch) == "old"
    cache.reject("k", "old")
    assert cache.get("k", fetch) == "new"
    cache.reject("k", "old")  # a slower thread saw the same 401: the new token stays
    assert cache.get("k", fetch) == "new"


def test_keys_are_separate_and_never_the_secret() -> None:
    key = TokenCache.key("ups", "client-id", "very-secret-value")
    assert "very-secret-value" not in key and len(key) == 64
    assert key != TokenCache.key("ups", "client-id", "other")
    assert token_from_response("t", None, now=0).expires_at == 3600.0
