"""Connections: create, edit, show and build connectors for them.

The form, the CLI and the API all go through here, so the validation is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.calllog import CallLogSink
from hub.connectors import (
    ConnectionContext,
    Connector,
    FieldError,
    FieldSpec,
    TestResult,
    get_connector,
    validate_values,
)
from hub.crypto import SecretBox, new_webhook_key
from hub.db import Database
from hub.http import HttpClient
from hub.ratelimit import gate, limiters


def _split(specs: tuple[FieldSpec, ...], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    groups = {s.name: s.group for s in specs}
    credentials = {k: v for k, v in values.items() if groups[k] == "credentials"}
    settings = {k: v for k, v in values.items() if groups[k] == "settings"}
    return credentials, settings


def _check_name(session: Session, name: str | None, own_id: int | None) -> str:
    name = (name or "").strip()
    if not name:
        raise FieldError({"name": "is required"})
    if len(name) > 200:
        raise FieldError({"name": "is longer than 200 characters"})
    clash = session.scalar(select(t.Connection.id).where(t.Connection.name == name))
    if clash is not None and clash != own_id:
        raise FieldError({"name": "is already used by another connection"})
    return name


def create_connection(
    session: Session, box: SecretBox, connector_name: str, name: str | None, submitted: Mapping[str, Any]
) -> t.Connection:
    """Validate and store a new connection. Raises ``FieldError`` (and stores nothing)."""
    cls = get_connector(connector_name)
    errors: dict[str, str] = {}
    try:
        clean_name = _check_name(session, name, None)
    except FieldError as exc:
        errors.update(exc.errors)
    try:
        values = validate_values(cls.fields, submitted)
    except FieldError as exc:
        errors.update(exc.errors)
    if errors:
        raise FieldError(errors)
    credentials, settings = _split(cls.fields, values)
    connection = t.Connection(
        kind=cls.kind,
        connector=cls.name,
        name=clean_name,
        credentials_encrypted=box.encrypt(credentials),
        settings=settings,
        schedule={},
        webhook_key=new_webhook_key(),
        enabled=True,
    )
    session.add(connection)
    session.flush()
    return connection


def update_connection(
    session: Session, box: SecretBox, connection: t.Connection, name: str | None, submitted: Mapping[str, Any]
) -> t.Connection:
    """Validate and apply an edit; a secret left blank keeps its stored value."""
    cls = get_connector(connection.connector)
    existing = box.decrypt(connection.credentials_encrypted) | dict(connection.settings or {})
    errors: dict[str, str] = {}
    try:
        clean_name = _check_name(session, name, connection.id)
    except FieldError as exc:
        errors.update(exc.errors)
    try:
        values = validate_values(cls.fields, submitted, existing)
    except FieldError as exc:
        errors.update(exc.errors)
    if errors:
        raise FieldError(errors)
    credentials, settings = _split(cls.fields, values)
    connection.name = clean_name
    connection.credentials_encrypted = box.encrypt(credentials)
    connection.settings = settings
    return connection


@dataclass(frozen=True)
class FieldView:
    """A field as a page may show it: a secret only says whether it is set."""

    spec: FieldSpec
    value: Any
    is_set: bool


def field_views(box: SecretBox, connection: t.Connection | None, cls: type[Connector]) -> list[FieldView]:
    stored: dict[str, Any] = {}
    if connection is not None:
        stored = box.decrypt(connection.credentials_encrypted) | dict(connection.settings or {})
    views = []
    for spec in cls.fields:
        value = stored.get(spec.name)
        views.append(FieldView(spec, None if spec.secret else value, value not in (None, "")))
    return views


def webhook_url(public_url: str, connection: t.Connection) -> str:
    """Where the outside system posts: channels to ``/webhooks/<connector>/<key>``, carriers to
    ``/webhooks/carriers/<carrier>/<key>`` (tracking updates go to shipments)."""
    prefix = "/webhooks/carriers" if connection.kind == "carrier" else "/webhooks"
    return f"{public_url.rstrip('/')}{prefix}/{connection.connector}/{connection.webhook_key}"


def build_connector(
    db: Database, box: SecretBox, connection: t.Connection, public_url: str, *, max_attempts: int = 5
) -> Connector:
    """A live connector for a stored connection: decrypted values, its HTTP client
    with the call log, masking and the connection's rate limiter."""
    cls = get_connector(connection.connector)
    credentials = box.decrypt(connection.credentials_encrypted)
    settings = dict(connection.settings or {})
    limit = cls.rate_limit(settings)
    limiter = limiters.get(f"connection:{connection.id}", *limit) if limit else None
    slots = cls.concurrency(settings)
    http = HttpClient(
        cls.base_url(credentials, settings),
        connection_id=connection.id,
        limiter=limiter,
        sink=CallLogSink(db),
        secrets=cls.secret_values(credentials),
        max_attempts=max_attempts,
        gate=gate(f"connection:{connection.id}", slots) if slots else None,
    )
    ctx = ConnectionContext(
        connection_id=connection.id,
        credentials=credentials,
        settings=settings,
        http=http,
        webhook_url=webhook_url(public_url, connection),
    )
    return cls(ctx)


def run_test(db: Database, box: SecretBox, connection: t.Connection, public_url: str) -> TestResult:
    """Press of the "Test connection" button: never raises, always says why (and fast:
    one retry at most, where a sync would keep trying). The HTTP layer masks secrets in
    its errors; anything else is masked here with the same client."""
    try:
        connector = build_connector(db, box, connection, public_url, max_attempts=2)
    except Exception as exc:  # e.g. credentials that no longer decrypt
        return TestResult(False, f"{type(exc).__name__}: the connection cannot be set up ({exc})")
    try:
        return connector.test_connection()
    except Exception as exc:  # a test must report, not crash the page
        return TestResult(False, connector.ctx.http.mask(f"{type(exc).__name__}: {exc}"))
