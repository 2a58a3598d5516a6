"""The log of outbound API calls.

The HTTP layer hands every attempt to a ``CallLogSink``; the records are queued and
written in batches by one background writer per database, so an API call never waits
for the database (on SQLite it would otherwise queue behind the very transaction that
is ingesting the previous page). ``flush_call_log`` writes what is queued now; a sync
run calls it when it ends, so a finished run's calls are all in the log.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import asdict

from sqlalchemy import insert

from hub import tables as t
from hub.db import Database
from hub.http import CallRecord

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5


class CallLogWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[CallRecord] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="hub-call-log", daemon=True).start()

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._queue.append(record)

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                records, self._queue = self._queue, []
            if not records:
                return
            try:
                with self.db.session() as session:
                    session.execute(insert(t.ApiCall.__table__), [asdict(r) for r in records])
            except Exception:  # a broken call log must not break a sync
                log.exception("could not write %d call-log rows", len(records))

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self.flush()


_writers: dict[int, CallLogWriter] = {}
_writers_lock = threading.Lock()


def writer_for(db: Database) -> CallLogWriter:
    with _writers_lock:
        writer = _writers.get(id(db))
        if writer is None or writer.db is not db:
            writer = _writers[id(db)] = CallLogWriter(db)
        return writer


def flush_call_log(db: Database) -> None:
    with _writers_lock:
        writer = _writers.get(id(db))
    if writer is not None and writer.db is db:
        writer.flush()


@atexit.register
def _flush_all() -> None:
    for writer in list(_writers.values()):
        writer.flush()


class CallLogSink:
    """The ``HttpClient`` sink: queue the record for the database's writer."""

    def __init__(self, db: Database) -> None:
        self.writer = writer_for(db)

    def __call__(self, record: CallRecord) -> None:
        self.writer.add(record)
