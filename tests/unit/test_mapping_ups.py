"""The pure UPS mapping against the reference samples and hand-made edge cases: the contract,
the status table code by code, UPS's collapsing lists, local times, request bodies."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hub.shipping.document import dump_document
from hub.shipping.model import Address, LabelRequest, Parcel, RateRequest
from mappings import ups
from mappings.common import MappingError
from tests.contracts import FIXTURES, validate_shipping

SAMPLES = FIXTURES / "carriers" / "ups"
MAPPED = [
    "rate_response_simple_ground.json",
    "rate_response_shoptimeintransit_negotiated.json",
    "track_response_delivered.json",
    "track_response_schema_example.json",
    "trackalert_webhook_delivered.json",
    "trackalert_webhook_out_for_delivery.json",
]
NOT_MAPPED = [
    "rate_request_simple.json",
    "ship_request_simple.json",
    "ship_response_with_label.json",
    "void_response.json",
    "oauth_token_response.json",
    "error_response_invalid_inquiry.json",
]


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.mark.parametrize("name", MAPPED)
def test_every_rate_and_tracking_sample_meets_the_contract(name: str) -> None:
    document = dump_document(ups.map_document(sample(name)))
    validate_shipping(document)
    assert document["kind"] == ("rates" if name.startswith("rate") else "tracking")


@pytest.mark.parametrize("name", NOT_MAPPED)
def test_requests_errors_and_other_answers_are_refused(name: str) -> None:
    with pytest.raises(MappingError):
        ups.map_document(sample(name))


def test_the_error_body_is_named_in_the_refusal() -> None:
    with pytest.raises(MappingError, match="TV1002 Invalid inquiry number"):
        ups.map_document(sample("error_response_invalid_inquiry.json"))


def run_hub(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_SECRET_KEY": "ups-map-test",
        "HUB_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_hub_map_prints_rates(tmp_path: Path) -> None:
    result = run_hub(tmp_path, "map", "ups", str(SAMPLES / "rate_response_shoptimeintransit_negotiated.json"))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    validate_shipping(printed)
    first = printed["quotes"][0]
    assert (first["service_code"], first["amount"], first["list_amount"]) == ("14", "321.03", "330.92")


def test_hub_map_prints_tracking_and_warns_about_unknown_numbers(tmp_path: Path) -> None:
    unknown = {
        "trackResponse": {
            "shipment": [
                {
                    "inquiryNumber": "1Z0000000000000000",
                    "warnings": [{"code": "TW0001", "message": "Tracking Information Not Found"}],
                }
            ]
        }
    }
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(unknown))
    result = run_hub(tmp_path, "map", "ups", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"kind": "tracking", "trackers": []}
    assert "1Z0000000000000000: not found (TW0001" in result.stderr

    delivered = run_hub(tmp_path, "map", "ups", str(SAMPLES / "track_response_delivered.json"))
    assert delivered.returncode == 0, delivered.stderr
    assert json.loads(delivered.stdout)["trackers"][0]["status"] == "delivered"


def test_hub_map_exits_2_with_one_line_for_a_request(tmp_path: Path) -> None:
    result = run_hub(tmp_path, "map", "ups", str(SAMPLES / "ship_request_simple.json"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


# -- rates --------------------------------------------------------------------------------------


def test_negotiated_rate_is_the_amount_and_published_the_list_amount() -> None:
    quotes = ups.quotes_from_rate_response(sample("rate_response_shoptimeintransit_negotiated.json"), "CA")
    early = quotes[0]
    assert early.amount == Decimal("321.03") and early.list_amount == Decimal("330.92")
    assert early.currency == "CAD"
    assert (early.estimated_days, early.estimated_delivery, early.guaranteed) == (1, date(2025, 5, 27), True)
    assert [q.service_name for q in quotes[:2]] == ["UPS Express Early", "UPS Express"]  # CA names


def test_a_single_rated_shipment_object_is_one_quote_without_negotiated_rate() -> None:
    quotes = ups.quotes_from_rate_response(sample("rate_response_simple_ground.json"), "US")
    assert len(quotes) == 1
    ground = quotes[0]
    assert (ground.service_code, ground.service_name) == ("03", "UPS Ground")
    assert ground.amount == ground.list_amount == Decimal("15.54")
    assert (ground.estimated_days, ground.estimated_delivery, ground.guaranteed) == (None, None, False)


def test_service_names_depend_on_the_origin() -> None:
    assert ups.service_name("01", "US") == "UPS Next Day Air"
    assert ups.service_name("01", "CA") == "UPS Express"
    assert ups.service_name("07", "DE") == "UPS Express"
    assert ups.service_name("07", "US") == "UPS Worldwide Express"
    assert ups.service_name("99") == "UPS service 99"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, []), ("", []), ({"a": 1}, [{"a": 1}]), ([1, 2], [1, 2])]
)
def test_listed_turns_ups_collapsed_lists_into_lists(value: Any, expected: list[Any]) -> None:
    assert ups.listed(value) == expected


# -- the status table, code by code ---------------------------------------------------------------

STATUS_CASES = [
    # (type, code, 3-digit code) -> status
    (("M", "MP", "003"), "pending"),
    (("M", "DP", ""), "pending"),
    (("M", "RD", ""), "pending"),
    (("M", "ZZ", "157"), "pending"),
    (("MV", "VP", "007"), "cancelled"),
    (("MV", "XX", "043"), "cancelled"),
    (("I", "PU", "038"), "picked_up"),
    *((("I", "XX", c), "picked_up") for c in ("160", "167", "168", "169")),
    (("P", "", ""), "picked_up"),
    (("I", "AR", "005"), "in_transit"),
    (("I", "DP", "010"), "in_transit"),
    (("I", "OT", ""), "out_for_delivery"),
    *((("I", "XX", c), "out_for_delivery") for c in ("006", "021", "037", "072", "089", "091", "146", "162")),
    (("D", "FS", ""), "delivered"),
    (("D", "F4", ""), "delivered"),
    *((("D", "XX", c), "delivered") for c in ("011", "026", "143")),
    (("D", "XX", "072"), "out_for_delivery"),  # loaded on the vehicle is not delivered
    *((("X", "XX", c), "ready_for_pickup") for c in ("017", "040", "144", "161")),
    (("X", "XX", "013"), "on_hold"),
    (("X", "SR", "012"), "in_transit"),  # released by customs
    *(
        (("X", "XX", c), "delivery_failed")
        for c in ("022", "023", "024", "060", "061", "062", "064", "066", "069")
    ),
    *(
        (("X", "XX", c), "delivery_delayed")
        for c in ("032", "046", "048", "049", "051", "052", "053", "086", "090")
    ),
    *((("X", "XX", c), "return_to_sender") for c in ("033", "034", "035", "036", "067", "118", "119")),
    (("I", "XX", "034"), "return_to_sender"),
    (("NA", "", ""), "unknown"),
    (("Q", "ZZ", "999"), "unknown"),
]


@pytest.mark.parametrize(("fields", "expected"), STATUS_CASES)
def test_status_table(fields: tuple[str, str, str], expected: str) -> None:
    assert ups.event_status(*fields) == (expected, False)


def test_type_u_is_informational_whatever_its_codes() -> None:
    assert ups.event_status("U", "UP", "011") == ("unknown", True)


def test_a_numeric_description_code_is_not_read_as_a_status_code() -> None:
    # the older Track Alert example sent descriptionCode 17 for an out-for-delivery event
    assert ups.event_status("I", "OT", 17) == ("out_for_delivery", False)
    assert ups.event_status("I", "AR", 17) == ("in_transit", False)


# -- tracking quirks ---------------------------------------------------------------------------------


def activity(kind: str, code: str, status_code: str, day: str, time: str, **extra: str) -> dict[str, Any]:
    return {
        "location": {"address": {"city": "ATLANTA", "stateProvince": "GA", "countryCode": "US"}},
        "status": {"type": kind, "code": code, "statusCode": status_code, "description": f"{kind}/{code}"},
        "date": day,
        "time": time,
        **extra,
    }


def track_body(
    *activities: dict[str, Any], delivery_dates: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    package = {"trackingNumber": "1ZTEST", "activity": list(activities), "deliveryDate": delivery_dates or []}
    return {"trackResponse": {"shipment": [{"inquiryNumber": "1ZTEST", "package": [package]}]}}


def test_gmt_fields_give_utc_else_the_local_time_is_marked() -> None:
    body = track_body(
        activity("I", "AR", "005", "20240422", "212901", gmtDate="20240423", gmtTime="01:29:01"),
        activity("M", "MP", "003", "20240422", "091230"),
    )
    trackers, _ = ups.trackers_from_track_response(body)
    newest, oldest = trackers[0].events
    assert (newest.at, newest.local_time) == (datetime(2024, 4, 23, 1, 29, 1, tzinfo=UTC), False)
    assert (oldest.at, oldest.local_time) == (datetime(2024, 4, 22, 9, 12, 30, tzinfo=UTC), True)
    assert dump_document(ups.map_document(body))["trackers"][0]["events"][1]["local_time"] is True


def test_a_delivery_date_update_does_not_leave_delivered() -> None:
    body = track_body(
        activity("U", "UP", "", "20240424", "080000"),
        activity("D", "FS", "011", "20240423", "095004"),
        activity("I", "OT", "021", "20240423", "063936"),
    )
    tracker = ups.trackers_from_track_response(body)[0][0]
    assert tracker.status == "delivered"
    assert tracker.delivered_at == datetime(2024, 4, 23, 9, 50, 4, tzinfo=UTC)
    assert tracker.events[0].informational


def test_events_come_out_newest_first_whatever_the_order_ups_sent() -> None:
    body = track_body(
        activity("M", "MP", "003", "20240422", "091230"),
        activity("I", "OT", "021", "20240423", "063936"),
    )
    tracker = ups.trackers_from_track_response(body)[0][0]
    assert [e.code for e in tracker.events] == ["OT", "MP"]
    assert tracker.status == "out_for_delivery"


def test_a_rescheduled_date_wins_over_the_scheduled_one() -> None:
    body = track_body(
        activity("I", "AR", "005", "20240422", "212901"),
        delivery_dates=[{"type": "SDD", "date": "20240423"}, {"type": "RDD", "date": "20240425"}],
    )
    assert ups.trackers_from_track_response(body)[0][0].estimated_delivery == date(2024, 4, 25)


def test_track_alert_tracking_number_is_trimmed_and_bodies_group_by_number() -> None:
    first = sample("trackalert_webhook_out_for_delivery.json") | {"trackingNumber": " 1Z204W4R0308071865"}
    second = sample("trackalert_webhook_delivered.json")
    trackers = ups.trackers_from_track_alert([first, second])
    assert len(trackers) == 1
    tracker = trackers[0]
    assert tracker.tracking_number == "1Z204W4R0308071865"
    assert tracker.status == "delivered"
    assert tracker.estimated_delivery is None  # delivered: no estimate left
    assert [e.code for e in tracker.events] == ["FS", "OT"]


def test_a_track_alert_without_any_date_is_refused() -> None:
    body = sample("trackalert_webhook_delivered.json")
    for key in ("localActivityDate", "gmtActivityDate"):
        body.pop(key)
    with pytest.raises(MappingError):
        ups.map_document(body)


# -- request bodies --------------------------------------------------------------------------------

FROM_US = Address("Ann Shipper", "1 Main St", "Timonium", "21093", "US", company="Shop Inc", region="MD")
TO_US = Address("Bob", "2 Elm St", "Atlanta", "30301", "US", region="GA", residential=True, street2="Apt 4")
FROM_DE = Address("Eva", "Hauptstr. 1", "Berlin", "10115", "DE")


def test_rate_body_converts_grams_and_millimetres_rounding_up() -> None:
    request = RateRequest(FROM_US, TO_US, (Parcel(1000, 305, 200, 99),), ship_date=date(2026, 12, 7))
    body = ups.rate_request_body(request, "A1B2C3")["RateRequest"]
    shipment = body["Shipment"]
    assert body["Request"]["RequestOption"] == "Shoptimeintransit"
    package = shipment["Package"][0]
    assert package["PackageWeight"] == {"UnitOfMeasurement": {"Code": "LBS"}, "Weight": "2.3"}  # 2.2046 up
    assert package["Dimensions"] == {
        "UnitOfMeasurement": {"Code": "IN"},
        "Length": "13",
        "Width": "8",
        "Height": "4",
    }
    assert package["PackagingType"] == {"Code": "02"}
    assert shipment["Shipper"]["ShipperNumber"] == "A1B2C3"
    assert shipment["ShipTo"]["Address"]["ResidentialAddressIndicator"] == ""
    assert shipment["ShipTo"]["Address"]["AddressLine"] == ["2 Elm St", "Apt 4"]
    assert shipment["ShipmentRatingOptions"] == {"NegotiatedRatesIndicator": "Y"}
    assert shipment["DeliveryTimeInformation"] == {"PackageBillType": "03", "Pickup": {"Date": "20261207"}}


def test_rate_body_across_borders_is_metric_and_plain_shop() -> None:
    request = RateRequest(FROM_DE, TO_US, (Parcel(250),))
    body = ups.rate_request_body(request, "A1B2C3", negotiated=False)["RateRequest"]
    assert body["Request"]["RequestOption"] == "Shop"
    package = body["Shipment"]["Package"][0]
    assert package["PackageWeight"] == {"UnitOfMeasurement": {"Code": "KGS"}, "Weight": "0.3"}
    assert "Dimensions" not in package
    assert "ShipmentRatingOptions" not in body["Shipment"]


def test_a_parcel_without_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="weight"):
        ups.rate_request_body(RateRequest(FROM_US, TO_US, (Parcel(0),)), "A1B2C3")


def test_label_body_carries_the_idempotency_key_as_the_reference() -> None:
    request = LabelRequest(RateRequest(FROM_US, TO_US, (Parcel(900), Parcel(1200))), "03", "hub-key-1", "ZPL")
    body = ups.label_request_body(request, "A1B2C3")["ShipmentRequest"]
    assert [p["ReferenceNumber"] for p in body["Shipment"]["Package"]] == [{"Value": "hub-key-1"}] * 2
    assert "ReferenceNumber" not in body["Shipment"]
    assert body["Shipment"]["Package"][0]["Packaging"] == {"Code": "02"}
    assert body["Request"]["TransactionReference"] == {"CustomerContext": "hub-key-1"}
    assert body["LabelSpecification"]["LabelStockSize"] == {"Height": "6", "Width": "4"}
    abroad = LabelRequest(RateRequest(FROM_DE, TO_US, (Parcel(900),)), "07", "k" * 50, "GIF")
    shipment = ups.label_request_body(abroad, "A1B2C3")["ShipmentRequest"]["Shipment"]
    assert len(shipment["ReferenceNumber"]["Value"]) == ups.REFERENCE_MAX  # long keys are hashed to fit
    assert "ReferenceNumber" not in shipment["Package"][0]


def test_pdf_is_refused_before_any_call() -> None:
    request = LabelRequest(RateRequest(FROM_US, TO_US, (Parcel(900),)), "03", "k", "PDF")
    with pytest.raises(ValueError, match="GIF, PNG or ZPL"):
        ups.label_request_body(request, "A1B2C3")


def test_label_from_the_ship_response_sample() -> None:
    label = ups.label_from_ship_response(sample("ship_response_with_label.json"))
    assert label.tracking_number == label.carrier_ref == "1ZXXXXXXXXXXXXXXXX"
    assert label.label_format == "PNG"
    assert label.label_data.startswith(b"\x89PNG")
    assert (label.amount, label.currency) == (Decimal("135.15"), "CAD")
    assert label.parcel_tracking_numbers == ("1ZXXXXXXXXXXXXXXXX",)


def test_a_label_with_several_packages_lists_every_number() -> None:
    image = base64.b64encode(b"GIF89a...").decode()
    results = [
        {"TrackingNumber": n, "ShippingLabel": {"ImageFormat": {"Code": "GIF"}, "GraphicImage": image}}
        for n in ("1ZA", "1ZB")
    ]
    body = {
        "ShipmentResponse": {
            "ShipmentResults": {"ShipmentIdentificationNumber": "1ZA", "PackageResults": results}
        }
    }
    label = ups.label_from_ship_response(body)
    assert label.parcel_tracking_numbers == ("1ZA", "1ZB")
    assert label.label_data == b"GIF89a..."


def test_a_label_that_is_not_base64_is_refused() -> None:
    body = sample("ship_response_with_label.json")
    body["ShipmentResponse"]["ShipmentResults"]["PackageResults"]["ShippingLabel"]["GraphicImage"] = (
        "not base64!"
    )
    with pytest.raises(MappingError, match="base64"):
        ups.label_from_ship_response(body)


def test_void_sample_succeeds() -> None:
    assert ups.void_succeeded(sample("void_response.json"))
    assert not ups.void_succeeded({"VoidShipmentResponse": {"SummaryResult": {"Status": {"Code": "0"}}}})
