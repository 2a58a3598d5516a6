"""Job runs: every scheduled (or by-hand) run of a job is a ``sync_runs`` row with its start,
end, counts and the log lines it wrote, so the runs page shows what happened and why."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from hub import tables as t
from hub.db import Database

log = logging.getLogger(__name__)
MAX_LOG_LINES = 200


def runner() -> str:
    """Which process ran a job (of several schedulers, the one that led)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class _ThreadCapture(logging.Handler):
    """Keeps the records one thread writes (a job runs on one thread)."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(logging.INFO)
        self.thread_id = thread_id
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id and len(self.lines) < MAX_LOG_LINES:
            try:
                self.lines.append(self.format(record))
            except Exception:  # pragma: no cover - a bad record must not break the job
                self.handleError(record)


@contextmanager
def captured_log() -> Iterator[list[str]]:
    """The log lines this thread writes inside the block (everything under the root logger)."""
    handler = _ThreadCapture(threading.get_ident())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)


def counts_of(result: Any) -> dict[str, int]:
    """A job's result as the run's counts."""
    if result is None:
        return {}
    if isinstance(result, bool):
        return {"done": int(result)}
    if isinstance(result, int):
        return {"count": result}
    if isinstance(result, dict):
        return {str(k): int(v) for k, v in result.items() if isinstance(v, int | bool)}
    if isinstance(result, list | tuple):
        return {"items": len(result)}
    counts = getattr(result, "counts", None)
    if callable(counts):
        counts = counts()
    return counts_of(counts) if isinstance(counts, dict) else {}


@dataclass
class RunOutcome:
    run_id: int
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    result: Any = None


def record_run(db: Database, job: str, connection_id: int | None, call: Callable[[], Any]) -> RunOutcome:
    """Run ``call`` as one recorded run of ``job``. A job that records its own run (the order
    poll returns an object with ``run_id``) gets its log lines added to that run instead."""
    with db.session() as session:
        run = t.SyncRun(connection_id=connection_id, job=job, counts={}, log=[f"run by {runner()}"])
        session.add(run)
        session.flush()
        run_id = run.id
    status, error, result = "ok", None, None
    with captured_log() as lines:
        try:
            result = call()
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("job %s (connection %s) failed: %s", job, connection_id, error)
    own_run = getattr(result, "run_id", None)
    if isinstance(own_run, int):  # the job kept its own run: drop ours, add the log to its
        with db.session() as session:
            session.execute(t.SyncRun.__table__.delete().where(t.SyncRun.id == run_id))
            run_row = session.get(t.SyncRun, own_run)
            if run_row is not None:
                run_row.log = [f"run by {runner()}", *(run_row.log or []), *lines]
                status, error = run_row.status, run_row.error
        return RunOutcome(own_run, status, counts_of(result), error, result)
    counts = counts_of(result)
    with db.session() as session:
        session.execute(
            update(t.SyncRun)
            .where(t.SyncRun.id == run_id)
            .values(
                finished_at=datetime.now(UTC),
                status=status,
                counts=counts,
                error=error,
                log=[f"run by {runner()}", *lines],
            )
        )
    return RunOutcome(run_id, status, counts, error, result)
