"""CSV import and export of stock and of SKU mappings through the pages, on SQLite and
PostgreSQL: an export imports back, per-row errors are listed, and a bad file changes nothing."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import func, select

from hub import tables as t
from hub.db import Database
from tests.conftest import csrf_from
from tests.integration import test_stock_page as pages

web_app, web, catalogue, _on_hand = pages.web_app, pages.web, pages.catalogue, pages._on_hand  # fixtures


def _upload(web: FlaskClient, path: str, text: str) -> tuple[int, str]:
    page = web.get(path).get_data(as_text=True)
    response = web.post(
        path,
        data={"csrf_token": csrf_from(page), "file": (io.BytesIO(text.encode()), "data.csv")},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def _state(db: Database) -> tuple[list, list, int]:
    with db.session() as s:
        levels = sorted(
            s.execute(select(t.StockLevel.sku_id, t.StockLevel.location_id, t.StockLevel.on_hand)).all()
        )
        maps = sorted(s.execute(select(t.SkuMapping.channel_sku, t.SkuMapping.sku_id)).all())
        return levels, maps, s.scalar(select(func.count()).select_from(t.StockAdjustment)) or 0


def test_stock_export_imports_back_and_a_count_file_sets_on_hand(
    web: FlaskClient, db: Database, catalogue: int
) -> None:
    exported = web.get("/stock/export.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    text = exported.get_data(as_text=True)
    lines = text.splitlines()
    assert lines[0] == "sku,name,location,on_hand,reserved,available,reorder_point"
    assert "MUG-1,Blue mug,main,10,0,10,5" in lines and "MUG-1,Blue mug,store,3,0,3,5" in lines
    assert "Z-000,Filler 0,,,,," in lines  # a SKU with no stock row
    before = _state(db)
    status, html = _upload(
        web, "/stock/import", "\n".join(line for line in lines if ",main," in line or line.startswith("sku"))
    )
    assert status == 302, html
    assert _state(db) == before  # the same counts: nothing changed, nothing recorded
    status, _ = _upload(web, "/stock/import", "sku,location,on_hand\nMUG-1,main,7\nTEA-2,store,4\n")
    assert status == 302
    assert (_on_hand(db, "MUG-1", "main"), _on_hand(db, "TEA-2", "store")) == (7, 4)
    with db.session() as s:
        reasons = set(s.scalars(select(t.StockAdjustment.reason).where(t.StockAdjustment.who == "web:admin")))
        assert reasons == {"CSV import"}


def test_a_bad_stock_file_lists_every_bad_row_and_changes_nothing(
    web: FlaskClient, db: Database, catalogue: int
) -> None:
    before = _state(db)
    status, html = _upload(
        web, "/stock/import", "sku,location,on_hand\nMUG-1,main,1\nNOPE,main,2\nTEA-2,attic,3\n"
    )
    assert status == 400
    assert "Nothing was imported" in html
    assert "<td>3</td><td>no SKU &#39;NOPE&#39; in the catalogue</td>" in html
    assert "<td>4</td><td>no location with code &#39;attic&#39;</td>" in html
    assert _state(db) == before  # MUG-1's good row was not applied either
    status, html = _upload(web, "/stock/import", "sku,location,on_hand\nMUG-1,main,1\nTEA-2,main,-1\n")
    assert status == 400 and "<td>3</td><td>on_hand must be a whole number" in html
    status, html = _upload(web, "/stock/import", "sku,qty\n")
    assert status == 400 and "header must name the columns" in html
    assert _state(db) == before


def test_mapping_import_and_export(web: FlaskClient, db: Database, catalogue: int) -> None:
    good = "connection,channel_sku,sku,variant_id\nweb shop,mug-blue,MUG-1,v1\nweb shop,tea-old,,\n"
    status, html = _upload(web, "/stock/mappings/import", good)
    assert status == 302, html
    with db.session() as s:
        rows = {
            m.channel_sku: (m.sku_id is not None, m.variant_id, m.source)
            for m in s.scalars(select(t.SkuMapping))
        }
        assert rows == {"mug-blue": (True, "v1", "csv"), "tea-old": (False, None, "csv")}
        assert s.scalar(select(t.StockPush.channel_sku)) == "mug-blue"
    exported = web.get("/stock/mappings/export.csv").get_data(as_text=True).splitlines()
    assert exported == [
        "connection,channel_sku,sku,product_id,variant_id,listing_id",
        "web shop,mug-blue,MUG-1,,v1,",
        "web shop,tea-old,,,,",
    ]
    before = _state(db)
    bad = "connection,channel_sku,sku\nweb shop,tea-old,TEA-2\nnowhere,x,MUG-1\nweb shop,y,GHOST\n"
    status, html = _upload(web, "/stock/mappings/import", bad)
    assert status == 400
    assert "no channel connection named &#39;nowhere&#39;" in html and "no SKU &#39;GHOST&#39;" in html
    assert _state(db) == before  # tea-old stays unmapped
    status, _ = _upload(
        web,
        "/stock/mappings/import",
        "\n".join(exported).replace("web shop,tea-old,", "web shop,tea-old,TEA-2"),
    )
    assert status == 302
    with db.session() as s:
        assert s.scalar(select(t.SkuMapping.sku_id).where(t.SkuMapping.channel_sku == "tea-old")) is not None
