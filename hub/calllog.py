"""The log of outbound API calls: the sink the HTTP layer writes a row to per request."""

from __future__ import annotations

import logging

from sqlalchemy import insert

from hub import tables as t
from hub.db import Database
from hub.http import CallRecord

log = logging.getLogger(__name__)


class CallLogSink:
    """Writes each call in its own short transaction, so a call is logged even when
    the work around it rolls back."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def __call__(self, record: CallRecord) -> None:
        with self.db.session() as session:
            session.execute(
                insert(t.ApiCall.__table__).values(
                    connection_id=record.connection_id,
                    at=record.at,
                    method=record.method,
                    url=record.url,
                    status=record.status,
                    duration_ms=record.duration_ms,
                    attempt=record.attempt,
                    error=record.error,
                    request_id=record.request_id,
                )
            )
