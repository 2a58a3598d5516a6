"""CSV import and export of stock counts and SKU mappings.

An import is all or nothing: every row is checked first (its shape, then the SKUs,
locations and connections it names); any error, reported per row with its line number,
leaves the database as it was. Export files are valid import files (extra columns are
ignored on import).

Stock:    ``sku,location,on_hand`` (export adds name, reserved, available, reorder_point)
Mappings: ``connection,channel_sku,sku,product_id,variant_id,listing_id`` (``sku`` blank:
          unmapped; blank ids keep what is stored)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tables as t
from hub.inventory.publish import available
from hub.inventory.skumap import FIELD_MAX, queue_mapping_pushes, set_mapping
from hub.inventory.stock import set_on_hand

MAX_ROWS = 100_000
MAX_UNITS = 1_000_000_000
STOCK_COLUMNS = ("sku", "location", "on_hand")
STOCK_EXPORT_COLUMNS = ("sku", "name", "location", "on_hand", "reserved", "available", "reorder_point")
MAPPING_COLUMNS = ("connection", "channel_sku", "sku", "product_id", "variant_id", "listing_id")
MAPPING_REQUIRED = ("connection", "channel_sku", "sku")


class CsvError(ValueError):
    """The file was refused: ``errors`` are ``(line number, message)``, line 1 the header."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        super().__init__(f"{len(errors)} error(s); nothing was imported")


@dataclass
class ImportResult:
    rows: int = 0
    changed: int = 0
    unchanged: int = 0
    created: int = 0
    notes: list[str] = field(default_factory=list)


# --- parsing (pure) ------------------------------------------------------------------


def read_rows(text: str, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row with trimmed values) of a CSV text with a header naming at least
    ``required``; raises ``CsvError`` for a bad header or too many rows."""
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvError(
            [(1, f"header must name the columns {', '.join(required)} (missing: {', '.join(missing)})")]
        )
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise CsvError([(reader.line_num, f"more than {MAX_ROWS} rows: split the file")])
            values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
            if not any(values.values()):
                continue  # a blank line
            rows.append((reader.line_num, values))
    except csv.Error as exc:
        raise CsvError([(reader.line_num, f"not valid CSV: {exc}")]) from None
    return rows


def whole_number(value: str, low: int = 0) -> int | None:
    """``value`` as a whole number from ``low`` to MAX_UNITS, or None."""
    try:
        number = int(value)
    except ValueError:
        return None
    return number if low <= number <= MAX_UNITS else None


@dataclass(frozen=True, slots=True)
class StockRow:
    line: int
    sku: str
    location: str
    on_hand: int


def parse_stock(text: str) -> list[StockRow]:
    """The rows of a stock CSV, each checked on its own; raises ``CsvError`` with every bad row."""
    errors: list[tuple[int, str]] = []
    result: list[StockRow] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in read_rows(text, STOCK_COLUMNS):
        problems = []
        if not row["sku"]:
            problems.append("sku is empty")
        if not row["location"]:
            problems.append("location is empty")
        units = whole_number(row["on_hand"])
        if units is None:
            problems.append(f"on_hand must be a whole number from 0 to {MAX_UNITS} (got {row['on_hand']!r})")
        key = (row["sku"], row["location"])
        if key in seen and not problems:
            problems.append(f"sku {row['sku']!r} at {row['location']!r} is already on line {seen[key]}")
        if problems:
            errors.append((line, "; ".join(problems)))
            continue
        seen[key] = line
        assert units is not None
        result.append(StockRow(line, row["sku"], row["location"], units))
    if errors:
        raise CsvError(errors)
    return result


@dataclass(frozen=True, slots=True)
class MappingRow:
    line: int
    connection: str
    channel_sku: str
    sku: str | None
    product_id: str | None
    variant_id: str | None
    listing_id: str | None


def parse_mappings(text: str) -> list[MappingRow]:
    """The rows of a mapping CSV, each checked on its own; raises ``CsvError`` with every bad row."""
    errors: list[tuple[int, str]] = []
    result: list[MappingRow] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in read_rows(text, MAPPING_REQUIRED):
        problems = []
        if not row["connection"]:
            problems.append("connection is empty")
        if not row["channel_sku"]:
            problems.append("channel_sku is empty")
        for name, limit in FIELD_MAX.items():
            if len(row.get(name) or "") > limit:
                problems.append(f"{name} is longer than {limit} characters")
        if len(row["sku"]) > FIELD_MAX["channel_sku"]:
            problems.append(f"sku is longer than {FIELD_MAX['channel_sku']} characters")
        key = (row["connection"], row["channel_sku"])
        if key in seen and not problems:
            problems.append(
                f"channel_sku {row['channel_sku']!r} of {row['connection']!r} is already on line {seen[key]}"
            )
        if problems:
            errors.append((line, "; ".join(problems)))
            continue
        seen[key] = line
        result.append(
            MappingRow(
                line,
                row["connection"],
                row["channel_sku"],
                row["sku"] or None,
                row.get("product_id") or None,
                row.get("variant_id") or None,
                row.get("listing_id") or None,
            )
        )
    if errors:
        raise CsvError(errors)
    return result


def to_csv(header: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    """CSV text, a chunk per row (for streaming a large export)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in _chain(header, rows):
        writer.writerow(["" if v is None else v for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _chain(header: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    yield header
    yield from rows


# --- stock ---------------------------------------------------------------------------


def _ids(session: Session, column: Any, id_column: Any, values: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    ordered = sorted(values)
    for start in range(0, len(ordered), 1000):
        chunk = ordered[start : start + 1000]
        found.update(session.execute(select(column, id_column).where(column.in_(chunk))).all())
    return found


def import_stock(session: Session, text: str, who: str | None = None) -> ImportResult:
    """Set ``on_hand`` from a stock CSV (a count per SKU and location), in the caller's
    transaction. Raises ``CsvError`` (before changing anything) when any row is bad."""
    rows = parse_stock(text)
    skus = _ids(session, t.Sku.sku, t.Sku.id, {r.sku for r in rows})
    locations = _ids(session, t.Location.code, t.Location.id, {r.location for r in rows})
    errors = []
    for r in rows:
        problems = []
        if r.sku not in skus:
            problems.append(f"no SKU {r.sku!r} in the catalogue")
        if r.location not in locations:
            problems.append(f"no location with code {r.location!r}")
        if problems:
            errors.append((r.line, "; ".join(problems)))
    if errors:
        raise CsvError(errors)
    result = ImportResult(rows=len(rows))
    for r in rows:
        change = set_on_hand(
            session,
            skus[r.sku],
            locations[r.location],
            r.on_hand,
            reason="CSV import",
            source="manual",
            who=who,
        )
        if change.delta:
            result.changed += 1
        else:
            result.unchanged += 1
    return result


def export_stock(session: Session, batch: int = 1000) -> Iterator[tuple[Any, ...]]:
    """Every SKU at every location it has a stock row for (and SKUs with none, location
    blank), in SKU then location order, read in batches."""
    last = ""
    while True:
        skus = list(session.scalars(select(t.Sku).where(t.Sku.sku > last).order_by(t.Sku.sku).limit(batch)))
        if not skus:
            return
        levels: dict[int, list[Any]] = {}
        for row in session.execute(
            select(t.StockLevel.sku_id, t.Location.code, t.StockLevel.on_hand, t.StockLevel.reserved)
            .join(t.Location, t.Location.id == t.StockLevel.location_id)
            .where(t.StockLevel.sku_id.in_([s.id for s in skus]))
            .order_by(t.Location.code)
        ):
            levels.setdefault(row.sku_id, []).append(row)
        for s in skus:
            mine = levels.get(s.id) or []
            if not mine:
                yield (s.sku, s.name, None, None, None, None, s.reorder_point)
            for lv in mine:
                free = available(lv.on_hand, lv.reserved)
                yield (s.sku, s.name, lv.code, lv.on_hand, lv.reserved, free, s.reorder_point)
        last = skus[-1].sku


# --- mappings ------------------------------------------------------------------------


def import_mappings(session: Session, text: str) -> ImportResult:
    """Create or change SKU mappings from a mapping CSV, in the caller's transaction.
    Raises ``CsvError`` (before changing anything) when any row is bad."""
    rows = parse_mappings(text)
    connections = dict(
        session.execute(
            select(t.Connection.name, t.Connection.id).where(
                t.Connection.name.in_({r.connection for r in rows}), t.Connection.kind == "channel"
            )
        ).all()
    )
    skus = _ids(session, t.Sku.sku, t.Sku.id, {r.sku for r in rows if r.sku})
    errors = []
    for r in rows:
        problems = []
        if r.connection not in connections:
            problems.append(f"no channel connection named {r.connection!r}")
        if r.sku and r.sku not in skus:
            problems.append(f"no SKU {r.sku!r} in the catalogue (create it first)")
        if problems:
            errors.append((r.line, "; ".join(problems)))
    if errors:
        raise CsvError(errors)
    existing = {
        (m.connection_id, m.channel_sku): m
        for m in session.scalars(
            select(t.SkuMapping).where(t.SkuMapping.connection_id.in_(set(connections.values())))
        )
    }
    result = ImportResult(rows=len(rows))
    newly_mapped: list[t.SkuMapping] = []
    for r in rows:
        cid = connections[r.connection]
        mapping = existing.get((cid, r.channel_sku))
        created = mapping is None
        if mapping is None:
            mapping = t.SkuMapping(connection_id=cid, channel_sku=r.channel_sku, source="csv")
            session.add(mapping)
        ids_changed = False
        for name in ("product_id", "variant_id", "listing_id"):
            value = getattr(r, name)
            if value is not None and value != getattr(mapping, name):
                setattr(mapping, name, value)
                ids_changed = True
        session.flush()
        target = skus[r.sku] if r.sku else None
        mapped = set_mapping(session, mapping, target, "csv", push=False)
        if mapped:
            newly_mapped.append(mapping)
        if created:
            result.created += 1
        elif mapped or ids_changed:
            result.changed += 1
        else:
            result.unchanged += 1
    queue_mapping_pushes(session, newly_mapped)  # one round of the outbox for the whole file
    return result


def export_mappings(session: Session, batch: int = 1000) -> Iterator[tuple[Any, ...]]:
    """Every mapping, oldest first, read in batches."""
    last_id = 0
    query = (
        select(t.SkuMapping, t.Connection.name, t.Sku.sku)
        .join(t.Connection, t.Connection.id == t.SkuMapping.connection_id)
        .outerjoin(t.Sku, t.Sku.id == t.SkuMapping.sku_id)
    )
    while True:
        rows = session.execute(
            query.where(t.SkuMapping.id > last_id).order_by(t.SkuMapping.id).limit(batch)
        ).all()
        if not rows:
            return
        for m, connection, sku in rows:
            yield (connection, m.channel_sku, sku, m.product_id, m.variant_id, m.listing_id)
        last_id = rows[-1][0].id
