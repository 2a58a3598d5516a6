"""OAuth client-credentials tokens, cached per credentials until shortly before they
expire and fetched once however many threads ask at the same moment.

A carrier client asks :func:`bearer` for a token; on a 401 it calls :meth:`TokenCache.reject`
with the token that was refused and asks again: only the first of many threads that saw
the same refused token fetches a new one."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: a token is renewed this many seconds before the expiry its issuer gave
EXPIRY_MARGIN_S = 60.0


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float  # time.monotonic() seconds


def token_from_response(value: str, expires_in: float | int | str | None, now: float | None = None) -> Token:
    """A token from an OAuth answer's ``access_token`` and ``expires_in`` (seconds)."""
    seconds = float(expires_in) if expires_in not in (None, "") else 3600.0
    return Token(value, (time.monotonic() if now is None else now) + seconds)


class TokenCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic, margin: float = EXPIRY_MARGIN_S) -> None:
        self._clock = clock
        self._margin = margin
        self._tokens: dict[str, Token] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @staticmethod
    def key(*parts: object) -> str:
        """A cache key from what identifies the credentials (never stored in clear)."""
        return hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _fresh(self, key: str) -> Token | None:
        token = self._tokens.get(key)
        if token is not None and token.expires_at - self._margin > self._clock():
            return token
        return None

    def get(self, key: str, fetch: Callable[[], Token]) -> str:
        """A valid token for ``key``, fetched with ``fetch`` only when none is cached."""
        if (token := self._fresh(key)) is not None:
            return token.value
        with self._lock(key):
            if (token := self._fresh(key)) is None:
                token = fetch()
                self._tokens[key] = token
            return token.value

    def reject(self, key: str, value: str) -> None:
        """The issuer refused ``value`` (a 401): forget it, unless another thread already
        replaced it with a newer one."""
        with self._lock(key):
            current = self._tokens.get(key)
            if current is not None and current.value == value:
                del self._tokens[key]


#: the process-wide cache every carrier connector shares
TOKENS = TokenCache()
