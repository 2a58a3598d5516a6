"""The one way connectors talk HTTP: retries, pacing, call records and secret masking.

Every attempt takes ``cost`` tokens from the connection's limiter, is recorded as a
``CallRecord`` (URL and errors masked) and logged to ``hub.http``. Retries follow the
server's ``Retry-After``; a 429 without one, on a paced call, empties the limiter and waits for
its next token; anything else backs off exponentially with full jitter. Only calls that are
safe to repeat are retried after a server error or a lost response.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import EllipsisType
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import requests
import requests.auth
import tenacity
from requests.models import PreparedRequest
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from urllib3.exceptions import NewConnectionError

from hub.ratelimit import TokenBucket

log = logging.getLogger("hub.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_IF_IDEMPOTENT = frozenset({408, 500, 502, 503, 504})
SECRET_PARAMS = frozenset(
    {
        "access_token", "token", "key", "api_key", "apikey", "secret", "client_secret", "consumer_key",
        "consumer_secret", "password", "signature", "oauth_signature", "oauth_token", "x-amz-signature",
        "x-amz-security-token", "code", "refresh_token", "hmac",
    }
)  # fmt: skip
SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|signature|password|cookie", re.IGNORECASE)
_NAMES = "|".join(re.escape(name) for name in sorted(SECRET_PARAMS, key=len, reverse=True))
_PARAM_RE = re.compile(rf"(?<![\w-])((?:{_NAMES})=)[^&#\s\"'<>]*", re.IGNORECASE)
_JSON_RE = re.compile(rf"(\"(?:{_NAMES})\"\s*:\s*\")[^\"]*", re.IGNORECASE)
MIN_SECRET_LENGTH = 4
BODY_EXCERPT = 300
MASK = "***"


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as the call log keeps it."""

    connection_id: int | None
    method: str
    url: str  # secrets masked
    status: int | None  # None when no response (connection error, timeout)
    duration_ms: int
    attempt: int  # 1-based
    error: str | None  # masked
    request_id: str | None  # from the header named by request_id_header, if any
    at: datetime  # aware UTC, start of the attempt


CallSink = Callable[[CallRecord], None]


class HttpError(Exception):
    """A call that failed for good: an unwanted status, or no response at all (``status`` None)."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        body: str = "",
        request_id: str | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.body = body
        self.request_id = request_id
        self.response = response


def json_body(response: requests.Response) -> Any:
    """A response's JSON, parsed by orjson: order pages run to megabytes."""
    return orjson.loads(response.content)


def _plain_reason(exc: requests.RequestException) -> str:
    """What a person should read first about a call that got no answer."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "NameResolution" in text or "Name or service not known" in text:
            return "the host name does not resolve"
        if "Connection refused" in text:
            return "the connection was refused"
        return "could not connect, or the connection dropped"
    return "the request failed"


def _sleep(seconds: float) -> None:
    """Retry waits go through tenacity's sleep (looked up per call, so tests can patch it)."""
    tenacity.nap.sleep(seconds)


class HttpClient:
    """An HTTP client for one connection: one session, one limiter, one call sink."""

    def __init__(
        self,
        base_url: str,
        *,
        connection_id: int | None = None,
        headers: Mapping[str, str] | None = None,
        auth: requests.auth.AuthBase | None = None,
        limiter: TokenBucket | None = None,
        sink: CallSink | None = None,
        secrets: Iterable[str] = (),
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        request_id_header: str | None = None,
        session: requests.Session | None = None,
        gate: threading.Semaphore | None = None,
    ) -> None:
        self.base_url = base_url
        self.connection_id = connection_id
        self.limiter = limiter
        #: at most so many requests of this connection in flight at once (shared between clients)
        self.gate = gate
        self.sink = sink
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self.request_id_header = request_id_header
        self.on_response: list[Callable[[requests.Response], None]] = []
        self._backoff = wait_random_exponential(multiplier=backoff_base, max=backoff_max)
        self._secrets: tuple[str, ...] = ()
        self._secrets_lock = threading.Lock()
        self.session = session or requests.Session()
        if auth is not None:
            self.session.auth = auth
        for name, value in (headers or {}).items():
            self.session.headers[name] = value
            if SENSITIVE_HEADER.search(name):
                self._add_header_secret(value)
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, value: str) -> None:
        """Mask ``value`` (and its URL-encoded form) from now on; shorter values are ignored."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._secrets_lock:
            known = {*self._secrets, value, quote(value, safe="")}
            self._secrets = tuple(sorted(known, key=len, reverse=True))  # longest first

    def mask(self, text: str) -> str:
        """Replace secret query parameters and every registered secret value with ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        text = _PARAM_RE.sub(rf"\g<1>{MASK}", text)
        return _JSON_RE.sub(rf"\g<1>{MASK}", text)

    def get(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("GET", path_or_url, **kw)

    def post(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("POST", path_or_url, **kw)

    def put(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path_or_url, **kw)

    def patch(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path_or_url, **kw)

    def delete(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path_or_url, **kw)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        ok: Container[int] | None = None,
        cost: float = 1.0,
        timeout: float | None = None,
        limiter: TokenBucket | EllipsisType | None = ...,
    ) -> requests.Response:
        """Send with retries; return the response whose status is in ``ok`` (default 2xx), else raise.

        ``limiter`` paces this call instead of the client's (a channel whose API has a second
        budget, such as Shopify's GraphQL cost points): its tokens are taken on every attempt
        and a ``Retry-After`` pauses it, not the client's."""
        method = method.upper()
        url = self.url_for(path_or_url)
        call = _Call(
            method=method,
            url=url,
            shown_url=self.mask(_with_params(url, params)),
            kwargs={
                "params": params,
                "json": json,
                "data": data,
                "headers": headers,
                "timeout": self.timeout if timeout is None else timeout,
            },
            ok=range(200, 300) if ok is None else ok,
            cost=cost,
            limiter=self.limiter if limiter is ... else limiter,
        )
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        retrying = Retrying(
            sleep=_sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=lambda state: self._wait(state, call),
            retry=retry_if_exception(lambda exc: _retryable(exc, safe)),
            before_sleep=lambda state: self._log_retry(call, state),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                response = self._attempt(call, attempt.retry_state.attempt_number)
        return response

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL verbatim, else ``path_or_url`` joined to the base URL."""
        if urlsplit(path_or_url).scheme in ("http", "https"):
            return path_or_url
        if not path_or_url:
            return self.base_url
        return f"{self.base_url.rstrip('/')}/{path_or_url.lstrip('/')}"

    def _attempt(self, call: _Call, number: int) -> requests.Response:
        if call.limiter is not None:
            call.limiter.acquire(call.cost)
        at = datetime.now(UTC)
        started = time.monotonic()
        try:
            with self.gate if self.gate is not None else nullcontext():
                response = self.session.request(call.method, call.url, **call.kwargs)
        except requests.RequestException as exc:
            error = self.mask(f"{type(exc).__name__}: {exc}")
            self._record(call, number, at, started, status=None, error=error, request_id=None)
            raise HttpError(
                f"{call.method} {call.shown_url}: {_plain_reason(exc)} after {_attempts(number)} ({error})",
                url=call.shown_url,
            ) from exc
        request_id = response.headers.get(self.request_id_header) if self.request_id_header else None
        failed = response.status_code not in call.ok
        error = self._status_text(response) if failed else None
        self._record(
            call, number, at, started, status=response.status_code, error=error, request_id=request_id
        )
        for hook in self.on_response:
            hook(response)
        if failed:
            raise self._status_error(call, response, number, request_id)
        return response

    def _status_error(
        self, call: _Call, response: requests.Response, number: int, request_id: str | None
    ) -> HttpError:
        body = self.mask(response.text)
        message = f"{call.method} {call.shown_url}: {_status_line(response)} after {_attempts(number)}"
        if body:
            message += f": {body[:BODY_EXCERPT]}"
        return HttpError(
            message,
            url=call.shown_url,
            status=response.status_code,
            body=body,
            request_id=request_id,
            response=response,
        )

    def _status_text(self, response: requests.Response) -> str:
        excerpt = self.mask(response.text)[:BODY_EXCERPT]
        return f"{_status_line(response)}: {excerpt}" if excerpt else _status_line(response)

    def _record(
        self,
        call: _Call,
        number: int,
        at: datetime,
        started: float,
        *,
        status: int | None,
        error: str | None,
        request_id: str | None,
    ) -> None:
        record = CallRecord(
            connection_id=self.connection_id,
            method=call.method,
            url=call.shown_url,
            status=status,
            duration_ms=round((time.monotonic() - started) * 1000),
            attempt=number,
            error=error,
            request_id=request_id,
            at=at,
        )
        log.debug("%s %s -> %s in %d ms (attempt %d)%s", record.method, record.url, status,
                  record.duration_ms, number, f": {error}" if error else "")  # fmt: skip
        if self.sink is not None:
            try:
                self.sink(record)
            except Exception:
                log.exception("call sink failed for %s %s", record.method, record.url)

    def _wait(self, state: RetryCallState, call: _Call) -> float:
        """The server's Retry-After (shared with the limiter); else, for a 429 on a paced call,
        until the limiter's next token; else exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        response = exc.response if isinstance(exc, HttpError) else None
        delay = _retry_after(response) if response is not None else None
        limiter = call.limiter
        if delay is None:
            if limiter is not None and response is not None and response.status_code == 429:
                return _until_next_token(limiter, call.cost)
            return self._backoff(state)
        delay = min(delay, self.max_retry_after)
        if limiter is not None:
            limiter.pause_for(delay)
        return delay

    def _log_retry(self, call: _Call, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, HttpError) and exc.response is not None:
            what = _status_line(exc.response)
        else:
            what = type(exc.__cause__ or exc).__name__ if exc is not None else "no outcome"
        log.warning("%s %s: %s (attempt %d/%d); retrying in %.2f s", call.method, call.shown_url,
                    what, state.attempt_number, self.max_attempts, state.upcoming_sleep)  # fmt: skip

    def _add_header_secret(self, value: str) -> None:
        self.add_secret(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            self.add_secret(credential)


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    shown_url: str  # with the query parameters, masked
    kwargs: dict[str, Any]
    ok: Container[int]
    cost: float
    limiter: TokenBucket | None


def _with_params(url: str, params: Any) -> str:
    prepared = PreparedRequest()
    prepared.prepare_url(url, params)
    return prepared.url or url


def _retryable(exc: BaseException, idempotent: bool) -> bool:
    """429 always; 408/5xx and lost responses when idempotent; connects that never reached the server."""
    if not isinstance(exc, HttpError):
        return False
    if exc.status is not None:
        return exc.status == 429 or (idempotent and exc.status in RETRY_IF_IDEMPOTENT)
    cause = exc.__cause__
    if _never_sent(cause):
        return True
    return idempotent and isinstance(cause, requests.Timeout | requests.ConnectionError)


def _never_sent(exc: BaseException | None) -> bool:
    """A connect timeout, or a connection error caused by failing to open the connection."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return isinstance(exc, requests.ConnectionError) and any(
        isinstance(link, NewConnectionError) for link in _chain(exc)
    )


def _chain(exc: BaseException) -> Iterable[BaseException]:
    """The exception, its causes and contexts, and exceptions held in args or ``reason``."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])


def _until_next_token(limiter: TokenBucket, cost: float) -> float:
    """Seconds until ``limiter`` holds the next attempt's ``cost`` again, after emptying it: the
    server said (429, no Retry-After) that the budget the limiter mirrors is spent."""
    limiter.pause_for(0.0)
    missing = min(cost, limiter.capacity) - limiter.available
    return max(missing, 0.0) / limiter.refill_per_s


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), if there is a valid one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max((when - datetime.now(UTC)).total_seconds(), 0.0)
    return seconds if seconds >= 0 else None


def _status_line(response: requests.Response) -> str:
    reason = response.reason
    if not reason:
        try:
            reason = HTTPStatus(response.status_code).phrase
        except ValueError:
            reason = ""
    return f"{response.status_code} {reason}".strip()


def _attempts(number: int) -> str:
    return f"{number} attempt" if number == 1 else f"{number} attempts"
