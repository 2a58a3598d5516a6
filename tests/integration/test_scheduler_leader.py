"""Scheduler leadership on PostgreSQL: of several schedulers only one acts, and another
takes over when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from hub import tables as t
from hub.db import Database
from hub.leader import Leadership, lead, lock_key

pytestmark = pytest.mark.xdist_group("scheduler-processes")


def test_lock_key_is_per_database() -> None:
    assert lock_key("a") != lock_key("b")
    assert lock_key("a") == lock_key("a")
    assert -(2**63) <= lock_key("a") < 2**63


def test_only_one_leadership_holds_the_lock(pg_db: Database) -> None:
    first, second = Leadership(pg_db.engine), Leadership(pg_db.engine)
    try:
        assert first.acquire()
        assert not second.acquire()
        assert first.held()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


def test_sqlite_always_leads(sqlite_db: Database) -> None:
    one, two = Leadership(sqlite_db.engine), Leadership(sqlite_db.engine)
    assert one.acquire() and two.acquire() and one.held()


def test_lead_runs_only_while_holding_and_stops_cleanly(pg_db: Database) -> None:
    holder = Leadership(pg_db.engine)
    assert holder.acquire()
    started: list[str] = []
    stopped: list[str] = []
    stop = threading.Event()
    standby = threading.Thread(
        target=lead,
        args=(Leadership(pg_db.engine), lambda: started.append("x") or "x", stopped.append, stop, 0.05),
    )
    standby.start()
    time.sleep(0.3)
    assert started == []  # the lock is held elsewhere: the standby does nothing
    holder.release()
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert started == ["x"]
    stop.set()
    standby.join(5)
    assert stopped == ["x"]
    assert Leadership(pg_db.engine).acquire()  # released on stop


def _runners(db: Database) -> list[str]:
    with db.session() as session:
        logs = session.scalars(select(t.SyncRun.log).where(t.SyncRun.job == "process_inbox")).all()
    return [line.removeprefix("run by ") for log in logs for line in log[:1]]


def _spawn(pg_url: str, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": pg_url,
        "HUB_INSTANCE_DIR": str(tmp_path / name),
        "HUB_SECRET_KEY": "test-secret-key-not-for-production",
        "HUB_LOG_LEVEL": "INFO",
    }
    hub = Path(sys.executable).with_name("hub")
    return subprocess.Popen(
        [str(hub), "scheduler"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _wait_for(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_two_scheduler_processes_one_acts_and_the_other_takes_over(
    pg_db: Database, pg_url: str, tmp_path: Path
) -> None:
    procs = [_spawn(pg_url, tmp_path, "a"), _spawn(pg_url, tmp_path, "b")]
    try:
        assert _wait_for(lambda: bool(_runners(pg_db)), 60), "no scheduler ran a job"
        time.sleep(3)  # both have had time to start; only one may act
        leaders = {r.split(":")[-1] for r in _runners(pg_db)}
        assert len(leaders) == 1
        leader_pid = int(leaders.pop())
        leader = next(p for p in procs if p.pid == leader_pid)
        standby = next(p for p in procs if p.pid != leader_pid)
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        killed_at = time.monotonic()
        took_over = _wait_for(lambda: any(r.endswith(f":{standby.pid}") for r in _runners(pg_db)), 60)
        assert took_over, "the standby did not take over within 60 s"
        assert time.monotonic() - killed_at < 60
        assert standby.poll() is None
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
