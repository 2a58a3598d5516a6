"""Users who log in to the web UI, and API tokens for the REST API."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hub import tables as t
from hub.crypto import hash_token, new_token

MIN_PASSWORD = 8


class AccountError(ValueError):
    pass


def create_user(session: Session, username: str, password: str | None = None, *, reset: bool = False) -> str:
    """Create (or with ``reset`` re-password) a user; returns the password, generated when not given."""
    username = username.strip()
    if not username:
        raise AccountError("username is required")
    password = password or secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    user = session.scalar(select(t.User).where(t.User.username == username))
    if user is not None and not reset:
        raise AccountError(f"user {username!r} exists (use --reset to set a new password)")
    if user is None:
        session.add(t.User(username=username, password_hash=generate_password_hash(password)))
    else:
        user.password_hash = generate_password_hash(password)
    session.flush()
    return password


def has_users(session: Session) -> bool:
    return session.scalar(select(t.User.id).limit(1)) is not None


def authenticate(session: Session, username: str, password: str) -> t.User | None:
    user = session.scalar(select(t.User).where(t.User.username == username.strip()))
    if user is None or not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = datetime.now(UTC)
    return user


def create_token(session: Session, name: str) -> str:
    """A new API token; only its hash is stored, so it is shown this once."""
    name = name.strip()
    if not name:
        raise AccountError("token name is required")
    token = new_token()
    session.add(t.ApiToken(name=name, token_hash=hash_token(token), prefix=token[:8]))
    session.flush()
    return token


def verify_token(session: Session, token: str) -> t.ApiToken | None:
    row = session.scalar(
        select(t.ApiToken).where(t.ApiToken.token_hash == hash_token(token), t.ApiToken.revoked_at.is_(None))
    )
    if row is not None:
        session.execute(
            update(t.ApiToken).where(t.ApiToken.id == row.id).values(last_used_at=datetime.now(UTC))
        )
    return row
