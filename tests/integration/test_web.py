"""The web UI: login required, CSRF on every form, the connection form built from the
connector's declaration, secrets masked and kept."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from hub import tables as t
from hub.db import Database
from hub.ingest import IngestItem, ingest_orders
from tests.conftest import csrf_from
from tests.factories import make_order, newer

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
SECRET = "whsec-abcdefghijklmnopqrstuvwxyz"
FORM = {
    "name": "Main store",
    "f_store_url": "https://main-store.myshopify.com",
    "f_access_token": TOKEN,
    "f_api_secret": SECRET,
    "f_api_version": "2026-07",
    "f_backfill_since": "2026-01-01",
}


def add_connection(client: FlaskClient, **overrides: str):
    page = client.get("/connections/new/shopify").get_data(as_text=True)
    return client.post("/connections/new/shopify", data=FORM | overrides | {"csrf_token": csrf_from(page)})


def connection_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(t.Connection))


def test_every_page_redirects_to_login_when_logged_out(app: Flask) -> None:
    c = app.test_client()
    assert c.get("/", follow_redirects=True).request.path == "/login"
    for path in [
        "/orders/",
        "/orders/1",
        "/connections/",
        "/connections/new/shopify",
        "/connections/1",
        "/connections/1/edit",
    ]:
        response = c.get(path)
        assert response.status_code == 302, path
        assert "/login" in response.headers["Location"], path


def test_wrong_password_is_refused(app: Flask, admin: str) -> None:
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    response = c.post("/login", data={"username": admin, "password": "nope", "csrf_token": csrf_from(page)})
    assert response.status_code == 200
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert c.get("/orders/").status_code == 302


def test_login_redirect_stays_on_site(app: Flask, admin: str) -> None:
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    response = c.post(
        "/login?next=https://evil.example/x",
        data={"username": admin, "password": "correct horse battery", "csrf_token": csrf_from(page)},
    )
    assert response.headers["Location"] == "/orders/"


def test_form_without_csrf_token_is_400_and_changes_nothing(client: FlaskClient, hub_db: Database) -> None:
    response = client.post("/connections/new/shopify", data=FORM)
    assert response.status_code == 400
    assert connection_count(hub_db) == 0
    login = client.application.test_client().post("/login", data={"username": "admin", "password": "x"})
    assert login.status_code == 400


def test_add_connection_shows_secret_masked_and_webhook_url(client: FlaskClient, hub_db: Database) -> None:
    response = add_connection(client)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Main store" in page and "https://main-store.myshopify.com" in page
    assert TOKEN not in page and SECRET not in page
    assert 'data-secret-set="access_token"' in page
    with hub_db.session() as s:
        key = s.scalar(select(t.Connection.webhook_key))
    assert f"http://hub.test/webhooks/shopify/{key}" in page


def test_missing_required_field_shows_message_next_to_it(client: FlaskClient, hub_db: Database) -> None:
    response = add_connection(client, f_access_token="", f_store_url="https://example.com")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="error-access_token">Admin API access token is required' in page
    assert 'id="error-store_url">Store address must be https://your-store.myshopify.com' in page
    assert SECRET not in page, "a typed secret must not be echoed back"
    assert connection_count(hub_db) == 0


def test_duplicate_name_is_refused(client: FlaskClient, hub_db: Database) -> None:
    add_connection(client)
    response = add_connection(client)
    assert response.status_code == 422
    assert "Display name is already used" in response.get_data(as_text=True)
    assert connection_count(hub_db) == 1


def test_edit_without_retyping_secret_keeps_it(client: FlaskClient, hub_db: Database, app: Flask) -> None:
    location = add_connection(client).headers["Location"]
    edit_page = client.get(location + "/edit").get_data(as_text=True)
    assert TOKEN not in edit_page and SECRET not in edit_page
    assert "A value is stored. Leave blank to keep it." in edit_page
    response = client.post(
        location + "/edit",
        data=FORM
        | {"name": "Renamed", "f_access_token": "", "f_api_secret": "", "csrf_token": csrf_from(edit_page)},
    )
    assert response.status_code == 302
    box = app.extensions["hub"].box
    with hub_db.session() as s:
        conn = s.scalar(select(t.Connection))
        assert conn.name == "Renamed"
        assert box.decrypt(conn.credentials_encrypted)["access_token"] == TOKEN
        assert box.decrypt(conn.credentials_encrypted)["api_secret"] == SECRET


def test_edit_with_bad_value_changes_nothing(client: FlaskClient, hub_db: Database) -> None:
    location = add_connection(client).headers["Location"]
    edit_page = client.get(location + "/edit").get_data(as_text=True)
    response = client.post(
        location + "/edit",
        data=FORM | {"name": "Other", "f_api_version": "latest", "csrf_token": csrf_from(edit_page)},
    )
    assert response.status_code == 422
    assert "Admin API version must look like 2026-07" in response.get_data(as_text=True)
    with hub_db.session() as s:
        assert s.scalar(select(t.Connection.name)) == "Main store"


def test_credentials_are_encrypted_in_the_database(client: FlaskClient, hub_db: Database) -> None:
    add_connection(client)
    with hub_db.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.execute(text("select * from connections")) for v in row)
    assert TOKEN not in dump and SECRET not in dump
    assert "shpat_" not in dump


def test_test_connection_button_reports_failure_without_secrets(client: FlaskClient) -> None:
    location = add_connection(client, f_store_url="http://127.0.0.1:9").headers["Location"]
    page = client.get(location).get_data(as_text=True)
    response = client.post(location + "/test", data={"csrf_token": csrf_from(page)}, follow_redirects=True)
    body = response.get_data(as_text=True)
    assert "Connection failed" in body
    assert TOKEN not in body


def test_orders_list_filters_and_order_page(client: FlaskClient, hub_db: Database) -> None:
    add_connection(client)
    orders = [make_order(i) for i in range(60)]
    hub_db.transaction(lambda s: ingest_orders(s, 1, [IngestItem(o, {"id": o.external_id}) for o in orders]))
    first = client.get("/orders/")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert len(re.findall(r'href="/orders/\d+"', html)) == 50
    assert "Older orders" in html
    cancelled = [o for o in orders if o.status == "cancelled"]
    filtered = client.get("/orders/?status=cancelled").get_data(as_text=True)
    assert len(re.findall(r'href="/orders/\d+"', filtered)) == len(cancelled)
    bad = client.get("/orders/?status=shipped&created_from=yesterday")
    assert bad.status_code == 400
    assert "status must be one of" in bad.get_data(as_text=True)
    hub_db.transaction(
        lambda s: ingest_orders(s, 1, [IngestItem(newer(orders[0], 60, note="gift wrap"), {})])
    )
    with hub_db.session() as s:
        order_id = s.scalar(select(t.Order.id).where(t.Order.external_id == orders[0].external_id))
    detail = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "gift wrap" in detail and "updated" in detail and "note" in detail
    assert client.get("/orders/999999").status_code == 404
