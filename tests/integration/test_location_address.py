"""A location's ship-from address from the location form (new and edit) and from
``PUT /api/v1/locations/<code>/address``: one set of rules (``hub.shipping.schemas.location_address``),
every bad field named beside it in the form, nothing stored on a refusal, the list showing
which locations can ship."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from hub.services.accounts import create_token
from tests.conftest import csrf_from

ADDRESS = {
    "address-name": "Shipping desk",
    "address-company": "Goods Co",
    "address-line1": " 1 Dock Rd ",
    "address-line2": "",
    "address-city": "Atlanta",
    "address-region": "GA",
    "address-postal_code": "30301",
    "address-country_code": "us",
    "address-phone": "4045550100",
    "address-email": "dock@example.com",
}


def _post(client: FlaskClient, path: str, **values: str) -> Any:
    page = client.get(path).get_data(as_text=True)
    data = {"code": "atl", "name": "Atlanta DC", "priority": "10", "csrf_token": csrf_from(page)} | values
    return client.post(path, data=data)


def _address(db: Database, code: str) -> dict[str, Any] | None:
    with db.session() as s:
        row = s.scalar(
            select(t.LocationAddress)
            .join(t.Location, t.Location.id == t.LocationAddress.location_id)
            .where(t.Location.code == code)
        )
        return (
            None if row is None else {c: getattr(row, c) for c in ("line1", "line2", "city", "country_code")}
        )


def _field_errors(html: str) -> dict[str, str]:
    """Input name → the error shown right after it."""
    return dict(
        re.findall(
            r'name="([\w-]+)"[^>]*>\s*(?:<div class="hint">[^<]*</div>\s*)?<div class="field-error">([^<]+)',
            html,
        )
    )


def test_a_new_location_keeps_its_ship_from_address_and_the_list_says_so(
    client: FlaskClient, hub_db: Database
) -> None:
    response = _post(client, "/stock/locations/new", **ADDRESS)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _address(hub_db, "atl") == {
        "line1": "1 Dock Rd",
        "line2": None,
        "city": "Atlanta",
        "country_code": "US",
    }
    listing = client.get("/stock/locations").get_data(as_text=True)
    assert "Atlanta, GA, US" in listing
    no_address = _post(client, "/stock/locations/new", code="bare", name="No address yet")
    assert no_address.status_code == 302 and _address(hub_db, "bare") is None
    assert "no address" in client.get("/stock/locations").get_data(as_text=True)


def test_a_bad_address_names_every_bad_field_and_saves_nothing(client: FlaskClient, hub_db: Database) -> None:
    bad = ADDRESS | {"address-city": "", "address-country_code": "USA", "address-email": "not-an-address"}
    response = _post(client, "/stock/locations/new", **bad)
    assert response.status_code == 400
    errors = _field_errors(response.get_data(as_text=True))
    assert errors == {
        "address-city": "missing data for required field",
        "address-country_code": "must be an ISO 3166-1 alpha-2 country code",
        "address-email": "not a valid email address",
    }
    with hub_db.session() as s:
        assert s.scalar(select(func.count()).select_from(t.Location)) == 0
        assert s.scalar(select(func.count()).select_from(t.LocationAddress)) == 0
    page = response.get_data(as_text=True)
    assert 'value="Shipping desk"' in page  # what was typed stays in the form


def test_editing_shows_the_address_refuses_a_bad_one_and_blank_removes_it(
    client: FlaskClient, hub_db: Database
) -> None:
    assert _post(client, "/stock/locations/new", **ADDRESS).status_code == 302
    with hub_db.session() as s:
        location_id = s.scalar(select(t.Location.id).where(t.Location.code == "atl"))
    path = f"/stock/locations/{location_id}"
    page = client.get(path).get_data(as_text=True)
    assert 'value="1 Dock Rd"' in page and 'value="dock@example.com"' in page

    refused = _post(client, path, name="Renamed", **(ADDRESS | {"address-line1": ""}))
    assert refused.status_code == 400
    assert _field_errors(refused.get_data(as_text=True)) == {
        "address-line1": "missing data for required field"
    }
    with hub_db.session() as s:
        assert s.get_one(t.Location, location_id).name == "Atlanta DC"
    assert _address(hub_db, "atl") == {
        "line1": "1 Dock Rd",
        "line2": None,
        "city": "Atlanta",
        "country_code": "US",
    }

    moved = _post(client, path, **(ADDRESS | {"address-line2": "Door 4", "address-city": "Savannah"}))
    assert moved.status_code == 302
    assert _address(hub_db, "atl") == {
        "line1": "1 Dock Rd",
        "line2": "Door 4",
        "city": "Savannah",
        "country_code": "US",
    }

    cleared = _post(client, path, **{name: "" for name in ADDRESS})
    assert cleared.status_code == 302 and _address(hub_db, "atl") is None


def test_the_api_applies_the_same_rules(app: Flask, client: FlaskClient, hub_db: Database) -> None:
    assert _post(client, "/stock/locations/new").status_code == 302
    with hub_db.session() as s:
        token = create_token(s, "erp")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"line1": "1 Dock Rd", "city": "Atlanta", "country_code": "USA"}
    refused = api.put("/api/v1/locations/atl/address", json=body, headers=headers)
    assert refused.status_code == 400
    assert refused.get_json()["error"]["field"] == "country_code"
    assert refused.get_json()["error"]["message"] == "country_code must be an ISO 3166-1 alpha-2 country code"
    assert _address(hub_db, "atl") is None
    stored = api.put("/api/v1/locations/atl/address", json=body | {"country_code": "US"}, headers=headers)
    assert stored.status_code == 200
    assert stored.get_json()["address"]["line2"] is None
    assert _address(hub_db, "atl") == {
        "line1": "1 Dock Rd",
        "line2": None,
        "city": "Atlanta",
        "country_code": "US",
    }
    page = client.get("/stock/locations").get_data(as_text=True)
    assert "Atlanta, US" in page
