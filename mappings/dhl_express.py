"""DHL Express (MyDHL API 3.x): pure translation between the canonical shipping shapes and
DHL's JSON (``reference/carriers/dhl_express.md``). No I/O, no clock: the connector passes
the planned shipping time in.

Quirks that live here:

* one ``unitOfMeasurement`` switch per request: ``metric`` (kg, cm) or ``imperial`` (lb, in);
* ``plannedShippingDateAndTime`` is ``YYYY-MM-DDTHH:MM:SSGMT+00:00`` (the Ship example puts a
  space before ``GMT``);
* ``totalPrice[]`` is one charge in up to three currencies (``BILLC`` billing, ``PULCL`` the
  country's public-rate currency, ``BASEC`` base currency): the merchant pays ``BILLC``. None
  of them is a published (list) rate, so ``list_amount`` stays null;
* tracking events come oldest first with a local date and time (an offset only when asked
  for): they are ordered by :func:`hub.shipping.status.build_tracker`, never by position;
* error bodies are RFC 7807 style (``title``, ``detail``, ``status`` as a string,
  sometimes ``additionalDetails[]``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from hub.shipping.model import (
    Address,
    Label,
    LabelFormat,
    LabelRequest,
    Parcel,
    RateQuote,
    RateRequest,
    ShippingDocument,
    Tracker,
    TrackingEvent,
    TrackingLocation,
    TrackingStatus,
)
from hub.shipping.status import build_tracker
from hub.shipping.units import THOUSANDTH, WHOLE, LengthUnit, WeightUnit, length_in, weight_in
from mappings.common import MappingError

CARRIER = "dhl_express"
Units = Literal["metric", "imperial"]

#: global product code -> readable name (DHL ``productCode`` reference data; used when a
#: response carries no ``productName``)
PRODUCT_NAMES: dict[str, str] = {
    "P": "Express Worldwide (non-documents)",
    "D": "Express Worldwide (documents)",
    "U": "Express Worldwide (EU)",
    "K": "Express 9:00",
    "L": "Express 10:30",
    "T": "Express 12:00",
    "E": "Express 9:00 (non-documents)",
    "M": "Express 10:30 (non-documents)",
    "Y": "Express 12:00 (non-documents)",
    "X": "Express Envelope",
    "C": "Medical Express",
    "B": "Express Breakbulk",
    "A": "Economy Breakbulk",
    "N": "Express Domestic",
    "I": "Express Domestic 9:00",
    "O": "Express Domestic 10:30",
    "1": "Express Domestic 12:00",
    "G": "Economy Select Domestic",
    "W": "Economy Select",
    "H": "Economy Select (non-documents)",
    "7": "Express Easy",
    "8": "Express Easy (non-documents)",
    "S": "Same Day",
    "5": "Sameday Sprintline",
    "R": "Globalmail",
}

#: ``events[].typeCode`` -> status (``reference/carriers/tracking_status.md``, DHL Express).
#: Codes not listed (``IA`` image available, ``DI`` duty invoice, ``TI``/``TT`` trace, ...)
#: map to ``unknown`` and leave the tracker's status as it was.
_CODES_BY_STATUS: tuple[tuple[TrackingStatus, str], ...] = (
    ("pending", "DUMMY_PU 104"),
    ("picked_up", "PU SA"),
    ("in_transit", "PL AF DF AR FD TR TP SC RR IC CR BR BN MC MS PY SM CI CU ES HN LV UV RW 102"),
    ("out_for_delivery", "WC"),
    ("delivered", "OK PD DD 101"),
    ("ready_for_pickup", "CC"),
    ("on_hold", "OH HP CD UD SS"),
    ("delivery_delayed", "AD MD TD IR"),
    ("delivery_failed", "NH BA CA RD ND CM DS 103"),
    ("return_to_sender", "RT"),
)
STATUS_BY_CODE: dict[str, TrackingStatus] = {
    code: status for status, codes in _CODES_BY_STATUS for code in codes.split()
}

#: the hub's label formats -> DHL ``outputImageProperties.encodingFormat``
ENCODINGS: dict[str, str] = {"PDF": "pdf", "ZPL": "zpl"}
#: ``documents[].imageFormat`` -> the hub's label format
IMAGE_FORMATS: dict[str, LabelFormat] = {"PDF": "PDF", "ZPL": "ZPL", "ZPL2": "ZPL"}
DEFAULT_TEMPLATE = "ECOM26_84_001"  # 4x6 in thermal label
REFERENCE_MAX = 35  # customerReferences[].value
#: the weight and length unit of each ``unitOfMeasurement``
UNITS: dict[str, tuple[WeightUnit, LengthUnit]] = {"metric": ("kg", "cm"), "imperial": ("lb", "in")}


# --------------------------------------------------------------------------- requests


def planned_shipping(moment: datetime, *, space: bool = False) -> str:
    """DHL's ``plannedShippingDateAndTime``: UTC with a literal ``GMT+00:00``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + (" GMT+00:00" if space else "GMT+00:00")


def shipment_reference(idempotency_key: str) -> str:
    """The shipment-level customer reference that carries the hub's idempotency key: the key
    itself when it fits DHL's 35 characters, else a digest of it."""
    if 0 < len(idempotency_key) <= REFERENCE_MAX:
        return idempotency_key
    return "h-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[: REFERENCE_MAX - 2]


def weight(parcel: Parcel, units: Units) -> float:
    """Grams in kg or lb, rounded up to 0.001 (DHL rejects a zero weight)."""
    return float(weight_in(max(parcel.weight_g, 1), UNITS[units][0], THOUSANDTH))


def dimensions(parcel: Parcel, units: Units) -> dict[str, int] | None:
    """Millimetres in whole cm or in, rounded up; None unless all three are known."""
    sides = (parcel.length_mm, parcel.width_mm, parcel.height_mm)
    if any(side is None or side <= 0 for side in sides):
        return None
    length, width, height = (int(length_in(s or 0, UNITS[units][1], WHOLE)) for s in sides)
    return {"length": length, "width": width, "height": height}


def _package(parcel: Parcel, units: Units, reference: str | None = None) -> dict[str, Any]:
    package: dict[str, Any] = {"weight": weight(parcel, units)}
    if (dims := dimensions(parcel, units)) is not None:
        package["dimensions"] = dims
    if reference:
        package["customerReferences"] = [{"value": reference[:REFERENCE_MAX], "typeCode": "CU"}]
    return package


def _compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v not in (None, "")}


def _postal_address(address: Address) -> dict[str, Any]:
    """DHL's ``postalAddress`` (rates, and the parties of a shipment)."""
    return _compact(
        {
            "postalCode": address.postal_code,
            "cityName": address.city,
            "countryCode": address.country_code,
            "provinceCode": address.region,
            "addressLine1": address.street1,
            "addressLine2": address.street2,
        }
    )


def customs_declarable(request: RateRequest) -> bool:
    """Dutiable when it crosses a border (the hub ships goods, not documents)."""
    return request.ship_from.country_code.upper() != request.ship_to.country_code.upper()


def rate_request(request: RateRequest, *, account: str, units: Units, planned: datetime) -> dict[str, Any]:
    """``POST /rates`` body: every product DHL offers on the lane (no ``productsAndServices``)."""
    if not request.parcels:
        raise ValueError("a DHL Express rate request needs at least one parcel")
    return {
        "customerDetails": {
            "shipperDetails": _postal_address(request.ship_from),
            "receiverDetails": _postal_address(request.ship_to),
        },
        "accounts": [{"typeCode": "shipper", "number": account}],
        "plannedShippingDateAndTime": planned_shipping(planned),
        "unitOfMeasurement": units,
        "isCustomsDeclarable": customs_declarable(request),
        "estimatedDeliveryDate": {"isRequested": True, "typeCode": "QDDC"},
        "nextBusinessDay": True,
        "packages": [_package(p, units) for p in request.parcels],
    }


def missing_phones(request: RateRequest) -> list[str]:
    """Who lacks the phone DHL's shipment API requires (``contactInformation.phone``)."""
    parties = (("shipper", request.ship_from), ("recipient", request.ship_to))
    return [who for who, address in parties if not (address.phone or "").strip()]


def _party(address: Address) -> dict[str, Any]:
    contact = _compact(
        {
            "email": address.email,
            "phone": address.phone,
            "companyName": address.company or address.name,
            "fullName": address.name or address.company,
        }
    )
    return {
        "postalAddress": _postal_address(address),
        "contactInformation": contact,
        "typeCode": "private" if address.residential else "business",
    }


def shipment_request(
    request: LabelRequest,
    *,
    account: str,
    units: Units,
    planned: datetime,
    template: str = DEFAULT_TEMPLATE,
    description: str = "Merchandise",
) -> dict[str, Any]:
    """``POST /shipments`` body. The idempotency key rides as the shipment's customer
    reference (findable with ``GET /tracking?shipmentReference=``); the hub's own shipment
    reference goes on every piece, where it is printed on the label."""
    shipment = request.shipment
    if not shipment.parcels:
        raise ValueError("a DHL Express shipment needs at least one parcel")
    if request.label_format not in ENCODINGS:
        raise ValueError(
            f"DHL Express cannot print {request.label_format} labels (only {', '.join(ENCODINGS)})"
        )
    code = request.service_code
    return {
        "plannedShippingDateAndTime": planned_shipping(planned, space=True),
        "pickup": {"isRequested": False},
        "productCode": code,
        "localProductCode": request.carrier_ref or code,
        "getRateEstimates": True,
        "accounts": [{"typeCode": "shipper", "number": account}],
        "customerReferences": [{"value": shipment_reference(request.idempotency_key), "typeCode": "CU"}],
        "outputImageProperties": {
            "encodingFormat": ENCODINGS[request.label_format],
            "imageOptions": [{"typeCode": "label", "templateName": template, "isRequested": True}],
            "splitTransportAndWaybillDocLabels": True,
            "allDocumentsInOneImage": False,
        },
        "customerDetails": {
            "shipperDetails": _party(shipment.ship_from),
            "receiverDetails": _party(shipment.ship_to),
        },
        "content": {
            "packages": [_package(p, units, shipment.reference) for p in shipment.parcels],
            "isCustomsDeclarable": customs_declarable(shipment),
            "description": description[:70],
            "incoterm": "DAP",
            "unitOfMeasurement": units,
        },
    }


# --------------------------------------------------------------------------- responses


def _decimal(value: Any, path: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(path, f"not a number: {value!r}") from None
    if not result.is_finite():
        raise MappingError(path, f"not a number: {value!r}")
    return result


def _day(value: Any) -> date | None:
    """The date part of ``2022-11-24T23:59:00``, ``2022-12-28T23:59:00Z`` or ``2020-06-12``."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number >= 0 else None


def price_of(product: Mapping[str, Any], path: str) -> tuple[Decimal, str] | None:
    """The ``BILLC`` (billing currency) total, else the first priced entry."""
    prices = [
        p for p in product.get("totalPrice") or [] if isinstance(p, Mapping) and p.get("price") is not None
    ]
    chosen = next((p for p in prices if p.get("currencyType") == "BILLC"), prices[0] if prices else None)
    if chosen is None or not chosen.get("priceCurrency"):
        return None
    return _decimal(chosen["price"], f"{path}.totalPrice"), str(chosen["priceCurrency"]).upper()


def quotes_from_rates(payload: Mapping[str, Any]) -> tuple[list[RateQuote], list[str]]:
    """One quote per product, in DHL's order; products without a price are left out (a line
    each in the warnings)."""
    products = payload.get("products")
    if not isinstance(products, list):
        raise MappingError("products", "not a list")
    quotes: list[RateQuote] = []
    warnings: list[str] = []
    for i, product in enumerate(products):
        path = f"products[{i}]"
        if not isinstance(product, Mapping) or not product.get("productCode"):
            raise MappingError(path, "not a product with a productCode")
        code = str(product["productCode"])
        price = price_of(product, path)
        if price is None:
            warnings.append(f"DHL Express product {code} has no price: left out")
            continue
        delivery = product.get("deliveryCapabilities") or {}
        quotes.append(
            RateQuote(
                carrier=CARRIER,
                service_code=code,
                service_name=str(
                    product.get("productName") or PRODUCT_NAMES.get(code, f"DHL Express {code}")
                ),
                amount=price[0],
                list_amount=None,
                currency=price[1],
                estimated_days=_int(delivery.get("totalTransitDays")),
                estimated_delivery=_day(delivery.get("estimatedDeliveryDateAndTime")),
                guaranteed=False,
                carrier_ref=str(product.get("localProductCode") or code),
            )
        )
    return quotes, warnings


def _label_bytes(document: Mapping[str, Any], path: str) -> bytes:
    try:
        return base64.b64decode(str(document.get("content") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise MappingError(f"{path}.content", "not base64") from None


def label_from_shipment(payload: Mapping[str, Any], label_format: LabelFormat = "PDF") -> Label:
    """The Label of a ``POST /shipments`` answer: its ``label`` documents (several ZPL labels
    are joined; of several PDFs the first is kept, as DHL puts every piece in it)."""
    number = payload.get("shipmentTrackingNumber")
    if not number:
        raise MappingError("shipmentTrackingNumber", "missing")
    documents = [
        (i, d)
        for i, d in enumerate(payload.get("documents") or [])
        if isinstance(d, Mapping) and d.get("typeCode") == "label"
    ]
    if not documents:
        raise MappingError("documents", "no label document")
    first = documents[0][1]
    fmt = IMAGE_FORMATS.get(str(first.get("imageFormat") or "").upper(), label_format)
    images = [_label_bytes(d, f"documents[{i}]") for i, d in documents]
    data = b"".join(images) if fmt == "ZPL" else images[0]
    charge = _shipment_charge(payload)
    pieces = tuple(str(p["trackingNumber"]) for p in payload.get("packages") or [] if p.get("trackingNumber"))
    return Label(
        tracking_number=str(number),
        label_format=fmt,
        label_data=data,
        carrier_ref=str(number),
        amount=charge[0] if charge else None,
        currency=charge[1] if charge else None,
        parcel_tracking_numbers=pieces,
    )


def _shipment_charge(payload: Mapping[str, Any]) -> tuple[Decimal, str] | None:
    """``shipmentCharges[]`` (present with ``getRateEstimates``): the ``BILLC`` entry."""
    charges = payload.get("shipmentCharges")
    if not isinstance(charges, list):
        return None
    return price_of({"totalPrice": charges}, "shipmentCharges")


def _location(event: Mapping[str, Any]) -> TrackingLocation:
    """``serviceArea[0].description`` is ``CITY-CC`` (``SYDNEY-AU``)."""
    areas = event.get("serviceArea") or []
    text = str(areas[0].get("description") or "") if areas and isinstance(areas[0], Mapping) else ""
    city, _, country = text.rpartition("-")
    if len(country) == 2 and country.isalpha() and city:
        return TrackingLocation(city=city.strip() or None, country_code=country.upper())
    return TrackingLocation(city=text.strip() or None)


def _offset(value: Any) -> timezone | None:
    """``+09:00`` / ``-05:30`` (``GMTOffset``, present when requested)."""
    if not isinstance(value, str) or len(value) != 6 or value[0] not in "+-" or value[3] != ":":
        return None
    try:
        delta = timedelta(hours=int(value[1:3]), minutes=int(value[4:6]))
    except ValueError:
        return None
    return timezone(-delta if value[0] == "-" else delta)


def event_from(event: Mapping[str, Any], path: str) -> TrackingEvent:
    day, time = str(event.get("date") or ""), str(event.get("time") or "00:00:00")
    try:
        moment = datetime.fromisoformat(f"{day}T{time}")
    except ValueError:
        raise MappingError(path, f"not a date and time: {day!r} {time!r}") from None
    offset = _offset(event.get("GMTOffset"))
    code = str(event["typeCode"]) if event.get("typeCode") else None
    return TrackingEvent(
        at=(moment.replace(tzinfo=offset) if offset else moment.replace(tzinfo=UTC)).astimezone(UTC),
        status=STATUS_BY_CODE.get(code or "", "unknown"),
        code=code,
        description=str(event["description"]).strip() if event.get("description") else None,
        location=_location(event),
        local_time=offset is None,
    )


def tracker_from(shipment: Mapping[str, Any], path: str) -> Tracker:
    events = [
        event_from(e, f"{path}.events[{i}]")
        for i, e in enumerate(shipment.get("events") or [])
        if isinstance(e, Mapping)
    ]
    return build_tracker(
        CARRIER,
        str(shipment["shipmentTrackingNumber"]),
        events,
        estimated_delivery=_day(shipment.get("estimatedDeliveryDate")),
        status_hint="pending",  # DHL knows the waybill: at least the label exists
    )


def trackers_from_tracking(
    payload: Mapping[str, Any], wanted: Iterable[str] | None = None
) -> tuple[list[Tracker], list[str]]:
    """Trackers of a tracking answer (events in any order); with ``wanted``, only those
    numbers, and a warning for each wanted number DHL did not report."""
    shipments = payload.get("shipments")
    if not isinstance(shipments, list):
        raise MappingError("shipments", "not a list")
    wanted_set = None if wanted is None else set(wanted)
    trackers: list[Tracker] = []
    for i, shipment in enumerate(shipments):
        if not isinstance(shipment, Mapping) or not shipment.get("shipmentTrackingNumber"):
            raise MappingError(f"shipments[{i}]", "no shipmentTrackingNumber")
        if wanted_set is None or str(shipment["shipmentTrackingNumber"]) in wanted_set:
            trackers.append(tracker_from(shipment, f"shipments[{i}]"))
    found = {t.tracking_number for t in trackers}
    missing = sorted((wanted_set or set()) - found)
    return trackers, [f"DHL Express does not know tracking number {n}" for n in missing]


def waybills_by_reference(payload: Mapping[str, Any], reference: str) -> list[str]:
    """Waybill numbers of a ``GET /tracking?shipmentReference=`` answer carrying ``reference``
    (DHL echoes it in ``shipperReferences``; an answer without them is taken as filtered)."""
    found = []
    for shipment in payload.get("shipments") or []:
        if not isinstance(shipment, Mapping) or not shipment.get("shipmentTrackingNumber"):
            continue
        references = [
            r.get("value") for r in shipment.get("shipperReferences") or [] if isinstance(r, Mapping)
        ]
        if not references or reference in references:
            found.append(str(shipment["shipmentTrackingNumber"]))
    return found


def problem_message(body: Any) -> str | None:
    """One line from a DHL error body (``title``/``detail``/``additionalDetails``), or None."""
    if not isinstance(body, Mapping) or not any(body.get(k) for k in ("detail", "title", "message")):
        return None
    head = " ".join(str(p) for p in (body.get("status"), body.get("title") or body.get("message")) if p)
    text = f"{head}: {body['detail']}" if body.get("detail") else head
    extra = [str(d) for d in body.get("additionalDetails") or [] if d]
    return f"{text} ({'; '.join(extra)})" if extra else text


def map_document(document: Any) -> ShippingDocument:
    """A ``/rates`` answer (``products``) or a tracking answer (``shipments``)."""
    if isinstance(document, Mapping) and "products" in document:
        quotes, warnings = quotes_from_rates(document)
        return ShippingDocument(kind="rates", quotes=tuple(quotes), warnings=tuple(warnings))
    if isinstance(document, Mapping) and isinstance(document.get("shipments"), list):
        trackers, warnings = trackers_from_tracking(document)
        return ShippingDocument(kind="tracking", trackers=tuple(trackers), warnings=tuple(warnings))
    if (message := problem_message(document)) is not None:
        raise MappingError("document", f"a DHL Express error, not rates or tracking ({message})")
    if isinstance(document, Mapping) and "shipmentTrackingNumber" in document:
        raise MappingError("document", "a DHL Express shipment (label) answer, not rates or tracking")
    raise MappingError(
        "document", "neither a DHL Express rates answer (products) nor a tracking answer (shipments)"
    )
