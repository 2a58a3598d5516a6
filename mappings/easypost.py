"""EasyPost, pure: canonical requests -> EasyPost bodies, EasyPost Shipments, Trackers and Events
-> canonical quotes, purchases and trackers (``reference/carriers/aggregators.md``).

EasyPost is an aggregator: every rate, label and tracker names the carrier underneath (USPS, UPS,
FedEx, DHL Express...). A quote's ``service_code`` is ``"<carrier>:<service>"`` (``USPS:Priority``)
so it stays unique across carriers, its ``service_name`` starts with the carrier (``USPS Priority
Mail``), and ``carrier_ref`` is ``"<shipment id>:<rate id>"``: what ``buy`` needs.

Quirks kept here: units are ounces and inches (weights rounded *up* to a tenth of an ounce, so a
parcel is never under-declared); a Shipment rates exactly one parcel; labels are URLs, not
bytes; a tracking event's ``code`` is the underlying carrier's own code (FedEx ``PU``) where
EasyPost passes one on, else EasyPost's ``status_detail``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from hub.shipping.model import (
    Address,
    LabelFormat,
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
from hub.shipping.units import TENTH, length_in, weight_in
from mappings.common import (
    MappingError,
    as_list,
    as_object,
    country_code,
    get_path,
    join_path,
    money,
    opt_money,
    opt_str,
    require,
    to_utc,
)

CARRIER = "easypost"

# --------------------------------------------------------------------------- code tables (data)

#: EasyPost ``status`` (tracker and tracking detail) -> canonical (tracking_status.md, EasyPost table)
STATUSES: dict[str, TrackingStatus] = {
    "pre_transit": "pending",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "available_for_pickup": "ready_for_pickup",
    "return_to_sender": "return_to_sender",
    "failure": "delivery_failed",
    "cancelled": "cancelled",
    "unknown": "unknown",
    "error": "unknown",
}

#: (``status``, ``status_detail``) pairs that refine the status. The first three are the reference's;
#: the acceptance scan at the origin facility is the carrier taking possession (``picked_up``).
DETAIL_STATUSES: dict[tuple[str, str], TrackingStatus] = {
    ("in_transit", "delayed"): "delivery_delayed",
    ("in_transit", "weather_delay"): "delivery_delayed",
    ("in_transit", "held"): "on_hold",
    ("in_transit", "received_at_origin_facility"): "picked_up",
}

#: EasyPost carrier string -> (hub carrier code for the channel tables, the name channels know)
CARRIER_NAMES: dict[str, tuple[str, str]] = {
    "USPS": ("usps", "USPS"),
    "UPS": ("ups", "UPS"),
    "UPSDAP": ("ups", "UPS"),
    "UPSMailInnovations": ("ups", "UPS Mail Innovations"),
    "FedEx": ("fedex", "FedEx"),
    "FedExDefault": ("fedex", "FedEx"),
    "FedexSmartPost": ("fedex", "FedEx SmartPost"),
    "DHLExpress": ("dhl_express", "DHL Express"),
    "DhlEcs": ("other", "DHL eCommerce"),
    "CanadaPost": ("other", "Canada Post"),
    "OnTrac": ("other", "OnTrac"),
}

#: (EasyPost carrier, service) -> readable service name; others are spelled out from the code
SERVICE_NAMES: dict[tuple[str, str], str] = {
    ("USPS", "First"): "First-Class",
    ("USPS", "Priority"): "Priority Mail",
    ("USPS", "Express"): "Priority Mail Express",
    ("USPS", "GroundAdvantage"): "Ground Advantage",
    ("USPS", "ParcelSelect"): "Parcel Select",
    ("USPS", "MediaMail"): "Media Mail",
    ("USPS", "LibraryMail"): "Library Mail",
    ("USPS", "FirstClassMailInternational"): "First-Class Mail International",
    ("USPS", "FirstClassPackageInternationalService"): "First-Class Package International",
    ("USPS", "PriorityMailInternational"): "Priority Mail International",
    ("USPS", "ExpressMailInternational"): "Priority Mail Express International",
    ("UPS", "Ground"): "Ground",
    ("UPS", "3DaySelect"): "3 Day Select",
    ("UPS", "2ndDayAir"): "2nd Day Air",
    ("UPS", "2ndDayAirAM"): "2nd Day Air A.M.",
    ("UPS", "NextDayAir"): "Next Day Air",
    ("UPS", "NextDayAirSaver"): "Next Day Air Saver",
    ("UPS", "NextDayAirEarlyAM"): "Next Day Air Early",
    ("UPS", "UPSStandard"): "Standard",
    ("UPS", "UPSSaver"): "Worldwide Saver",
    ("UPS", "Express"): "Worldwide Express",
    ("UPS", "ExpressPlus"): "Worldwide Express Plus",
    ("UPS", "Expedited"): "Worldwide Expedited",
    ("FedEx", "FEDEX_GROUND"): "Ground",
    ("FedEx", "GROUND_HOME_DELIVERY"): "Home Delivery",
    ("FedEx", "FEDEX_2_DAY"): "2Day",
    ("FedEx", "FEDEX_2_DAY_AM"): "2Day A.M.",
    ("FedEx", "FEDEX_EXPRESS_SAVER"): "Express Saver",
    ("FedEx", "STANDARD_OVERNIGHT"): "Standard Overnight",
    ("FedEx", "PRIORITY_OVERNIGHT"): "Priority Overnight",
    ("FedEx", "FIRST_OVERNIGHT"): "First Overnight",
    ("FedEx", "INTERNATIONAL_ECONOMY"): "International Economy",
    ("FedEx", "INTERNATIONAL_PRIORITY"): "International Priority",
    ("FedEx", "SMART_POST"): "Ground Economy",
    ("DHLExpress", "ExpressWorldwide"): "Express Worldwide",
    ("DHLExpress", "ExpressWorldwideNonDoc"): "Express Worldwide",
    ("DHLExpress", "Express1200"): "Express 12:00",
    ("DHLExpress", "Express900"): "Express 9:00",
    ("DHLExpress", "EconomySelect"): "Economy Select",
}

#: canonical label format -> the ``postage_label`` field holding its URL (``label_url`` is the default)
LABEL_URL_FIELDS: dict[str, str] = {"PDF": "label_pdf_url", "ZPL": "label_zpl_url"}
#: ``postage_label.label_file_type`` -> canonical format of ``label_url``
FILE_TYPES: dict[str, LabelFormat] = {
    "image/png": "PNG",
    "application/pdf": "PDF",
    "application/zpl": "ZPL",
    "image/gif": "GIF",
}
#: the formats EasyPost produces that the hub has a name for (EPL2 it has not)
LABEL_FORMATS: tuple[LabelFormat, ...] = ("PDF", "PNG", "ZPL")


def event_status(status: Any, detail: Any = None) -> TrackingStatus:
    """The canonical status of an EasyPost ``status`` refined by its ``status_detail``."""
    return DETAIL_STATUSES.get((str(status), str(detail))) or STATUSES.get(str(status), "unknown")


def carrier_code(easypost_carrier: str | None) -> str:
    """The hub's carrier code (``usps``, ``ups``, ``fedex``, ``dhl_express``) or ``other``."""
    return CARRIER_NAMES.get(easypost_carrier or "", ("other", ""))[0]


def carrier_name(easypost_carrier: str | None) -> str | None:
    """The underlying carrier as channels spell it (``DHLExpress`` -> ``DHL Express``)."""
    if not easypost_carrier:
        return None
    return CARRIER_NAMES.get(easypost_carrier, ("other", easypost_carrier))[1]


def _spell(code: str) -> str:
    """``GroundAdvantage`` -> ``Ground Advantage``, ``FEDEX_2_DAY`` -> ``Fedex 2 Day``."""
    if "_" in code or code.isupper():
        return " ".join(part.capitalize() for part in code.split("_") if part)
    return re.sub(r"(?<=[a-z])(?=[A-Z0-9])|(?<=[0-9])(?=[A-Z][a-z])", " ", code)


def service_name(easypost_carrier: str, service: str) -> str:
    name = SERVICE_NAMES.get((easypost_carrier, service)) or _spell(service)
    return f"{carrier_name(easypost_carrier) or easypost_carrier} {name}".strip()


def service_code(easypost_carrier: str, service: str) -> str:
    return f"{easypost_carrier}:{service}"


def split_service_code(code: str) -> tuple[str, str]:
    """``"USPS:Priority"`` -> ``("USPS", "Priority")``; ValueError for anything else."""
    carrier, sep, service = code.partition(":")
    if not sep or not carrier or not service:
        raise ValueError(f"{code!r} is not an EasyPost service code (CARRIER:SERVICE, e.g. USPS:Priority)")
    return carrier, service


def rate_ref(shipment_id: str, rate_id: str) -> str:
    return f"{shipment_id}:{rate_id}"


def split_rate_ref(ref: str) -> tuple[str, str]:
    """A quote's ``carrier_ref`` -> (shipment id, rate id); ValueError when it is not one."""
    shipment_id, sep, rate_id = ref.partition(":")
    if not sep or not shipment_id.startswith("shp_") or not rate_id.startswith("rate_"):
        raise ValueError(f"{ref!r} is not an EasyPost quote reference (shp_...:rate_...)")
    return shipment_id, rate_id


def tracking_url(easypost_carrier: str | None, number: str) -> str | None:
    """The underlying carrier's public tracking page (tracking_status.md §3), where known."""
    template = TRACKING_URLS.get(carrier_code(easypost_carrier))
    return template.format(number=number) if template else None


TRACKING_URLS: dict[str, str] = {
    "ups": "https://www.ups.com/track?loc=en_US&tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "dhl_express": "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={number}",
}

# --------------------------------------------------------------------------- requests


def ounces(grams: int) -> float:
    """Grams as ounces, rounded up to a tenth (EasyPost's parcel weight unit)."""
    if grams <= 0:
        raise ValueError(f"a parcel must weigh something (got {grams} g)")
    return float(weight_in(grams, "oz", TENTH))


def inches(mm: int) -> float:
    if mm <= 0:
        raise ValueError(f"a dimension must be positive (got {mm} mm)")
    return float(length_in(mm, "in", TENTH))


def address_body(address: Address) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": address.name,
        "company": address.company,
        "street1": address.street1,
        "street2": address.street2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country_code,
        "phone": address.phone,
        "email": address.email,
    }
    body = {key: value for key, value in body.items() if value not in (None, "")}
    if address.residential:
        body["residential"] = True
    return body


def parcel_body(parcel: Parcel) -> dict[str, Any]:
    body: dict[str, Any] = {"weight": ounces(parcel.weight_g)}
    sides = {"length": parcel.length_mm, "width": parcel.width_mm, "height": parcel.height_mm}
    if any(v is not None for v in sides.values()):
        if any(v is None for v in sides.values()):
            raise ValueError("give a parcel's length, width and height together, or none of them")
        body |= {name: inches(int(mm)) for name, mm in sides.items() if mm is not None}
    return body


def shipment_body(
    request: RateRequest,
    *,
    label_format: LabelFormat = "PDF",
    carrier_accounts: tuple[str, ...] = (),
    reference: str | None = None,
) -> dict[str, Any]:
    """``POST /v2/shipments``: one Shipment rates one parcel (several need an EasyPost Order)."""
    if len(request.parcels) != 1:
        raise ValueError(f"an EasyPost shipment carries exactly one parcel (got {len(request.parcels)})")
    if label_format not in LABEL_FORMATS:
        raise ValueError(f"EasyPost makes no {label_format} labels (only {', '.join(LABEL_FORMATS)})")
    shipment: dict[str, Any] = {
        "from_address": address_body(request.ship_from),
        "to_address": address_body(request.ship_to),
        "parcel": parcel_body(request.parcels[0]),
        "options": {"label_format": label_format},
    }
    if request.ship_date is not None:
        shipment["options"]["label_date"] = f"{request.ship_date.isoformat()}T12:00:00Z"
    if carrier_accounts:
        shipment["carrier_accounts"] = list(carrier_accounts)
    if reference or request.reference:
        shipment["reference"] = reference or request.reference
    return {"shipment": shipment}


def buy_body(rate_id: str) -> dict[str, Any]:
    return {"rate": {"id": rate_id}}


def tracker_body(number: str, easypost_carrier: str | None = None) -> dict[str, Any]:
    tracker: dict[str, Any] = {"tracking_code": number}
    if easypost_carrier:
        tracker["carrier"] = easypost_carrier
    return {"tracker": tracker}


# --------------------------------------------------------------------------- rates


def _day(value: Any, path: str) -> date | None:
    """A date from ``YYYY-MM-DD`` or a date-time (its UTC day); None when empty."""
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise MappingError(path, f"not a date: {text!r}") from None
    return to_utc(text, path).date()


def _days(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def quote(rate: Mapping[str, Any], shipment_id: str, path: str) -> RateQuote:
    easypost_carrier = str(require(rate, "carrier", path))
    service = str(require(rate, "service", path))
    rate_id = str(require(rate, "id", path))
    return RateQuote(
        carrier=CARRIER,
        service_code=service_code(easypost_carrier, service),
        service_name=service_name(easypost_carrier, service),
        amount=money(require(rate, "rate", path), join_path(path, "rate")),
        list_amount=opt_money(rate.get("list_rate") or rate.get("retail_rate"), join_path(path, "list_rate")),
        currency=str(require(rate, "currency", path)).upper(),
        estimated_days=_days(rate.get("delivery_days")) or _days(rate.get("est_delivery_days")),
        estimated_delivery=_day(rate.get("delivery_date"), join_path(path, "delivery_date")),
        guaranteed=rate.get("delivery_date_guaranteed") is True,
        carrier_ref=rate_ref(str(rate.get("shipment_id") or shipment_id), rate_id),
    )


def quotes(shipment: Any) -> tuple[tuple[RateQuote, ...], tuple[str, ...]]:
    """The quotes of a created Shipment, in EasyPost's order, and one warning per carrier message
    (a carrier account that could not rate is a message, not an HTTP error)."""
    obj = as_object(shipment, "shipment")
    shipment_id = str(require(obj, "id"))
    found = tuple(
        quote(as_object(rate, join_path("rates", i)), shipment_id, join_path("rates", i))
        for i, rate in enumerate(as_list(obj.get("rates"), "rates"))
    )
    warnings = tuple(
        f"{get_path(m, 'carrier') or 'EasyPost'}: {get_path(m, 'message') or m}"
        for m in as_list(obj.get("messages"), "messages")
    )
    return found, warnings


# --------------------------------------------------------------------------- purchases


@dataclass(frozen=True)
class Purchase:
    """What a bought Shipment says about its label (the label itself is behind a URL)."""

    shipment_id: str
    tracking_number: str
    label_urls: dict[str, str]  # canonical format -> URL
    amount: Decimal | None
    currency: str | None
    easypost_carrier: str | None
    tracker_id: str | None
    public_url: str | None
    refund_status: str | None

    @property
    def carrier_name(self) -> str | None:
        return carrier_name(self.easypost_carrier)


def purchase(shipment: Any) -> Purchase | None:
    """The purchase on a Shipment, or None while it has no postage label."""
    obj = as_object(shipment, "shipment")
    label = obj.get("postage_label")
    if not label:
        return None
    label = as_object(label, "postage_label")
    urls: dict[str, str] = {}
    default = FILE_TYPES.get(str(label.get("label_file_type") or "").lower())
    if default and label.get("label_url"):
        urls[default] = str(label["label_url"])
    for fmt, field in LABEL_URL_FIELDS.items():
        if label.get(field):
            urls[fmt] = str(label[field])
    rate = obj.get("selected_rate") or {}
    tracker = obj.get("tracker") or {}
    return Purchase(
        shipment_id=str(require(obj, "id")),
        tracking_number=str(require(obj, "tracking_code")),
        label_urls=urls,
        amount=opt_money(rate.get("rate"), "selected_rate.rate"),
        currency=opt_str(rate.get("currency")),
        easypost_carrier=opt_str(rate.get("carrier")) or opt_str(tracker.get("carrier")),
        tracker_id=opt_str(tracker.get("id")),
        public_url=opt_str(tracker.get("public_url")),
        refund_status=opt_str(obj.get("refund_status")),
    )


def rate_for_service(shipment: Any, code: str) -> str:
    """The id of the Shipment's rate for a service code; ValueError when it has none."""
    easypost_carrier, service = split_service_code(code)
    for rate in as_list(as_object(shipment, "shipment").get("rates"), "rates"):
        if get_path(rate, "carrier") == easypost_carrier and get_path(rate, "service") == service:
            return str(rate["id"])
    raise ValueError(f"EasyPost offered no {code} rate for this shipment")


# --------------------------------------------------------------------------- tracking


def _location(value: Any) -> TrackingLocation:
    loc = value if isinstance(value, dict) else {}
    return TrackingLocation(
        city=opt_str(loc.get("city")),
        region=opt_str(loc.get("state")),
        postal_code=opt_str(loc.get("zip")),
        country_code=country_code(loc.get("country")),
    )


def event(detail: Any, path: str) -> TrackingEvent:
    obj = as_object(detail, path)
    status, status_detail = obj.get("status"), obj.get("status_detail")
    return TrackingEvent(
        at=to_utc(obj.get("datetime"), join_path(path, "datetime")),
        status=event_status(status, status_detail),
        code=opt_str(obj.get("carrier_code")) or opt_str(status_detail),
        description=opt_str(obj.get("message")) or opt_str(obj.get("description")),
        location=_location(obj.get("tracking_location")),
    )


def tracker(value: Any, path: str = "tracker") -> Tracker:
    obj = as_object(value, path)
    number = opt_str(obj.get("tracking_code"))
    if number is None:
        raise MappingError(join_path(path, "tracking_code"), "missing")
    events = [
        event(d, join_path(path, "tracking_details", i))
        for i, d in enumerate(as_list(obj.get("tracking_details"), join_path(path, "tracking_details")))
    ]
    estimated = _day(get_path(obj, "carrier_detail", "est_delivery_date_local"), path) or _day(
        obj.get("est_delivery_date"), join_path(path, "est_delivery_date")
    )
    return build_tracker(
        CARRIER,
        number,
        events,
        estimated_delivery=estimated,
        status_hint=event_status(obj.get("status"), obj.get("status_detail")),
    )


def trackers_from_event(payload: Any) -> list[Tracker]:
    """The tracker a ``tracker.created`` / ``tracker.updated`` Event carries; none for other events."""
    obj = as_object(payload, "event")
    description = str(obj.get("description") or "")
    result = obj.get("result")
    if not description.startswith("tracker.") or get_path(result, "object") != "Tracker":
        return []
    return [tracker(result, "result")]


# --------------------------------------------------------------------------- hub map


def _error_text(error: Any) -> str:
    code, message = get_path(error, "code"), get_path(error, "message")
    fields = [
        f"{get_path(e, 'field')}: {get_path(e, 'message')}" if isinstance(e, dict) else str(e)
        for e in (get_path(error, "errors") or [])
    ]
    return f"{code or 'error'}: {message or ''}" + (f" ({'; '.join(fields)})" if fields else "")


def map_document(document: Any) -> ShippingDocument:
    """A Shipment with rates, a Tracker, a list of Trackers or a tracker Event; anything else
    (a request, a bought shipment, an error, another event) is a MappingError."""
    if not isinstance(document, dict):
        raise MappingError("document", "not a JSON object")
    kind = document.get("object")
    if "error" in document:
        text = _error_text(document["error"])
        raise MappingError("error", f"an EasyPost error response, not rates or tracking: {text}")
    if kind == "Shipment":
        if document.get("postage_label"):
            raise MappingError("postage_label", "a bought shipment (a label), not a rate response")
        found, warnings = quotes(document)
        return ShippingDocument(kind="rates", quotes=found, warnings=warnings)
    if kind == "Tracker":
        return ShippingDocument(kind="tracking", trackers=(tracker(document),))
    if kind == "Event":
        found_trackers = trackers_from_event(document)
        if not found_trackers:
            raise MappingError("description", f"event {document.get('description')!r} carries no tracker")
        return ShippingDocument(kind="tracking", trackers=tuple(found_trackers))
    if isinstance(document.get("trackers"), list):
        listed = tuple(tracker(t, join_path("trackers", i)) for i, t in enumerate(document["trackers"]))
        return ShippingDocument(kind="tracking", trackers=listed)
    if len(document) == 1 and next(iter(document)) in ("shipment", "tracker", "webhook", "rate"):
        raise MappingError(next(iter(document)), "an EasyPost request body, not a response")
    raise MappingError("object", "neither an EasyPost rate response (Shipment) nor tracking (Tracker, Event)")
