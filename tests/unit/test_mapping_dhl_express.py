"""DHL Express mapping against DHL's own OpenAPI examples and hand-made edge cases."""

from __future__ import annotations

import base64
import copy
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
from mappings import dhl_express as m
from mappings.common import MappingError
from tests.contracts import FIXTURES, validate_shipping

SAMPLES = FIXTURES / "carriers" / "dhl_express"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def shop(country: str = "DE", city: str = "Bonn", postal: str = "53113") -> Address:
    return Address("Ann Shop", "Main St 1", city, postal, country, company="Shop GmbH", phone="+49 228 1")


def request(**kw: Any) -> RateRequest:
    values: dict[str, Any] = {
        "ship_from": shop(),
        "ship_to": Address("Bob", "Ring 2", "Berlin", "10115", "DE", phone="+49 30 2"),
        "parcels": (Parcel(1200, 300, 200, 101),),
        "reference": "SHIP-42",
    }
    return RateRequest(**(values | kw))


PLANNED = datetime(2030, 5, 6, 14, 30, 5, tzinfo=UTC)


# --------------------------------------------------------------------------- samples


@pytest.mark.parametrize("name", ["rates_response.json", "tracking_response.json"])
def test_every_sample_validates_against_the_contract(name: str) -> None:
    validate_shipping(dump_document(m.map_document(sample(name))))


def test_rates_sample_pays_the_billing_currency() -> None:
    document = m.map_document(sample("rates_response.json"))
    assert document.kind == "rates" and document.warnings == ()
    (quote,) = document.quotes
    assert (quote.service_code, quote.service_name) == ("P", "EXPRESS WORLDWIDE NONDOC")
    assert (quote.amount, quote.currency, quote.list_amount) == (Decimal("157.95"), "GBP", None)
    assert (quote.estimated_days, quote.estimated_delivery) == (3, date(2022, 11, 24))
    assert quote.carrier_ref == "P" and quote.guaranteed is False


def test_billc_is_chosen_wherever_it_is_listed() -> None:
    payload = sample("rates_response.json")
    prices = payload["products"][0]["totalPrice"]
    payload["products"][0]["totalPrice"] = [prices[2], prices[1] | {"price": 1}, prices[0]]
    (quote,) = m.map_document(payload).quotes
    assert (quote.amount, quote.currency) == (Decimal("157.95"), "GBP")


def test_a_product_without_price_is_left_out_with_a_warning() -> None:
    payload = sample("rates_response.json")
    unpriced = copy.deepcopy(payload["products"][0]) | {"productCode": "Y", "totalPrice": []}
    payload["products"].append(unpriced)
    document = m.map_document(payload)
    assert [q.service_code for q in document.quotes] == ["P"]
    assert document.warnings == ("DHL Express product Y has no price: left out",)


def test_a_missing_product_name_comes_from_the_table() -> None:
    payload = sample("rates_response.json")
    del payload["products"][0]["productName"]
    assert m.map_document(payload).quotes[0].service_name == m.PRODUCT_NAMES["P"]


def test_tracking_sample() -> None:
    (tracker,) = m.map_document(sample("tracking_response.json")).trackers
    assert (tracker.tracking_number, tracker.status) == ("1234567890", "delivered")
    assert tracker.estimated_delivery == date(2023, 8, 11)
    assert tracker.delivered_at == datetime(2023, 8, 10, 11, 59, 23, tzinfo=UTC)
    newest = tracker.events[0]
    assert (newest.code, newest.description, newest.local_time) == ("OK", "Delivered : ALBY H", True)
    assert (newest.location.city, newest.location.country_code) == ("AUCKLAND", "NZ")
    assert [e.at for e in tracker.events] == sorted((e.at for e in tracker.events), reverse=True)
    assert tracker.events[-1].code == "PU"


def test_event_order_in_the_answer_does_not_matter() -> None:
    payload = sample("tracking_response.json")
    forward = m.map_document(payload).trackers[0]
    payload["shipments"][0]["events"].reverse()
    assert m.map_document(payload).trackers[0] == forward


def test_a_gmt_offset_gives_utc() -> None:
    payload = {
        "shipments": [
            {
                "shipmentTrackingNumber": "1",
                "events": [
                    {"date": "2020-06-10", "time": "13:06:00", "GMTOffset": "+09:00", "typeCode": "PU"}
                ],
            }
        ]
    }
    (event,) = m.map_document(payload).trackers[0].events
    assert event.at == datetime(2020, 6, 10, 4, 6, tzinfo=UTC) and event.local_time is False


def test_no_events_is_pending_and_an_unknown_code_changes_nothing() -> None:
    bare = {"shipments": [{"shipmentTrackingNumber": "1", "events": []}]}
    assert m.map_document(bare).trackers[0].status == "pending"
    events = [
        {"date": "2024-01-01", "time": "10:00:00", "typeCode": "PU"},
        {"date": "2024-01-02", "time": "10:00:00", "typeCode": "IA", "description": "Image available"},
    ]
    tracker = m.map_document({"shipments": [{"shipmentTrackingNumber": "1", "events": events}]}).trackers[0]
    assert tracker.status == "picked_up"
    assert tracker.events[0].status == "unknown" and tracker.events[0].code == "IA"


def test_wanted_numbers_missing_from_the_answer_become_warnings() -> None:
    trackers, warnings = m.trackers_from_tracking(sample("tracking_response.json"), ["1234567890", "555"])
    assert [t.tracking_number for t in trackers] == ["1234567890"]
    assert warnings == ["DHL Express does not know tracking number 555"]


# ``reference/carriers/tracking_status.md``, DHL Express, row by row
STATUS_TABLE = {
    "pending": "DUMMY_PU 104",
    "picked_up": "PU SA",
    "in_transit": "PL AF DF AR FD TR TP SC RR IC CR BR BN MC MS PY SM CI CU ES HN LV UV RW 102",
    "out_for_delivery": "WC",
    "delivered": "OK PD DD 101",
    "ready_for_pickup": "CC",
    "on_hold": "OH HP CD UD SS",
    "delivery_delayed": "AD MD TD IR",
    "delivery_failed": "NH BA CA RD ND CM DS 103",
    "return_to_sender": "RT",
}


@pytest.mark.parametrize(
    ("code", "status"), [(code, status) for status, codes in STATUS_TABLE.items() for code in codes.split()]
)
def test_status_table(code: str, status: str) -> None:
    event = m.event_from({"date": "2024-01-01", "time": "00:00:00", "typeCode": code}, "e")
    assert event.status == status


@pytest.mark.parametrize("code", ["IA", "DI", "TI", "TT", "SI", "DM", "XX", ""])
def test_codes_outside_the_table_are_unknown(code: str) -> None:
    assert m.event_from({"date": "2024-01-01", "time": "00:00:00", "typeCode": code}, "e").status == "unknown"


def test_the_table_has_nothing_beyond_the_reference() -> None:
    assert set(m.STATUS_BY_CODE) == {c for codes in STATUS_TABLE.values() for c in codes.split()}


# --------------------------------------------------------------------------- not rates, not tracking


@pytest.mark.parametrize(
    "document",
    [
        sample("rates_request_post.json"),
        sample("shipment_request.json"),
        sample("shipment_response.json"),
        *sample("error_responses.json").values(),
        [],
        "products",
        {},
    ],
)
def test_other_documents_are_mapping_errors(document: Any) -> None:
    with pytest.raises(MappingError):
        m.map_document(document)


def test_an_error_body_says_so() -> None:
    body = sample("error_responses.json")["400 (POST /rates, 'Invalid parameter')"]
    with pytest.raises(MappingError, match=r"DHL Express error.*account number is not found"):
        m.map_document(body)


def test_bad_event_time_names_its_path() -> None:
    payload = {"shipments": [{"shipmentTrackingNumber": "1", "events": [{"date": "x", "typeCode": "PU"}]}]}
    with pytest.raises(MappingError, match=r"shipments\[0\]\.events\[0\]"):
        m.map_document(payload)


def test_problem_messages() -> None:
    errors = list(sample("error_responses.json").values())
    assert m.problem_message(errors[0]) == f"400 Bad request: {errors[0]['detail']}"
    assert m.problem_message(errors[1]) == (
        "422 Validation error: #/content/packages/0/identifiers/0: extraneous key [dataIdentifier] is not "
        "permitted"
    )
    extra = {"title": "Validation error", "detail": "Multiple problems", "additionalDetails": ["#/a", "#/b"]}
    assert m.problem_message(extra) == "Validation error: Multiple problems (#/a; #/b)"
    assert m.problem_message({"products": []}) is None


# --------------------------------------------------------------------------- requests


def test_rate_request_metric() -> None:
    body = m.rate_request(request(), account="123456789", units="metric", planned=PLANNED)
    assert body["plannedShippingDateAndTime"] == "2030-05-06T14:30:05GMT+00:00"
    assert body["unitOfMeasurement"] == "metric" and body["isCustomsDeclarable"] is False
    assert body["accounts"] == [{"typeCode": "shipper", "number": "123456789"}]
    assert body["packages"] == [{"weight": 1.2, "dimensions": {"length": 30, "width": 20, "height": 11}}]
    assert body["customerDetails"]["shipperDetails"] == {
        "postalCode": "53113",
        "cityName": "Bonn",
        "countryCode": "DE",
        "addressLine1": "Main St 1",
    }
    assert "productsAndServices" not in body  # every product on the lane


def test_rate_request_imperial_rounds_up() -> None:
    body = m.rate_request(request(), account="123456789", units="imperial", planned=PLANNED)
    assert body["unitOfMeasurement"] == "imperial"
    assert body["packages"] == [{"weight": 2.646, "dimensions": {"length": 12, "width": 8, "height": 4}}]


def test_unknown_dimensions_are_left_out_and_weight_never_zero() -> None:
    body = m.rate_request(request(parcels=(Parcel(0),)), account="1", units="metric", planned=PLANNED)
    assert body["packages"] == [{"weight": 0.001}]


def test_international_is_customs_declarable() -> None:
    body = m.rate_request(
        request(ship_to=shop("FR", "Paris", "75001")), account="1", units="metric", planned=PLANNED
    )
    assert body["isCustomsDeclarable"] is True


def test_shipment_request_carries_the_key_and_the_reference() -> None:
    label = LabelRequest(request(), "N", "0b5f2a52-2b1e-4c9e", label_format="ZPL", carrier_ref="N")
    body = m.shipment_request(label, account="123456789", units="metric", planned=PLANNED, template="T1")
    assert body["plannedShippingDateAndTime"] == "2030-05-06T14:30:05 GMT+00:00"
    assert (body["productCode"], body["localProductCode"]) == ("N", "N")
    assert body["customerReferences"] == [{"value": "0b5f2a52-2b1e-4c9e", "typeCode": "CU"}]
    assert body["content"]["packages"][0]["customerReferences"] == [{"value": "SHIP-42", "typeCode": "CU"}]
    assert body["outputImageProperties"]["encodingFormat"] == "zpl"
    assert body["outputImageProperties"]["imageOptions"][0]["templateName"] == "T1"
    receiver = body["customerDetails"]["receiverDetails"]
    assert receiver["contactInformation"] == {"phone": "+49 30 2", "companyName": "Bob", "fullName": "Bob"}
    assert receiver["typeCode"] == "business"


def test_a_long_key_becomes_a_stable_35_character_reference() -> None:
    key = "shipment-1234567890-attempt-0000000000001"
    reference = m.shipment_reference(key)
    assert len(reference) == 35 and reference == m.shipment_reference(key) != m.shipment_reference(key + "x")


def test_a_label_format_dhl_cannot_print_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot print PNG"):
        m.shipment_request(
            LabelRequest(request(), "N", "k", label_format="PNG"),
            account="1",
            units="metric",
            planned=PLANNED,
        )


def test_label_from_the_shipment_sample() -> None:
    payload = sample("shipment_response.json")
    label = m.label_from_shipment(payload)
    assert (label.tracking_number, label.carrier_ref, label.label_format) == (
        "1103733901",
        "1103733901",
        "PDF",
    )
    assert label.label_data.startswith(b"%PDF") and label.label_data == base64.b64decode(
        payload["documents"][0]["content"]
    )
    assert label.parcel_tracking_numbers == ("JD014600004617230770",)
    assert label.amount is None


def test_zpl_labels_are_joined_and_charges_read() -> None:
    payload = {
        "shipmentTrackingNumber": "1",
        "documents": [
            {"typeCode": "label", "imageFormat": "ZPL", "content": base64.b64encode(b"^XA1^XZ").decode()},
            {"typeCode": "invoice", "imageFormat": "PDF", "content": base64.b64encode(b"%PDF").decode()},
            {"typeCode": "label", "imageFormat": "ZPL", "content": base64.b64encode(b"^XA2^XZ").decode()},
        ],
        "shipmentCharges": [{"currencyType": "BILLC", "priceCurrency": "EUR", "price": 12.5}],
    }
    label = m.label_from_shipment(payload, "ZPL")
    assert (label.label_data, label.label_format) == (b"^XA1^XZ^XA2^XZ", "ZPL")
    assert (label.amount, label.currency) == (Decimal("12.5"), "EUR")


def test_a_shipment_answer_without_label_is_an_error() -> None:
    with pytest.raises(MappingError, match="no label"):
        m.label_from_shipment({"shipmentTrackingNumber": "1", "documents": []})


def test_waybills_by_reference_checks_the_echoed_reference() -> None:
    payload = {
        "shipments": [
            {"shipmentTrackingNumber": "1", "shipperReferences": [{"value": "k1", "typeCode": "CU"}]},
            {"shipmentTrackingNumber": "2", "shipperReferences": [{"value": "k2", "typeCode": "CU"}]},
            {"shipmentTrackingNumber": "3"},
        ]
    }
    assert m.waybills_by_reference(payload, "k1") == ["1", "3"]


# --------------------------------------------------------------------------- hub map


def hub_map(tmp_path: Path, path: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_SECRET_KEY": "map-test-key",
        "HUB_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "hub", "map", "dhl_express", str(path)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("name", "kind"), [("rates_response.json", "rates"), ("tracking_response.json", "tracking")]
)
def test_hub_map_prints_the_contract(tmp_path: Path, name: str, kind: str) -> None:
    result = hub_map(tmp_path, SAMPLES / name)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    validate_shipping(printed)
    assert printed["kind"] == kind


def test_hub_map_refuses_a_request_with_one_line(tmp_path: Path) -> None:
    result = hub_map(tmp_path, SAMPLES / "shipment_request.json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("hub map: dhl_express response: ")
