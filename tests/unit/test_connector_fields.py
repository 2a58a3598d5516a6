"""The connector declaration: registry by entry points, shared field validation."""

from __future__ import annotations

import pytest

from hub.connectors import (
    Capability,
    Connector,
    FieldError,
    FieldSpec,
    get_connector,
    registry,
    validate_values,
)

SPECS = (
    FieldSpec("url", "Store", type="url"),
    FieldSpec("token", "Token", type="secret"),
    FieldSpec(
        "version", "Version", group="settings", required=False, default="2026-07", pattern=r"\d{4}-\d{2}"
    ),
    FieldSpec("limit", "Limit", type="integer", group="settings", required=False),
    FieldSpec("notify", "Notify", type="boolean", group="settings", required=False),
    FieldSpec("since", "Since", type="date", group="settings", required=False),
)


def test_registry_finds_connectors_through_entry_points() -> None:
    found = registry()
    assert "shopify" in found
    cls = get_connector("shopify")
    assert issubclass(cls, Connector)
    assert cls.kind == "channel"
    assert Capability.ORDERS_POLL in cls.capabilities


def test_unknown_connector_names_the_known_ones() -> None:
    with pytest.raises(LookupError, match="shopify"):
        get_connector("nope")


def test_valid_values_are_typed_and_defaulted() -> None:
    values = validate_values(
        SPECS,
        {
            "url": " https://x.myshopify.com ",
            "token": "s3cret",
            "limit": "5",
            "notify": "yes",
            "since": "2026-01-02",
        },
    )
    assert values == {
        "url": "https://x.myshopify.com",
        "token": "s3cret",
        "version": "2026-07",
        "limit": 5,
        "notify": True,
        "since": "2026-01-02",
    }


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(FieldError) as info:
        validate_values(SPECS, {"url": "ftp://x", "version": "latest", "limit": "many", "bogus": "1"})
    assert info.value.errors == {
        "url": "must be an http:// or https:// URL",
        "token": "is required",
        "version": "is not in the expected format",
        "limit": "is not valid",
        "bogus": "is not a field of this connector",
    }


def test_blank_secret_keeps_the_stored_one_and_a_new_one_replaces_it() -> None:
    existing = {"url": "https://x.myshopify.com", "token": "old"}
    assert validate_values(SPECS, {"url": "https://x.myshopify.com", "token": ""}, existing)["token"] == "old"
    assert (
        validate_values(SPECS, {"url": "https://x.myshopify.com", "token": "new"}, existing)["token"] == "new"
    )


def test_shopify_store_url_check() -> None:
    cls = get_connector("shopify")
    with pytest.raises(FieldError) as info:
        validate_values(
            cls.fields, {"store_url": "https://example.com", "access_token": "a", "api_secret": "b"}
        )
    assert info.value.errors == {"store_url": "must be https://your-store.myshopify.com"}
