"""What the shipping API accepts (marshmallow): bad input becomes a ``ShippingError``
naming the first bad field (``parcels.0.weight_g``), before anything is stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hub.shipping.errors import ShippingError
from hub.shipping.model import CARRIERS
from hub.shipping.rules import STRATEGIES, RuleSet

MAX_WEIGHT_G = 1_000_000
MAX_SIDE_MM = 10_000
COUNTRY = validate.Regexp(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 country code")
CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 currency code")


def _text(max_len: int, *, required: bool = False) -> fields.String:
    return fields.String(
        required=required,
        allow_none=not required,
        validate=validate.Length(min=1 if required else 0, max=max_len),
    )


class ParcelSchema(Schema):
    weight_g = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_WEIGHT_G))
    length_mm = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, MAX_SIDE_MM))
    width_mm = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, MAX_SIDE_MM))
    height_mm = fields.Integer(strict=True, allow_none=True, validate=validate.Range(1, MAX_SIDE_MM))


class LineSchema(Schema):
    line_external_id = _text(100, required=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 1_000_000))


class ShipmentCreateSchema(Schema):
    order_id = fields.Integer(required=True, strict=True, validate=validate.Range(1))
    lines = fields.List(fields.Nested(LineSchema), allow_none=True, validate=validate.Length(min=1, max=500))
    location = _text(50)
    parcels = fields.List(fields.Nested(ParcelSchema), required=True, validate=validate.Length(min=1, max=50))
    ship_date = fields.Date(allow_none=True)


class AddressSchema(Schema):
    name = _text(300)
    company = _text(300)
    street1 = _text(300, required=True)
    street2 = _text(300)
    city = _text(200, required=True)
    region = _text(200)
    postal_code = _text(50)
    country_code = fields.String(required=True, validate=COUNTRY)
    phone = _text(100)
    email = fields.Email(allow_none=True)
    residential = fields.Boolean(load_default=False)


class LocationAddressSchema(Schema):
    name = _text(300)
    company = _text(300)
    line1 = _text(300, required=True)
    line2 = _text(300)
    city = _text(200, required=True)
    region = _text(200)
    postal_code = _text(50)
    country_code = fields.String(required=True, validate=COUNTRY)
    phone = _text(100)
    email = fields.Email(allow_none=True)


def _money(*, minimum: int = 0) -> fields.Decimal:
    return fields.Decimal(allow_none=True, validate=validate.Range(minimum, 100_000), allow_nan=False)


class RuleSetSchema(Schema):
    strategy = fields.String(load_default="cheapest", validate=validate.OneOf(STRATEGIES))
    deliver_by = fields.Date(allow_none=True)
    carriers_allow = fields.List(fields.String(validate=validate.OneOf(CARRIERS)), load_default=list)
    carriers_deny = fields.List(fields.String(validate=validate.OneOf(CARRIERS)), load_default=list)
    services_allow = fields.List(fields.String(validate=validate.Length(1, 120)), load_default=list)
    services_deny = fields.List(fields.String(validate=validate.Length(1, 120)), load_default=list)
    markup_percent = fields.Decimal(load_default=0, allow_nan=False, validate=validate.Range(-100, 1000))
    markup_fixed = fields.Decimal(load_default=0, allow_nan=False, validate=validate.Range(-100_000, 100_000))
    minimum = _money()
    currency = fields.String(allow_none=True, validate=CURRENCY)

    @validates_schema
    def _date_for_by_date(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("strategy") == "cheapest_by_date" and not data.get("deliver_by"):
            raise ValidationError("is required with the strategy cheapest_by_date", "deliver_by")


class RatesRequestSchema(Schema):
    shipment_id = fields.Integer(strict=True, validate=validate.Range(1))
    ship_from = fields.Nested(AddressSchema)
    ship_to = fields.Nested(AddressSchema)
    parcels = fields.List(fields.Nested(ParcelSchema), validate=validate.Length(min=1, max=50))
    ship_date = fields.Date(allow_none=True)
    rules = fields.Nested(RuleSetSchema, allow_none=True)
    connection_ids = fields.List(fields.Integer(strict=True), allow_none=True)

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **_kw: Any) -> None:
        adhoc = [name for name in ("ship_from", "ship_to", "parcels") if name in data]
        if "shipment_id" in data:
            if adhoc:
                raise ValidationError("send either shipment_id or an ad-hoc request, not both", adhoc[0])
            return
        for name in ("ship_from", "ship_to", "parcels"):
            if name not in data:
                raise ValidationError("is required (or send shipment_id)", name)


class LabelBuySchema(Schema):
    connection_id = fields.Integer(strict=True, validate=validate.Range(1))
    service_code = _text(100)
    label_format = fields.String(allow_none=True, validate=validate.OneOf(("PDF", "PNG", "GIF", "ZPL")))

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_kw: Any) -> None:
        if ("connection_id" in data) != bool(data.get("service_code")):
            missing = "service_code" if "connection_id" in data else "connection_id"
            raise ValidationError(
                "send connection_id and service_code together (or neither: the chosen quote)", missing
            )


def _first(messages: Any, prefix: str = "") -> tuple[str, str]:
    """The first (field path, message) of marshmallow's nested error messages."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        path = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
        return _first(value, path)
    if isinstance(messages, list) and messages:
        return _first(messages[0], prefix)
    return prefix or "body", str(messages)


def load(schema: Schema, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ShippingError("body", "must be a JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        field, message = _first(exc.messages)
        message = message.rstrip(".")
        message = message[0].lower() + message[1:] if message else "is not valid"
        raise ShippingError(field, message) from None


def rule_set(data: dict[str, Any]) -> RuleSet:
    """A rule set from loaded ``RuleSetSchema`` data."""
    return RuleSet(
        strategy=data.get("strategy") or "cheapest",
        deliver_by=data.get("deliver_by"),
        carriers_allow=tuple(data.get("carriers_allow") or ()),
        carriers_deny=tuple(data.get("carriers_deny") or ()),
        services_allow=tuple(data.get("services_allow") or ()),
        services_deny=tuple(data.get("services_deny") or ()),
        markup_percent=Decimal(str(data.get("markup_percent") or 0)),
        markup_fixed=Decimal(str(data.get("markup_fixed") or 0)),
        minimum=None if data.get("minimum") is None else Decimal(str(data["minimum"])),
        currency=data.get("currency"),
    )


class AddressInvalid(ShippingError):
    """A ship-from address refused: names the first bad field (as the API reports it) and
    keeps every bad field's message in ``errors`` (what a form shows beside each field)."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.errors = errors


def location_address(body: Any) -> dict[str, Any]:
    """A location's ship-from address by ``LocationAddressSchema``'s rules, as the
    ``location_addresses`` columns (every one, absent ones None); the one check for the API
    (``PUT /api/v1/locations/<code>/address``) and the location form. Raises ``AddressInvalid``."""
    if not isinstance(body, dict):
        raise ShippingError("body", "must be a JSON object")
    schema = LocationAddressSchema()
    try:
        loaded = schema.load(body)
    except ValidationError as exc:
        errors = {}
        for name, messages in exc.messages.items():
            path, message = _first(messages, str(name))
            message = message.rstrip(".")
            errors[path] = message[0].lower() + message[1:] if message else "is not valid"
        raise AddressInvalid(errors) from None
    return {name: loaded.get(name) for name in schema.fields}
