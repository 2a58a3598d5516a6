"""The FedEx mapping against the real samples and hand-made edge cases (pure: no network)."""

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
from mappings import fedex
from mappings.common import MappingError
from tests.contracts import FIXTURES, validate_shipping

SAMPLES = FIXTURES / "carriers" / "fedex"
RATE_SAMPLES = ("rate_response_sandbox_ca_domestic.json", "rate_response_sandbox_intl_multi_service.json")
TRACK_SAMPLES = ("track_response_sandbox_two_results.json", "handmade_track_not_found_and_informational.json")
NOT_RATES_OR_TRACKING = (
    "cancel_response.json",
    "error_responses_rate_api.json",
    "oauth_token_response.json",
    "rate_request_minimal.json",
    "ship_response_doc_example.json",
)


def load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def test_every_sample_is_classified() -> None:
    named = {*RATE_SAMPLES, *TRACK_SAMPLES, *NOT_RATES_OR_TRACKING}
    assert {p.name for p in SAMPLES.glob("*.json")} == named


@pytest.mark.parametrize("name", RATE_SAMPLES + TRACK_SAMPLES)
def test_samples_map_to_the_contract(name: str) -> None:
    document = fedex.map_document(load(name))
    validate_shipping(dump_document(document))
    assert document.quotes or document.trackers


@pytest.mark.parametrize("name", NOT_RATES_OR_TRACKING)
def test_other_documents_are_mapping_errors(name: str) -> None:
    with pytest.raises(MappingError, match=r"not rates or tracking|not a FedEx rate or tracking response"):
        fedex.map_document(load(name))


def test_an_error_body_says_what_fedex_said() -> None:
    with pytest.raises(MappingError, match=r"ACCOUNT.NUMBER.MISMATCH"):
        fedex.map_document(load("error_responses_rate_api.json")["400"])


# -- rates -------------------------------------------------------------------------------------


def test_account_rate_is_the_amount_and_list_the_list_amount() -> None:
    quotes = {q.service_code: q for q in fedex.map_document(load(RATE_SAMPLES[1])).quotes}
    assert list(quotes) == [
        "INTERNATIONAL_ECONOMY",
        "INTERNATIONAL_FIRST",
        "FEDEX_GROUND",
        "FEDEX_INTERNATIONAL_PRIORITY_EXPRESS",
        "FEDEX_INTERNATIONAL_CONNECT_PLUS",
        "FEDEX_INTERNATIONAL_PRIORITY",
    ]
    ground = quotes["FEDEX_GROUND"]
    # ACCOUNT and LIST are in CAD; the USD PREFERRED entries are not taken
    assert (ground.amount, ground.list_amount, ground.currency) == (
        Decimal("535.68"),
        Decimal("535.68"),
        "CAD",
    )
    assert ground.service_name == "FedEx International Ground"  # FedEx's own name, ® removed
    assert (ground.estimated_days, ground.estimated_delivery) == (4, date(2024, 7, 25))
    assert ground.guaranteed is False  # ineligibleForMoneyBackGuarantee
    economy = quotes["INTERNATIONAL_ECONOMY"]
    assert (economy.estimated_days, economy.estimated_delivery, economy.guaranteed) == (None, None, False)


def test_no_list_rate_in_the_same_currency_gives_no_list_amount() -> None:
    (quote,) = fedex.map_document(load(RATE_SAMPLES[0])).quotes
    assert (quote.amount, quote.list_amount, quote.currency) == (Decimal("38.54"), None, "USD")


def test_list_only_reply_and_operational_transit() -> None:
    reply = {
        "serviceType": "FEDEX_2_DAY",
        "ratedShipmentDetails": [{"rateType": "LIST", "totalNetCharge": 20.1, "currency": "USD"}],
        "operationalDetail": {
            "transitTime": "TWO_DAYS",
            "deliveryDate": "2024-07-22T10:30:00",
            "ineligibleForMoneyBackGuarantee": False,
        },
    }
    quote = fedex.quote_from_reply(reply, "r")
    assert (quote.amount, quote.list_amount, quote.service_name) == (
        Decimal("20.1"),
        Decimal("20.1"),
        "FedEx 2Day",
    )
    assert (quote.estimated_days, quote.estimated_delivery, quote.guaranteed) == (2, date(2024, 7, 22), True)


def test_a_reply_without_a_price_is_an_error() -> None:
    with pytest.raises(MappingError, match=r"r\.ratedShipmentDetails"):
        fedex.quote_from_reply({"serviceType": "FEDEX_GROUND", "ratedShipmentDetails": []}, "r")


# -- tracking ------------------------------------------------------------------------------------

#: tracking_status.md, FedEx table, code by code
STATUS_TABLE = {
    "pending": "OC OX EP RP RG LP",
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
PINNED = [(code, status) for status, codes in STATUS_TABLE.items() for code in codes.split()]


@pytest.mark.parametrize(("code", "status"), PINNED)
def test_status_table(code: str, status: str) -> None:
    assert fedex.STATUS[code] == status
    assert fedex.event_status(code, None) == status


def test_status_table_has_nothing_else() -> None:
    assert set(fedex.STATUS) - {code for code, _ in PINNED} == {"IN"}  # derived "initiated" (label created)


def test_unknown_code_is_unknown() -> None:
    assert fedex.event_status("ZZ", "IT") == "unknown"


@pytest.mark.parametrize(
    ("code", "derived", "status"),
    [
        ("CA", "CA", "cancelled"),
        ("CA", "IT", "in_transit"),
        ("EA", "IT", "in_transit"),
        ("RC", "DL", "delivered"),
    ],
)
def test_ambiguous_codes_follow_the_derived_status(code: str, derived: str, status: str) -> None:
    assert fedex.event_status(code, derived) == status


def test_recycled_number_takes_the_result_shipped_last() -> None:
    (tracker,) = fedex.map_document(load(TRACK_SAMPLES[0])).trackers
    assert tracker.tracking_number == "776094337676"
    assert tracker.status == "delivered"
    assert tracker.delivered_at == datetime(2024, 4, 26, 16, 26, tzinfo=UTC)
    assert len(tracker.events) == 8 and tracker.events[0].code == "DL"
    assert [e.at for e in tracker.events] == sorted((e.at for e in tracker.events), reverse=True)
    delivery_exception = next(e for e in tracker.events if e.code == "DE")
    assert delivery_exception.status == "delivery_failed"
    assert (
        delivery_exception.description
        == "Delivery exception: FedEx redirected your package to a nearby FedEx location"
    )
    pickup = next(e for e in tracker.events if e.code == "PU")
    assert (pickup.location.city, pickup.location.region, pickup.location.country_code) == (
        "CLOVIS",
        "CA",
        "US",
    )


def test_not_found_is_left_out_with_a_warning_and_ao_sets_no_status() -> None:
    document = fedex.map_document(load(TRACK_SAMPLES[1]))
    assert [t.tracking_number for t in document.trackers] == ["794900000001"]
    (warning,) = document.warnings
    assert "123456789012" in warning and fedex.NOT_FOUND in warning
    tracker = document.trackers[0]
    assert tracker.events[0].code == "AO" and tracker.events[0].informational
    assert tracker.status == "out_for_delivery"  # the AO after OD does not set it
    assert tracker.estimated_delivery == date(2024, 5, 3)
    pickup = next(e for e in tracker.events if e.code == "PU")
    assert pickup.local_time and pickup.at == datetime(2024, 5, 1, 18, 0, tzinfo=UTC)
    assert tracker.events[-1].location.city is None


def test_a_tracker_with_only_an_informational_event_keeps_unknown() -> None:
    result = {
        "scanEvents": [{"date": "2024-05-02T09:00:00-05:00", "eventType": "AO"}],
        "latestStatusDetail": {"code": "AO"},
    }
    assert fedex.tracker_from_result("1", result, "r").status == "unknown"


def test_latest_status_is_the_hint_when_there_are_no_events() -> None:
    result = {"scanEvents": [], "latestStatusDetail": {"code": "DL", "derivedCode": "DL"}}
    assert fedex.tracker_from_result("1", result, "r").status == "delivered"


def test_a_bad_event_date_names_its_path() -> None:
    body = {
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": "1",
                    "trackResults": [{"scanEvents": [{"date": "yesterday", "eventType": "PU"}]}],
                }
            ]
        }
    }
    with pytest.raises(MappingError, match=r"trackResults\[0\]\.scanEvents\[0\]\.date"):
        fedex.map_document(body)


# -- requests and labels -------------------------------------------------------------------------

MEMPHIS = Address("Ann Lee", "1 Main St", "Memphis", "38118", "US", region="TN", phone="9015550100")
AUSTIN = Address(
    "Bob Roe",
    "2 Oak Ave",
    "Austin",
    "78701",
    "US",
    region="TX",
    phone="5125550100",
    street2="Unit 4",
    residential=True,
)
BERLIN = Address("Eva", "Hauptstr. 1", "Berlin", "10115", "DE", phone="+49301234")


def test_rate_request_in_pounds_and_inches_for_a_us_shipper() -> None:
    request = RateRequest(MEMPHIS, AUSTIN, (Parcel(2300, 305, 200, 101),), ship_date=date(2024, 7, 1))
    body = fedex.rate_request(request, "740561073", pickup_type="DROPOFF_AT_FEDEX_LOCATION")
    shipment = body["requestedShipment"]
    assert body["accountNumber"] == {"value": "740561073"}
    assert shipment["rateRequestType"] == ["ACCOUNT", "LIST"] and "serviceType" not in shipment
    assert body["rateRequestControlParameters"] == {"returnTransitTimes": True}
    assert shipment["recipient"]["address"] == {
        "streetLines": ["2 Oak Ave", "Unit 4"],
        "city": "Austin",
        "countryCode": "US",
        "residential": True,
        "stateOrProvinceCode": "TX",
        "postalCode": "78701",
    }
    (item,) = shipment["requestedPackageLineItems"]
    assert item["weight"] == {"units": "LB", "value": 5.1}  # 2.3 kg = 5.07 lb, rounded up
    assert item["dimensions"] == {"length": 13, "width": 8, "height": 4, "units": "IN"}
    assert shipment["shipDateStamp"] == "2024-07-01"


def test_rate_request_in_kilograms_and_centimetres_elsewhere() -> None:
    request = RateRequest(BERLIN, MEMPHIS, (Parcel(1234),))
    body = fedex.rate_request(request, "1", pickup_type="X", service_code="FEDEX_INTERNATIONAL_PRIORITY")
    (item,) = body["requestedShipment"]["requestedPackageLineItems"]
    assert item == {"weight": {"units": "KG", "value": 1.3}}
    assert body["requestedShipment"]["serviceType"] == "FEDEX_INTERNATIONAL_PRIORITY"


def test_ship_request() -> None:
    shipment = RateRequest(MEMPHIS, AUSTIN, (Parcel(500), Parcel(700)), reference="SHP-1001")
    request = LabelRequest(shipment, "FEDEX_GROUND", "idem-1", label_format="ZPL")
    body = fedex.ship_request(
        request, "740561073", pickup_type="USE_SCHEDULED_PICKUP", today=date(2024, 7, 2)
    )
    ship = body["requestedShipment"]
    assert body["labelResponseOptions"] == "LABEL"
    assert ship["labelSpecification"] == {
        "imageType": "ZPLII",
        "labelStockType": "STOCK_4X6",
        "labelFormatType": "COMMON2D",
    }
    assert (
        isinstance(ship["recipients"], list)
        and ship["recipients"][0]["contact"]["phoneNumber"] == "5125550100"
    )
    assert ship["shipper"]["contact"] == {"personName": "Ann Lee", "phoneNumber": "9015550100"}
    assert ship["shipDatestamp"] == "2024-07-02" and ship["totalPackageCount"] == 2
    assert ship["requestedPackageLineItems"][1]["customerReferences"] == [
        {"customerReferenceType": "CUSTOMER_REFERENCE", "value": "SHP-1001"}
    ]
    assert ship["shippingChargesPayment"] == {"paymentType": "SENDER"}


def test_label_from_the_documented_ship_reply() -> None:
    label = fedex.label_from_response(load("ship_response_doc_example.json"))
    assert label.tracking_number == label.carrier_ref == "794953535000"
    assert label.label_format == "PDF" and label.label_data.startswith(b"%PDF-1.4")
    assert label.parcel_tracking_numbers == ("794953535000",)
    assert (label.amount, label.currency) == (Decimal("3.78"), "USD")


def test_zpl_labels_of_several_pieces_print_in_order() -> None:
    def piece(number: str, text: bytes) -> dict[str, Any]:
        return {
            "trackingNumber": number,
            "packageDocuments": [
                {"contentType": "LABEL", "docType": "ZPLII", "encodedLabel": base64.b64encode(text).decode()}
            ],
        }

    body = {
        "output": {
            "transactionShipments": [
                {
                    "masterTrackingNumber": "1",
                    "pieceResponses": [piece("1", b"^XA1^XZ"), piece("2", b"^XA2^XZ")],
                }
            ]
        }
    }
    label = fedex.label_from_response(body)
    assert (label.label_format, label.label_data, label.parcel_tracking_numbers) == (
        "ZPL",
        b"^XA1^XZ^XA2^XZ",
        ("1", "2"),
    )
    assert label.amount is None


def test_a_label_sent_as_url_only_is_refused() -> None:
    body = {
        "output": {
            "transactionShipments": [
                {
                    "masterTrackingNumber": "1",
                    "pieceResponses": [
                        {
                            "trackingNumber": "1",
                            "packageDocuments": [
                                {"contentType": "LABEL", "docType": "PDF", "url": "https://x"}
                            ],
                        }
                    ],
                }
            ]
        }
    }
    with pytest.raises(MappingError, match=r"encodedLabel: missing"):
        fedex.label_from_response(body)


def test_cancel_and_track_bodies() -> None:
    assert fedex.cancel_request("9", "794953555571") == {
        "accountNumber": {"value": "9"},
        "trackingNumber": "794953555571",
        "deletionControl": "DELETE_ALL_PACKAGES",
    }
    assert fedex.cancelled(load("cancel_response.json")) is True
    assert fedex.track_request(["1", "2"])["trackingInfo"][1] == {
        "trackingNumberInfo": {"trackingNumber": "2"}
    }


# -- hub map ---------------------------------------------------------------------------------------


def hub_map(tmp_path: Path, file: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_SECRET_KEY": "map-test",
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "hub", "map", "fedex", str(file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hub_map_prints_rates(tmp_path: Path) -> None:
    result = hub_map(tmp_path, SAMPLES / RATE_SAMPLES[1])
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    validate_shipping(printed)
    assert printed["quotes"][2]["amount"] == "535.68"


def test_hub_map_prints_trackers_and_warns_on_stderr(tmp_path: Path) -> None:
    result = hub_map(tmp_path, SAMPLES / TRACK_SAMPLES[1])
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    validate_shipping(printed)
    assert [t["tracking_number"] for t in printed["trackers"]] == ["794900000001"]
    assert "123456789012" in result.stderr and fedex.NOT_FOUND in result.stderr


def test_hub_map_refuses_a_ship_reply_with_one_line(tmp_path: Path) -> None:
    result = hub_map(tmp_path, SAMPLES / "ship_response_doc_example.json")
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub map: fedex response: ")
