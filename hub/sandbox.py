"""Framework for connector sandboxes: simulated outside systems served over real HTTP.

A subclass of :class:`Sandbox` registers the outside system's real paths and payloads in
``routes(app)``; the base class serves them on 127.0.0.1 from a background thread and injects
faults (latency, 429/500/503, dropped connections, lost responses, duplicate webhooks), either
rolled from a seeded generator or queued with :meth:`Sandbox.fail_next`. Control endpoints
under ``/_sandbox/`` are never faulted nor rate limited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, get_args

import flask
import orjson
import requests
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = [
    "CONTROL_PREFIX",
    "FAULT_KINDS",
    "FaultKind",
    "Faults",
    "Sandbox",
    "SandboxClock",
    "SandboxStats",
]

FaultKind = Literal["429", "500", "503", "drop", "lost_response"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
CONTROL_PREFIX = "/_sandbox"

#: Faults field -> fault kind, in the order a random roll tests them.
_RATE_FIELDS: dict[str, str] = {
    "rate_429": "429",
    "rate_500": "500",
    "rate_503": "503",
    "rate_drop": "drop",
    "rate_lost_response": "lost_response",
}
_PROBABILITY_FIELDS = (*_RATE_FIELDS, "duplicate_webhooks")
_LATENCY_FIELDS = ("latency_ms", "latency_jitter_ms")
#: WSGI environ key through which the request hook tells the middleware to cut the connection.
_ENVIRON_FAULT = "hub.sandbox.fault"
_UNMATCHED_RULE = "<unmatched>"


@dataclass
class Faults:
    """Fault settings of a sandbox; validated on construction (ValueError)."""

    latency_ms: float = 0.0  # added to every non-control request
    latency_jitter_ms: float = 0.0  # uniform 0..jitter extra
    rate_429: float = 0.0  # the system's own 429 (Sandbox.rate_limited_response)
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0  # connection closed before any response; request not processed
    rate_lost_response: float = 0.0  # request processed, then connection closed without response
    duplicate_webhooks: float = 0.0  # probability a webhook delivery is sent twice
    only_paths: str | None = None  # regex (re.search on the path): status/connection faults only there

    def __post_init__(self) -> None:
        for name in (*_LATENCY_FIELDS, *_PROBABILITY_FIELDS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            value = float(value)
            if name in _LATENCY_FIELDS:
                if not (math.isfinite(value) and value >= 0):
                    raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
            elif not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")
            setattr(self, name, value)
        if self.rate_total > 1.0 + 1e-9:
            raise ValueError(
                f"rate_429 + rate_500 + rate_503 + rate_drop + rate_lost_response must be <= 1, "
                f"got {self.rate_total:g}"
            )
        if self.only_paths is not None:
            if not isinstance(self.only_paths, str):
                raise ValueError(f"only_paths must be a regex string or null, got {self.only_paths!r}")
            try:
                re.compile(self.only_paths)
            except re.error as exc:
                raise ValueError(f"only_paths is not a valid regex: {exc}") from None

    @property
    def rate_total(self) -> float:
        """Probability that a request gets a status or connection fault."""
        return sum(getattr(self, name) for name in _RATE_FIELDS)

    def applies_to(self, path: str) -> bool:
        return self.only_paths is None or re.search(self.only_paths, path) is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Faults | None = None) -> Faults:
        """Faults from a JSON-like mapping; fields missing from ``data`` come from ``base`` (or the
        defaults). Unknown fields and bad values raise ValueError."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"unknown fault field(s): {', '.join(unknown)}; known fields: {', '.join(known)}"
            )
        return dataclasses.replace(base, **data) if base is not None else cls(**data)


@dataclass
class _PendingFault:
    kind: str
    remaining: int
    path: str | None

    def matches(self, path: str) -> bool:
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class SandboxStats:
    """Requests served per (method, URL rule, status), and injected faults per kind.

    Fault kinds counted: the FAULT_KINDS, ``rate_limited`` (check_rate_limit answered) and
    ``duplicate_webhook`` (extra webhook deliveries). Dropped requests count only as faults.
    """

    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def count(self, method: str | None = None, rule: str | None = None, status: int | None = None) -> int:
        """Requests served that match every given criterion."""
        return sum(
            n
            for (m, r, s), n in self.requests.items()
            if (method is None or m == method)
            and (rule is None or r == rule)
            and (status is None or s == status)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": [
                {"method": m, "rule": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self.requests.items())
            ],
            "faults": dict(sorted(self.faults.items())),
            "total": sum(self.requests.values()),
        }


class _ConnectionCut(ConnectionAbortedError):
    """Raised to the server after the sandbox cut a client's connection on purpose."""


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, quiet by default and silent about connections the sandbox cut."""

    protocol_version = "HTTP/1.1"
    #: socket timeout, so an idle client cannot keep a handler thread (and stop()) waiting forever
    timeout = 10

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        sandbox = getattr(self.server, "sandbox", None)
        if sandbox is not None and sandbox.access_log:
            super().log_request(code, size)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # Nothing was sent (so no "Connection: close" either): make sure the handler does not try
        # to read another request from the dead socket.
        self.close_connection = True


class _FaultMiddleware:
    """WSGI wrapper that cuts the connection when the request hook asked for drop/lost_response."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = self.wsgi_app(environ, start_response)
        fault = environ.get(_ENVIRON_FAULT)
        if fault not in ("drop", "lost_response"):
            return body
        try:
            if fault == "lost_response":
                for _ in body:  # run a streamed view to completion: its state change must commit
                    pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        sock = environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        # Raised from the app call itself (not while iterating), so werkzeug goes straight to
        # connection_dropped() without touching the socket again or logging anything.
        raise _ConnectionCut(f"sandbox fault: {fault}")


class _FastJSON(DefaultJSONProvider):
    """orjson for what a sandbox answers (the standard library for what it cannot take)."""

    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            return super().dumps(obj, **kwargs)


def _is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _json_error(message: str, status: int = 400) -> flask.Response:
    response = flask.jsonify(error=message)
    response.status_code = status
    return response


class Sandbox:
    """Base class. A subclass sets ``name``, registers routes in ``routes(app)``, keeps its state in
    attributes (guarded by ``self.lock``), and may override ``rate_limited_response``,
    ``error_response`` and ``check_rate_limit``.

    ``self.rng`` (seeded) is for the subclass's data; faults are rolled from ``self.fault_rng``
    (seeded from the same seed) so that turning faults on does not change generated data.
    ``app`` also works with Flask's test client, where drop/lost_response raise ConnectionAbortedError.
    """

    name: ClassVar[str] = "sandbox"

    def __init__(self, *, seed: int = 0, faults: Faults | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.fault_rng = random.Random(f"{seed}:faults")
        self.lock = threading.RLock()
        #: replace (do not mutate) to change faults at run time; see set_faults()
        self.faults: Faults = faults if faults is not None else Faults()
        #: log one line per request through werkzeug's logger (off: a sandbox may serve 20,000 requests)
        self.access_log = False
        self._control_lock = threading.Lock()
        self._app_lock = threading.Lock()
        self._pending: list[_PendingFault] = []
        self._stats = SandboxStats()
        self._app: flask.Flask | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._stopping = threading.Event()
        self._session: requests.Session | None = None

    # -- for subclasses ---------------------------------------------------------------------

    def routes(self, app: flask.Flask) -> None:
        """Register the simulated system's routes on ``app``."""

    def rate_limited_response(self) -> flask.Response:
        """The system's own 429 (body and headers); called inside the request context."""
        response = flask.jsonify(errors="Too Many Requests")
        response.status_code = 429
        response.headers["Retry-After"] = "1"
        return response

    def error_response(self, status: int) -> flask.Response:
        """The system's own body for an injected 500 or 503."""
        response = flask.jsonify(errors="Internal Server Error" if status == 500 else "Service Unavailable")
        response.status_code = status
        return response

    def tick(self) -> None:
        """One step of simulated activity (``make run`` calls it every few seconds):
        new or changed records, webhooks to the subscriptions. Default: nothing."""

    def connection_values(self) -> dict[str, Any]:
        """The form values of a connection pointed at this running sandbox
        (``make run`` creates one per sandbox with them)."""
        raise NotImplementedError

    def check_rate_limit(self) -> flask.Response | None:
        """The system's real limit model (e.g. a leaky bucket): a response to refuse the request, else
        None. Called for every non-control request, after latency and before faults."""
        return None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def app(self) -> flask.Flask:
        """The Flask app (built on first use: control endpoints, fault hooks, then ``routes``)."""
        with self._app_lock:
            if self._app is None:
                self._app = self._build_app()
            return self._app

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` while running."""
        if self._url is None:
            raise RuntimeError(f"sandbox {self.name!r} is not running")
        return self._url

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"sandbox {self.name!r} is not running")
        return self._server.port

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Serve in a daemon thread; returns once the socket accepts connections. Port 0: a free one."""
        if self._thread is not None:
            raise RuntimeError(f"sandbox {self.name!r} already running at {self._url}")
        app = self.app
        # Bind here rather than in werkzeug, which prints and calls sys.exit() when the port is taken.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(128)
            server = make_server(
                host,
                listener.getsockname()[1],
                app,
                threaded=True,
                request_handler=_RequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server holds its own duplicate of the descriptor
        server.sandbox = self  # type: ignore[attr-defined]  # read by _RequestHandler
        self._stopping.clear()
        ready = threading.Event()

        def serve() -> None:
            ready.set()
            server.serve_forever(poll_interval=0.05)

        thread = threading.Thread(target=serve, name=f"sandbox-{self.name}-{server.port}", daemon=True)
        self._server, self._thread = server, thread
        shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        self._url = f"http://[{shown}]:{server.port}" if ":" in shown else f"http://{shown}:{server.port}"
        thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        """Stop serving, wait for in-flight requests (latency sleeps are cut short), join the thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        server.server_close()  # idempotent; joins the request threads
        self._server = self._thread = None
        self._url = None
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- faults and stats -------------------------------------------------------------------------

    def set_faults(self, **kw: Any) -> None:
        """Change some fault fields (the others stay); ValueError on unknown fields or bad values."""
        self.faults = Faults.from_mapping(kw, base=self.faults)

    def reset_faults(self) -> None:
        """No random faults and no pending fail_next faults."""
        with self._control_lock:
            self.faults = Faults()
            self._pending.clear()

    def fail_next(self, kind: FaultKind, count: int = 1, path: str | None = None) -> None:
        """The next ``count`` requests whose path matches the regex ``path`` (re.search; None: any
        non-control path) get fault ``kind``. Queued faults apply first-in first-out."""
        kind_str = str(kind)
        if kind_str not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be an integer >= 1, got {count!r}")
        if path is not None:
            if not isinstance(path, str):
                raise ValueError(f"path must be a regex string or null, got {path!r}")
            try:
                re.compile(path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regex: {exc}") from None
        with self._control_lock:
            self._pending.append(_PendingFault(kind_str, count, path))

    @property
    def pending_faults(self) -> list[dict[str, Any]]:
        """The fail_next faults not yet used."""
        with self._control_lock:
            return [{"kind": p.kind, "count": p.remaining, "path": p.path} for p in self._pending]

    @property
    def stats(self) -> SandboxStats:
        """A snapshot of the counters."""
        with self._control_lock:
            return SandboxStats(Counter(self._stats.requests), Counter(self._stats.faults))

    def reset_stats(self) -> None:
        with self._control_lock:
            self._stats = SandboxStats()

    # -- webhooks ---------------------------------------------------------------------------------

    def deliver_webhook(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        times: int | None = None,
        timeout: float = 5.0,
    ) -> list[int | None]:
        """POST ``body`` to ``url`` ``times`` times (None: once, or twice when the
        ``duplicate_webhooks`` roll says so). Returns each status, None on a connection error."""
        if times is None:
            times = 1
            rate = self.faults.duplicate_webhooks
            if rate > 0:
                with self._control_lock:
                    if self.fault_rng.random() < rate:
                        times = 2
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        if times > 1:
            self._count_fault("duplicate_webhook", times - 1)
        with self._control_lock:
            if self._session is None:
                self._session = requests.Session()
            session = self._session
        statuses: list[int | None] = []
        for _ in range(times):
            try:
                with session.post(url, data=body, headers=dict(headers), timeout=timeout) as response:
                    statuses.append(response.status_code)
            except requests.RequestException:
                statuses.append(None)
        return statuses

    # -- internals --------------------------------------------------------------------------------

    def _build_app(self) -> flask.Flask:
        app = flask.Flask(type(self).__module__)
        app.json = _FastJSON(app)  # keeps the system's own key order, and pages of megabytes fast
        app.register_blueprint(self._control_blueprint())
        app.before_request(self._before_request)
        app.after_request(self._after_request)
        self.routes(app)
        app.wsgi_app = _FaultMiddleware(app.wsgi_app)  # type: ignore[method-assign]
        return app

    def _count_fault(self, kind: str, n: int = 1) -> None:
        with self._control_lock:
            self._stats.faults[kind] += n

    def _before_request(self) -> flask.Response | None:
        request = flask.request
        if _is_control(request.path):
            return None
        faults = self.faults  # one snapshot for the whole request
        delay_ms = faults.latency_ms
        if faults.latency_jitter_ms > 0:
            with self._control_lock:
                delay_ms += self.fault_rng.uniform(0, faults.latency_jitter_ms)
        if delay_ms > 0:
            self._stopping.wait(delay_ms / 1000)
        limited = self.check_rate_limit()
        if limited is not None:
            self._count_fault("rate_limited")
            return limited
        kind = self._next_fault(request.path, faults)
        if kind is None:
            return None
        self._count_fault(kind)
        if kind == "429":
            return self.rate_limited_response()
        if kind in ("500", "503"):
            return self.error_response(int(kind))
        request.environ[_ENVIRON_FAULT] = kind
        if kind == "drop":
            return flask.Response(status=503)  # never sent: the middleware cuts the connection
        return None  # lost_response: let the view run and commit

    def _next_fault(self, path: str, faults: Faults) -> str | None:
        with self._control_lock:
            for pending in self._pending:
                if pending.matches(path):
                    pending.remaining -= 1
                    if pending.remaining <= 0:
                        self._pending.remove(pending)
                    return pending.kind
            if faults.rate_total <= 0 or not faults.applies_to(path):
                return None
            roll = self.fault_rng.random()
        threshold = 0.0
        for name, kind in _RATE_FIELDS.items():
            threshold += getattr(faults, name)
            if roll < threshold:
                return kind
        return None

    def _after_request(self, response: flask.Response) -> flask.Response:
        request = flask.request
        if not _is_control(request.path) and request.environ.get(_ENVIRON_FAULT) != "drop":
            rule = request.url_rule.rule if request.url_rule is not None else _UNMATCHED_RULE
            with self._control_lock:
                self._stats.requests[(request.method, rule, response.status_code)] += 1
        return response

    def _control_blueprint(self) -> flask.Blueprint:
        bp = flask.Blueprint("_sandbox", __name__, url_prefix=CONTROL_PREFIX)

        def json_object() -> dict[str, Any] | None:
            data = flask.request.get_json(silent=True)
            return data if isinstance(data, dict) else None

        @bp.get("/health")
        def health() -> ResponseReturnValue:
            return {"ok": True, "name": self.name}

        @bp.get("/faults")
        def get_faults() -> ResponseReturnValue:
            return self.faults.to_dict()

        @bp.route("/faults", methods=["PUT", "PATCH"])
        def put_faults() -> ResponseReturnValue:
            # PUT replaces the settings (missing fields take their defaults); PATCH changes some.
            data = json_object()
            if data is None:
                return _json_error("body must be a JSON object of fault fields")
            base = self.faults if flask.request.method == "PATCH" else None
            try:
                self.faults = Faults.from_mapping(data, base=base)
            except (TypeError, ValueError) as exc:
                return _json_error(str(exc))
            return self.faults.to_dict()

        @bp.post("/fail-next")
        def post_fail_next() -> ResponseReturnValue:
            data = json_object()
            if data is None or "kind" not in data:
                return _json_error('body must be a JSON object {"kind": ..., "count": 1, "path": null}')
            unknown = sorted(set(data) - {"kind", "count", "path"})
            if unknown:
                return _json_error(f"unknown field(s): {', '.join(unknown)}; known fields: kind, count, path")
            try:
                self.fail_next(data["kind"], data.get("count", 1), data.get("path"))
            except ValueError as exc:
                return _json_error(str(exc))
            return {"pending": self.pending_faults}

        @bp.get("/stats")
        def get_stats() -> ResponseReturnValue:
            return self.stats.to_dict()

        @bp.post("/stats/reset")
        def reset_stats() -> ResponseReturnValue:
            self.reset_stats()
            return self.stats.to_dict()

        return bp


class SandboxClock:
    """Thread-safe sandbox time: runs ``speed`` times faster than real time (0 freezes it) and
    jumps forward with ``advance``. ``now()`` is an aware UTC datetime."""

    def __init__(
        self,
        start: datetime | None = None,
        *,
        speed: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if start is not None and start.utcoffset() is None:
            raise ValueError("start must be an aware datetime")
        self._check_speed(speed)
        self._lock = threading.Lock()
        self._timer = timer
        self._base = (start or datetime.now(UTC)).astimezone(UTC)
        self._anchor = timer()
        self._speed = float(speed)

    @staticmethod
    def _check_speed(speed: float) -> None:
        if not (math.isfinite(speed) and speed >= 0):
            raise ValueError(f"speed must be a finite number >= 0, got {speed!r}")

    def _now(self) -> datetime:
        return self._base + timedelta(seconds=(self._timer() - self._anchor) * self._speed)

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, speed: float) -> None:
        self._check_speed(speed)
        with self._lock:  # re-anchor so the clock does not jump
            self._base, self._anchor = self._now(), self._timer()
            self._speed = float(speed)

    def advance(self, seconds: float | timedelta) -> datetime:
        """Jump forward; returns the new now()."""
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if delta < timedelta(0):
            raise ValueError("a sandbox clock only moves forward")
        with self._lock:
            self._base += delta
            return self._now()


def load_sandbox(spec: str, **kw: Any) -> Sandbox:
    """Build the sandbox a connector names as ``module:callable``."""
    from hub.connectors import load_object

    sandbox = load_object(spec)(**kw)
    if not isinstance(sandbox, Sandbox):
        raise TypeError(f"{spec} did not give a Sandbox")
    return sandbox
