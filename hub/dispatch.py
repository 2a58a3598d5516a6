"""Where jobs run. The in-process dispatcher is a thread pool; a worker-queue dispatcher
(Celery) can take the same job functions, which take ids, not objects."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def submit(self, job: Callable[..., Any], *args: Any) -> Any: ...


class InProcessDispatcher:
    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub-job")

    def submit(self, job: Callable[..., Any], *args: Any) -> Future[Any]:
        future = self._pool.submit(job, *args)
        future.add_done_callback(_log_failure)
        return future

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("job failed: %s", exc, exc_info=exc)
