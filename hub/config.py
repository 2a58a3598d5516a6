"""Settings from the environment: the one place that reads ``HUB_*`` variables.

Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    secret_key: str | None
    public_url: str
    log_level: str
    scheduler: bool
    sandbox: bool

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance = Path(env.get("HUB_INSTANCE_DIR") or Path.cwd() / "instance").resolve()
        database_url = env.get("HUB_DATABASE_URL") or f"sqlite:///{instance / 'hub.db'}"
        return cls(
            instance_dir=instance,
            database_url=database_url,
            secret_key=env.get("HUB_SECRET_KEY") or None,
            public_url=(env.get("HUB_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
            log_level=(env.get("HUB_LOG_LEVEL") or "INFO").upper(),
            scheduler=_flag(env.get("HUB_SCHEDULER"), True),
            sandbox=_flag(env.get("HUB_SANDBOX"), False),
        )
