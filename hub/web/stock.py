"""Stock in the web UI: the stock list (search, low-stock filter, paging), one SKU (locations,
channels, adjustments with a reason, reorder point), CSV import and export of stock and of
SKU mappings, the mappings and unmapped channel SKUs, and locations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from hub import tables as t
from hub.app import current_hub
from hub.connectors import FieldError
from hub.inventory import csvio, skumap
from hub.inventory.catalogue import ensure_location
from hub.inventory.lowstock import set_reorder_point
from hub.inventory.stock import InventoryError, adjust, set_on_hand
from hub.inventory.stockview import low_count, page_skus, stock_documents
from hub.shipping.schemas import AddressInvalid, location_address
from hub.shipping.shipments import set_location_address
from hub.web.stock_forms import (
    ActionForm,
    AddressForm,
    AdjustForm,
    CreateSkuForm,
    CsvForm,
    LocationForm,
    MapForm,
    ReorderForm,
    SkuForm,
)

bp = Blueprint("stock", __name__, url_prefix="/stock")
PAGE_SIZE = 50
MAPPING_PAGE = 100
MAX_UPLOAD = 20 * 1024 * 1024


@bp.before_request
@login_required
def _login() -> None:
    return None


def _who() -> str:
    return f"web:{current_user.username}"


def _channels(session: Session) -> list[tuple[int, str]]:
    return [
        (cid, name)
        for cid, name in session.execute(
            select(t.Connection.id, t.Connection.name)
            .where(t.Connection.kind == "channel")
            .order_by(t.Connection.id)
        )
    ]


# --- stock list and one SKU ------------------------------------------------------------


@bp.get("/")
def index() -> tuple[str, int]:
    q = (request.args.get("q") or "").strip()[:100] or None
    low_only = request.args.get("low") == "1"
    error = None
    with current_hub().db.session() as session:
        try:
            skus, cursor = page_skus(session, PAGE_SIZE, request.args.get("cursor") or None, q, low_only)
        except FieldError as exc:
            error = "; ".join(f"{k} {v}" for k, v in exc.errors.items())
            skus, cursor = page_skus(session, PAGE_SIZE, None, q, low_only)
        docs = stock_documents(session, skus)
        lows = low_count(session)
        channels = _channels(session)
    args = {k: v for k, v in (("q", q), ("low", "1" if low_only else None)) if v}
    html = render_template(
        "stock_list.html",
        docs=docs,
        next_cursor=cursor,
        args=args,
        q=q or "",
        low_only=low_only,
        low_total=lows,
        channels=channels,
        error=error,
    )
    return html, 400 if error else 200


def _sku_or_404(session: Session, sku: str) -> t.Sku:
    return session.scalar(select(t.Sku).where(t.Sku.sku == sku)) or abort(404)


def _locations(session: Session) -> list[t.Location]:
    return list(session.scalars(select(t.Location).order_by(t.Location.priority, t.Location.code)))


def _render_sku(
    sku: str,
    adjust_form: AdjustForm | None = None,
    reorder_form: ReorderForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    with current_hub().db.session() as session:
        row = _sku_or_404(session, sku)
        doc = stock_documents(session, [row])[0]
        locations = _locations(session)
        history = session.execute(
            select(t.StockAdjustment, t.Location.code)
            .join(t.Location, t.Location.id == t.StockAdjustment.location_id)
            .where(t.StockAdjustment.sku_id == row.id)
            .order_by(t.StockAdjustment.id.desc())
            .limit(50)
        ).all()
        mappings = session.execute(
            select(t.SkuMapping, t.Connection.name)
            .join(t.Connection, t.Connection.id == t.SkuMapping.connection_id)
            .where(t.SkuMapping.sku_id == row.id)
            .order_by(t.Connection.name, t.SkuMapping.channel_sku)
        ).all()
    adjust_form = adjust_form or AdjustForm()
    adjust_form.location.choices = [SelectChoice(loc.code, f"{loc.code} · {loc.name}") for loc in locations]
    reorder_form = reorder_form or ReorderForm(reorder_point=doc["reorder_point"])
    html = render_template(
        "stock_show.html",
        doc=doc,
        history=history,
        mappings=mappings,
        adjust_form=adjust_form,
        reorder_form=reorder_form,
    )
    return html, status


@bp.get("/sku/<path:sku>")
def show(sku: str) -> tuple[str, int]:
    return _render_sku(sku)


@bp.post("/sku/<path:sku>/adjust")
def adjust_stock(sku: str) -> Response | tuple[str, int]:
    form = AdjustForm()
    with current_hub().db.session() as session:
        form.location.choices = [SelectChoice(loc.code, loc.code) for loc in _locations(session)]
    if not form.validate_on_submit():
        return _render_sku(sku, adjust_form=form, status=400)
    assert form.quantity.data is not None

    def work(session: Session) -> int:
        row = _sku_or_404(session, sku)
        location = session.scalar(select(t.Location).where(t.Location.code == form.location.data))
        if location is None:
            raise InventoryError("location", "does not exist")
        reason = (form.reason.data or "").strip()
        if form.mode.data == "count":
            change = set_on_hand(session, row.id, location.id, form.quantity.data, reason=reason, who=_who())
        else:
            if form.quantity.data == 0:
                raise InventoryError("quantity", "must not be 0 for an adjustment")
            change = adjust(session, row.id, location.id, form.quantity.data, reason=reason, who=_who())
        return change.delta

    try:
        delta = current_hub().db.transaction(work)
    except InventoryError as exc:
        field = {"on_hand": "quantity", "adjust": "quantity"}.get(exc.field, exc.field)
        target = getattr(form, field, form.quantity)
        target.errors = [*target.errors, exc.message]
        return _render_sku(sku, adjust_form=form, status=400)
    flash(f"On hand at {form.location.data} changed by {delta:+d}.", "ok")
    return redirect(url_for("stock.show", sku=sku))


@bp.post("/sku/<path:sku>/reorder")
def reorder(sku: str) -> Response | tuple[str, int]:
    form = ReorderForm()
    if not form.validate_on_submit():
        return _render_sku(sku, reorder_form=form, status=400)

    def work(session: Session) -> list[int]:
        return set_reorder_point(session, _sku_or_404(session, sku), form.reorder_point.data)

    events = current_hub().db.transaction(work)
    note = " It is at or under it now: a stock.low event was raised." if events else ""
    flash(f"Reorder point saved.{note}", "ok")
    return redirect(url_for("stock.show", sku=sku))


@bp.route("/skus/new", methods=["GET", "POST"])
def new_sku() -> Response | tuple[str, int]:
    form = SkuForm()
    if request.method == "POST":
        if form.validate_on_submit():
            code = (form.sku.data or "").strip()

            def work(session: Session) -> bool:
                if session.scalar(select(t.Sku.id).where(t.Sku.sku == code)) is not None:
                    return False
                row = t.Sku(sku=code, name=(form.name.data or "").strip() or None)
                session.add(row)
                session.flush()
                skumap.automap_sku(session, row)
                set_reorder_point(session, row, form.reorder_point.data)
                return True

            if current_hub().db.transaction(work):
                flash(f"SKU {code} created.", "ok")
                return redirect(url_for("stock.show", sku=code))
            form.sku.errors = [*form.sku.errors, "already exists"]
        return render_template("skus_new.html", form=form), 400
    return render_template("skus_new.html", form=form), 200


# --- CSV -------------------------------------------------------------------------------


def _csv_response(
    name: str, header: tuple[str, ...], rows: Callable[[Session], Iterator[tuple[Any, ...]]]
) -> Response:
    db = current_hub().db

    def generate() -> Iterator[str]:
        with db.session() as session:
            yield from csvio.to_csv(header, rows(session))

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/export.csv")
def export_stock() -> Response:
    return _csv_response("stock.csv", csvio.STOCK_EXPORT_COLUMNS, csvio.export_stock)


def _uploaded_text(form: CsvForm) -> str:
    data = form.file.data.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise csvio.CsvError([(0, f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB: split it")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise csvio.CsvError([(0, "the file is not UTF-8 text")]) from None


def _import(
    template: str, title: str, run: Callable[[Session, str], csvio.ImportResult], back: str
) -> Response | tuple[str, int]:
    form = CsvForm()
    errors: list[tuple[int, str]] = []
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                text = _uploaded_text(form)
                result = current_hub().db.transaction(lambda session: run(session, text))
            except csvio.CsvError as exc:
                errors = exc.errors
            else:
                flash(
                    f"Imported {result.rows} rows: {result.created} created, {result.changed} changed, "
                    f"{result.unchanged} unchanged.",
                    "ok",
                )
                return redirect(url_for(back))
        return render_template(template, form=form, errors=errors, title=title), 400
    return render_template(template, form=form, errors=errors, title=title), 200


@bp.route("/import", methods=["GET", "POST"])
def import_stock() -> Response | tuple[str, int]:
    who = _who()
    return _import(
        "stock_import.html",
        "Import stock counts",
        lambda session, text: csvio.import_stock(session, text, who=who),
        "stock.index",
    )


# --- mappings --------------------------------------------------------------------------


def _int_arg(name: str) -> int | None:
    value = request.args.get(name) or ""
    return int(value) if value.isdigit() else None


@bp.get("/mappings")
def mappings() -> str:
    q = (request.args.get("q") or "").strip()[:100] or None
    connection_id = _int_arg("connection_id")
    page = max(1, _int_arg("page") or 1)
    with current_hub().db.session() as session:
        rows, total = skumap.mappings_page(session, q, connection_id, MAPPING_PAGE, (page - 1) * MAPPING_PAGE)
        channels = _channels(session)
    return render_template(
        "mappings_list.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // MAPPING_PAGE)),
        q=q or "",
        connection_id=connection_id,
        channels=channels,
        form=MapForm(),
    )


@bp.get("/mappings/unmapped")
def unmapped() -> str:
    connection_id = _int_arg("connection_id")
    page = max(1, _int_arg("page") or 1)
    with current_hub().db.session() as session:
        rows, total = skumap.unmapped_skus(session, connection_id, MAPPING_PAGE, (page - 1) * MAPPING_PAGE)
        channels = _channels(session)
    return render_template(
        "mappings_unmapped.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // MAPPING_PAGE)),
        connection_id=connection_id,
        channels=channels,
        map_form=MapForm(),
        create_form=CreateSkuForm(),
        action_form=ActionForm(),
    )


def _back_to_mappings() -> Response:
    target = request.form.get("next") or ""
    if target.startswith("/stock/mappings"):  # only back into these pages
        return redirect(target)
    return redirect(url_for("stock.mappings"))


@bp.post("/mappings/<int:mapping_id>/map")
def map_sku(mapping_id: int) -> Response:
    form = MapForm()
    if not form.validate_on_submit():
        flash("The form expired or the SKU is too long; nothing was saved.", "error")
        return _back_to_mappings()
    try:
        mapping = current_hub().db.transaction(
            lambda session: _describe(skumap.map_channel_sku(session, mapping_id, form.sku.data))
        )
    except skumap.MappingError as exc:
        flash(f"Not saved: {exc.field} {exc.message}.", "error")
    else:
        flash(f"{mapping} saved.", "ok")
    return _back_to_mappings()


@bp.post("/mappings/<int:mapping_id>/create-sku")
def create_sku(mapping_id: int) -> Response:
    form = CreateSkuForm()
    if not form.validate_on_submit():
        flash("The form expired or a value is too long; nothing was saved.", "error")
        return _back_to_mappings()
    try:
        mapping = current_hub().db.transaction(
            lambda session: _describe(
                skumap.create_sku_for(session, mapping_id, form.sku.data, form.name.data)
            )
        )
    except skumap.MappingError as exc:
        flash(f"Not saved: {exc.field} {exc.message}.", "error")
    else:
        flash(f"SKU created: {mapping}.", "ok")
    return _back_to_mappings()


def _describe(mapping: t.SkuMapping) -> str:
    return f"channel SKU {mapping.channel_sku}"


@bp.post("/mappings/scan")
def scan_orders() -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    found = current_hub().db.transaction(skumap.record_all_order_skus)
    flash(f"Scanned the stored orders: {found} channel SKUs recorded or mapped.", "ok")
    return _back_to_mappings()


@bp.get("/mappings/export.csv")
def export_mappings() -> Response:
    return _csv_response("sku-mappings.csv", csvio.MAPPING_COLUMNS, csvio.export_mappings)


@bp.route("/mappings/import", methods=["GET", "POST"])
def import_mappings() -> Response | tuple[str, int]:
    return _import("mappings_import.html", "Import SKU mappings", csvio.import_mappings, "stock.mappings")


# --- locations -------------------------------------------------------------------------


@bp.get("/locations")
def locations() -> str:
    with current_hub().db.session() as session:
        rows = _locations(session)
        addresses = {a.location_id: a for a in session.scalars(select(t.LocationAddress))}
        session.expunge_all()
    return render_template("stock_locations.html", locations=rows, addresses=addresses)


def _regions(text: str | None) -> list[str]:
    return sorted({part.strip().upper() for part in (text or "").split(",") if part.strip()})


def _address_data(session: Session, location_id: int | None) -> dict[str, Any]:
    row = None
    if location_id is not None:
        row = session.scalar(select(t.LocationAddress).where(t.LocationAddress.location_id == location_id))
    return {} if row is None else {name: getattr(row, name) for name in AddressForm().data}


def _checked_address(form: LocationForm) -> tuple[bool, dict[str, Any] | None]:
    """(valid, the address columns or None when every field is blank); a refused address's
    messages go beside its fields."""
    subform: AddressForm = form.address.form
    body = subform.body()
    if body is None:
        return True, None
    try:
        return True, location_address(body)
    except AddressInvalid as exc:
        for name, message in exc.errors.items():
            subform[name].errors = [*subform[name].errors, message]
        return False, None


def _save_address(session: Session, location: t.Location, values: dict[str, Any] | None) -> None:
    """Set the location's ship-from address; all fields blank removes it."""
    if values is not None:
        set_location_address(session, location.code, values)
        return
    row = session.scalar(select(t.LocationAddress).where(t.LocationAddress.location_id == location.id))
    if row is not None:
        session.delete(row)
        session.flush()


@bp.route("/locations/new", methods=["GET", "POST"])
@bp.route("/locations/<int:location_id>", methods=["GET", "POST"])
def location(location_id: int | None = None) -> Response | tuple[str, int]:
    with current_hub().db.session() as session:
        row = session.get(t.Location, location_id) if location_id else None
        if location_id and row is None:
            abort(404)
        address = _address_data(session, location_id)
        session.expunge_all()
    if request.method == "GET":
        form = LocationForm(obj=row, data={"address": address})
        if row is not None:
            form.regions.data = ", ".join(row.regions or [])
    else:
        form = LocationForm()
    fields_ok = request.method == "POST" and form.validate_on_submit()
    address_ok, address_values = _checked_address(form) if request.method == "POST" else (False, None)
    if fields_ok and address_ok:
        code = (form.code.data or "").strip()

        def work(session: Session) -> str | None:
            clash = session.scalar(select(t.Location).where(t.Location.code == code))
            if clash is not None and clash.id != location_id:
                return "is already the code of another location"
            fields = {
                "priority": form.priority.data,
                "country_code": (form.country_code.data or "").strip().upper() or None,
                "regions": _regions(form.regions.data),
                "paused": bool(form.paused.data),
                "allow_split": bool(form.allow_split.data),
            }
            if location_id is None:
                current = ensure_location(session, code, (form.name.data or "").strip(), **fields)
            else:
                current = session.get_one(t.Location, location_id)
                current.code = code
                current.name = (form.name.data or "").strip()
                for key, value in fields.items():
                    setattr(current, key, value)
                session.flush()
            _save_address(session, current, address_values)
            return None

        problem = current_hub().db.transaction(work)
        if problem is None:
            flash(f"Location {code} saved.", "ok")
            return redirect(url_for("stock.locations"))
        form.code.errors = [*form.code.errors, problem]
    status = 400 if request.method == "POST" else 200
    return render_template("stock_location_form.html", form=form, location=row), status
