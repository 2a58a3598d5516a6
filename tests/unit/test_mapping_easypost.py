"""EasyPost's pure mapping against the recorded samples and hand-made edge cases: the contract
schema, ``hub map``, the status table code by code, units, references, and the webhook checks."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import subprocess
import sys
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.easypost import EasyPostConnector, webhooks
from hub.shipping.document import dump_document
from hub.shipping.model import Address, Parcel, RateRequest
from mappings import easypost as m
from mappings.common import MappingError
from tests.contracts import FIXTURES, validate_shipping

SAMPLES = FIXTURES / "carriers" / "easypost"
DOCUMENTS = [
    "shipment_create_response_with_rates",
    "tracker_create_response",
    "webhook_event_tracker_updated",
]
NOT_DOCUMENTS = ["shipment_create_request", "shipment_buy_response_with_label"]
FROM = Address(
    "Jack Sparrow", "388 Townsend St", "San Francisco", "94107", "US", region="CA", street2="Apt 20"
)
TO = Address(
    "Elizabeth Swan", "179 N Harbor Dr", "Redondo Beach", "90277", "US", region="CA", residential=True
)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / f"{name}.json").read_text())


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_sample_maps_to_a_valid_document(name: str) -> None:
    document = dump_document(m.map_document(sample(name)))
    validate_shipping(document)
    assert document["quotes" if document["kind"] == "rates" else "trackers"]


@pytest.mark.parametrize("name", NOT_DOCUMENTS)
def test_requests_and_label_responses_are_refused(name: str) -> None:
    with pytest.raises(MappingError):
        m.map_document(sample(name))


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"error": {"code": "ADDRESS.VERIFY.FAILURE", "message": "Unable to verify address.",
                    "errors": [{"field": "address", "message": "Address not found"}]}},
         "ADDRESS.VERIFY.FAILURE: Unable to verify address. (address: Address not found)"),
        ({"object": "Event", "description": "batch.updated", "result": {"object": "Batch"}}, "batch.updated"),
        ({"object": "Address", "id": "adr_1"}, "neither"),
        ([], "not a JSON object"),
    ],
)  # fmt: skip
def test_other_documents_give_one_clear_mapping_error(document: Any, words: str) -> None:
    with pytest.raises(MappingError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        m.map_document(document)


def test_rate_sample_quotes() -> None:
    document = m.map_document(sample("shipment_create_response_with_rates"))
    priority = document.quotes[1]
    assert priority.carrier == "easypost"
    assert priority.service_code == "USPS:Priority"
    assert priority.service_name == "USPS Priority Mail"  # the carrier underneath is visible
    assert (priority.amount, priority.list_amount, priority.currency) == (
        Decimal("7.42"),
        Decimal("8.34"),
        "USD",
    )
    assert priority.estimated_days == 2 and priority.guaranteed is False
    assert (
        priority.carrier_ref == "shp_4f5381cd729d48c2adc4d2d801d655e2:rate_e10ea4fea5ba4d98a1a4135fe54737d7"
    )
    assert m.split_rate_ref(priority.carrier_ref) == (
        "shp_4f5381cd729d48c2adc4d2d801d655e2",
        "rate_e10ea4fea5ba4d98a1a4135fe54737d7",
    )
    assert [q.service_code for q in document.quotes] == [
        "USPS:Express",
        "USPS:Priority",
        "USPS:GroundAdvantage",
    ]


def test_rate_quirks_retail_fallback_delivery_date_and_carrier_messages() -> None:
    shipment = sample("shipment_create_response_with_rates")
    rate = shipment["rates"][0]
    rate.update(carrier="FedEx", service="FEDEX_2_DAY", list_rate=None, delivery_days=None,
                delivery_date="2025-03-10T23:59:00Z", delivery_date_guaranteed=True)  # fmt: skip
    shipment["messages"] = [{"carrier": "UPS", "type": "rate_error", "message": "account not active"}]
    document = m.map_document(shipment)
    quote = document.quotes[0]
    assert (quote.service_code, quote.service_name) == ("FedEx:FEDEX_2_DAY", "FedEx 2Day")
    assert quote.list_amount == Decimal("39.10")  # retail when no list rate
    assert (quote.estimated_days, quote.estimated_delivery, quote.guaranteed) == (1, date(2025, 3, 10), True)
    assert document.warnings == ("UPS: account not active",)


@pytest.mark.parametrize(
    ("carrier", "service", "name"),
    [("DHLExpress", "ExpressWorldwide", "DHL Express Express Worldwide"),
     ("UPS", "NewService", "UPS New Service"), ("FedEx", "FEDEX_NEW_THING", "FedEx Fedex New Thing"),
     ("OnTrac", "Ground", "OnTrac Ground"), ("LaserShip", "NextDay", "LaserShip Next Day")],
)  # fmt: skip
def test_service_names_from_the_table_or_spelled_out(carrier: str, service: str, name: str) -> None:
    assert m.service_name(carrier, service) == name


def test_label_sample_gives_the_purchase() -> None:
    bought = m.purchase(sample("shipment_buy_response_with_label"))
    assert bought is not None
    assert bought.tracking_number == "9400100208303109505657"
    assert bought.shipment_id == "shp_16578f588f9546ec914afd2474e24ff5"
    assert bought.label_urls == {
        "PNG": sample("shipment_buy_response_with_label")["postage_label"]["label_url"]
    }
    assert (bought.amount, bought.currency, bought.carrier_name) == (Decimal("6.07"), "USD", "USPS")
    assert bought.tracker_id == "trk_279431562ef84af89555e5c8a2029b2f"
    assert m.purchase(sample("shipment_create_response_with_rates")) is None


def test_carrier_names_for_the_channels() -> None:
    assert [m.carrier_name(c) for c in ("USPS", "UPS", "FedEx", "DHLExpress", "LaserShip")] == [
        "USPS", "UPS", "FedEx", "DHL Express", "LaserShip"]  # fmt: skip
    assert [m.carrier_code(c) for c in ("USPS", "UPS", "FedEx", "DHLExpress", "LaserShip")] == [
        "usps", "ups", "fedex", "dhl_express", "other"]  # fmt: skip
    assert m.tracking_url("UPS", "1Z999") == "https://www.ups.com/track?loc=en_US&tracknum=1Z999"
    assert m.tracking_url("LaserShip", "X") is None


# -- status table, pinned code by code -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "expected"),
    [
        ("pre_transit", "label_created", "pending"),
        ("pre_transit", "status_update", "pending"),
        ("in_transit", "arrived_at_facility", "in_transit"),
        ("in_transit", "departed_facility", "in_transit"),
        ("in_transit", "received_at_origin_facility", "picked_up"),
        ("in_transit", "delayed", "delivery_delayed"),
        ("in_transit", "weather_delay", "delivery_delayed"),
        ("in_transit", "held", "on_hold"),
        ("out_for_delivery", "out_for_delivery", "out_for_delivery"),
        ("delivered", "arrived_at_destination", "delivered"),
        ("available_for_pickup", "arrived_at_pickup_location", "ready_for_pickup"),
        ("return_to_sender", "return", "return_to_sender"),
        ("failure", "delivery_exception", "delivery_failed"),
        ("cancelled", "cancelled", "cancelled"),
        ("unknown", "unknown", "unknown"),
        ("error", "unknown", "unknown"),
        ("something_new", "unknown", "unknown"),
        ("pre_transit", "delayed", "pending"),  # a refinement belongs to its status only
    ],
)
def test_status_table(status: str, detail: str, expected: str) -> None:
    assert m.event_status(status, detail) == expected


def test_every_status_of_the_table_is_pinned() -> None:
    assert set(m.STATUSES) == {"pre_transit", "in_transit", "out_for_delivery", "delivered",
                               "available_for_pickup", "return_to_sender", "failure", "cancelled",
                               "unknown", "error"}  # fmt: skip


# -- tracking -------------------------------------------------------------------------------------


def test_webhook_sample_tracker() -> None:
    (tracker,) = m.map_document(sample("webhook_event_tracker_updated")).trackers
    assert (tracker.carrier, tracker.tracking_number, tracker.status) == ("easypost", "1", "in_transit")
    assert tracker.estimated_delivery == date(2024, 8, 5)  # est_delivery_date_local
    newest, oldest = tracker.events[0], tracker.events[-1]
    assert newest.at == datetime(2024, 8, 2, 18, 50, tzinfo=UTC)
    assert (newest.code, newest.description, newest.location.city) == (
        "AR",
        "Arrived at FedEx location",
        "EDISON",
    )
    assert (oldest.status, oldest.code) == (
        "pending",
        "OC",
    )  # the carrier's own code where EasyPost passes it


def test_tracker_without_carrier_codes_keeps_the_status_detail() -> None:
    (tracker,) = m.map_document(sample("tracker_create_response")).trackers
    assert tracker.status == "pending"
    assert [e.code for e in tracker.events] == ["status_update", "status_update"]
    assert (
        tracker.events[0].location.country_code is None and tracker.events[0].location.postal_code == "77063"
    )


def test_delivered_holds_when_an_older_event_comes_last_and_unknown_events_do_not_decide() -> None:
    event = sample("webhook_event_tracker_updated")
    details = event["result"]["tracking_details"]
    details.insert(0, {**details[0], "status": "delivered", "status_detail": "arrived_at_destination",
                       "datetime": "2024-08-04T15:00:00Z", "message": "Delivered"})  # fmt: skip
    details.append({**details[0], "status": "error", "datetime": "2024-08-05T10:00:00Z", "message": "?"})
    (tracker,) = m.trackers_from_event(event)
    assert tracker.status == "delivered"
    assert tracker.delivered_at == datetime(2024, 8, 4, 15, tzinfo=UTC)
    assert tracker.events[0].status == "unknown"


def test_tracker_list_and_country_names() -> None:
    tracker = copy.deepcopy(sample("tracker_create_response"))
    tracker["tracking_details"][1]["tracking_location"]["country"] = "United States"
    document = m.map_document({"trackers": [tracker, sample("webhook_event_tracker_updated")["result"]]})
    assert [t.tracking_number for t in document.trackers] == ["EZ1000000001", "1"]
    assert document.trackers[0].events[0].location.country_code == "US"
    validate_shipping(dump_document(document))


def test_a_tracker_with_a_bad_time_names_the_field() -> None:
    tracker = sample("tracker_create_response")
    tracker["tracking_details"][1]["datetime"] = "yesterday"
    with pytest.raises(MappingError, match=r"tracker\.tracking_details\[1\]\.datetime"):
        m.map_document(tracker)


# -- requests -------------------------------------------------------------------------------------


def test_shipment_body_units_and_wrapping() -> None:
    request = RateRequest(
        FROM, TO, (Parcel(437, 254, 203, 102),), ship_date=date(2025, 3, 8), reference="S-1"
    )
    body = m.shipment_body(request, label_format="ZPL", carrier_accounts=("ca_1",))
    shipment = body["shipment"]
    assert shipment["parcel"] == {"weight": 15.5, "length": 10.0, "width": 8.0, "height": 4.1}
    assert shipment["from_address"] == {
        "name": "Jack Sparrow",
        "street1": "388 Townsend St",
        "street2": "Apt 20",
        "city": "San Francisco",
        "state": "CA",
        "zip": "94107",
        "country": "US",
    }
    assert shipment["to_address"]["residential"] is True
    assert shipment["options"] == {"label_format": "ZPL", "label_date": "2025-03-08T12:00:00Z"}
    assert (shipment["carrier_accounts"], shipment["reference"]) == (["ca_1"], "S-1")


@pytest.mark.parametrize(("grams", "ounces"), [(1, 0.1), (28, 1.0), (29, 1.1), (437, 15.5), (1000, 35.3)])
def test_weights_round_up_to_a_tenth_of_an_ounce(grams: int, ounces: float) -> None:
    assert m.ounces(grams) == ounces


@pytest.mark.parametrize(
    ("parcels", "kw", "words"),
    [
        ((Parcel(500), Parcel(500)), {}, "exactly one parcel"),
        ((Parcel(0),), {}, "weigh"),
        ((Parcel(500, 100, None, 100),), {}, "length, width and height together"),
        ((Parcel(500),), {"label_format": "GIF"}, "no GIF labels"),
    ],
)
def test_bad_requests_are_refused_before_any_call(parcels: tuple[Parcel, ...], kw: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        m.shipment_body(RateRequest(FROM, TO, parcels), **kw)


@pytest.mark.parametrize("ref", ["", "shp_1", "rate_1:shp_1", "shp_1:", "x:rate_1"])
def test_bad_quote_references(ref: str) -> None:
    with pytest.raises(ValueError, match="not an EasyPost quote reference"):
        m.split_rate_ref(ref)


# -- webhooks -------------------------------------------------------------------------------------

BODY = (SAMPLES / "webhook_event_tracker_updated.json").read_bytes()


def signed(secret: str, body: bytes = BODY) -> str:
    """Computed here as EasyPost's client libraries do, independently of the connector."""
    key = unicodedata.normalize("NFKD", secret).encode("utf-8")
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def test_signature_over_the_raw_body_verifies() -> None:
    headers = {"X-Hmac-Signature": signed("sécret")}
    assert EasyPostConnector.verify_webhook({"webhook_secret": "sécret"}, headers, BODY)
    assert EasyPostConnector.verify_webhook(
        {"webhook_secret": "sécret"}, {"x-hmac-signature": signed("sécret")}, BODY
    )


def test_the_secret_is_nfkd_normalised() -> None:
    composed, decomposed = "s\u00e9cret\u2167", "se\u0301cretVIII"
    headers = {"X-Hmac-Signature": signed(decomposed)}
    assert EasyPostConnector.verify_webhook({"webhook_secret": composed}, headers, BODY)


@pytest.mark.parametrize(
    ("secret", "headers", "body"),
    [
        ("sécret", {"X-Hmac-Signature": signed("other")}, BODY),
        ("sécret", {"X-Hmac-Signature": signed("sécret")}, BODY.replace(b"in_transit", b"delivered")),
        ("sécret", {"X-Hmac-Signature": signed("sécret").removeprefix("hmac-sha256-hex=")}, BODY),
        ("sécret", {}, BODY),
        (None, {"X-Hmac-Signature": signed("")}, BODY),
        ("sécret", {"X-Hmac-Signature": json.dumps(json.loads(BODY))}, BODY),
    ],
)
def test_bad_or_missing_signatures_are_rejected(
    secret: str | None, headers: dict[str, str], body: bytes
) -> None:
    assert not EasyPostConnector.verify_webhook({"webhook_secret": secret}, headers, body)


def test_a_reserialised_body_does_not_verify() -> None:
    compact = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    assert not EasyPostConnector.verify_webhook(
        {"webhook_secret": "k"}, {"X-Hmac-Signature": signed("k")}, compact
    )
    assert EasyPostConnector.verify_webhook(
        {"webhook_secret": "k"}, {"X-Hmac-Signature": signed("k", compact)}, compact
    )


def test_delivery_key_is_the_event_id_and_other_events_are_ignored() -> None:
    delivery = EasyPostConnector.webhook_delivery({}, BODY)
    assert (delivery.key, delivery.topic, delivery.ignore) == ("evt_1", "tracker.updated", None)
    other = EasyPostConnector.webhook_delivery({}, b'{"id": "evt_2", "description": "batch.updated"}')
    assert (other.key, other.topic) == ("evt_2", "batch.updated") and other.ignore
    garbage = EasyPostConnector.webhook_delivery({}, b"not json")
    assert garbage.ignore and garbage.key == hashlib.sha256(b"not json").hexdigest()
    assert {"tracker.created", "tracker.updated"} == webhooks.TRACKER_EVENTS


def test_trackers_from_event_bodies() -> None:
    (tracker,) = m.trackers_from_event(json.loads(BODY))
    assert tracker.tracking_number == "1"
    assert m.trackers_from_event({"description": "refund.successful", "result": {"object": "Refund"}}) == []


# -- hub map --------------------------------------------------------------------------------------


def hub_map(tmp_path: Path, file: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "HUB_INSTANCE_DIR": str(tmp_path / "instance"),
        "HUB_SECRET_KEY": "k",
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "hub", "map", "easypost", str(file)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_hub_map_prints_rates_and_tracking_and_refuses_the_rest(tmp_path: Path) -> None:
    rates = hub_map(tmp_path, SAMPLES / "shipment_create_response_with_rates.json")
    assert rates.returncode == 0, rates.stderr
    printed = json.loads(rates.stdout)
    validate_shipping(printed)
    assert printed["quotes"][1]["service_name"] == "USPS Priority Mail"
    tracking = hub_map(tmp_path, SAMPLES / "webhook_event_tracker_updated.json")
    assert tracking.returncode == 0, tracking.stderr
    assert json.loads(tracking.stdout)["trackers"][0]["status"] == "in_transit"
    refused = hub_map(tmp_path, SAMPLES / "shipment_create_request.json")
    assert refused.returncode == 2
    assert refused.stderr.startswith("hub map: easypost response: ") and refused.stderr.count("\n") == 1
