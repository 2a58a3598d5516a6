"""The sandbox framework, exercised through a tiny counter sandbox over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import flask
import pytest
import requests

from hub.sandbox import Faults, Sandbox, SandboxClock

LIMIT_BODY = {"errors": "Exceeded 2 calls per second for api client. Reduce request rates."}


class CounterSandbox(Sandbox):
    """``POST /things`` increments, ``GET /things`` reads, ``POST /hooks`` records webhooks."""

    name = "counter"

    def __init__(self, *, seed: int = 0, faults: Faults | None = None, limit: int | None = None) -> None:
        super().__init__(seed=seed, faults=faults)
        self.count = 0
        self.hooks: list[tuple[bytes, str | None]] = []
        self.limit = limit
        self.calls = 0

    def routes(self, app: flask.Flask) -> None:
        @app.post("/things")
        def add_thing() -> tuple[dict[str, int], int]:
            with self.lock:
                self.count += 1
                return {"count": self.count}, 201

        @app.get("/things")
        def get_things() -> dict[str, int]:
            return {"count": self.count}

        @app.post("/hooks")
        def receive_hook() -> tuple[str, int]:
            with self.lock:
                self.hooks.append((flask.request.get_data(), flask.request.headers.get("X-Topic")))
            return "", 204

    def rate_limited_response(self) -> flask.Response:
        response = flask.jsonify(LIMIT_BODY)
        response.status_code = 429
        response.headers["Retry-After"] = "2.0"
        response.headers["X-Counter-Api-Call-Limit"] = "40/40"
        return response

    def check_rate_limit(self) -> flask.Response | None:
        if self.limit is None:
            return None
        with self.lock:
            self.calls += 1
            return self.rate_limited_response() if self.calls > self.limit else None


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before]
    for thread in left:  # a handler thread may still be closing its socket as stop() returns
        thread.join(timeout=2)
    left = [t for t in left if t.is_alive()]
    assert not left, f"threads still running: {left}"


@pytest.fixture
def sandbox() -> Iterator[CounterSandbox]:
    sb = CounterSandbox().start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def receiver() -> Iterator[CounterSandbox]:
    sb = CounterSandbox().start()
    try:
        yield sb
    finally:
        sb.stop()


def add(sb: Sandbox, path: str = "/things") -> requests.Response:
    return requests.post(sb.url + path, timeout=5)


def outcome(sb: Sandbox, method: str, path: str) -> int | str:
    try:
        return requests.request(method, sb.url + path, timeout=5).status_code
    except requests.exceptions.ConnectionError:
        return "connection error"


# -- lifecycle ---------------------------------------------------------------------------------------


def test_start_on_free_ports_and_stop() -> None:
    a, b = CounterSandbox().start(), CounterSandbox().start()
    url = a.url
    try:
        assert a.port != b.port
        assert url == f"http://127.0.0.1:{a.port}"
        assert requests.get(b.url + "/_sandbox/health", timeout=5).json() == {"ok": True, "name": "counter"}
    finally:
        a.stop()
        b.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/_sandbox/health", timeout=5)
    assert not a.running
    with pytest.raises(RuntimeError):
        _ = a.url
    a.stop()  # idempotent


def test_context_manager_and_restart() -> None:
    sb = CounterSandbox()
    with sb:
        assert add(sb).json() == {"count": 1}
        with pytest.raises(RuntimeError, match="already running"):
            sb.start()
    assert not sb.running
    with sb.start():  # state survives a restart
        assert add(sb).json() == {"count": 2}


def test_port_in_use_raises_oserror(sandbox: CounterSandbox) -> None:
    with pytest.raises(OSError):
        CounterSandbox().start(port=sandbox.port)


# -- latency -----------------------------------------------------------------------------------------


def test_latency_is_applied_to_requests_but_not_control_endpoints(sandbox: CounterSandbox) -> None:
    sandbox.set_faults(latency_ms=120, latency_jitter_ms=30)
    started = time.perf_counter()
    assert add(sandbox).status_code == 201
    assert time.perf_counter() - started >= 0.12
    started = time.perf_counter()
    assert requests.get(sandbox.url + "/_sandbox/health", timeout=5).ok
    assert time.perf_counter() - started < 0.12


def test_stop_cuts_latency_sleep_short() -> None:
    sb = CounterSandbox(faults=Faults(latency_ms=5_000)).start()
    thread = threading.Thread(target=outcome, args=(sb, "GET", "/things"))
    thread.start()
    time.sleep(0.05)
    started = time.perf_counter()
    sb.stop()
    thread.join()
    assert time.perf_counter() - started < 2


# -- fail_next ---------------------------------------------------------------------------------------


def test_fail_next_429_answers_the_systems_own_rate_limit(sandbox: CounterSandbox) -> None:
    sandbox.fail_next("429")
    response = add(sandbox)
    assert response.status_code == 429
    assert response.json() == LIMIT_BODY
    assert response.headers["Retry-After"] == "2.0"
    assert response.headers["X-Counter-Api-Call-Limit"] == "40/40"
    assert sandbox.count == 0
    assert add(sandbox).status_code == 201


def test_default_rate_limited_response() -> None:
    with Sandbox() as sb:
        sb.fail_next("429")
        response = requests.get(sb.url + "/anything", timeout=5)
    assert response.status_code == 429
    assert response.json() == {"errors": "Too Many Requests"}
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("kind", ["500", "503"])
def test_fail_next_server_errors(sandbox: CounterSandbox, kind: str) -> None:
    sandbox.fail_next(kind, count=2)  # type: ignore[arg-type]
    assert [add(sandbox).status_code for _ in range(3)] == [int(kind), int(kind), 201]
    assert sandbox.count == 1
    assert sandbox.stats.faults[kind] == 2


def test_drop_closes_connection_before_processing(sandbox: CounterSandbox) -> None:
    sandbox.fail_next("drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(sandbox.url + "/things", json={"big": "x" * 200_000}, timeout=5)
    assert sandbox.count == 0
    assert add(sandbox).json() == {"count": 1}
    assert sandbox.stats.faults["drop"] == 1


def test_lost_response_processes_then_closes_connection(sandbox: CounterSandbox) -> None:
    sandbox.fail_next("lost_response")
    with pytest.raises(requests.exceptions.ConnectionError):
        add(sandbox)
    assert sandbox.count == 1
    assert add(sandbox).json() == {"count": 2}
    assert sandbox.stats.faults["lost_response"] == 1


def test_cut_connections_and_requests_log_nothing(
    sandbox: CounterSandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    for kind in ("drop", "lost_response"):
        sandbox.fail_next(kind)  # type: ignore[arg-type]
        assert outcome(sandbox, "POST", "/things") == "connection error"
    for _ in range(5):
        assert add(sandbox).ok
    sandbox.stop()  # joins the request threads, so anything they would print is out
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""


def test_fail_next_path_filter_and_order(sandbox: CounterSandbox) -> None:
    sandbox.fail_next("503", path=r"^/hooks$")
    sandbox.fail_next("500")
    sandbox.fail_next("429")
    assert outcome(sandbox, "GET", "/things") == 500
    assert outcome(sandbox, "POST", "/hooks") == 503
    assert outcome(sandbox, "GET", "/things") == 429
    assert outcome(sandbox, "GET", "/things") == 200
    assert sandbox.pending_faults == []


def test_fail_next_validation(sandbox: CounterSandbox) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        sandbox.fail_next("404")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="count"):
        sandbox.fail_next("500", count=0)
    with pytest.raises(ValueError, match="regex"):
        sandbox.fail_next("500", path="(")


# -- random faults -----------------------------------------------------------------------------------

NOISY = Faults(rate_429=0.1, rate_500=0.15, rate_503=0.1, rate_drop=0.1, rate_lost_response=0.1)


def fault_sequence(seed: int, n: int = 40) -> tuple[list[int | str], int]:
    with CounterSandbox(seed=seed, faults=NOISY) as sb:
        seen = [outcome(sb, "POST", "/things") for _ in range(n)]
        return seen, sb.count


def test_random_faults_reproducible_for_a_seed() -> None:
    first, count = fault_sequence(seed=7)
    assert fault_sequence(seed=7) == (first, count)
    assert {201, 429, 500, 503, "connection error"} <= set(first)
    assert fault_sequence(seed=8)[0] != first
    # faults come from their own generator: the subclass's rng is untouched by them
    assert CounterSandbox(seed=7).rng.random() == CounterSandbox(seed=7, faults=NOISY).rng.random()


def test_only_paths(sandbox: CounterSandbox) -> None:
    sandbox.set_faults(rate_500=1.0, only_paths=r"^/hooks")
    assert outcome(sandbox, "GET", "/things") == 200
    assert outcome(sandbox, "POST", "/hooks") == 500
    assert outcome(sandbox, "GET", "/_sandbox/health") == 200


def test_control_endpoints_never_faulted(sandbox: CounterSandbox) -> None:
    sandbox.set_faults(rate_drop=1.0)
    sandbox.fail_next("500", count=5)
    for path in ("/_sandbox/health", "/_sandbox/faults", "/_sandbox/stats"):
        assert outcome(sandbox, "GET", path) == 200
    assert sandbox.pending_faults == [{"kind": "500", "count": 5, "path": None}]


def test_faults_validation() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Faults(rate_500=1.5)
    with pytest.raises(ValueError, match="<= 1"):
        Faults(rate_500=0.6, rate_503=0.6)
    with pytest.raises(ValueError, match=">= 0"):
        Faults(latency_ms=-1)
    with pytest.raises(ValueError, match="regex"):
        Faults(only_paths="[")
    with pytest.raises(ValueError, match="unknown fault field"):
        CounterSandbox().set_faults(rate_404=0.1)
    assert Faults(rate_500=1).rate_500 == 1.0


# -- control API -------------------------------------------------------------------------------------


def test_put_faults_validates_and_replaces(sandbox: CounterSandbox) -> None:
    url = sandbox.url + "/_sandbox/faults"
    sandbox.set_faults(rate_503=0.25)
    before = requests.get(url, timeout=5).json()
    assert before["rate_503"] == 0.25

    bad = requests.put(url, json={"rate_500": 0.5, "rate_404": 0.1}, timeout=5)
    assert bad.status_code == 400
    assert "unknown fault field(s): rate_404" in bad.json()["error"]
    assert requests.put(url, json={"rate_500": 3}, timeout=5).status_code == 400
    assert requests.put(url, json={"latency_ms": "slow"}, timeout=5).status_code == 400
    assert requests.put(url, data="nope", timeout=5).status_code == 400
    assert requests.get(url, timeout=5).json() == before

    put = requests.put(url, json={"rate_500": 0.5}, timeout=5)
    assert put.status_code == 200
    assert put.json()["rate_500"] == 0.5
    assert put.json()["rate_503"] == 0.0  # PUT replaces
    assert sandbox.faults == Faults(rate_500=0.5)

    patch = requests.patch(url, json={"latency_ms": 1}, timeout=5)
    assert patch.json()["rate_500"] == 0.5  # PATCH merges
    assert sandbox.faults == Faults(rate_500=0.5, latency_ms=1)


def test_fail_next_over_http(sandbox: CounterSandbox) -> None:
    url = sandbox.url + "/_sandbox/fail-next"
    assert requests.post(url, json={"kind": "teapot"}, timeout=5).status_code == 400
    assert requests.post(url, json={"kind": "500", "times": 2}, timeout=5).status_code == 400
    response = requests.post(url, json={"kind": "lost_response", "count": 1, "path": "^/things"}, timeout=5)
    assert response.json() == {"pending": [{"kind": "lost_response", "count": 1, "path": "^/things"}]}
    assert outcome(sandbox, "POST", "/things") == "connection error"
    assert sandbox.count == 1


def test_stats(sandbox: CounterSandbox) -> None:
    add(sandbox)
    add(sandbox)
    sandbox.fail_next("500")
    add(sandbox)
    sandbox.fail_next("drop")
    outcome(sandbox, "GET", "/things")
    requests.get(sandbox.url + "/things", timeout=5)
    requests.get(sandbox.url + "/nowhere", timeout=5)
    requests.get(sandbox.url + "/_sandbox/health", timeout=5)

    stats = sandbox.stats
    assert stats.requests == {
        ("POST", "/things", 201): 2,
        ("POST", "/things", 500): 1,
        ("GET", "/things", 200): 1,
        ("GET", "<unmatched>", 404): 1,
    }
    assert stats.faults == {"500": 1, "drop": 1}
    assert stats.count(method="POST") == 3
    assert stats.count(rule="/things", status=201) == 2

    body = requests.get(sandbox.url + "/_sandbox/stats", timeout=5).json()
    assert body["total"] == 5
    assert {"method": "POST", "rule": "/things", "status": 201, "count": 2} in body["requests"]
    assert body["faults"] == {"500": 1, "drop": 1}

    reset = requests.post(sandbox.url + "/_sandbox/stats/reset", timeout=5).json()
    assert reset == {"requests": [], "faults": {}, "total": 0}
    assert sandbox.stats.requests == {}


# -- rate limit hook ---------------------------------------------------------------------------------


def test_check_rate_limit_hook() -> None:
    with CounterSandbox(limit=2) as sb:
        sb.fail_next("500")
        assert outcome(sb, "POST", "/things") == 500  # hook allowed it, then the queued fault
        assert outcome(sb, "POST", "/things") == 201
        limited = add(sb)
        assert limited.status_code == 429
        assert limited.json() == LIMIT_BODY
        assert outcome(sb, "GET", "/_sandbox/health") == 200  # control: not counted, not limited
        assert sb.calls == 3
        assert sb.count == 1
        assert sb.stats.faults["rate_limited"] == 1


# -- webhooks ----------------------------------------------------------------------------------------


def test_deliver_webhook_twice(sandbox: CounterSandbox, receiver: CounterSandbox) -> None:
    statuses = sandbox.deliver_webhook(
        receiver.url + "/hooks", b'{"id": 1}', {"X-Topic": "orders/create"}, times=2
    )
    assert statuses == [204, 204]
    assert receiver.hooks == [(b'{"id": 1}', "orders/create")] * 2
    assert sandbox.stats.faults["duplicate_webhook"] == 1


def test_deliver_webhook_duplicate_roll_and_errors(sandbox: CounterSandbox, receiver: CounterSandbox) -> None:
    hook = receiver.url + "/hooks"
    assert sandbox.deliver_webhook(hook, b"{}", {}) == [204]
    sandbox.set_faults(duplicate_webhooks=1.0)
    assert sandbox.deliver_webhook(hook, b"{}", {}) == [204, 204]
    receiver.fail_next("503")
    assert sandbox.deliver_webhook(hook, b"{}", {}, times=1) == [503]
    receiver.fail_next("drop")
    assert sandbox.deliver_webhook(hook, b"{}", {}, times=1) == [None]
    assert len(receiver.hooks) == 3


# -- clock -------------------------------------------------------------------------------------------


class FakeTimer:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_clock_speed_and_advance() -> None:
    timer = FakeTimer()
    clock = SandboxClock(START, speed=60, timer=timer)
    assert clock.now() == START
    assert clock.now().tzinfo is UTC
    timer.t += 1
    assert clock.now() == START + timedelta(minutes=1)
    assert clock.advance(3600) == START + timedelta(hours=1, minutes=1)
    assert clock.advance(timedelta(days=1)) == START + timedelta(days=1, hours=1, minutes=1)
    clock.speed = 0  # frozen, without a jump
    timer.t += 100
    assert clock.now() == START + timedelta(days=1, hours=1, minutes=1)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        SandboxClock(datetime(2024, 1, 1))  # naive


def test_clock_real_time_and_threads() -> None:
    clock = SandboxClock(speed=3600)
    t0 = clock.now()
    time.sleep(0.02)
    assert clock.now() - t0 >= timedelta(seconds=72)
    assert abs(SandboxClock().now() - datetime.now(UTC)) < timedelta(seconds=1)

    frozen = SandboxClock(START, speed=0)
    workers = [threading.Thread(target=lambda: [frozen.advance(1) for _ in range(500)]) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert frozen.now() == START + timedelta(seconds=2000)
