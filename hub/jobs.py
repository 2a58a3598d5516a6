"""Jobs: plain functions the scheduler runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import delete

from hub import tables as t

CALL_LOG_DAYS = 30


def prune_call_log(app: Flask, days: int = CALL_LOG_DAYS) -> int:
    """Drop outbound-call log rows older than ``days``; returns how many went."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with app.extensions["hub"].db.session() as session:
        return session.execute(delete(t.ApiCall).where(t.ApiCall.at < cutoff)).rowcount or 0
