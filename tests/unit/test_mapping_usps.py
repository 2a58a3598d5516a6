"""USPS mapping: the real samples through map_document, the status table code by code, the
USPS quirks (pounds/inches, own packaging, multipart labels, local times, HTML in texts)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.shipping.document import dump_document
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest
from mappings import usps
from mappings.common import MappingError
from tests.contracts import FIXTURES, validate_shipping

SAMPLES = FIXTURES / "carriers" / "usps"
RESPONSES = (
    "shipping_options_search_response.json",
    "base_rates_search_response_doc_example.json",
    "tracking_response_detail.json",
)
NOT_DOCUMENTS = (
    "shipping_options_search_request.json",
    "oauth_error_response.json",
    "label_cancel_response.json",
)
FROM = Address("Sam Wilson", "45 L St SW", "Washington", "20024", "US", region="DC", phone="(202) 555-0100")
TO = Address(
    "Nick Fury", "2700 S Jefferson Ave", "St. Louis", "63104-2351", "US", region="mo", street2="STE 150"
)
PARCEL = Parcel(weight_g=1000, length_mm=300, width_mm=200, height_mm=100)


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def event(**fields: Any) -> dict[str, Any]:
    base = {
        "eventType": "In Transit to Next Facility",
        "eventCode": "TL",
        "eventTimestamp": "2024-11-20T01:11:00",
    }
    return base | fields


# -------------------------------------------------------------------- samples and the contract


@pytest.mark.parametrize("name", RESPONSES)
def test_every_sample_response_maps_to_the_contract(name: str) -> None:
    document = usps.map_document(load(name))
    validate_shipping(dump_document(document))


@pytest.mark.parametrize("name", NOT_DOCUMENTS)
def test_requests_errors_and_cancellations_are_refused(name: str) -> None:
    with pytest.raises(MappingError) as info:
        usps.map_document(load(name))
    assert "rate" in str(info.value) or "tracking" in str(info.value)


def test_unrelated_json_is_refused_with_one_clear_message() -> None:
    with pytest.raises(MappingError, match="neither a USPS rate response nor a tracking response"):
        usps.map_document({"hello": "world"})


def run_hub(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_SECRET_KEY": "usps-map-test",
        "HUB_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_hub_map_prints_rates_and_tracking(tmp_path: Path) -> None:
    rates = run_hub(tmp_path, "map", "usps", str(SAMPLES / "shipping_options_search_response.json"))
    assert rates.returncode == 0, rates.stderr
    printed = json.loads(rates.stdout)
    validate_shipping(printed)
    assert [q["service_code"] for q in printed["quotes"]] == [
        "LIBRARY_MAIL",
        "PRIORITY_MAIL_EXPRESS",
        "PRIORITY_MAIL",
        "USPS_GROUND_ADVANTAGE",
        "MEDIA_MAIL",
    ]
    tracking = run_hub(tmp_path, "map", "usps", str(SAMPLES / "tracking_response_detail.json"))
    assert tracking.returncode == 0, tracking.stderr
    validate_shipping(json.loads(tracking.stdout))
    assert json.loads(tracking.stdout)["trackers"][0]["status"] == "delivered"


def test_hub_map_warnings_go_to_stderr_and_bad_files_exit_2(tmp_path: Path) -> None:
    result = run_hub(tmp_path, "map", "usps", str(SAMPLES / "base_rates_search_response_doc_example.json"))
    assert result.returncode == 0
    assert "Contract rate not found" in result.stderr
    refused = run_hub(tmp_path, "map", "usps", str(SAMPLES / "oauth_error_response.json"))
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0
    assert "invalid_client" in refused.stderr


# -------------------------------------------------------------------- rates


def test_shipping_options_pick_own_packaging_not_flat_rate_containers() -> None:
    quotes = {
        q.service_code: q for q in usps.quotes_from_options(load("shipping_options_search_response.json"))
    }
    express = quotes["PRIORITY_MAIL_EXPRESS"]  # padded flat-rate envelopes at 32.25 are left out
    assert (express.amount, express.carrier_ref, express.guaranteed) == (
        Decimal("457.3"),
        "PA|NONSTANDARD",
        True,
    )
    priority = quotes["PRIORITY_MAIL"]
    assert (priority.amount, priority.carrier_ref, priority.guaranteed) == (
        Decimal("184"),
        "SP|NONSTANDARD",
        False,
    )
    assert priority.estimated_days == 2 and priority.estimated_delivery == date(2025, 6, 2)
    assert priority.list_amount == priority.amount  # the sample is priced RETAIL: the published rate
    assert quotes["LIBRARY_MAIL"].service_name == "Library Mail"  # USPS sends an empty productName


def test_commercial_prices_have_no_list_amount() -> None:
    document = load("shipping_options_search_response.json")
    document["pricingOptions"][0]["priceType"] = "COMMERCIAL"
    assert all(q.list_amount is None for q in usps.quotes_from_options(document))


def test_base_rates_add_fees_and_report_warnings() -> None:
    quotes, warnings = usps.quotes_from_base_rates(load("base_rates_search_response_doc_example.json"))
    assert quotes[0].amount == Decimal("8.65")  # 4.65 + the 4.00 nonstandard-length fee
    assert quotes[0].estimated_days is None
    assert warnings == [
        "USPS_GROUND_ADVANTAGE: warning 001: Contract rate not found for request. Published rate returned."
    ]


def test_units_round_up_never_under_declare() -> None:
    assert usps.pounds(454) == Decimal("1.01")
    assert usps.pounds(453) == Decimal("1.00")
    assert usps.pounds(1) == Decimal("0.01")
    assert usps.inches(254) == Decimal("10.0")
    assert usps.inches(255) == Decimal("10.1")
    assert usps.inches(None) is None
    assert usps.package_description(Parcel(weight_g=1000, length_mm=300)) == {
        "weight": 2.21
    }  # all three or none


def test_options_body_is_the_shipping_options_request() -> None:
    body = usps.options_body(
        RateRequest(FROM, TO, (PARCEL,)), PARCEL, mailing_date=date(2026, 1, 5), account_number="1000123456"
    )
    assert body == {
        "originZIPCode": "20024",
        "destinationZIPCode": "63104",
        "destinationEntryFacilityType": "NONE",
        "packageDescription": {
            "weight": 2.21,
            "length": 11.9,
            "width": 7.9,
            "height": 4,
            "mailClass": "ALL_OUTBOUND",
            "mailingDate": "2026-01-05",
        },
        "pricingOptions": [
            {
                "priceType": "COMMERCIAL",
                "paymentAccount": {"accountType": "EPS", "accountNumber": "1000123456"},
            }
        ],
    }


def test_international_or_zipless_shipments_are_not_served() -> None:
    abroad = Address("Ana Lopez", "Calle 1", "Madrid", "28001", "ES")
    with pytest.raises(usps.NotServed, match="domestic"):
        usps.options_body(RateRequest(FROM, abroad, (PARCEL,)), PARCEL, mailing_date=date(2026, 1, 5))
    no_zip = Address("Nick Fury", "1 Main St", "Anytown", "ABC", "US", region="MO")
    with pytest.raises(usps.NotServed, match="ZIP Code"):
        usps.options_body(RateRequest(FROM, no_zip, (PARCEL,)), PARCEL, mailing_date=date(2026, 1, 5))


# -------------------------------------------------------------------- labels


def label_request(**overrides: Any) -> LabelRequest:
    values: dict[str, Any] = {
        "shipment": RateRequest(FROM, TO, (PARCEL,), reference="HUB-1042"),
        "service_code": "USPS_GROUND_ADVANTAGE",
        "idempotency_key": "shipment-1042-label",
        "carrier_ref": "SP|MACHINABLE",
    }
    return LabelRequest(**(values | overrides))


def test_label_body_is_the_labels_request_and_the_same_every_time() -> None:
    body = usps.label_body(label_request(), PARCEL, mailing_date=date(2026, 1, 5))
    assert body == usps.label_body(label_request(), PARCEL, mailing_date=date(2026, 1, 5))
    assert body["toAddress"] == {
        "firstName": "Nick",
        "lastName": "Fury",
        "streetAddress": "2700 S Jefferson Ave",
        "secondaryAddress": "STE 150",
        "city": "St. Louis",
        "state": "MO",
        "ZIPCode": "63104",
        "ZIPPlus4": "2351",
    }
    assert body["fromAddress"]["phone"] == "2025550100"
    package = body["packageDescription"]
    assert (package["mailClass"], package["rateIndicator"], package["processingCategory"]) == (
        "USPS_GROUND_ADVANTAGE",
        "SP",
        "MACHINABLE",
    )
    assert (package["weightUOM"], package["weight"], package["dimensionsUOM"]) == ("lb", 2.21, "in")
    assert package["customerReference"] == [{"referenceNumber": "HUB-1042", "printReferenceNumber": True}]
    assert body["imageInfo"]["imageType"] == "PDF"
    assert (
        usps.label_body(label_request(label_format="ZPL"), PARCEL, mailing_date=date(2026, 1, 5))[
            "imageInfo"
        ]["imageType"]
        == "ZPL203DPI"
    )


def test_without_a_quote_the_category_comes_from_the_parcel() -> None:
    big = Parcel(weight_g=5000, length_mm=700, width_mm=300, height_mm=300)  # 27.6 in long
    assert usps.processing_category(big) == "NONSTANDARD"
    assert usps.processing_category(PARCEL) == "MACHINABLE"
    assert usps.processing_category(Parcel(weight_g=500)) == "NONSTANDARD"  # no dimensions known
    body = usps.label_body(label_request(carrier_ref=None), big, mailing_date=date(2026, 1, 5))
    assert body["packageDescription"]["rateIndicator"] == "SP"
    assert body["packageDescription"]["processingCategory"] == "NONSTANDARD"


def test_a_one_word_name_goes_to_the_firm_line() -> None:
    body = usps.label_body(
        label_request(shipment=RateRequest(FROM, TO.__class__(**{**TO.__dict__, "name": "Acme"}), (PARCEL,))),
        PARCEL,
        mailing_date=date(2026, 1, 5),
    )
    assert body["toAddress"]["firm"] == "Acme"
    assert "lastName" not in body["toAddress"]


def test_idempotency_keys_become_stable_uuids() -> None:
    key = str(uuid.uuid4())
    assert usps.label_key(key) == key
    derived = usps.label_key("shipment-1042-label")
    assert derived == usps.label_key("shipment-1042-label")
    assert uuid.UUID(derived).version == 5
    assert derived != usps.label_key("shipment-1043-label")


def test_the_multipart_label_sample_gives_the_label() -> None:
    body = (SAMPLES / "label_response_multipart.txt").read_bytes()
    label = usps.label_from_response("multipart/form-data; boundary=r6-fpGYWbdZmd9w5-850fEfX", body, "PDF")
    assert label.tracking_number == "9234690361980900000142"
    assert label.carrier_ref == "9234690361980900000142"
    assert label.amount == Decimal("18.76") and label.currency == "USD"
    assert label.label_data.startswith(b"%PDF-1.4") and label.label_data.rstrip().endswith(b"%%EOF")


def test_the_json_label_answer_gives_the_same_label() -> None:
    metadata = {
        "trackingNumber": "9205590006662200704797",
        "postage": 10.99,
        "extraServices": [{"name": "Insurance", "price": 2.99}],
        "fees": [{"name": "Fuel", "price": 1.23}],
    }
    png = b"\x89PNG\r\n\x1a\n...."
    body = json.dumps({"labelMetadata": metadata, "labelImage": base64.b64encode(png).decode()}).encode()
    label = usps.label_from_response("application/vnd.usps.labels+json", body, "PNG")
    assert (label.tracking_number, label.label_data, label.amount) == (
        metadata["trackingNumber"],
        png,
        Decimal("15.21"),
    )


def test_a_label_answer_without_image_or_number_is_an_error() -> None:
    with pytest.raises(MappingError, match="labelImage"):
        usps.label_from_response("application/json", b'{"trackingNumber": "1"}', "PDF")
    with pytest.raises(MappingError, match="trackingNumber"):
        usps.label_from_response("application/json", b'{"labelImage": "JVBERg=="}', "PDF")
    with pytest.raises(MappingError, match="labelMetadata and labelImage"):
        usps.label_from_response("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--\r\n", "PDF")


def test_cancel_answers() -> None:
    assert usps.cancelled(load("label_cancel_response.json"))
    assert usps.cancelled({"trackingNumber": "1", "status": "DISPUTED", "disputeId": "103789"})
    assert not usps.cancelled({"trackingNumber": "1", "status": "PENDING"})


# -------------------------------------------------------------------- tracking

#: tracking_status.md, USPS table, code by code
EXPECTED_CODES = {
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
EXPECTED_CATEGORIES = {
    "Pre-Shipment": "pending",
    "Accepted": "picked_up",
    "In Transit": "in_transit",
    "Out for Delivery": "out_for_delivery",
    "Delivered": "delivered",
    "Available for Pickup": "ready_for_pickup",
    "Delivery Attempt": "delivery_failed",
    "Return to Sender": "return_to_sender",
    "Alert": "on_hold",
}


def test_the_status_table_is_pinned() -> None:
    assert usps.EVENT_STATUSES == EXPECTED_CODES


@pytest.mark.parametrize(("code", "status"), sorted(EXPECTED_CODES.items()))
def test_each_event_code(code: str, status: str) -> None:
    mapped = usps.tracking_event(event(eventCode=code, eventType="Something new"), "e")
    assert mapped.status == status


@pytest.mark.parametrize(("category", "status"), sorted(EXPECTED_CATEGORIES.items()))
def test_each_status_category(category: str, status: str) -> None:
    assert usps.status_of_text(category) == status
    assert usps.status_of_text(category.upper()) == status


def test_an_unknown_code_falls_back_to_the_text_then_to_unknown() -> None:
    assert (
        usps.tracking_event(event(eventCode="ZZ", eventType="Delivered, Front Door"), "e").status
        == "delivered"
    )
    assert (
        usps.tracking_event(event(eventCode="ZZ", eventType="Processing Exception"), "e").status == "unknown"
    )


def test_an_unknown_event_leaves_the_tracker_status_as_it_was() -> None:
    document = {
        "trackingNumber": "9400100000000000000000",
        "trackingEvents": [
            event(eventCode="ZZ", eventType="Processing Exception", GMTTimestamp="2024-11-21T10:00:00Z"),
            event(eventCode="OF", eventType="Out for Delivery", GMTTimestamp="2024-11-21T09:00:00Z"),
        ],
    }
    tracker = usps.tracker_from_tracking(document)
    assert tracker.status == "out_for_delivery"
    assert tracker.events[0].status == "unknown"


def test_the_sample_tracker() -> None:
    tracker = usps.map_document(load("tracking_response_detail.json")).trackers[0]
    assert tracker.status == "delivered"
    assert tracker.delivered_at == datetime(2024, 11, 22, 18, 58, 40, tzinfo=UTC)
    assert [e.code for e in tracker.events][:3] == ["01", "OF", "07"]
    assert tracker.events[-1].status == "pending" and tracker.events[-1].code == "GX"
    regional = next(e for e in tracker.events if e.code == "A1")
    assert regional.location.city == "JACKSONVILLE FL DISTRIBUTION CENTER"
    assert regional.location.country_code is None  # no state, no ZIP: nothing says where


def test_times_prefer_gmt_then_the_offset_then_local_as_utc() -> None:
    gmt = event(GMTTimestamp="2024-11-20T06:11:52Z", GMTOffset="-05:00")
    assert usps.event_time(gmt, "e") == (datetime(2024, 11, 20, 6, 11, 52, tzinfo=UTC), False)
    offset = event(GMTOffset="-05:00")
    assert usps.event_time(offset, "e") == (datetime(2024, 11, 20, 6, 11, tzinfo=UTC), False)
    local = usps.tracking_event(event(), "e")
    assert (local.at, local.local_time) == (datetime(2024, 11, 20, 1, 11, tzinfo=UTC), True)
    printed = dump_document(usps.map_document({"trackingNumber": "1", "trackingEvents": [event()]}))
    assert printed["trackers"][0]["events"][0]["at"] == "2024-11-20T01:11:00Z"
    assert printed["trackers"][0]["events"][0]["local_time"] is True
    with pytest.raises(MappingError, match="not a date-time"):
        usps.event_time(event(eventTimestamp="yesterday"), "trackingEvents[0]")


def test_html_in_texts_is_removed() -> None:
    assert usps.plain_text("USPS Ground Advantage<SUP>&#153;</SUP>") == "USPS Ground Advantage™"
    assert usps.tracking_event(event(eventType="Delivered<SUP>&#174;</SUP>"), "e").description == "Delivered®"


def test_estimated_delivery_and_the_category_hint() -> None:
    document = {
        "trackingNumber": "1",
        "statusCategory": "Alert",
        "expectedDeliveryDate": "2024-11-25",
        "trackingEvents": [],
    }
    tracker = usps.tracker_from_tracking(document)
    assert (tracker.status, tracker.estimated_delivery) == ("on_hold", date(2024, 11, 25))


def test_a_list_of_answers_keeps_the_known_and_warns_about_the_rest() -> None:
    error = {
        "apiVersion": "v3",
        "error": {
            "code": "404",
            "message": "Not Found",
            "errors": [
                {"title": "Not Found", "detail": "Tracking number not found", "source": {"parameter": "n"}}
            ],
        },
    }
    document = usps.map_document([load("tracking_response_detail.json"), error])
    assert [t.tracking_number for t in document.trackers] == ["9400109104250532908587"]
    assert document.warnings == ("[1]: left out: 404 Not Found; Not Found Tracking number not found (n)",)
    validate_shipping(dump_document(document))
