"""Which scheduler acts. On PostgreSQL a scheduler holds a session-level advisory lock
(per database) while it runs jobs; others wait and try again every few seconds, so when the
leader dies (its connection closes and the lock with it) another takes over within
``RETRY_SECONDS`` plus one refresh. On SQLite (one process by definition) it always leads."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

log = logging.getLogger("hub.scheduler")
RETRY_SECONDS = 5.0


def lock_key(database: str) -> int:
    """A signed 64-bit advisory lock key for this database's scheduler."""
    digest = hashlib.sha256(f"hub-scheduler:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """The advisory lock, held on its own connection for as long as this process leads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    @property
    def shared(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        if not self.shared:
            return True
        if self._conn is not None:
            return True
        conn = self.engine.connect()
        try:
            got = bool(conn.scalar(text("select pg_try_advisory_lock(:k)"), {"k": lock_key(self.database)}))
            conn.commit()
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    @property
    def database(self) -> str:
        return str(self.engine.url.database)

    def held(self) -> bool:
        """Still leading: the lock's connection answers."""
        if not self.shared:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.scalar(text("select 1"))
            self._conn.commit()
            return True
        except Exception as exc:
            log.warning("scheduler lost its database connection (and the lock): %s", exc)
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.scalar(text("select pg_advisory_unlock(:k)"), {"k": lock_key(self.database)})
            self._conn.commit()
        except Exception:  # the connection is gone: so is the lock
            pass
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                pass
            self._conn = None


def lead(
    leadership: Leadership,
    start: Callable[[], Any],
    stop_running: Callable[[Any], None],
    stop: threading.Event,
    retry_seconds: float = RETRY_SECONDS,
) -> None:
    """Until ``stop`` is set: wait to lead, then run (``start``) while the lock holds."""
    waiting_logged = False
    while not stop.is_set():
        try:
            acquired = leadership.acquire()
        except Exception as exc:
            log.warning("scheduler cannot reach the database: %s", exc)
            acquired = False
        if not acquired:
            if not waiting_logged:
                log.info("another scheduler leads; standing by")
                waiting_logged = True
            stop.wait(retry_seconds)
            continue
        waiting_logged = False
        log.info("this scheduler leads")
        running = start()
        try:
            while not stop.wait(retry_seconds):
                if not leadership.held():
                    break
        finally:
            stop_running(running)
            leadership.release()
    log.info("scheduler stopped")
