"""Secrets at rest: the one place that encrypts and hashes.

``HUB_SECRET_KEY`` (any string) is stretched with HKDF into separate keys for
credential encryption (Fernet: AES-128-CBC + HMAC-SHA256) and for Flask's session
signing. When it is absent a random key is created in the instance folder, with
a warning: losing that file makes stored credentials unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger(__name__)
KEY_FILE = "secret_key"


class SecretsError(RuntimeError):
    pass


def _derive(master: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hub.v1", info=purpose).derive(master.encode())


def load_or_create_master_key(configured: str | None, instance_dir: Path) -> str:
    """The master secret: ``HUB_SECRET_KEY`` if set, else the instance file (created once)."""
    if configured:
        return configured
    path = instance_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    log.warning(
        "HUB_SECRET_KEY is not set: created %s. Keep it safe and set HUB_SECRET_KEY in production; "
        "without it the stored credentials cannot be decrypted.",
        path,
    )
    return key


class SecretBox:
    """Encrypts credential dicts. ``old_keys`` still decrypt, for key rotation."""

    def __init__(self, master: str, old_keys: tuple[str, ...] = ()) -> None:
        fernets = [Fernet(base64.urlsafe_b64encode(_derive(k, b"credentials"))) for k in (master, *old_keys)]
        self._fernet = MultiFernet(fernets)
        self.session_key = _derive(master, b"flask-session").hex()

    def encrypt(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode("ascii")

    def decrypt(self, token: str | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode("ascii")))
        except InvalidToken as exc:
            raise SecretsError("stored credentials cannot be decrypted with this HUB_SECRET_KEY") from exc


def hash_token(token: str) -> str:
    """API tokens are random and long, so a plain SHA-256 is the right stored form."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "hub_" + secrets.token_urlsafe(32)


def new_webhook_key() -> str:
    return secrets.token_urlsafe(24)


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
