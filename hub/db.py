"""Engine, sessions and migrations: the one place that knows which database is in use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying as _Retrying
from tenacity import retry_if_exception, stop_after_attempt, wait_random_exponential

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps(value: Any) -> str:
    """JSON columns hold whole channel payloads: orjson writes them several times faster
    than the standard library (and compactly)."""
    return orjson.dumps(value).decode()


def make_engine(url: str, **kw: Any) -> Engine:
    url = normalise_url(url)
    kw.setdefault("json_serializer", _json_dumps)
    kw.setdefault("json_deserializer", orjson.loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kw.setdefault("pool_size", 10)
    kw.setdefault("max_overflow", 20)
    kw.setdefault("pool_pre_ping", True)
    return create_engine(url, **kw)


def _is_transient(exc: BaseException) -> bool:
    """Deadlocks, serialization failures and SQLite's 'database is locked'."""
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "sqlstate", None)
        if code in ("40001", "40P01"):
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


class Database:
    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kw)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def transaction(self, work: Callable[[Session], T], attempts: int = 5) -> T:
        """Run ``work`` in its own transaction, again from the start on a deadlock or
        serialization failure (the failed attempt was rolled back whole)."""
        for attempt in _Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=0.02, max=0.5),
            reraise=True,
        ):
            with attempt, self.session() as session:
                return work(session)
        raise AssertionError("unreachable")

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def pending_migrations(self) -> bool:
        """Whether the schema is behind the code (``hub db upgrade`` needed)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(self.alembic_config()).get_heads())
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        return current != heads

    def upgrade(self, revision: str = "head") -> None:
        command.upgrade(self.alembic_config(), revision)

    def dispose(self) -> None:
        self.engine.dispose()


def insert_for(session: Session, table: Table) -> Any:
    """``INSERT`` for ``table`` in the session's dialect, so ``ON CONFLICT`` clauses
    (``on_conflict_do_nothing`` / ``do_update``) can follow: the two databases the hub runs on
    spell them alike but build them from their own dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {dialect}")  # pragma: no cover - only the two supported
