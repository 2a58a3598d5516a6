"""Per-connection health: when its jobs last worked, how many failed in a row since, when
they run next, what webhooks did; and which connections need a person's eye (failing, or
silent longer than their schedule allows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import tables as t

#: a connection is silent when nothing succeeded for this many of its shortest intervals
SILENT_INTERVALS = 3
GRACE = timedelta(minutes=2)
RECENT_RUNS = 20


@dataclass(frozen=True)
class JobHealth:
    job: str
    every_s: int
    last_run: datetime | None
    last_status: str | None
    last_success: datetime | None
    consecutive_failures: int
    next_run: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Health:
    connection_id: int
    name: str
    enabled: bool
    jobs: tuple[JobHealth, ...]
    last_webhook: datetime | None
    webhooks_checked: datetime | None
    webhooks_recreated: int | None
    state: str  # ok | failing | silent | paused | new
    message: str

    @property
    def needs_attention(self) -> bool:
        return self.state in ("failing", "silent")


def judge(jobs: tuple[JobHealth, ...], enabled: bool, now: datetime) -> tuple[str, str]:
    """Pure: the connection's state and a sentence for a person."""
    if not enabled:
        return "paused", "paused: runs nothing"
    failing = [j for j in jobs if j.consecutive_failures > 0]
    if failing:
        worst = max(failing, key=lambda j: j.consecutive_failures)
        detail = worst.last_error or "no detail"
        return "failing", f"{worst.job} failed {worst.consecutive_failures} time(s) in a row: {detail}"
    for job in jobs:
        if job.last_success is None:
            continue
        allowed = timedelta(seconds=job.every_s * SILENT_INTERVALS) + GRACE
        if now - job.last_success > allowed:
            minutes = int((now - job.last_success).total_seconds() // 60)
            return "silent", f"{job.job} has not succeeded for {minutes} min (runs every {job.every_s} s)"
    if not any(j.last_run for j in jobs):
        return "new", "no run yet"
    return "ok", "ok"


def job_health(session: Session, connection_id: int, job: str, every_s: int) -> JobHealth:
    runs = list(
        session.execute(
            select(t.SyncRun.status, t.SyncRun.started_at, t.SyncRun.finished_at, t.SyncRun.error)
            .where(t.SyncRun.connection_id == connection_id, t.SyncRun.job == job)
            .order_by(t.SyncRun.id.desc())
            .limit(RECENT_RUNS)
        )
    )
    finished = [r for r in runs if r.status != "running"]
    failures = 0
    for r in finished:
        if r.status != "failed":
            break
        failures += 1
    last_success = session.scalar(
        select(func.max(t.SyncRun.finished_at)).where(
            t.SyncRun.connection_id == connection_id, t.SyncRun.job == job, t.SyncRun.status == "ok"
        )
    )
    last = runs[0] if runs else None
    return JobHealth(
        job=job,
        every_s=every_s,
        last_run=last.started_at if last else None,
        last_status=last.status if last else None,
        last_success=last_success,
        consecutive_failures=failures,
        next_run=(last.started_at + timedelta(seconds=every_s)) if last else None,
        last_error=next((r.error for r in finished if r.status == "failed"), None) if failures else None,
    )


def connection_health(session: Session, conn: t.Connection, now: datetime) -> Health:
    from hub.scheduling import connection_jobs

    planned = connection_jobs(conn) if conn.enabled else {}
    jobs = tuple(
        job_health(session, conn.id, job_id.partition(":")[0], every)
        for job_id, (_func, every) in sorted(planned.items())
    )
    last_webhook = session.scalar(
        select(func.max(t.InboxEvent.received_at)).where(
            t.InboxEvent.connection_id == conn.id, t.InboxEvent.source == "webhook"
        )
    )
    check = next((j for j in jobs if j.job == "check_webhooks"), None)
    recreated = None
    if check is not None and check.last_success is not None:
        counts = session.scalar(
            select(t.SyncRun.counts)
            .where(
                t.SyncRun.connection_id == conn.id,
                t.SyncRun.job == "check_webhooks",
                t.SyncRun.status == "ok",
            )
            .order_by(t.SyncRun.id.desc())
            .limit(1)
        )
        recreated = int((counts or {}).get("items", 0))
    state, message = judge(jobs, conn.enabled, now)
    return Health(
        connection_id=conn.id,
        name=conn.name,
        enabled=conn.enabled,
        jobs=jobs,
        last_webhook=last_webhook,
        webhooks_checked=check.last_success if check else None,
        webhooks_recreated=recreated,
        state=state,
        message=message,
    )


def every_connection(session: Session, now: datetime) -> list[Health]:
    conns = session.scalars(select(t.Connection).order_by(t.Connection.name))
    return [connection_health(session, c, now) for c in conns]


def needing_attention(session: Session, now: datetime) -> list[Health]:
    return [h for h in every_connection(session, now) if h.needs_attention]
