"""The ``hub`` command, run as a newcomer would (a real process, a fresh instance folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from tests.contracts import FIXTURES, validate_order

HUB = [sys.executable, "-m", "hub"]


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_SECRET_KEY": "cli-test-key",
        "HUB_PUBLIC_URL": "https://hub.example.com",
        "HUB_LOG_LEVEL": "WARNING",
    }
    return subprocess.run([*HUB, *args], env=env, capture_output=True, text=True, input=stdin, timeout=60)


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    result = run(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_help_everywhere(tmp_path: Path) -> None:
    for args in [
        (),
        ("db",),
        ("connections", "add"),
        ("token", "create"),
        ("map",),
        ("run",),
        ("create-admin",),
    ]:
        result = run(tmp_path, *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage:" in result.stdout


def test_connections_add_and_list(migrated: Path) -> None:
    result = run(
        migrated,
        "connections",
        "add",
        "shopify",
        "--name",
        "Main",
        "--set",
        "store_url=https://main.myshopify.com",
        "--set",
        "access_token=shpat_secret_value",
        "--set",
        "api_secret=hush-hush-secret",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("connection 1: Main")
    assert "webhook URL: https://hub.example.com/webhooks/shopify/" in result.stdout
    listed = run(migrated, "connections", "list")
    assert "shopify\tMain\tenabled\thttps://hub.example.com/webhooks/shopify/" in listed.stdout
    assert "shpat_secret_value" not in listed.stdout + result.stdout + listed.stderr + result.stderr


def test_connections_add_uses_the_form_validation(migrated: Path) -> None:
    result = run(
        migrated,
        "connections",
        "add",
        "shopify",
        "--name",
        "Main",
        "--set",
        "store_url=https://example.com",
        "--set",
        "colour=blue",
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hub: colour is not a field of this connector; store_url must be https://your-store.myshopify.com; "
        "access_token is required; api_secret is required"
    ]
    db = Database(f"sqlite:///{migrated / 'hub.db'}")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(t.Connection)) == 0
    assert run(migrated, "connections", "add", "nope", "--name", "x").returncode == 2


def test_token_create_shows_once_and_stores_hash(migrated: Path) -> None:
    result = run(migrated, "token", "create", "erp")
    token = result.stdout.strip()
    assert result.returncode == 0 and token.startswith("hub_") and len(token) > 30
    db = Database(f"sqlite:///{migrated / 'hub.db'}")
    with db.session() as s:
        assert s.scalar(select(t.ApiToken.token_hash)) != token


def test_create_admin(migrated: Path) -> None:
    first = run(migrated, "create-admin", "alice")
    assert first.returncode == 0 and "password: " in first.stdout
    again = run(migrated, "create-admin", "alice")
    assert again.returncode == 2 and "exists" in again.stderr
    reset = run(migrated, "create-admin", "alice", "--reset", "--password-stdin", stdin="a long password\n")
    assert reset.returncode == 0 and "password" not in reset.stdout


def test_map_prints_canonical_json(tmp_path: Path) -> None:
    result = run(tmp_path, "map", "shopify", str(FIXTURES / "shopify" / "order.json"))
    assert result.returncode == 0, result.stderr
    validate_order(json.loads(result.stdout))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "hub map: "),
        ('{"order": {"id": 1, "line_items": [{"quantity": "x"}]}}', "hub map: shopify order: "),
        ("[]", "hub map: shopify order: "),
    ],
)
def test_map_bad_input_exits_2_with_one_line(tmp_path: Path, content: str, expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run(tmp_path, "map", "shopify", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr
    assert not (tmp_path / "instance").exists(), "hub map must write nothing"


def test_map_missing_file_and_unknown_source(tmp_path: Path) -> None:
    assert run(tmp_path, "map", "shopify", str(tmp_path / "nope.json")).stderr.startswith("hub map: ")
    assert run(tmp_path, "map", "etsy", str(tmp_path / "nope.json")).returncode == 2


def test_map_needs_no_instance_folder(tmp_path: Path) -> None:
    """``hub map`` is a pure translation: it creates no secret key or database anywhere."""
    instance = tmp_path / "never-created"
    env = {**os.environ, "HUB_INSTANCE_DIR": str(instance)}
    hub = Path(sys.executable).with_name("hub")
    sample = Path(__file__).parents[1] / "fixtures" / "carriers" / "ups" / "rate_response_simple_ground.json"
    done = subprocess.run([str(hub), "map", "ups", str(sample)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["kind"] == "rates"
    assert done.stderr == ""
    assert not instance.exists()
