"""FedEx (REST APIs, OAuth 2.0): rates, labels, voids and tracking by poll.

* Rates: ``POST /rate/v1/rates/quotes`` (every service, ACCOUNT and LIST rates, transit times).
* Labels: ``POST /ship/v1/shipments`` with the label encoded in the answer; void with
  ``PUT /ship/v1/shipments/cancel``. FedEx takes no idempotency key and has no way to look a
  shipment up by one (``x-customer-transaction-id`` is only echoed back; the asynchronous
  retrieve needs the job id of the lost answer), so ``find_label`` keeps the base
  ``CannotReconcile`` and a Ship call is never retried once it may have reached FedEx.
* Tracking: ``POST /track/v1/trackingnumbers``, 30 numbers a call; numbers FedEx does not know
  are left out. FedEx's push (Advanced Integrated Visibility webhooks) is a paid, portal-only
  product whose payload layout FedEx does not publish: the hub polls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.fedex.client import FedexClient, FedexError
from hub.carriers import (
    CarrierConnector,
    environment_field,
    label_format_field,
    rate_timeout_field,
    url_override_field,
)
from hub.connectors import Capability, ConnectionContext, FieldSpec, TestResult
from hub.shipping.model import Label, LabelRequest, RateQuote, RateRequest, Tracker
from mappings import fedex as mapping

log = logging.getLogger("hub.carriers.fedex")

ENVIRONMENTS: dict[str, str] = {
    "production": "https://apis.fedex.com",
    "sandbox": "https://apis-sandbox.fedex.com",
}
PICKUP_TYPES = (
    ("DROPOFF_AT_FEDEX_LOCATION", "Drop off at a FedEx location"),
    ("USE_SCHEDULED_PICKUP", "Regular scheduled pickup"),
    ("CONTACT_FEDEX_TO_SCHEDULE", "Call FedEx to schedule a pickup"),
)
RATE_PATH = "/rate/v1/rates/quotes"
SHIP_PATH = "/ship/v1/shipments"
CANCEL_PATH = "/ship/v1/shipments/cancel"
TRACK_PATH = "/track/v1/trackingnumbers"
#: FedEx asks to allow at least 30 s for Ship
SHIP_TIMEOUT_S = 60.0
#: FedEx's published quota: 1,400 transactions per 10 seconds per project
QUOTA = (1400.0, 140.0)


class FedexConnector(CarrierConnector):
    name = "fedex"
    display_name = "FedEx"
    mapping_module = "mappings.fedex"
    sandbox = "connectors.fedex.sandbox:FedexSandbox"
    capabilities = frozenset({Capability.RATES, Capability.LABELS, Capability.TRACKING_POLL})
    track_batch_size: ClassVar[int] = 30
    label_formats: ClassVar[tuple[str, ...]] = ("PDF", "PNG", "ZPL")
    rate_timeout_s: ClassVar[float] = 15.0
    tracking_url_template: ClassVar[str] = "https://www.fedex.com/fedextrack/?trknbr={number}"
    hosts = ENVIRONMENTS
    manages_webhooks = False
    notes = (
        "Create a project in the FedEx Developer Portal with the Rate, Ship and Track APIs and give its "
        "API key and secret key. If Track is a separate project, give its keys too.",
        "Tracking is polled: FedEx's push (Advanced Integrated Visibility) is a paid product set up in "
        "the portal, and FedEx does not publish its payload.",
        "A label whose answer was lost cannot be looked up at FedEx: the hub stops and asks a person "
        "(an unused FedEx label is not billed, and can be cancelled).",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "api_key", "API key", type="secret", help="FedEx Developer Portal > My Projects > API key."
        ),
        FieldSpec("secret_key", "Secret key", type="secret"),
        FieldSpec(
            "account_number",
            "FedEx account number",
            group="settings",
            pattern=r"\d{9}",
            pattern_message="must be the 9-digit FedEx account number",
        ),
        environment_field(
            (("production", "Production (apis.fedex.com)"), ("sandbox", "Test (apis-sandbox.fedex.com)"))
        ),
        FieldSpec(
            "track_api_key",
            "Track API key (if a separate project)",
            type="secret",
            required=False,
            help="Leave blank when the same project has the Track API.",
        ),
        FieldSpec("track_secret_key", "Track secret key", type="secret", required=False),
        label_format_field(
            (("PDF", "PDF (4x6 paper)"), ("PNG", "PNG (4x6 paper)"), ("ZPL", "ZPL II (thermal 4x6)")),
            default="PDF",
        ),
        FieldSpec(
            "pickup_type",
            "How parcels reach FedEx",
            type="choice",
            group="settings",
            required=False,
            default=PICKUP_TYPES[0][0],
            choices=PICKUP_TYPES,
        ),
        url_override_field("Leave blank: the environment's FedEx host. For a local sandbox only."),
        rate_timeout_field(rate_timeout_s),
    )

    @classmethod
    def rate_limit(cls, settings: Mapping[str, Any]) -> tuple[float, float]:
        return QUOTA

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        creds, settings = ctx.credentials, ctx.settings
        self.account_number = str(settings["account_number"])
        self.pickup_type = str(settings.get("pickup_type") or PICKUP_TYPES[0][0])
        self.client = FedexClient(ctx.http, str(creds["api_key"]), str(creds["secret_key"]))
        track_key, track_secret = creds.get("track_api_key"), creds.get("track_secret_key")
        self.track_client = (
            FedexClient(ctx.http, str(track_key), str(track_secret))
            if track_key and track_secret
            else self.client
        )

    def test_connection(self) -> TestResult:
        try:
            self.client.fetch_token()
            if self.track_client is not self.client:
                self.track_client.fetch_token()
        except FedexError as exc:
            return TestResult(False, str(exc))
        return TestResult(True, f"FedEx accepted the API keys (account {self.account_number})")

    # -- rates -----------------------------------------------------------------------------
    def rates(self, request: RateRequest) -> list[RateQuote]:
        body = mapping.rate_request(request, self.account_number, pickup_type=self.pickup_type)
        answer = self.client.call(
            "rating", "POST", RATE_PATH, body, idempotent=True, timeout=self.rate_timeout_s
        )
        for alert in (answer.get("output") or {}).get("alerts") or []:
            log.info("FedEx rate alert %s: %s", alert.get("code"), alert.get("message"))
        return mapping.quotes_from_response(answer)

    # -- labels ----------------------------------------------------------------------------
    def buy_label(self, request: LabelRequest) -> Label:
        """One Ship call, never repeated once it may have reached FedEx (FedEx has no idempotency
        key): the idempotency key travels as ``x-customer-transaction-id`` for the records."""
        if request.label_format not in self.label_formats:
            raise ValueError(
                f"FedEx cannot make {request.label_format} labels (choose {', '.join(self.label_formats)})"
            )
        body = mapping.ship_request(
            request, self.account_number, pickup_type=self.pickup_type, today=datetime.now(UTC).date()
        )
        answer = self.client.call(
            "label purchase",
            "POST",
            SHIP_PATH,
            body,
            idempotent=False,
            timeout=SHIP_TIMEOUT_S,
            transaction_id=request.idempotency_key,
        )
        return mapping.label_from_response(answer)

    def void_label(self, label: Label) -> bool:
        number = label.carrier_ref or label.tracking_number
        body = mapping.cancel_request(self.account_number, number)
        answer = self.client.call("cancel", "PUT", CANCEL_PATH, body, idempotent=True)
        return mapping.cancelled(answer)

    # -- tracking --------------------------------------------------------------------------
    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        numbers = list(dict.fromkeys(n.strip() for n in tracking_numbers if n and n.strip()))
        trackers: list[Tracker] = []
        for start in range(0, len(numbers), self.track_batch_size):
            batch = numbers[start : start + self.track_batch_size]
            answer = self.track_client.call(
                "tracking", "POST", TRACK_PATH, mapping.track_request(batch), idempotent=True
            )
            found, warnings = mapping.trackers_from_response(answer)
            for warning in warnings:
                log.warning("%s", warning)
            trackers.extend(found)
        return trackers
