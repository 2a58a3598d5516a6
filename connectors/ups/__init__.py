"""UPS: rate shopping, labels, voids and tracking by poll and by Track Alert webhook.

OAuth 2.0 client credentials (the token is shared through ``hub.oauth.TOKENS``); Rating
``Shoptimeintransit``/``Shop``, Shipping, Void, Label Recovery, Track and Track Alert. The
pure translation lives in ``mappings.ups``; HTTP in :mod:`connectors.ups.client`.

Buying never buys twice: UPS's Ship API takes no idempotency key, so a purchase is never
retried; the hub's idempotency key rides on the label as the shipper's reference, and
:meth:`UpsConnector.find_label` asks Label Recovery for the label under that reference."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.ups import webhooks
from connectors.ups.client import HOSTS, UpsClient, UpsError
from hub.carriers import (
    CARRIER_CAPABILITIES,
    CannotReconcile,
    CarrierConnector,
    environment_field,
    label_format_field,
    rate_timeout_field,
    url_override_field,
)
from hub.connectors import Capability, ConnectionContext, FieldSpec, TestResult, WebhookDelivery
from hub.http import HttpError
from hub.oauth import TOKENS
from hub.shipping.model import Label, LabelRequest, RateQuote, RateRequest, Tracker
from mappings import ups as mapping

#: Track Alert takes only 1Z numbers, at most 100 a request
TRACK_ALERT_NUMBER = re.compile(r"1Z[0-9A-Z]{16}")
TRACK_ALERT_BATCH = 100
#: UPS's "not found" answers on Track (invalid or unknown inquiry number)
TRACK_NOT_FOUND = frozenset({"TV1002", "TW0001", "TW0002"})


class UpsConnector(CarrierConnector):
    name = "ups"
    display_name = "UPS"
    mapping_module = "mappings.ups"
    sandbox = "connectors.ups.sandbox:UpsSandbox"
    capabilities = CARRIER_CAPABILITIES | {Capability.TRACKING_WEBHOOK}
    track_batch_size: ClassVar[int] = 1  # the Track API takes one inquiry number a call
    label_formats: ClassVar[tuple[str, ...]] = ("GIF", "PNG", "ZPL")  # GIF is UPS's default; no PDF
    rate_timeout_s: ClassVar[float] = 20.0  # Shop over several packages takes seconds
    tracking_url_template: ClassVar[str] = "https://www.ups.com/track?loc=en_US&tracknum={number}"
    hosts = HOSTS
    manages_webhooks = True
    notes = (
        "Track Alert pushes events for 14 days after a label is bought (the hub subscribes each new "
        "label); polling fills in the rest.",
        "UPS makes labels as GIF, PNG or ZPL; it returns no PDF.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("client_id", "Client ID", type="secret", help="developer.ups.com > My Apps > your app."),
        FieldSpec("client_secret", "Client secret", type="secret"),
        FieldSpec(
            "account_number",
            "UPS account (shipper) number",
            pattern=r"[A-Za-z0-9]{6}",
            pattern_message="must be the 6-character UPS account number",
            help="Bills labels and unlocks negotiated rates.",
        ),
        environment_field(
            (("production", "Production (onlinetools.ups.com)"), ("sandbox", "Test (wwwcie.ups.com)"))
        ),
        url_override_field("Leave blank: the environment's UPS host. For a local sandbox only."),
        label_format_field(
            (
                ("GIF", "GIF image (4 x 6 in)"),
                ("PNG", "PNG image (4 x 6 in)"),
                ("ZPL", "ZPL (thermal printer)"),
            ),
            default="GIF",
            label="Default label format",
        ),
        FieldSpec(
            "negotiated_rates",
            "Ask for negotiated (account) rates",
            type="boolean",
            group="settings",
            required=False,
            default=True,
        ),
        FieldSpec(
            "webhook_credential",
            "Track Alert credential",
            type="secret",
            required=False,
            help="Sent to UPS with each subscription and checked on every event UPS pushes. Leave "
            "blank: the hub derives one from the client secret.",
        ),
        rate_timeout_field(rate_timeout_s),
    )

    @classmethod
    def secret_values(cls, credentials: Mapping[str, Any]) -> list[str]:
        derived = webhooks.credential_for(credentials)
        return [*super().secret_values(credentials), *([derived] if derived else [])]

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        self.account = str(ctx.credentials.get("account_number") or "").upper()
        self.negotiated = bool(ctx.settings.get("negotiated_rates", True))
        self.client = UpsClient(
            ctx.http,
            client_id=str(ctx.credentials.get("client_id") or ""),
            client_secret=str(ctx.credentials.get("client_secret") or ""),
            account=self.account,
            cache=ctx.extra.get("token_cache") or TOKENS,
        )

    def test_connection(self) -> TestResult:
        try:
            self.client.fetch_token()
        except HttpError as exc:
            if exc.status == 401:
                return TestResult(False, f"UPS refused the client ID and secret ({exc})")
            return TestResult(False, str(exc))
        return TestResult(True, f"UPS accepted the client ID and secret (account {self.account})")

    # -- rates and labels -------------------------------------------------------------------------

    def rates(self, request: RateRequest) -> list[RateQuote]:
        body = mapping.rate_request_body(request, self.account, negotiated=self.negotiated)
        option = body["RateRequest"]["Request"]["RequestOption"]
        answer = self.client.rate(option, body, timeout=self.rate_timeout_s)
        return mapping.quotes_from_rate_response(answer, request.ship_from.country_code)

    def buy_label(self, request: LabelRequest) -> Label:
        """One ``POST …/ship``, never repeated by the HTTP layer: an answer lost on the way back
        leaves the purchase to :meth:`find_label`."""
        body = mapping.label_request_body(request, self.account, negotiated=self.negotiated)
        return mapping.label_from_ship_response(self.client.ship(body))

    def find_label(self, request: LabelRequest) -> Label:
        """Label Recovery by the shipper reference the purchase carried (the idempotency key).
        A label found is returned; when UPS finds none, that is not proof there was no
        purchase (its reference index can lag the Ship API, and a request refused before the
        reference was stored leaves none), so a person must check: ``CannotReconcile``."""
        try:
            answer = self.client.recover_label(mapping.label_recovery_body(request, self.account))
        except UpsError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
                raise CannotReconcile(
                    f"UPS Label Recovery has no label under reference "
                    f"{mapping.reference_value(request.idempotency_key)} ({exc}); UPS cannot say for "
                    "sure that none was bought, check the UPS account's shipping history"
                ) from exc
            raise
        label = mapping.label_from_recovery_response(answer)
        if label is None:
            raise CannotReconcile(
                f"UPS Label Recovery returned no label for reference "
                f"{mapping.reference_value(request.idempotency_key)}"
            )
        return label

    def void_label(self, label: Label) -> bool:
        """``DELETE …/void/cancel/{shipment id}``; False when UPS refuses (already scanned,
        past the void window, voided before)."""
        try:
            answer = self.client.void(label.carrier_ref or label.tracking_number)
        except UpsError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (401, 403, 429):
                return False
            raise
        return mapping.void_succeeded(answer)

    # -- tracking ---------------------------------------------------------------------------------

    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        if len(tracking_numbers) > self.track_batch_size:
            raise ValueError(f"UPS tracks {self.track_batch_size} number a call, got {len(tracking_numbers)}")
        trackers: list[Tracker] = []
        for number in tracking_numbers:
            try:
                answer = self.client.track(number)
            except UpsError as exc:
                if exc.status == 404 or exc.codes & TRACK_NOT_FOUND:
                    continue  # UPS does not know it: left out
                raise
            found, _warnings = mapping.trackers_from_track_response(answer)
            trackers.extend(found)
        return trackers

    def trackers_from_webhook(self, payload: Any) -> list[Tracker]:
        return mapping.trackers_from_track_alert(payload)

    def subscribe_tracking(self, tracking_numbers: list[str]) -> list[str]:
        """Track Alert for each 1Z number, in requests of 100; the credential UPS will send
        back on every event is this connection's (see :mod:`connectors.ups.webhooks`)."""
        credential = webhooks.credential_for(self.ctx.credentials)
        cleaned = (n.strip().upper() for n in tracking_numbers)
        numbers = [n for n in dict.fromkeys(cleaned) if TRACK_ALERT_NUMBER.fullmatch(n)]
        if not numbers or not self.ctx.webhook_url or not credential:
            return []
        accepted: list[str] = []
        for start in range(0, len(numbers), TRACK_ALERT_BATCH):
            chunk = numbers[start : start + TRACK_ALERT_BATCH]
            answer = self.client.subscribe(chunk, self.ctx.webhook_url, credential)
            accepted.extend(str(n) for n in mapping.listed((answer or {}).get("validTrackingNumbers")))
        return accepted

    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        return webhooks.verify(credentials, headers, body)

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        return webhooks.delivery(headers, body)
