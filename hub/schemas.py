"""Marshmallow schemas that load and dump exactly the JSON of the canonical order contract.

``dump_order(order)`` gives the contract's JSON (money as decimal strings, times as
UTC ending in ``Z``); ``load_order(data)`` gives back the typed ``hub.model.Order``
and raises ``marshmallow.ValidationError`` naming the field on bad input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate

from hub.model import (
    CHANNELS,
    FULFILLMENT_STATUSES,
    PAYMENT_STATUSES,
    STATUSES,
    Address,
    Customer,
    Line,
    Order,
    ShippingLine,
    Totals,
)


def format_money(value: Decimal) -> str:
    """A decimal as the contract writes it: plain notation, never exponent form."""
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def format_utc(value: datetime) -> str:
    """An aware datetime as RFC 3339 UTC ending in ``Z`` (microseconds only when present)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_utc(text: str) -> datetime:
    """An RFC 3339 time with a zone (``Z`` or an offset) as aware UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("time has no zone")
    return value.astimezone(UTC)


class Money(fields.Field):
    """A decimal string. JSON numbers are refused: they may already have lost cents."""

    default_error_messages = {"invalid": "not a decimal string"}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_money(Decimal(value))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, Decimal):
            return value
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not result.is_finite():
            raise self.make_error("invalid")
        return result


class UtcDateTime(fields.Field):
    default_error_messages = {"invalid": "not an RFC 3339 time with a zone"}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_utc(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            return parse_utc(value)
        except ValueError as exc:
            raise self.make_error("invalid") from exc


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only: not 1, "yes" or "true"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _opt_str() -> fields.String:
    return fields.String(required=True, allow_none=True)


class _Strict(Schema):
    class Meta:
        unknown = RAISE
        ordered = True


class AddressSchema(_Strict):
    name = _opt_str()
    company = _opt_str()
    line1 = _opt_str()
    line2 = _opt_str()
    city = _opt_str()
    region = _opt_str()
    postal_code = _opt_str()
    country_code = fields.String(
        required=True,
        allow_none=True,
        validate=validate.Regexp(r"^[A-Z]{2}$", error="not ISO 3166-1 alpha-2"),
    )
    phone = _opt_str()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Address:
        return Address(**data)


class CustomerSchema(_Strict):
    external_id = _opt_str()
    email = _opt_str()
    name = _opt_str()
    phone = _opt_str()

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Customer:
        return Customer(**data)


class TotalsSchema(_Strict):
    subtotal = Money(required=True)
    discount = Money(required=True)
    shipping = Money(required=True)
    tax = Money(required=True)
    total = Money(required=True)
    refunded = Money(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Totals:
        return Totals(**data)


class LineSchema(_Strict):
    external_id = fields.String(required=True)
    sku = _opt_str()
    name = fields.String(required=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit_price = Money(required=True)
    discount = Money(required=True)
    tax = Money(required=True)
    total = Money(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Line:
        return Line(**data)


class ShippingLineSchema(_Strict):
    code = _opt_str()
    title = _opt_str()
    amount = Money(required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> ShippingLine:
        return ShippingLine(**data)


class OrderSchema(_Strict):
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    external_id = fields.String(required=True, validate=validate.Length(min=1))
    number = _opt_str()
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    payment_status = fields.String(required=True, validate=validate.OneOf(PAYMENT_STATUSES))
    fulfillment_status = fields.String(required=True, validate=validate.OneOf(FULFILLMENT_STATUSES))
    created_at = UtcDateTime(required=True)
    updated_at = UtcDateTime(required=True)
    cancelled_at = UtcDateTime(required=True, allow_none=True)
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="not ISO 4217"))
    taxes_included = StrictBoolean(required=True)
    totals = fields.Nested(TotalsSchema, required=True)
    customer = fields.Nested(CustomerSchema, required=True)
    billing_address = fields.Nested(AddressSchema, required=True, allow_none=True)
    shipping_address = fields.Nested(AddressSchema, required=True, allow_none=True)
    lines = fields.List(fields.Nested(LineSchema), required=True, validate=validate.Length(min=1))
    shipping_lines = fields.List(fields.Nested(ShippingLineSchema), required=True)
    note = _opt_str()
    tags = fields.List(fields.String(), required=True)

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> Order:
        return Order(**data)


_ORDER_SCHEMA = OrderSchema()
_ORDER_SCHEMA_LENIENT = OrderSchema(unknown=EXCLUDE)


def dump_order(order: Order) -> dict[str, Any]:
    """The contract's JSON for an order (a plain dict, ready for ``json.dumps``).

    Ingest dumps every order it sees, and marshmallow's generic dump costs about
    four times this direct walk over the dataclasses; a property test keeps the
    two identical (``OrderSchema().dump`` stays the reference)."""
    return _plain(order)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {
            name: _plain(getattr(value, name))
            for name, spec in value.__dataclass_fields__.items()
            if spec.metadata.get("contract", True)
        }
    return value


def load_order(data: Any, *, ignore_unknown: bool = False) -> Order:
    """The typed order from contract JSON. Unknown keys are an error unless
    ``ignore_unknown`` (the API adds ``id``, ``history`` and so on)."""
    if not isinstance(data, dict):
        raise ValidationError("not a JSON object")
    schema = _ORDER_SCHEMA_LENIENT if ignore_unknown else _ORDER_SCHEMA
    return schema.load(data)


def first_error(error: ValidationError) -> str:
    """One line naming the first bad field of a marshmallow error: ``lines.0.quantity: ...``."""

    def walk(messages: Any, path: list[str]) -> tuple[list[str], str]:
        if isinstance(messages, dict):
            key = next(iter(messages))
            return walk(messages[key], [*path, str(key)])
        if isinstance(messages, list) and messages:
            if isinstance(messages[0], str):
                return path, messages[0]
            return walk(messages[0], path)
        return path, str(messages)

    path, message = walk(error.messages, [])
    return f"{'.'.join(path)}: {message}" if path and path != ["_schema"] else message
