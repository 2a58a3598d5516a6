"""USPS (APIs v3): pure translation between USPS JSON and the canonical shipping shapes.

Request bodies for Shipping Options (rates) and Labels, quotes from a Shipping Options or a
Domestic Prices answer, a label from the Labels API's multipart (or JSON) answer, trackers from
a Tracking 3.0 ``expand=DETAIL`` answer. USPS quirks handled here: weight in pounds and
dimensions in inches with no unit codes; several rate options per mail class (one per container,
the merchant's own packaging is picked); the label answer is multipart with base64 parts whatever
its headers say; tracking times are local without offset (``GMTTimestamp`` used where given);
``mailClass`` and texts may carry HTML. Idempotency keys must be UUIDs (:func:`label_key`).
Reference: ``shared/reference/carriers/usps.md``; statuses: ``tracking_status.md``."""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from email import policy
from email.parser import BytesParser
from typing import Any

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
from hub.shipping.units import HUNDREDTH, MM_PER, TENTH, weight_in
from mappings.common import LOGGER, MappingError, country_code, get_path, money, opt_str

CARRIER = "usps"
CURRENCY = "USD"

# --------------------------------------------------------------------------- code tables (data)

#: mailClass -> readable name (Shipping Options and Domestic Prices send none, or an empty one)
SERVICE_NAMES: dict[str, str] = {
    "USPS_GROUND_ADVANTAGE": "USPS Ground Advantage",
    "PRIORITY_MAIL": "Priority Mail",
    "PRIORITY_MAIL_EXPRESS": "Priority Mail Express",
    "PARCEL_SELECT": "Parcel Select",
    "MEDIA_MAIL": "Media Mail",
    "LIBRARY_MAIL": "Library Mail",
    "BOUND_PRINTED_MATTER": "Bound Printed Matter",
    "USPS_CONNECT_LOCAL": "USPS Connect Local",
    "USPS_CONNECT_REGIONAL": "USPS Connect Regional",
    "USPS_CONNECT_MAIL": "USPS Connect Mail",
    "USPS_GROUND_ADVANTAGE_RETURN_SERVICE": "USPS Ground Advantage Return Service",
    "PRIORITY_MAIL_RETURN_SERVICE": "Priority Mail Return Service",
    "PRIORITY_MAIL_EXPRESS_RETURN_SERVICE": "Priority Mail Express Return Service",
}

#: Pub 199 event code -> status (tracking_status.md, USPS table); others fall back to the text
EVENT_STATUSES: dict[str, TrackingStatus] = {
    "GX": "pending",
    "MA": "pending",
    "03": "picked_up",
    "10": "in_transit",
    "A1": "in_transit",
    "T1": "in_transit",
    "TL": "in_transit",
    "07": "in_transit",
    "SF": "in_transit",
    "PC": "in_transit",
    "OF": "out_for_delivery",
    "01": "delivered",
    "16": "ready_for_pickup",
    "02": "delivery_failed",
    "52": "delivery_failed",
    "53": "delivery_failed",
    "51": "delivery_failed",
    "04": "delivery_failed",
    "05": "delivery_failed",
    "55": "delivery_failed",
    "21": "delivery_failed",
    "22": "delivery_failed",
    "23": "delivery_failed",
    "09": "return_to_sender",
}

#: ``statusCategory`` (and event text) substrings, most specific first, matched without case
CATEGORY_STATUSES: tuple[tuple[str, TrackingStatus], ...] = (
    ("pre-shipment", "pending"),
    ("out for delivery", "out_for_delivery"),
    ("delivery attempt", "delivery_failed"),
    ("available for pickup", "ready_for_pickup"),
    ("return to sender", "return_to_sender"),
    ("accepted", "picked_up"),
    ("in transit", "in_transit"),
    ("delivered", "delivered"),
    ("alert", "on_hold"),
)

#: rate indicators of the merchant's own packaging (not USPS flat-rate containers)
OWN_PACKAGING = ("SP", "PA", "DR", "DN")
#: canonical label format -> USPS ``imageType``
IMAGE_TYPES: dict[str, str] = {"PDF": "PDF", "PNG": "PNG", "GIF": "GIF", "ZPL": "ZPL203DPI"}
#: where USPS delivers domestically: the states plus the territories with their own ISO codes
DOMESTIC = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "PW", "FM", "MH", "UM"})
#: USPS ``X-Idempotency-Key`` must be a UUID: other keys become a name-based UUID in this namespace
KEY_NAMESPACE = uuid.UUID("7b3f6b0e-2f4c-5a51-9a35-3c0d8e8b5f21")

#: machinable parcel limits (DMM 201): at most 22 x 18 x 15 in and 25 lb
MACHINABLE_MAX_IN = (Decimal(22), Decimal(18), Decimal(15))
MACHINABLE_MAX_LB = Decimal(25)
_TAG = re.compile(r"<[^>]*>")
_ZIP = re.compile(r"(\d{5})(?:-?(\d{4}))?")


class NotServed(ValueError):
    """A shipment this connector cannot quote or label (international, no ZIP Code)."""


# --------------------------------------------------------------------------- units and small helpers


def pounds(grams: int) -> Decimal:
    """Grams as pounds, rounded up to the hundredth (never under-declared)."""
    return weight_in(grams, "lb", HUNDREDTH)


def inches(millimetres: int | None) -> Decimal | None:
    """Millimetres as inches, rounded up to the tenth."""
    if not millimetres:
        return None
    return (Decimal(millimetres) / MM_PER["in"]).quantize(TENTH, ROUND_CEILING)


def plain_text(value: Any) -> str | None:
    """USPS texts without their HTML (``"Ground Advantage<SUP>&#153;</SUP>"`` -> ``"Ground Advantage™"``)."""
    text = opt_str(value)
    return None if text is None else (html.unescape(_TAG.sub("", text)).strip() or None)


def zip_parts(postal_code: str | None, path: str) -> tuple[str, str | None]:
    match = _ZIP.fullmatch((postal_code or "").strip())
    if match is None:
        raise NotServed(f"{path}: {postal_code!r} is not a US ZIP Code")
    return match.group(1), match.group(2)


def label_key(idempotency_key: str) -> str:
    """The ``X-Idempotency-Key`` for the hub's key: USPS takes only UUIDs, so any other key becomes
    a UUID derived from it (the same every time, so a retry or a lookup sends the same one)."""
    try:
        return str(uuid.UUID(idempotency_key))
    except ValueError:
        return str(uuid.uuid5(KEY_NAMESPACE, idempotency_key))


def carrier_ref(rate_indicator: str, processing_category: str) -> str:
    """What a quote carries for the label purchase: USPS prices a label by these two."""
    return f"{rate_indicator}|{processing_category}"


def processing_category(parcel: Parcel) -> str:
    """``MACHINABLE`` within the machinable limits (dimensions known), else ``NONSTANDARD``."""
    sides = sorted(
        (inches(parcel.length_mm), inches(parcel.width_mm), inches(parcel.height_mm)),
        key=lambda v: v or Decimal(0),
        reverse=True,
    )
    if any(side is None for side in sides) or pounds(parcel.weight_g) > MACHINABLE_MAX_LB:
        return "NONSTANDARD"
    fits = all(side <= limit for side, limit in zip(sides, MACHINABLE_MAX_IN, strict=True))  # type: ignore[operator]
    return "MACHINABLE" if fits else "NONSTANDARD"


def _number(value: Decimal) -> float | int:
    """A JSON number for a USPS body (weights and sizes, never money)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _domestic(address: Address, path: str) -> tuple[str, str | None]:
    if address.country_code.upper() not in DOMESTIC:
        raise NotServed(f"{path}: USPS domestic services only (country {address.country_code})")
    return zip_parts(address.postal_code, f"{path}.postal_code")


# --------------------------------------------------------------------------- request bodies


def package_description(parcel: Parcel) -> dict[str, Any]:
    """Weight, and the three dimensions when all are known (USPS refuses partial dimensions)."""
    out: dict[str, Any] = {"weight": _number(pounds(parcel.weight_g))}
    sides = {
        "length": inches(parcel.length_mm),
        "width": inches(parcel.width_mm),
        "height": inches(parcel.height_mm),
    }
    if all(value is not None for value in sides.values()):
        out |= {name: _number(value) for name, value in sides.items() if value is not None}
    return out


def options_body(
    request: RateRequest,
    parcel: Parcel,
    *,
    mailing_date: date,
    price_type: str = "COMMERCIAL",
    account_type: str = "EPS",
    account_number: str | None = None,
) -> dict[str, Any]:
    """``POST /shipments/v3/options/search`` for one package, every outbound mail class."""
    origin, _ = _domestic(request.ship_from, "ship_from")
    destination, _ = _domestic(request.ship_to, "ship_to")
    pricing: dict[str, Any] = {"priceType": price_type}
    if account_number:
        pricing["paymentAccount"] = {"accountType": account_type, "accountNumber": account_number}
    return {
        "originZIPCode": origin,
        "destinationZIPCode": destination,
        "destinationEntryFacilityType": "NONE",
        "packageDescription": package_description(parcel)
        | {"mailClass": "ALL_OUTBOUND", "mailingDate": mailing_date.isoformat()},
        "pricingOptions": [pricing],
    }


def _names(address: Address) -> dict[str, str]:
    """USPS wants first and last name or a firm."""
    parts = (address.name or "").split()
    out: dict[str, str] = {}
    if len(parts) >= 2:
        out |= {"firstName": parts[0][:50], "lastName": " ".join(parts[1:])[:50]}
    elif parts and address.company:
        out["firstName"] = parts[0][:50]
    if address.company or len(parts) == 1:
        out["firm"] = (address.company or parts[0])[:50]
    return out


def label_address(address: Address, path: str) -> dict[str, Any]:
    zip5, plus4 = _domestic(address, path)
    if not address.region:
        raise NotServed(f"{path}.region: a US state code is required")
    out: dict[str, Any] = _names(address) | {
        "streetAddress": address.street1,
        "city": address.city,
        "state": address.region.upper(),
        "ZIPCode": zip5,
    }
    if address.street2:
        out["secondaryAddress"] = address.street2
    if plus4:
        out["ZIPPlus4"] = plus4
    if address.phone and (digits := re.sub(r"\D", "", address.phone)):
        out["phone"] = digits[-10:]
    if address.email:
        out["email"] = address.email
    return out


def image_info(label_format: str) -> dict[str, Any]:
    if label_format not in IMAGE_TYPES:
        raise NotServed(f"label_format: USPS cannot print {label_format}")
    return {"imageType": IMAGE_TYPES[label_format], "labelType": "4X6LABEL", "suppressPostage": True}


def label_body(request: LabelRequest, parcel: Parcel, *, mailing_date: date) -> dict[str, Any]:
    """``POST /labels/v3/label`` for one package. The same request gives the same body (USPS
    replays a label only for an identical body under the same idempotency key)."""
    indicator, _, category = (request.carrier_ref or "").partition("|")
    package = package_description(parcel) | {
        "mailClass": request.service_code,
        "rateIndicator": indicator or "SP",
        "processingCategory": category or processing_category(parcel),
        "destinationEntryFacilityType": "NONE",
        "weightUOM": "lb",
        "dimensionsUOM": "in",
        "mailingDate": mailing_date.isoformat(),
        "extraServices": [],
    }
    body: dict[str, Any] = {
        "imageInfo": image_info(request.label_format) | {"receiptOption": "NONE"},
        "toAddress": label_address(request.shipment.ship_to, "ship_to"),
        "fromAddress": label_address(request.shipment.ship_from, "ship_from"),
        "packageDescription": package,
    }
    if request.shipment.reference:
        package["customerReference"] = [
            {"referenceNumber": request.shipment.reference[:30], "printReferenceNumber": True}
        ]
    return body


# --------------------------------------------------------------------------- rates


def _commitment_days(name: Any) -> int | None:
    match = re.match(r"\s*(\d+)\s*(?:day|days)\b", str(name or ""), re.IGNORECASE)
    return int(match.group(1)) if match else None


def _date(value: Any) -> date | None:
    text = opt_str(value)
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _rate_option(options: list[Any]) -> dict[str, Any] | None:
    """The cheapest option in the merchant's own packaging (flat-rate containers left out)."""
    own = [
        o
        for o in options
        if isinstance(o, dict) and get_path(o, "rates", 0, "rateIndicator") in OWN_PACKAGING
    ]
    return min(own, key=lambda o: money(o.get("totalPrice"), "totalPrice"), default=None)


def quotes_from_options(response: Mapping[str, Any]) -> list[RateQuote]:
    """One quote per mail class of a Shipping Options answer, in USPS's order."""
    quotes: list[RateQuote] = []
    for p, pricing in enumerate(response.get("pricingOptions") or []):
        retail = str(get_path(pricing, "priceType") or "").upper() == "RETAIL"
        for s, shipping in enumerate(get_path(pricing, "shippingOptions") or []):
            option = _rate_option(get_path(shipping, "rateOptions") or [])
            mail_class = opt_str(get_path(shipping, "mailClass"))
            if option is None or mail_class is None:
                continue
            path = f"pricingOptions[{p}].shippingOptions[{s}]"
            amount = money(option.get("totalPrice"), f"{path}.totalPrice")
            rate = get_path(option, "rates", 0) or {}
            commitment = option.get("commitment") or {}
            quotes.append(
                RateQuote(
                    carrier=CARRIER,
                    service_code=mail_class,
                    service_name=SERVICE_NAMES.get(mail_class) or mail_class.replace("_", " ").title(),
                    amount=amount,
                    list_amount=amount if retail else None,
                    currency=CURRENCY,
                    estimated_days=_commitment_days(commitment.get("name")),
                    estimated_delivery=_date(commitment.get("scheduleDeliveryDate")),
                    guaranteed=commitment.get("guaranteedDelivery") is True,
                    carrier_ref=carrier_ref(
                        str(rate.get("rateIndicator")), str(rate.get("processingCategory"))
                    ),
                )
            )
    return quotes


def quotes_from_base_rates(response: Mapping[str, Any]) -> tuple[list[RateQuote], list[str]]:
    """Domestic Prices ``base-rates/search``: one quote per rate (price plus its fees), and its
    warnings. No transit time: USPS gives one only in Shipping Options."""
    quotes, warnings = [], []
    for i, rate in enumerate(response.get("rates") or []):
        path = f"rates[{i}]"
        mail_class = opt_str(rate.get("mailClass")) or "UNKNOWN"
        fees = sum((money(f.get("price"), f"{path}.fees.price") for f in rate.get("fees") or []), Decimal(0))
        amount = money(rate.get("price"), f"{path}.price") + fees
        quotes.append(
            RateQuote(
                carrier=CARRIER,
                service_code=mail_class,
                service_name=SERVICE_NAMES.get(mail_class) or opt_str(rate.get("description")) or mail_class,
                amount=amount,
                list_amount=amount if str(rate.get("priceType")).upper() == "RETAIL" else None,
                currency=CURRENCY,
                estimated_days=None,
                estimated_delivery=None,
                guaranteed=False,
                carrier_ref=carrier_ref(str(rate.get("rateIndicator")), str(rate.get("processingCategory"))),
            )
        )
        warnings += [
            f"{mail_class}: warning {w.get('warningCode')}: {w.get('warningDescription')}"
            for w in rate.get("warnings") or []
        ]
    return quotes, warnings


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class Part:
    content_type: str
    content: bytes  # as sent (image parts: base64 text)


def multipart_parts(content_type: str, body: bytes) -> dict[str, Part]:
    """The named parts of a ``multipart/form-data`` body (stdlib ``email`` parser)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if not message.is_multipart():
        raise MappingError("label", f"not a multipart answer ({content_type})")
    parts: dict[str, Part] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            raw = part.get_payload(decode=False)
            content = raw.encode("latin-1", "surrogateescape") if isinstance(raw, str) else b""
            parts[name] = Part(part.get_content_type(), content)
    return parts


def _image(value: Any, path: str) -> bytes:
    """A label image part: always base64, whatever the part's headers say (Labels API spec)."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value or "")
    try:
        data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise MappingError(path, "not base64") from None
    if not data:
        raise MappingError(path, "missing")
    return data


def label_from_metadata(metadata: Mapping[str, Any], image: bytes, label_format: LabelFormat) -> Label:
    number = opt_str(metadata.get("trackingNumber"))
    if number is None:
        raise MappingError("labelMetadata.trackingNumber", "missing")
    extras = [*(metadata.get("extraServices") or []), *(metadata.get("fees") or [])]
    postage = metadata.get("postage")
    amount = None
    if postage is not None:
        amount = money(postage, "labelMetadata.postage") + sum(
            (money(e.get("price"), "labelMetadata.extraServices.price", default=Decimal(0)) for e in extras),
            Decimal(0),
        )
    return Label(
        tracking_number=number,
        label_format=label_format,
        label_data=image,
        carrier_ref=number,
        amount=amount,
        currency=CURRENCY if amount is not None else None,
        parcel_tracking_numbers=(number,),
    )


def label_from_response(content_type: str, body: bytes, label_format: LabelFormat) -> Label:
    """A label from ``POST /labels/v3/label`` or ``/label-reprint``: multipart (the default) or
    the vendor JSON (``application/vnd.usps.labels+json``)."""
    if content_type.lower().startswith("multipart/"):
        parts = multipart_parts(content_type, body)
        if "labelMetadata" not in parts or "labelImage" not in parts:
            raise MappingError("label", f"parts {sorted(parts)}: labelMetadata and labelImage expected")
        try:
            metadata = json.loads(parts["labelMetadata"].content)
        except ValueError:
            raise MappingError("labelMetadata", "not JSON") from None
        image = parts["labelImage"].content
    else:
        try:
            document = json.loads(body)
        except ValueError:
            raise MappingError("label", f"neither multipart nor JSON ({content_type})") from None
        metadata = document.get("labelMetadata") or document if isinstance(document, dict) else None
        image = document.get("labelImage") if isinstance(document, dict) else None
    if not isinstance(metadata, dict):
        raise MappingError("labelMetadata", "not a JSON object")
    return label_from_metadata(metadata, _image(image, "labelImage"), label_format)


def cancelled(response: Any) -> bool:
    """Whether ``DELETE /labels/v3/label/{n}`` cancelled the label or had a refund requested."""
    return isinstance(response, dict) and str(response.get("status")).upper() in ("CANCELED", "DISPUTED")


# --------------------------------------------------------------------------- tracking


def status_of_text(text: str | None) -> TrackingStatus:
    lowered = (text or "").lower()
    return next((status for needle, status in CATEGORY_STATUSES if needle in lowered), "unknown")


def event_status(code: str | None, text: str | None) -> TrackingStatus:
    status = EVENT_STATUSES.get(code or "") or status_of_text(text)
    if status == "unknown":
        LOGGER.info("usps: unmapped tracking event %r (%r)", code, text)
    return status


def _offset(value: Any) -> timedelta | None:
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", str(value or "").strip())
    if match is None:
        return None
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return -delta if match.group(1) == "-" else delta


def event_time(event: Mapping[str, Any], path: str) -> tuple[datetime, bool]:
    """(UTC time, whether it is a local time kept as if UTC). ``GMTTimestamp`` first, then
    ``eventTimestamp`` with ``GMTOffset``, else ``eventTimestamp`` alone (no offset known)."""
    gmt = opt_str(event.get("GMTTimestamp"))
    local = opt_str(event.get("eventTimestamp"))
    try:
        if gmt:
            moment = datetime.fromisoformat(gmt.replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC), False
        if local:
            moment = datetime.fromisoformat(local)
            if moment.tzinfo is not None:
                return moment.astimezone(UTC), False
            if (offset := _offset(event.get("GMTOffset"))) is not None:
                return (moment - offset).replace(tzinfo=UTC), False
            return moment.replace(tzinfo=UTC), True
    except ValueError:
        raise MappingError(path, f"not a date-time: {gmt or local!r}") from None
    raise MappingError(path, "no eventTimestamp")


def _location(event: Mapping[str, Any]) -> TrackingLocation:
    country = country_code(event.get("eventCountry"))
    state, postal = opt_str(event.get("eventState")), opt_str(event.get("eventZIP"))
    if country is None and not opt_str(event.get("eventCountry")) and (state or postal):
        country = "US"  # USPS leaves the country empty for domestic scans
    return TrackingLocation(
        city=opt_str(event.get("eventCity")), region=state, postal_code=postal, country_code=country
    )


def tracking_event(event: Mapping[str, Any], path: str) -> TrackingEvent:
    at, local = event_time(event, path)
    code = opt_str(event.get("eventCode"))
    description = plain_text(event.get("eventType"))
    return TrackingEvent(
        at=at,
        status=event_status(code, description),
        code=code,
        description=description,
        location=_location(event),
        local_time=local,
    )


def tracker_from_tracking(response: Mapping[str, Any], path: str = "") -> Tracker:
    number = opt_str(response.get("trackingNumber"))
    if number is None:
        raise MappingError(f"{path}trackingNumber", "missing")
    events = [
        tracking_event(e, f"{path}trackingEvents[{i}]")
        for i, e in enumerate(response.get("trackingEvents") or [])
        if isinstance(e, dict)
    ]
    estimated = _date(response.get("expectedDeliveryDate")) or _date(
        response.get("expectedDeliveryTimeStamp")
    )
    hint = status_of_text(opt_str(response.get("statusCategory")))
    return build_tracker(CARRIER, number, events, estimated, None if hint == "unknown" else hint)


# --------------------------------------------------------------------------- errors and documents


def error_message(body: Any) -> str | None:
    """The readable part of a USPS error body (v3 APIs, or the OAuth RFC 6749 shape)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), str):
        text = f"{body['error']}: {body.get('error_description') or ''}".rstrip(": ")
        return f"OAuth error {text}"
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    details = []
    for item in error.get("errors") or []:
        if isinstance(item, dict):
            where = get_path(item, "source", "parameter")
            text = " ".join(str(item[k]) for k in ("title", "detail") if item.get(k))
            details.append(f"{text} ({where})" if where else text)
    head = " ".join(str(error[k]) for k in ("code", "message") if error.get(k))
    return "; ".join([head, *details]) if details else head or None


def _is_options(document: Any) -> bool:
    options = document.get("pricingOptions") if isinstance(document, dict) else None
    return isinstance(options, list) and any(isinstance(p, dict) and "shippingOptions" in p for p in options)


def _is_tracking(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and "trackingNumber" in document
        and ("trackingEvents" in document or "statusCategory" in document)
    )


def map_document(document: Any) -> ShippingDocument:
    """What ``hub map usps FILE`` prints: a Shipping Options or Domestic Prices answer (rates), a
    Tracking answer or a list of them (tracking; error entries become warnings)."""
    if _is_options(document):
        return ShippingDocument("rates", quotes=tuple(quotes_from_options(document)))
    if isinstance(document, dict) and isinstance(document.get("rates"), list):
        quotes, warnings = quotes_from_base_rates(document)
        return ShippingDocument("rates", quotes=tuple(quotes), warnings=tuple(warnings))
    if _is_tracking(document):
        return ShippingDocument("tracking", trackers=(tracker_from_tracking(document),))
    if isinstance(document, list) and document and any(_is_tracking(d) for d in document):
        return _tracking_list(document)
    if (message := error_message(document)) is not None:
        raise MappingError("document", f"a USPS error, not rates or tracking: {message}")
    if isinstance(document, list) or (isinstance(document, dict) and "packageDescription" in document):
        raise MappingError("document", "a USPS request, not a rate or tracking response")
    if cancelled(document):
        raise MappingError("document", "a label cancellation, not rates or tracking")
    raise MappingError("document", "neither a USPS rate response nor a tracking response")


def _tracking_list(documents: Iterable[Any]) -> ShippingDocument:
    trackers, warnings = [], []
    for i, item in enumerate(documents):
        if _is_tracking(item):
            trackers.append(tracker_from_tracking(item, f"[{i}]."))
        else:
            warnings.append(f"[{i}]: left out: {error_message(item) or 'not a tracking answer'}")
    return ShippingDocument("tracking", trackers=tuple(trackers), warnings=tuple(warnings))
