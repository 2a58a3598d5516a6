"""Every job run is recorded with its counts, log lines and outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from hub import tables as t
from hub.db import Database
from hub.runs import counts_of, record_run


def _runs(db: Database) -> list[t.SyncRun]:
    with db.session() as session:
        runs = list(session.scalars(select(t.SyncRun).order_by(t.SyncRun.id)))
        session.expunge_all()
    return runs


def test_a_run_keeps_counts_and_its_own_log_lines(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the hub's log level (HUB_LOG_LEVEL) decides what a run keeps

    def job() -> dict[str, int]:
        logging.getLogger("hub.test").info("pushed the thing")
        return {"updates_pushed": 3, "errors": 0}

    outcome = record_run(db, "push_tracking", None, job)
    [run] = _runs(db)
    assert outcome.status == "ok" and run.status == "ok"
    assert run.counts == {"updates_pushed": 3, "errors": 0}
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.log[0].startswith("run by ")
    assert any("pushed the thing" in line for line in run.log)


def test_a_failed_run_records_the_error_and_does_not_raise(db: Database) -> None:
    def job() -> None:
        raise RuntimeError("channel said no")

    outcome = record_run(db, "poll_orders", None, job)
    [run] = _runs(db)
    assert outcome.status == run.status == "failed"
    assert run.error == "RuntimeError: channel said no"
    assert any("channel said no" in line for line in run.log)


def test_log_lines_of_other_threads_stay_out(db: Database) -> None:
    import threading

    def job() -> int:
        other = threading.Thread(target=lambda: logging.getLogger("hub.test").warning("not mine"))
        other.start()
        other.join()
        return 2

    record_run(db, "x", None, job)
    [run] = _runs(db)
    assert run.counts == {"count": 2}
    assert not any("not mine" in line for line in run.log)


def test_counts_of_results() -> None:
    @dataclass
    class Summary:
        counts: dict[str, int]

    assert counts_of(None) == {}
    assert counts_of(5) == {"count": 5}
    assert counts_of([1, 2]) == {"items": 2}
    assert counts_of({"a": 1, "b": "x"}) == {"a": 1}
    assert counts_of(Summary({"created": 4})) == {"created": 4}
