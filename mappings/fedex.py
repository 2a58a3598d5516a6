"""FedEx REST (Rate, Ship, Track APIs): pure translation to and from the canonical shipping shapes.

Wire formats: ``shared/reference/carriers/fedex.md``; status table: ``tracking_status.md``.
No I/O, no clock: request bodies from canonical requests, quotes from a rate reply, a label
from a ship reply, trackers (and per-number warnings) from a track reply, and
:func:`map_document` for ``hub map fedex FILE``.

Quirks kept here:

* a rate reply has one entry per rate type: ``ACCOUNT`` (negotiated) is the amount, ``LIST``
  (published) the list amount when it is in the same currency; the currency may differ between
  entries (``PREFERRED_CURRENCY``), so each amount keeps its own;
* transit comes as words (``FOUR_DAYS``) in ``commit.transitDays`` or ``operationalDetail``;
* one tracking number can carry several ``trackResults`` (FedEx recycles numbers): the one
  shipped last is taken; a number FedEx does not know comes back as ``error`` inside a 200 and
  is left out with a warning;
* ``CA``, ``RC``, ``EA`` and ``SP`` mean different things in FedEx's groups: the event's
  ``derivedStatusCode`` decides for them;
* ``AO`` (arriving on time) and the delivery-option notes (``RR``/``RM``/``RC``) are
  informational: they are kept as events but never set the tracker's status.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
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
from hub.shipping.units import TENTH, WHOLE, LengthUnit, length_in, weight_in
from mappings.common import MappingError, as_list, as_object, get_path, money, opt_str

CARRIER = "fedex"

#: ``serviceType`` -> name, for replies that send none (FedEx's own ``serviceName`` wins)
SERVICE_NAMES: dict[str, str] = {
    "FEDEX_GROUND": "FedEx Ground",
    "GROUND_HOME_DELIVERY": "FedEx Home Delivery",
    "SMART_POST": "FedEx Ground Economy",
    "FEDEX_EXPRESS_SAVER": "FedEx Express Saver",
    "FEDEX_2_DAY": "FedEx 2Day",
    "FEDEX_2_DAY_AM": "FedEx 2Day A.M.",
    "STANDARD_OVERNIGHT": "FedEx Standard Overnight",
    "PRIORITY_OVERNIGHT": "FedEx Priority Overnight",
    "FIRST_OVERNIGHT": "FedEx First Overnight",
    "SAME_DAY": "FedEx SameDay",
    "SAME_DAY_CITY": "FedEx SameDay City",
    "FEDEX_1_DAY_FREIGHT": "FedEx 1Day Freight",
    "FEDEX_2_DAY_FREIGHT": "FedEx 2Day Freight",
    "FEDEX_3_DAY_FREIGHT": "FedEx 3Day Freight",
    "FIRST_OVERNIGHT_FREIGHT": "FedEx First Overnight Freight",
    "FEDEX_INTERNATIONAL_PRIORITY_EXPRESS": "FedEx International Priority Express",
    "FEDEX_INTERNATIONAL_PRIORITY": "FedEx International Priority",
    "INTERNATIONAL_ECONOMY": "FedEx International Economy",
    "INTERNATIONAL_FIRST": "FedEx International First",
    "FEDEX_INTERNATIONAL_CONNECT_PLUS": "FedEx International Connect Plus",
    "INTERNATIONAL_PRIORITY_FREIGHT": "FedEx International Priority Freight",
    "INTERNATIONAL_ECONOMY_FREIGHT": "FedEx International Economy Freight",
    "INTL_GROUND_DISTRIBUTION": "FedEx International Ground Distribution",
    "FEDEX_REGIONAL_ECONOMY": "FedEx Regional Economy",
    "FEDEX_DISTANCE_DEFERRED": "FedEx Distance Deferred",
}

#: canonical status -> FedEx ``scanEvents[].eventType`` / ``latestStatusDetail.code`` (tracking_status.md);
#: ``IN`` is FedEx's derived "initiated" (label created)
_CODES: dict[TrackingStatus, str] = {
    "pending": "OC OX EP RP RG LP IN",
    "picked_up": "PU PX AP",
    "in_transit": "AA AC AF AR AX AO CH DP DS DR EA EO FD IT IX LO OF Ow PF PL PM SF SP TR CC CP RR RM RC",
    "out_for_delivery": "OD ED AD",
    "delivered": "DL",
    "ready_for_pickup": "HL HP",
    "on_hold": "SE CD",
    "delivery_delayed": "DY DD PD",
    "delivery_failed": "DE",
    "return_to_sender": "RS",
    "cancelled": "CA",
}
STATUS: dict[str, TrackingStatus] = {
    code: status for status, codes in _CODES.items() for code in codes.split()
}
#: events that say something about the plan, not the parcel: never set the tracker's status
INFORMATIONAL: frozenset[str] = frozenset({"AO", "RR", "RM", "RC"})
#: codes in more than one of FedEx's groups: the event's ``derivedStatusCode`` decides
AMBIGUOUS: frozenset[str] = frozenset({"CA", "RC", "EA", "SP"})
NOT_FOUND = "TRACKING.TRACKINGNUMBER.NOTFOUND"

#: FedEx's transit-time words -> business days
_NUMBERS = "ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN FOURTEEN FIFTEEN"
TRANSIT_DAYS: dict[str, int] = {
    word: n for n, word in enumerate(f"{_NUMBERS} SIXTEEN SEVENTEEN EIGHTEEN NINETEEN TWENTY".split(), 1)
}

#: canonical label format -> ``labelSpecification`` (imageType, labelStockType)
LABEL_SPECS: dict[str, tuple[str, str]] = {
    "PDF": ("PDF", "PAPER_4X6"),
    "PNG": ("PNG", "PAPER_4X6"),
    "ZPL": ("ZPLII", "STOCK_4X6"),
}
DOC_TYPES: dict[str, LabelFormat] = {"PDF": "PDF", "PNG": "PNG", "ZPLII": "ZPL"}
#: countries whose shippers weigh in pounds and inches; everyone else in kilograms and centimetres
IMPERIAL = frozenset({"US", "PR", "LR", "MM"})
_MARKS = re.compile(r"[®™]")


# --------------------------------------------------------------------------- requests


def _units(country: str) -> tuple[str, str]:
    return ("LB", "IN") if country.upper() in IMPERIAL else ("KG", "CM")


def _package(parcel: Parcel, country: str) -> dict[str, Any]:
    weight_unit, length_unit = _units(country)
    weight = weight_in(parcel.weight_g, "lb" if weight_unit == "LB" else "kg", TENTH)
    item: dict[str, Any] = {"weight": {"units": weight_unit, "value": float(weight)}}
    sides = (parcel.length_mm, parcel.width_mm, parcel.height_mm)
    if all(side for side in sides):
        unit: LengthUnit = "in" if length_unit == "IN" else "cm"
        length, width, height = (int(length_in(side or 0, unit, WHOLE)) for side in sides)
        item["dimensions"] = {"length": length, "width": width, "height": height, "units": length_unit}
    return item


def _address(address: Address) -> dict[str, Any]:
    out: dict[str, Any] = {
        "streetLines": [line for line in (address.street1, address.street2) if line],
        "city": address.city,
        "countryCode": address.country_code,
        "residential": address.residential,
    }
    if address.region:
        out["stateOrProvinceCode"] = address.region
    if address.postal_code:
        out["postalCode"] = address.postal_code
    return out


def _party(address: Address) -> dict[str, Any]:
    contact = {
        "personName": address.name,
        "companyName": address.company,
        "phoneNumber": address.phone,
        "emailAddress": address.email,
    }
    return {"address": _address(address), "contact": {k: v for k, v in contact.items() if v}}


def rate_request(
    request: RateRequest, account_number: str, *, pickup_type: str, service_code: str | None = None
) -> dict[str, Any]:
    """The Rate API body: every service (rate shop) unless ``service_code`` is given."""
    if not request.parcels:
        raise ValueError("a rate request needs at least one parcel")
    country = request.ship_from.country_code
    shipment: dict[str, Any] = {
        "shipper": {"address": _address(request.ship_from)},
        "recipient": {"address": _address(request.ship_to)},
        "pickupType": pickup_type,
        "rateRequestType": ["ACCOUNT", "LIST"],
        "packagingType": "YOUR_PACKAGING",
        "requestedPackageLineItems": [_package(p, country) for p in request.parcels],
    }
    if request.ship_date is not None:
        shipment["shipDateStamp"] = request.ship_date.isoformat()
    if service_code:
        shipment["serviceType"] = service_code
    return {
        "accountNumber": {"value": account_number},
        "rateRequestControlParameters": {"returnTransitTimes": True},
        "requestedShipment": shipment,
    }


def ship_request(
    request: LabelRequest, account_number: str, *, pickup_type: str, today: date
) -> dict[str, Any]:
    """The Ship API body for one label (every parcel a piece of one shipment)."""
    shipment = request.shipment
    if not shipment.parcels:
        raise ValueError("a label request needs at least one parcel")
    image_type, stock = LABEL_SPECS[request.label_format]
    country = shipment.ship_from.country_code
    packages = [_package(p, country) for p in shipment.parcels]
    if shipment.reference:
        for package in packages:
            reference = {"customerReferenceType": "CUSTOMER_REFERENCE", "value": shipment.reference[:30]}
            package["customerReferences"] = [reference]
    return {
        "accountNumber": {"value": account_number},
        "labelResponseOptions": "LABEL",
        "requestedShipment": {
            "shipper": _party(shipment.ship_from),
            "recipients": [_party(shipment.ship_to)],
            "shipDatestamp": (shipment.ship_date or today).isoformat(),
            "serviceType": request.service_code,
            "packagingType": "YOUR_PACKAGING",
            "pickupType": pickup_type,
            "shippingChargesPayment": {"paymentType": "SENDER"},
            "labelSpecification": {
                "imageType": image_type,
                "labelStockType": stock,
                "labelFormatType": "COMMON2D",
            },
            "totalPackageCount": len(packages),
            "requestedPackageLineItems": packages,
        },
    }


def cancel_request(account_number: str, tracking_number: str) -> dict[str, Any]:
    return {
        "accountNumber": {"value": account_number},
        "trackingNumber": tracking_number,
        "deletionControl": "DELETE_ALL_PACKAGES",
    }


def track_request(tracking_numbers: Iterable[str]) -> dict[str, Any]:
    return {
        "includeDetailedScans": True,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in tracking_numbers],
    }


# --------------------------------------------------------------------------- errors


def error_text(body: Any) -> str | None:
    """``CODE: message; …`` of a FedEx error body (``errors[]``), or None when it is not one."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return None
    parts = []
    for error in errors:
        if isinstance(error, dict):
            code, message = opt_str(error.get("code")), opt_str(error.get("message"))
            parts.append(": ".join(p for p in (code, message) if p) or "unknown error")
        else:
            parts.append(str(error))
    return "; ".join(parts)


# --------------------------------------------------------------------------- rates


def _words_to_days(value: Any) -> int | None:
    text = opt_str(value)
    if not text:
        return None
    return TRANSIT_DAYS.get(text.upper().removesuffix("_DAYS").removesuffix("_DAY"))


def _day(value: Any) -> date | None:
    """The calendar date a FedEx time or date is written in (local: no conversion)."""
    text = opt_str(value)
    if not text or not re.match(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def service_name(code: str, sent: Any = None) -> str:
    """FedEx's own name without the ® marks, else the table's, else the code."""
    text = opt_str(sent)
    if text:
        return " ".join(_MARKS.sub("", text).split())
    return SERVICE_NAMES.get(code, code)


def _entry_currency(entry: Mapping[str, Any]) -> str | None:
    return opt_str(get_path(entry, "shipmentRateDetail", "currency")) or opt_str(entry.get("currency"))


def quote_from_reply(detail: Any, path: str) -> RateQuote:
    detail = as_object(detail, path)
    code = opt_str(detail.get("serviceType"), f"{path}.serviceType")
    if not code:
        raise MappingError(f"{path}.serviceType", "missing")
    entries = [
        as_object(e, f"{path}.ratedShipmentDetails[{i}]")
        for i, e in enumerate(as_list(detail.get("ratedShipmentDetails"), f"{path}.ratedShipmentDetails"))
    ]
    if not entries:
        raise MappingError(f"{path}.ratedShipmentDetails", "no rate")
    by_type = {str(e.get("rateType")): e for e in entries}
    chosen = by_type.get("ACCOUNT") or by_type.get("LIST") or entries[0]
    index = entries.index(chosen)
    currency = _entry_currency(chosen)
    if not currency or not re.fullmatch(r"[A-Z]{3}", currency):
        raise MappingError(f"{path}.ratedShipmentDetails[{index}].currency", "missing or not ISO 4217")
    amount = money(chosen.get("totalNetCharge"), f"{path}.ratedShipmentDetails[{index}].totalNetCharge")
    listed = by_type.get("LIST")
    list_amount = None
    if listed is not None and _entry_currency(listed) == currency:
        list_amount = money(listed.get("totalNetCharge"), f"{path}.ratedShipmentDetails(LIST).totalNetCharge")
    commit = detail.get("commit") if isinstance(detail.get("commit"), dict) else {}
    operational = detail.get("operationalDetail") if isinstance(detail.get("operationalDetail"), dict) else {}
    days = _words_to_days(get_path(commit, "transitDays", "minimumTransitTime")) or _words_to_days(
        operational.get("transitTime")
    )
    delivery = _day(get_path(commit, "dateDetail", "dayFormat")) or _day(operational.get("deliveryDate"))
    guaranteed = operational.get("ineligibleForMoneyBackGuarantee") is False and delivery is not None
    return RateQuote(
        carrier=CARRIER,
        service_code=code,
        service_name=service_name(code, detail.get("serviceName")),
        amount=amount,
        list_amount=list_amount,
        currency=currency,
        estimated_days=days,
        estimated_delivery=delivery,
        guaranteed=guaranteed,
    )


def quotes_from_response(body: Any) -> list[RateQuote]:
    replies = as_list(get_path(body, "output", "rateReplyDetails"), "output.rateReplyDetails")
    return [quote_from_reply(r, f"output.rateReplyDetails[{i}]") for i, r in enumerate(replies)]


# --------------------------------------------------------------------------- labels


def label_from_response(body: Any) -> Label:
    """The label of a Ship reply (``labelResponseOptions: LABEL``: base64 in ``encodedLabel``)."""
    shipments = as_list(get_path(body, "output", "transactionShipments"), "output.transactionShipments")
    if not shipments:
        raise MappingError("output.transactionShipments", "no shipment")
    path = "output.transactionShipments[0]"
    shipment = as_object(shipments[0], path)
    pieces = [
        as_object(p, f"{path}.pieceResponses[{i}]")
        for i, p in enumerate(as_list(shipment.get("pieceResponses"), f"{path}.pieceResponses"))
    ]
    numbers = tuple(n for p in pieces if (n := opt_str(p.get("trackingNumber"))))
    master = opt_str(shipment.get("masterTrackingNumber")) or (numbers[0] if numbers else None)
    if not master:
        raise MappingError(f"{path}.masterTrackingNumber", "missing")
    documents = [
        (i, d)
        for i, p in enumerate(pieces)
        for d in as_list(p.get("packageDocuments"), f"{path}.pieceResponses[{i}].packageDocuments")
        if isinstance(d, dict) and d.get("contentType", "LABEL") == "LABEL"
    ]
    if not documents:
        raise MappingError(f"{path}.pieceResponses[].packageDocuments", "no label")
    index, first = documents[0]
    doc_type = str(first.get("docType") or "")
    label_format = DOC_TYPES.get(doc_type)
    if label_format is None:
        raise MappingError(
            f"{path}.pieceResponses[{index}].packageDocuments[0].docType", f"unknown {doc_type!r}"
        )
    images = [
        _decode(d.get("encodedLabel"), f"{path}.pieceResponses[{i}].encodedLabel") for i, d in documents
    ]
    # ZPL labels print one after another; a PDF or PNG is one document per parcel: the first
    data = b"".join(images) if label_format == "ZPL" else images[0]
    amount, currency = _charge(shipment, pieces)
    return Label(
        tracking_number=master,
        label_format=label_format,
        label_data=data,
        carrier_ref=master,
        amount=amount,
        currency=currency,
        parcel_tracking_numbers=numbers or (master,),
    )


def _decode(value: Any, path: str) -> bytes:
    text = opt_str(value)
    if not text:
        raise MappingError(path, "missing (the label must come encoded, not as a URL)")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MappingError(path, "not base64") from None


def _charge(shipment: Mapping[str, Any], pieces: list[dict[str, Any]]) -> tuple[Decimal | None, str | None]:
    rating = get_path(shipment, "completedShipmentDetail", "shipmentRating", default={})
    details = [
        d for d in as_list(rating.get("shipmentRateDetails"), "shipmentRateDetails") if isinstance(d, dict)
    ]
    actual = rating.get("actualRateType")
    detail = next((d for d in details if d.get("rateType") == actual), details[0] if details else None)
    if detail is not None and detail.get("totalNetCharge") is not None:
        path = "completedShipmentDetail.shipmentRating.totalNetCharge"
        return money(detail.get("totalNetCharge"), path), opt_str(detail.get("currency"))
    charges = [p.get("netChargeAmount") for p in pieces if p.get("netChargeAmount") is not None]
    if charges:
        return sum((money(c, "pieceResponses[].netChargeAmount") for c in charges), Decimal(0)), None
    return None, None


def cancelled(body: Any) -> bool:
    return get_path(body, "output", "cancelledShipment") is True


# --------------------------------------------------------------------------- tracking


def _when(text: Any, path: str) -> tuple[datetime, bool]:
    """(aware UTC, whether it was a local time without offset)."""
    raw = opt_str(text)
    if not raw:
        raise MappingError(path, "missing")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(path, f"not an ISO 8601 date-time: {raw!r}") from None
    if value.utcoffset() is None:
        return value.replace(tzinfo=UTC), True
    return value.astimezone(UTC), False


def event_status(code: str | None, derived: str | None) -> TrackingStatus:
    """The canonical status of one scan event (``derivedStatusCode`` settles the ambiguous codes)."""
    if code in AMBIGUOUS and derived and derived in STATUS:
        return STATUS[derived]
    if code is None:
        return STATUS.get(derived or "", "unknown")
    return STATUS.get(code, "unknown")


def _location(value: Any) -> TrackingLocation:
    place = value if isinstance(value, dict) else {}
    country = opt_str(place.get("countryCode"))
    return TrackingLocation(
        city=opt_str(place.get("city")),
        region=opt_str(place.get("stateOrProvinceCode")),
        postal_code=opt_str(place.get("postalCode")),
        country_code=country if country and re.fullmatch(r"[A-Z]{2}", country) else None,
    )


def event_from_scan(scan: Any, path: str) -> TrackingEvent:
    scan = as_object(scan, path)
    at, local = _when(scan.get("date"), f"{path}.date")
    code = opt_str(scan.get("eventType"))
    derived = opt_str(scan.get("derivedStatusCode"))
    description = opt_str(scan.get("eventDescription"))
    exception = opt_str(scan.get("exceptionDescription"))
    if exception:
        description = f"{description}: {exception}" if description else exception
    return TrackingEvent(
        at=at,
        status=event_status(code, derived),
        code=code,
        description=description,
        location=_location(scan.get("scanLocation")),
        local_time=local,
        informational=code in INFORMATIONAL,
    )


def _dated(result: Mapping[str, Any], *types: str) -> Any:
    for kind in types:
        for entry in result.get("dateAndTimes") or []:
            if isinstance(entry, dict) and entry.get("type") == kind and entry.get("dateTime"):
                return entry["dateTime"]
    return None


def _shipped(result: Mapping[str, Any]) -> datetime:
    """When a result was shipped (its SHIP date, else its newest scan): picks among recycled numbers."""
    for text in (
        _dated(result, "SHIP", "ACTUAL_PICKUP", "ACTUAL_TENDER"),
        get_path(result, "scanEvents", 0, "date"),
    ):
        if text:
            try:
                return _when(text, "dateAndTimes")[0]
            except MappingError:
                continue
    return datetime.min.replace(tzinfo=UTC)


def _estimated(result: Mapping[str, Any]) -> date | None:
    return (
        _day(_dated(result, "ESTIMATED_DELIVERY"))
        or _day(get_path(result, "estimatedDeliveryTimeWindow", "window", "ends"))
        or _day(get_path(result, "estimatedDeliveryTimeWindow", "window", "begins"))
        or _day(get_path(result, "standardTransitTimeWindow", "window", "ends"))
    )


def tracker_from_result(number: str, result: Mapping[str, Any], path: str) -> Tracker:
    scans = as_list(result.get("scanEvents"), f"{path}.scanEvents")
    events = [event_from_scan(s, f"{path}.scanEvents[{i}]") for i, s in enumerate(scans)]
    latest = result.get("latestStatusDetail") if isinstance(result.get("latestStatusDetail"), dict) else {}
    hint_code = opt_str(latest.get("code"))
    hint = None if hint_code in INFORMATIONAL else event_status(hint_code, opt_str(latest.get("derivedCode")))
    return build_tracker(CARRIER, number, events, _estimated(result), None if hint == "unknown" else hint)


def trackers_from_response(body: Any) -> tuple[list[Tracker], list[str]]:
    """Trackers of a Track reply, and a warning per number FedEx reports an error for."""
    complete = as_list(get_path(body, "output", "completeTrackResults"), "output.completeTrackResults")
    trackers: list[Tracker] = []
    warnings: list[str] = []
    for i, item in enumerate(complete):
        path = f"output.completeTrackResults[{i}]"
        item = as_object(item, path)
        results = [
            as_object(r, f"{path}.trackResults[{j}]")
            for j, r in enumerate(as_list(item.get("trackResults"), f"{path}.trackResults"))
        ]
        good = [(j, r) for j, r in enumerate(results) if not r.get("error")]
        number = opt_str(item.get("trackingNumber")) or opt_str(
            get_path(results, 0, "trackingNumberInfo", "trackingNumber")
        )
        if not number:
            raise MappingError(f"{path}.trackingNumber", "missing")
        if not good:
            errors = [error_text({"errors": [r.get("error")]}) for r in results] or ["no result"]
            warnings.append(f"fedex {number}: left out: {'; '.join(e for e in errors if e)}")
            continue
        j, chosen = max(good, key=lambda pair: _shipped(pair[1]))
        trackers.append(tracker_from_result(number, chosen, f"{path}.trackResults[{j}]"))
    return trackers, warnings


# --------------------------------------------------------------------------- hub map


def map_document(document: Any) -> ShippingDocument:
    """A FedEx rate or track reply as the canonical document; anything else is a MappingError."""
    output = document.get("output") if isinstance(document, dict) else None
    if isinstance(output, dict) and "rateReplyDetails" in output:
        return ShippingDocument(kind="rates", quotes=tuple(quotes_from_response(document)))
    if isinstance(output, dict) and "completeTrackResults" in output:
        trackers, warnings = trackers_from_response(document)
        return ShippingDocument(kind="tracking", trackers=tuple(trackers), warnings=tuple(warnings))
    if (errors := error_text(document)) is not None:
        raise MappingError("errors", f"a FedEx error response, not rates or tracking ({errors})")
    raise MappingError(
        "output",
        "not a FedEx rate or tracking response (expected output.rateReplyDetails or "
        "output.completeTrackResults)",
    )
