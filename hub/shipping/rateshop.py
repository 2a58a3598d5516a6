"""Quotes from several carriers at once, each within its own timeout.

Every carrier's ``rates`` runs on a shared thread pool; :func:`shop` returns as soon as
every carrier has answered or passed its own deadline, whichever comes first for each.
A carrier that raises or is still running at its deadline is reported as a failure beside
the others' quotes; its thread is not waited for (its HTTP timeout frees it later)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal

from hub.shipping.model import RateQuote, RateRequest
from hub.shipping.rules import Offer

#: carriers' rate calls of every shop in this process; a hung call holds a worker only
#: until its HTTP timeout, so the pool is sized for many concurrent shops
POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="rate-shop")


@dataclass(frozen=True)
class CarrierTarget:
    connection_id: int
    connection_name: str
    carrier: str
    timeout_s: float
    rates: Callable[[RateRequest], list[RateQuote]]


@dataclass(frozen=True)
class CarrierFailure:
    connection_id: int
    connection_name: str
    carrier: str
    reason: Literal["timeout", "error"]
    message: str
    elapsed_ms: int


@dataclass(frozen=True)
class ShopOutcome:
    offers: list[Offer]
    failures: list[CarrierFailure]
    elapsed_ms: float
    #: how long each carrier that answered took (connection id → ms)
    carrier_ms: dict[int, float]


def _timed(target: CarrierTarget, request: RateRequest) -> tuple[list[RateQuote], float]:
    started = time.perf_counter()
    quotes = target.rates(request)
    return quotes, (time.perf_counter() - started) * 1000


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def shop(targets: list[CarrierTarget], request: RateRequest, pool: ThreadPoolExecutor = POOL) -> ShopOutcome:
    started = time.perf_counter()
    futures: dict[Future[tuple[list[RateQuote], float]], CarrierTarget] = {
        pool.submit(_timed, target, request): target for target in targets
    }
    deadlines = {future: started + target.timeout_s for future, target in futures.items()}
    pending = set(futures)
    expired: set[Future[tuple[list[RateQuote], float]]] = set()
    while pending:
        now = time.perf_counter()
        for future in [f for f in pending if deadlines[f] <= now and not f.done()]:
            pending.discard(future)
            expired.add(future)
            future.cancel()  # only helps when it has not started (a saturated pool)
        if not pending:
            break
        _done, pending = wait(
            pending, timeout=min(deadlines[f] for f in pending) - now, return_when=FIRST_COMPLETED
        )
    offers: list[Offer] = []
    failures: list[CarrierFailure] = []
    carrier_ms: dict[int, float] = {}
    for future, target in futures.items():
        if future in expired:
            failures.append(
                _failure(
                    target, "timeout", f"no answer within {target.timeout_s:g} s", target.timeout_s * 1000
                )
            )
            continue
        exc = future.exception()
        if exc is not None:
            elapsed = (time.perf_counter() - started) * 1000
            failures.append(_failure(target, "error", _message(exc), elapsed))
            continue
        quotes, elapsed = future.result()
        carrier_ms[target.connection_id] = elapsed
        offers.extend(Offer(target.connection_id, target.connection_name, q) for q in quotes)
    return ShopOutcome(offers, failures, (time.perf_counter() - started) * 1000, carrier_ms)


def _failure(
    target: CarrierTarget, reason: Literal["timeout", "error"], message: str, ms: float
) -> CarrierFailure:
    name = target.connection_name
    return CarrierFailure(target.connection_id, name, target.carrier, reason, message, round(ms))
