"""UPS (REST "UPS APIs"): pure translation between UPS JSON and the canonical shipping shapes.

Request bodies for Rating and Shipping, quotes from a ``RateResponse``, a label from a
``ShipmentResponse``, trackers from a Track API ``trackResponse`` and from a Track Alert
webhook body. UPS quirks handled here: lists that collapse to one object when they hold
one element (:func:`listed`), local times without offset (GMT fields used where given),
type ``U`` events that only move the estimated delivery, and numbers sent as strings.
Reference: ``shared/reference/carriers/ups.md``; statuses: ``tracking_status.md``."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hub.shipping.model import (
    Address,
    Label,
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
from hub.shipping.units import TENTH, WHOLE, LengthUnit, length_in, weight_in
from mappings.common import MappingError, get_path, money, opt_str

CARRIER = "ups"

# --------------------------------------------------------------------------- code tables (data)

#: service code -> name for US origin (and every origin not listed in SERVICE_NAMES_BY_ORIGIN)
SERVICE_NAMES: dict[str, str] = {
    "01": "UPS Next Day Air",
    "02": "UPS 2nd Day Air",
    "03": "UPS Ground",
    "07": "UPS Worldwide Express",
    "08": "UPS Worldwide Expedited",
    "11": "UPS Standard",
    "12": "UPS 3 Day Select",
    "13": "UPS Next Day Air Saver",
    "14": "UPS Next Day Air Early",
    "17": "UPS Worldwide Economy DDU",
    "54": "UPS Worldwide Express Plus",
    "59": "UPS 2nd Day Air A.M.",
    "65": "UPS Worldwide Saver",
    "70": "UPS Access Point Economy",
    "71": "UPS Worldwide Express Freight Midday",
    "72": "UPS Worldwide Economy DDP",
    "74": "UPS Express 12:00",
    "82": "UPS Today Standard",
    "83": "UPS Today Dedicated Courier",
    "85": "UPS Today Express",
    "86": "UPS Today Express Saver",
    "96": "UPS Worldwide Express Freight",
}
_EU = ("AT", "BE", "DE", "DK", "ES", "FI", "FR", "GB", "IE", "IT", "LU", "NL", "PL", "PT", "SE")
#: names that depend on the origin country (ups.md §2: keyed by code and origin)
SERVICE_NAMES_BY_ORIGIN: dict[tuple[str, str], str] = {
    ("01", "CA"): "UPS Express",
    ("02", "CA"): "UPS Expedited",
    ("13", "CA"): "UPS Express Saver",
    ("14", "CA"): "UPS Express Early",
    **{("07", c): "UPS Express" for c in (*_EU, "MX")},
    **{("08", c): "UPS Expedited" for c in (*_EU, "MX")},
}

#: (activity type, 2-letter code) -> status; looked at first (UPS reuses letter pairs across types)
STATUS_BY_TYPE_CODE: dict[tuple[str, str], TrackingStatus] = {
    ("M", "MP"): "pending",
    ("M", "DP"): "pending",
    ("M", "RD"): "pending",
    ("MV", "VP"): "cancelled",
    ("I", "OT"): "out_for_delivery",
    ("X", "SR"): "in_transit",  # released by customs: moving again, not held
    ("D", "FS"): "delivered",
    ("D", "F4"): "delivered",
}
#: 3-digit status/description code -> status, whatever the type. The manifest codes (003, 079,
#: 080, 157 pending; 007, 043 voided) are left to their types M and MV, which say the same.
STATUS_BY_STATUS_CODE: dict[str, TrackingStatus] = {
    **dict.fromkeys(("038", "160", "167", "168", "169"), "picked_up"),
    **dict.fromkeys(("006", "021", "037", "072", "089", "091", "146", "162"), "out_for_delivery"),
    **dict.fromkeys(("011", "026", "143"), "delivered"),
    **dict.fromkeys(("017", "040", "144", "161"), "ready_for_pickup"),
    **dict.fromkeys(("033", "034", "035", "036", "067", "118", "119"), "return_to_sender"),
}  # type: ignore[dict-item]
#: 3-digit code -> status for exceptions (type X) only
EXCEPTION_BY_STATUS_CODE: dict[str, TrackingStatus] = {
    **dict.fromkeys(("022", "023", "024", "060", "061", "062", "064", "066", "069"), "delivery_failed"),
    **dict.fromkeys(("032", "046", "048", "049", "051", "052", "053", "086", "090"), "delivery_delayed"),
}  # type: ignore[dict-item]
#: activity type -> status when neither code decides
STATUS_BY_TYPE: dict[str, TrackingStatus] = {
    "M": "pending",
    "MV": "cancelled",
    "P": "picked_up",
    "I": "in_transit",
    "DO": "in_transit",
    "DD": "in_transit",
    "W": "in_transit",
    "D": "delivered",
    "X": "on_hold",
    "NA": "unknown",
}
#: types whose events only carry news (a new delivery date): never the tracker's status
INFORMATIONAL_TYPES = frozenset({"U"})

#: Track API warning: the number is unknown to UPS
NOT_FOUND_WARNINGS = frozenset({"TW0001"})

#: origins that ship in pounds and inches; everywhere else kilograms and centimetres
IMPERIAL_ORIGINS = frozenset({"US", "PR"})
#: where the shipper's reference goes on the package (US/PR domestic refuses shipment-level ones)
PACKAGE_REFERENCE_ORIGINS = IMPERIAL_ORIGINS
REFERENCE_MAX = 35
THERMAL_FORMATS = frozenset({"ZPL", "EPL", "SPL"})
PACKAGING_CUSTOMER_SUPPLIED = "02"
PACKAGE_BILL_TYPE_NON_DOCUMENT = "03"


# --------------------------------------------------------------------------- quirks


def listed(value: Any) -> list[Any]:
    """UPS's "object or list": one element often comes as the object itself."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    return opt_str(value) if not isinstance(value, dict | list) else None


def _date(value: Any) -> date | None:
    text = _text(value)
    if text is None or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _moment(day: Any, time: Any) -> datetime | None:
    """``YYYYMMDD`` + ``HHMMSS`` (or ``HH:MM:SS``) as a datetime with tzinfo UTC (the
    caller says whether it really is UTC)."""
    found = _date(day)
    text = (_text(time) or "000000").replace(":", "").zfill(6)  # Track's gmtTime is HH:MM:SS
    if found is None or not text.isdigit() or len(text) != 6:
        return None
    try:
        return datetime(found.year, found.month, found.day, int(text[:2]), int(text[2:4]), int(text[4:]),
                        tzinfo=UTC)  # fmt: skip
    except ValueError:
        return None


def event_time(local_day: Any, local_time: Any, gmt_day: Any, gmt_time: Any) -> tuple[datetime, bool] | None:
    """The UTC moment from the GMT fields where UPS gives them, else the local time kept as
    if it were UTC (second item True: the contract's ``local_time``)."""
    gmt = _moment(gmt_day, gmt_time) if _text(gmt_day) and _text(gmt_time) else None
    if gmt is not None:
        return gmt, False
    local = _moment(local_day, local_time)
    return None if local is None else (local, True)


def event_status(kind: Any, code: Any, status_code: Any) -> tuple[TrackingStatus, bool]:
    """(status, informational) of one UPS activity, per tracking_status.md: type first, then
    the 2-letter code with its type, the 3-digit code, the exception codes, the type's default.
    A 3-digit code is used only as text of three digits (old Track Alert examples sent other
    numbers in that field)."""
    type_ = (_text(kind) or "").upper()
    if type_ in INFORMATIONAL_TYPES:
        return "unknown", True
    two = (_text(code) or "").upper()
    three = status_code if isinstance(status_code, str) and len(status_code.strip()) == 3 else ""
    three = three.strip()
    if (type_, two) in STATUS_BY_TYPE_CODE:
        return STATUS_BY_TYPE_CODE[(type_, two)], False
    if three in STATUS_BY_STATUS_CODE:
        return STATUS_BY_STATUS_CODE[three], False
    if type_ == "X" and three in EXCEPTION_BY_STATUS_CODE:
        return EXCEPTION_BY_STATUS_CODE[three], False
    return STATUS_BY_TYPE.get(type_, "unknown"), False


def service_name(code: str, origin_country: str | None = None) -> str:
    origin = (origin_country or "US").upper()
    return SERVICE_NAMES_BY_ORIGIN.get((code, origin)) or SERVICE_NAMES.get(code) or f"UPS service {code}"


# --------------------------------------------------------------------------- units and parties


def package_units(origin_country: str) -> tuple[str, str]:
    """(weight unit, dimension unit) UPS expects for shipments from ``origin_country``."""
    return ("LBS", "IN") if origin_country.upper() in IMPERIAL_ORIGINS else ("KGS", "CM")


def package_measures(parcel: Parcel, origin_country: str) -> dict[str, Any]:
    """Weight (rounded up to 0.1) and, where all three are given, dimensions (rounded up to
    whole units): UPS bills on the larger of actual and dimensional weight, never less."""
    if parcel.weight_g <= 0:
        raise ValueError("a parcel needs a weight above 0 g")
    weight_unit, length_unit = package_units(origin_country)
    weight = weight_in(parcel.weight_g, "lb" if weight_unit == "LBS" else "kg", TENTH)
    out: dict[str, Any] = {
        "PackageWeight": {"UnitOfMeasurement": {"Code": weight_unit}, "Weight": format(weight, "f")}
    }
    sides = (parcel.length_mm, parcel.width_mm, parcel.height_mm)
    if all(side is not None and side > 0 for side in sides):
        unit: LengthUnit = "in" if length_unit == "IN" else "cm"
        length, width, height = (format(length_in(side, unit, WHOLE), "f") for side in sides)  # type: ignore[arg-type]
        out["Dimensions"] = {
            "UnitOfMeasurement": {"Code": length_unit},
            "Length": length,
            "Width": width,
            "Height": height,
        }
    return out


def _address(address: Address, *, residential_key: str | None = None) -> dict[str, Any]:
    lines = [line for line in (address.street1, address.street2) if line]
    out: dict[str, Any] = {"AddressLine": lines, "City": address.city, "CountryCode": address.country_code}
    if address.region:
        out["StateProvinceCode"] = address.region
    if address.postal_code:
        out["PostalCode"] = address.postal_code
    if residential_key and address.residential:
        out[residential_key] = ""
    return out


def _party(address: Address, *, residential_key: str | None = None) -> dict[str, Any]:
    name = (address.company or address.name or "").strip()[:35] or "Receiver"
    out: dict[str, Any] = {"Name": name, "Address": _address(address, residential_key=residential_key)}
    if address.name and address.company:
        out["AttentionName"] = address.name[:35]
    if address.phone:
        out["Phone"] = {"Number": address.phone}
    return out


def _shipper(address: Address, account: str, *, residential_key: str | None = None) -> dict[str, Any]:
    return {**_party(address, residential_key=residential_key), "ShipperNumber": account}


def reference_value(idempotency_key: str) -> str:
    """The idempotency key as UPS takes a reference (at most 35 characters)."""
    if len(idempotency_key) <= REFERENCE_MAX:
        return idempotency_key
    return "H" + hashlib.sha256(idempotency_key.encode()).hexdigest()[: REFERENCE_MAX - 1]


# --------------------------------------------------------------------------- rating


def rate_request_option(request: RateRequest) -> str:
    """``Shoptimeintransit`` (every service, with delivery estimates) for domestic
    shipments; plain ``Shop`` across borders, where time-in-transit also wants an invoice
    total the hub does not have."""
    domestic = request.ship_from.country_code.upper() == request.ship_to.country_code.upper()
    return "Shoptimeintransit" if domestic else "Shop"


def rate_request_body(request: RateRequest, account: str, *, negotiated: bool = True) -> dict[str, Any]:
    if not request.parcels:
        raise ValueError("a rate request needs at least one parcel")
    origin = request.ship_from.country_code
    option = rate_request_option(request)
    shipment: dict[str, Any] = {
        "Shipper": _shipper(request.ship_from, account),
        "ShipTo": _party(request.ship_to, residential_key="ResidentialAddressIndicator"),
        "ShipFrom": _party(request.ship_from),
        "PaymentDetails": {"ShipmentCharge": [{"Type": "01", "BillShipper": {"AccountNumber": account}}]},
        "NumOfPieces": str(len(request.parcels)),
        "Package": [
            {"PackagingType": {"Code": PACKAGING_CUSTOMER_SUPPLIED}, **package_measures(p, origin)}
            for p in request.parcels
        ],
    }
    if negotiated:
        shipment["ShipmentRatingOptions"] = {"NegotiatedRatesIndicator": "Y"}
    if option == "Shoptimeintransit":
        weight = sum(Decimal(p["PackageWeight"]["Weight"]) for p in shipment["Package"])
        shipment["ShipmentTotalWeight"] = {
            "UnitOfMeasurement": {"Code": package_units(origin)[0]},
            "Weight": format(weight, "f"),
        }
        timing: dict[str, Any] = {"PackageBillType": PACKAGE_BILL_TYPE_NON_DOCUMENT}
        if request.ship_date is not None:
            timing["Pickup"] = {"Date": request.ship_date.strftime("%Y%m%d")}
        shipment["DeliveryTimeInformation"] = timing
    context = {"CustomerContext": request.reference[:512]} if request.reference else {}
    return {
        "RateRequest": {
            "Request": {"RequestOption": option, "TransactionReference": context},
            "Shipment": shipment,
        }
    }


def _charge(block: Any) -> tuple[Decimal, str] | None:
    if not isinstance(block, dict) or _text(block.get("MonetaryValue")) is None:
        return None
    return money(block.get("MonetaryValue"), "MonetaryValue"), _text(block.get("CurrencyCode")) or ""


def quote_from_rated_shipment(rated: dict[str, Any], origin_country: str | None = None) -> RateQuote:
    code = _text(get_path(rated, "Service", "Code"))
    if code is None:
        raise MappingError("RatedShipment.Service.Code", "missing")
    published = _charge(rated.get("TotalCharges"))
    if published is None:
        raise MappingError("RatedShipment.TotalCharges", "missing")
    negotiated = _charge(get_path(rated, "NegotiatedRateCharges", "TotalCharge"))
    amount, currency = negotiated or published
    summary = get_path(rated, "TimeInTransit", "ServiceSummary") or {}
    arrival = summary.get("EstimatedArrival") or {}
    days = _text(arrival.get("BusinessDaysInTransit")) or _text(
        get_path(rated, "GuaranteedDelivery", "BusinessDaysInTransit")
    )
    guaranteed = bool(_text(get_path(rated, "GuaranteedDelivery", "BusinessDaysInTransit"))) or (
        (_text(summary.get("GuaranteedIndicator")) or "") not in ("", "0", "N")
    )
    name = _text(get_path(summary, "Service", "Description")) if origin_country is None else None
    return RateQuote(
        carrier=CARRIER,
        service_code=code,
        service_name=name or service_name(code, origin_country),
        amount=amount,
        list_amount=published[0],
        currency=currency or published[1],
        estimated_days=int(days) if days and days.isdigit() else None,
        estimated_delivery=_date(get_path(arrival, "Arrival", "Date")),
        guaranteed=guaranteed,
    )


def quotes_from_rate_response(body: Any, origin_country: str | None = None) -> list[RateQuote]:
    """One quote per ``RatedShipment``, in UPS's order. ``origin_country`` picks the service
    names; without it (``hub map``) the time-in-transit description or the US names are used."""
    response = get_path(body, "RateResponse")
    if not isinstance(response, dict):
        raise MappingError("RateResponse", "missing")
    return [quote_from_rated_shipment(r, origin_country) for r in listed(response.get("RatedShipment"))]


# --------------------------------------------------------------------------- shipping


def label_request_body(request: LabelRequest, account: str, *, negotiated: bool = True) -> dict[str, Any]:
    """A ``ShipmentRequest`` for one label. The idempotency key rides as the shipper's
    reference (package level from US/PR, shipment level elsewhere) and as the transaction's
    customer context, so Label Recovery can find the label again by it."""
    shipment = request.shipment
    if not shipment.parcels:
        raise ValueError("a label request needs at least one parcel")
    if request.label_format not in ("GIF", "PNG", "ZPL"):
        raise ValueError(
            f"UPS labels are GIF, PNG or ZPL (its Ship API returns no PDF), not {request.label_format}"
        )
    origin = shipment.ship_from.country_code.upper()
    reference = {"Value": reference_value(request.idempotency_key)}
    packages = []
    for parcel in shipment.parcels:
        package: dict[str, Any] = {
            "Packaging": {"Code": PACKAGING_CUSTOMER_SUPPLIED},
            **package_measures(parcel, origin),
        }
        if origin in PACKAGE_REFERENCE_ORIGINS:
            package["ReferenceNumber"] = reference
        packages.append(package)
    body: dict[str, Any] = {
        "Description": (shipment.reference or "Merchandise")[:50],
        "Shipper": _shipper(shipment.ship_from, account),
        "ShipTo": _party(shipment.ship_to, residential_key="ResidentialAddressIndicator"),
        "ShipFrom": _party(shipment.ship_from),
        "PaymentInformation": {"ShipmentCharge": [{"Type": "01", "BillShipper": {"AccountNumber": account}}]},
        "Service": {"Code": request.service_code},
        "Package": packages,
    }
    if origin not in PACKAGE_REFERENCE_ORIGINS:
        body["ReferenceNumber"] = reference
    if negotiated:
        body["ShipmentRatingOptions"] = {"NegotiatedRatesIndicator": "Y"}
    return {
        "ShipmentRequest": {
            "Request": {
                "RequestOption": "nonvalidate",
                "TransactionReference": {"CustomerContext": request.idempotency_key[:512]},
            },
            "Shipment": body,
            "LabelSpecification": label_specification(request.label_format),
        }
    }


def label_specification(label_format: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"LabelImageFormat": {"Code": label_format}, "HTTPUserAgent": "Mozilla/4.5"}
    if label_format in THERMAL_FORMATS:
        spec["LabelStockSize"] = {"Height": "6", "Width": "4"}
    return spec


def _image(block: Any, path: str) -> tuple[str, bytes]:
    image = get_path(block, "GraphicImage")
    code = _text(get_path(block, "ImageFormat", "Code")) or _text(get_path(block, "LabelImageFormat", "Code"))
    if not isinstance(image, str) or not image:
        raise MappingError(f"{path}.GraphicImage", "missing")
    try:
        data = base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise MappingError(f"{path}.GraphicImage", "not base64") from None
    return (code or "GIF").upper(), data


def label_from_ship_response(body: Any) -> Label:
    """The label (first package's image; every package's tracking number) and the charge."""
    results = get_path(body, "ShipmentResponse", "ShipmentResults")
    if not isinstance(results, dict):
        raise MappingError("ShipmentResponse.ShipmentResults", "missing")
    packages = listed(results.get("PackageResults"))
    if not packages:
        raise MappingError("ShipmentResponse.ShipmentResults.PackageResults", "missing")
    numbers = tuple(n for p in packages if (n := _text(p.get("TrackingNumber"))))
    shipment_id = _text(results.get("ShipmentIdentificationNumber")) or (numbers[0] if numbers else None)
    if shipment_id is None:
        raise MappingError("ShipmentResponse.ShipmentResults.ShipmentIdentificationNumber", "missing")
    fmt, data = _image(packages[0].get("ShippingLabel"), "PackageResults[0].ShippingLabel")
    negotiated = get_path(results, "NegotiatedRateResult", "NegotiatedRateCharges", "TotalCharge")
    charge = _charge(negotiated) or _charge(get_path(results, "ShipmentCharges", "TotalCharges"))
    return Label(
        tracking_number=numbers[0] if numbers else shipment_id,
        label_format=fmt,  # type: ignore[arg-type]
        label_data=data,
        carrier_ref=shipment_id,
        amount=None if charge is None else charge[0],
        currency=None if charge is None else charge[1],
        parcel_tracking_numbers=numbers,
    )


def label_recovery_body(request: LabelRequest, account: str) -> dict[str, Any]:
    """A ``LabelRecoveryRequest`` finding the label bought under the request's key."""
    label_format = request.label_format if request.label_format in ("GIF", "PNG", "ZPL") else "GIF"
    return {
        "LabelRecoveryRequest": {
            "Request": {"TransactionReference": {"CustomerContext": request.idempotency_key[:512]}},
            "LabelSpecification": label_specification(label_format),
            "ReferenceValues": {
                "ReferenceNumber": {"Value": reference_value(request.idempotency_key)},
                "ShipperNumber": account,
            },
        }
    }


def label_from_recovery_response(body: Any) -> Label | None:
    """The recovered label (``LabelResults`` object or list), or None when UPS returned none."""
    results = listed(get_path(body, "LabelRecoveryResponse", "LabelResults"))
    if not results:
        return None
    numbers = tuple(n for r in results if (n := _text(r.get("TrackingNumber"))))
    if not numbers:
        return None
    fmt, data = _image(results[0].get("LabelImage"), "LabelResults[0].LabelImage")
    shipment_id = _text(get_path(body, "LabelRecoveryResponse", "ShipmentIdentificationNumber")) or numbers[0]
    return Label(
        tracking_number=numbers[0],
        label_format=fmt,  # type: ignore[arg-type]
        label_data=data,
        carrier_ref=shipment_id,
        parcel_tracking_numbers=numbers,
    )


def void_succeeded(body: Any) -> bool:
    return _text(get_path(body, "VoidShipmentResponse", "SummaryResult", "Status", "Code")) == "1"


# --------------------------------------------------------------------------- tracking


def _location(address: Any, country_key: str = "countryCode") -> TrackingLocation:
    if not isinstance(address, dict):
        return TrackingLocation()
    country = _text(address.get(country_key)) or _text(address.get("country"))
    return TrackingLocation(
        city=_text(address.get("city")),
        region=_text(address.get("stateProvince")),
        postal_code=_text(address.get("postalCode")),
        country_code=country.upper() if country and len(country) == 2 else None,
    )


def _activity_event(activity: dict[str, Any]) -> TrackingEvent | None:
    get = activity.get
    when = event_time(get("date"), get("time"), get("gmtDate"), get("gmtTime"))
    if when is None:
        return None
    status = activity.get("status") or {}
    mapped, informational = event_status(status.get("type"), status.get("code"), status.get("statusCode"))
    return TrackingEvent(
        at=when[0],
        status=mapped,
        code=_text(status.get("code")) or _text(status.get("type")),
        description=_text(status.get("description")),
        location=_location(get_path(activity, "location", "address")),
        local_time=when[1],
        informational=informational,
    )


def _estimated_delivery(package: dict[str, Any]) -> date | None:
    dates = listed(package.get("deliveryDate"))
    by_type = {(_text(d.get("type")) or ""): _date(d.get("date")) for d in dates if isinstance(d, dict)}
    return by_type.get("RDD") or by_type.get("SDD")


def trackers_from_track_response(body: Any) -> tuple[list[Tracker], list[str]]:
    """Trackers of a Track API answer and a warning line per number UPS does not know."""
    shipments = listed(get_path(body, "trackResponse", "shipment"))
    trackers: list[Tracker] = []
    warnings: list[str] = []
    for shipment in shipments:
        inquiry = _text(shipment.get("inquiryNumber")) or "?"
        for warning in listed(shipment.get("warnings")):
            code = _text(warning.get("code")) or ""
            what = "not found" if code in NOT_FOUND_WARNINGS else "warning"
            warnings.append(f"ups {inquiry}: {what} ({code} {_text(warning.get('message')) or ''})".strip())
        for package in listed(shipment.get("package")):
            number = _text(package.get("trackingNumber")) or inquiry
            events = [e for a in listed(package.get("activity")) if (e := _activity_event(a)) is not None]
            trackers.append(build_tracker(CARRIER, number, events, _estimated_delivery(package)))
    return trackers, warnings


def is_track_alert(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    return "trackingNumber" in body and isinstance(body.get("activityStatus"), dict)


def event_from_track_alert(body: dict[str, Any]) -> TrackingEvent:
    when = event_time(
        body.get("localActivityDate"),
        body.get("localActivityTime"),
        body.get("gmtActivityDate"),
        body.get("gmtActivityTime"),
    )
    if when is None:
        raise MappingError("localActivityDate", "missing or not a YYYYMMDD date")
    status = body["activityStatus"]
    code = status.get("descriptionCode")
    mapped, informational = event_status(status.get("type"), status.get("code"), code)
    return TrackingEvent(
        at=when[0],
        status=mapped,
        code=_text(status.get("code")) or _text(status.get("type")),
        description=_text(status.get("description")),
        location=_location(body.get("activityLocation"), country_key="country"),
        local_time=when[1],
        informational=informational,
    )


def _alert_estimate(event: dict[str, Any]) -> date | None:
    """The scheduled delivery date, until UPS reports the actual one."""
    if _date(event.get("actualDeliveryDate")) is not None:
        return None
    return _date(event.get("scheduledDeliveryDate"))


def trackers_from_track_alert(body: Any) -> list[Tracker]:
    """One tracker per Track Alert event (a body holds one event; a list of bodies several)."""
    events = body if isinstance(body, list) else [body]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for index, event in enumerate(events):
        if not is_track_alert(event):
            raise MappingError(f"[{index}]", "not a UPS Track Alert event")
        number = _text(event.get("trackingNumber"))
        if number is None:
            raise MappingError("trackingNumber", "missing")
        grouped.setdefault(number, []).append(event)
    return [
        build_tracker(
            CARRIER,
            number,
            [event_from_track_alert(e) for e in items],
            _alert_estimate(items[-1]),
        )
        for number, items in grouped.items()
    ]


# --------------------------------------------------------------------------- errors and documents


def error_text(body: Any) -> str | None:
    """``CODE message; …`` from UPS's error body (``response.errors[]``, or ``errors[]``)."""
    errors = listed(get_path(body, "response", "errors")) or listed(get_path(body, "errors"))
    parts = [
        " ".join(p for p in (_text(e.get("code")), _text(e.get("message"))) if p)
        for e in errors
        if isinstance(e, dict)
    ]
    return "; ".join(p for p in parts if p) or None


def error_codes(body: Any) -> set[str]:
    errors = listed(get_path(body, "response", "errors")) or listed(get_path(body, "errors"))
    return {code for e in errors if isinstance(e, dict) and (code := _text(e.get("code")))}


def map_document(document: Any) -> ShippingDocument:
    """What ``hub map ups FILE`` prints: a rate response, a Track API response or a Track
    Alert body (or a list of them). Anything else is a ``MappingError``."""
    if isinstance(document, dict) and "RateResponse" in document:
        return ShippingDocument(kind="rates", quotes=tuple(quotes_from_rate_response(document)))
    if isinstance(document, dict) and "trackResponse" in document:
        trackers, warnings = trackers_from_track_response(document)
        return ShippingDocument(kind="tracking", trackers=tuple(trackers), warnings=tuple(warnings))
    if is_track_alert(document) or (
        isinstance(document, list) and document and all(is_track_alert(d) for d in document)
    ):
        return ShippingDocument(kind="tracking", trackers=tuple(trackers_from_track_alert(document)))
    if (text := error_text(document)) is not None:
        raise MappingError("response.errors", f"a UPS error response, not rates or tracking ({text})")
    what = ", ".join(sorted(document)[:3]) if isinstance(document, dict) else type(document).__name__
    raise MappingError(
        "(document)", f"neither a UPS rate response, a Track API response nor a Track Alert event ({what})"
    )
