"""EasyPost: rate shopping across the carriers of a merchant's EasyPost account, labels, refunds
and tracking by poll and by webhook.

Rating creates a Shipment (``POST /v2/shipments``); each quote keeps ``"<shipment id>:<rate
id>"`` as its ``carrier_ref``. Buying (``POST /v2/shipments/{id}/buy``) never buys twice because
the Shipment exists before the purchase and EasyPost sells one label per Shipment: a repeated buy
is refused with ``SHIPMENT.POSTAGE.EXISTS``, which is answered by reading the Shipment back, and
:meth:`EasyPostConnector.find_label` reads it back too (``postage_label`` present -> that label).
The pure translation lives in ``mappings.easypost``; HTTP in :mod:`connectors.easypost.client`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from connectors.easypost import webhooks
from connectors.easypost.client import POSTAGE_EXISTS, PRODUCTION_URL, EasyPostClient, EasyPostError
from hub.carriers import (
    CARRIER_CAPABILITIES,
    CannotReconcile,
    CarrierConnector,
    LabelNotFound,
    environment_field,
    label_format_field,
    rate_timeout_field,
    url_override_field,
)
from hub.connectors import Capability, ConnectionContext, FieldSpec, TestResult, WebhookDelivery
from hub.http import HttpError
from hub.shipping.model import Label, LabelFormat, LabelRequest, RateQuote, RateRequest, Tracker
from mappings import easypost as mapping

#: refund states in which the label no longer costs anything (or soon will not)
REFUNDED = frozenset({"submitted", "refunded"})
#: the custom header on the hub's webhook that tells which secret EasyPost holds
SECRET_TAG_HEADER = "X-Hub-Secret-Tag"
ACCOUNTS_PATTERN = r"ca_[0-9a-f]+(\s*,\s*ca_[0-9a-f]+)*"


def _secret_tag(secret: str) -> str:
    return hashlib.sha256(f"easypost-webhook:{secret}".encode()).hexdigest()[:12]


class EasyPostConnector(CarrierConnector):
    name = "easypost"
    display_name = "EasyPost"
    mapping_module = "mappings.easypost"
    sandbox = "connectors.easypost.sandbox:EasyPostSandbox"
    capabilities = CARRIER_CAPABILITIES | {Capability.TRACKING_WEBHOOK}
    track_batch_size: ClassVar[int] = 50  # tracking codes per list call (URL length stays small)
    label_formats: ClassVar[tuple[str, ...]] = mapping.LABEL_FORMATS
    rate_timeout_s: ClassVar[float] = 20.0  # one Shipment asks every carrier account of the merchant
    #: EasyPost's tracking pages are per tracker (``Tracker.public_url``), not per number: the hub
    #: uses the underlying carrier's page (``mappings.easypost.tracking_url``, ``Label.carrier_name``)
    tracking_url_template: ClassVar[str] = ""
    hosts = dict.fromkeys(("production", "test"), PRODUCTION_URL)  # the key decides, not the host
    notes = (
        "Quotes come from every carrier account of the EasyPost account (or those listed below); "
        "labels and trackers name the carrier that moves the parcel.",
        "EasyPost pushes tracking to the hub when a webhook secret is set; polling fills in the rest.",
        "A refund is a request: USPS refunds take days and may be rejected.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec(
            "api_key",
            "API key",
            type="secret",
            help="EasyPost > API keys: a test key buys free test labels, a production key real ones.",
        ),
        FieldSpec(
            "webhook_secret",
            "Webhook secret",
            type="secret",
            required=False,
            help="Any long random text: the hub registers its webhook with EasyPost under it and "
            "rejects every event not signed with it. Leave blank to track by polling only.",
        ),
        environment_field(
            (("production", "Production key"), ("test", "Test key")),
            help="Both use api.easypost.com: the key decides whether labels are real.",
        ),
        url_override_field("Leave blank: https://api.easypost.com/v2. For a local sandbox only."),
        FieldSpec(
            "carrier_accounts",
            "Carrier accounts to rate",
            group="settings",
            required=False,
            pattern=ACCOUNTS_PATTERN,
            pattern_message="must be EasyPost carrier account ids (ca_...), separated by commas",
            help="Leave blank: every carrier account of the EasyPost account.",
        ),
        label_format_field(
            (("PDF", "PDF (4x6)"), ("PNG", "PNG image (4x6)"), ("ZPL", "ZPL (thermal printer)")),
            default="PDF",
            label="Default label format",
        ),
        rate_timeout_field(rate_timeout_s),
    )

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        self.client = EasyPostClient(ctx.http, str(ctx.credentials.get("api_key") or ""))
        accounts = str(ctx.settings.get("carrier_accounts") or "")
        self.carrier_accounts = tuple(a.strip() for a in accounts.split(",") if a.strip())
        self.default_format: LabelFormat = ctx.settings.get("label_format") or "PDF"

    def test_connection(self) -> TestResult:
        try:
            self.client.call("GET", "trackers", params={"page_size": 1})
        except HttpError as exc:
            return TestResult(False, str(exc))
        return TestResult(True, "EasyPost accepted the API key")

    # -- rates ------------------------------------------------------------------------------------
    def rates(self, request: RateRequest) -> list[RateQuote]:
        body = mapping.shipment_body(
            request, label_format=self.default_format, carrier_accounts=self.carrier_accounts
        )
        found, _warnings = mapping.quotes(self.client.create_shipment(body))
        return list(found)

    # -- labels -----------------------------------------------------------------------------------
    def buy_label(self, request: LabelRequest) -> Label:
        if request.label_format not in mapping.LABEL_FORMATS:
            formats = ", ".join(self.label_formats)
            raise ValueError(f"EasyPost makes no {request.label_format} labels (only {formats})")
        shipment_id, rate_id = self._rate_to_buy(request)
        try:
            shipment = self.client.buy(shipment_id, rate_id)
        except EasyPostError as exc:
            if exc.code != POSTAGE_EXISTS:
                raise
            shipment = self.client.shipment(shipment_id)  # bought by an earlier attempt whose answer was lost
        return self._label(shipment, request.label_format)

    def find_label(self, request: LabelRequest) -> Label:
        """The Shipment read back: ``postage_label`` present -> its label. Only a purchase from a
        quote can be found: without one the Shipment was made inside the lost call."""
        if not request.carrier_ref:
            raise CannotReconcile("EasyPost: no quote reference, so the lost purchase's shipment is unknown")
        shipment_id, _ = mapping.split_rate_ref(request.carrier_ref)
        shipment = self.client.shipment(shipment_id)
        if mapping.purchase(shipment) is None:
            raise LabelNotFound(f"EasyPost shipment {shipment_id} has no label")
        return self._label(shipment, request.label_format)

    def void_label(self, label: Label) -> bool:
        """Asks EasyPost for a refund: True once it is submitted (or done), False when refused."""
        shipment_id = str(label.carrier_ref or "")
        if not shipment_id.startswith("shp_"):
            raise ValueError(f"not an EasyPost label reference: {label.carrier_ref!r}")
        try:
            shipment = self.client.refund(shipment_id)
        except EasyPostError as exc:
            if exc.status not in (400, 422):
                raise
            shipment = self.client.shipment(shipment_id)  # asked before (a lost answer), or refused
        return str(shipment.get("refund_status") or "") in REFUNDED

    def _rate_to_buy(self, request: LabelRequest) -> tuple[str, str]:
        if request.carrier_ref:
            return mapping.split_rate_ref(request.carrier_ref)
        mapping.split_service_code(request.service_code)  # a bad code fails before anything is created
        body = mapping.shipment_body(
            request.shipment,
            label_format=request.label_format,
            carrier_accounts=self.carrier_accounts,
            reference=request.idempotency_key,
        )
        shipment = self.client.create_shipment(body)
        return str(shipment["id"]), mapping.rate_for_service(shipment, request.service_code)

    def _label(self, shipment: Any, label_format: LabelFormat) -> Label:
        bought = mapping.purchase(shipment)
        if bought is None:
            raise RuntimeError(f"EasyPost returned shipment {shipment.get('id')} without a label")
        url = bought.label_urls.get(label_format)
        if url is None:  # ask EasyPost to render the label in the wanted format
            converted = mapping.purchase(self.client.convert_label(bought.shipment_id, label_format))
            url = converted.label_urls.get(label_format) if converted else None
            if url is None:
                raise RuntimeError(f"EasyPost gave no {label_format} label for shipment {bought.shipment_id}")
        return Label(
            tracking_number=bought.tracking_number,
            label_format=label_format,
            label_data=self.client.download(url),
            carrier_ref=bought.shipment_id,
            amount=bought.amount,
            currency=bought.currency,
            parcel_tracking_numbers=(bought.tracking_number,),
            carrier_name=bought.carrier_name,
        )

    # -- tracking ---------------------------------------------------------------------------------
    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        """One list call per batch; numbers EasyPost follows no tracker for are left out, and of
        several trackers for one number the newest (EasyPost lists newest first) is taken."""
        if len(tracking_numbers) > self.track_batch_size:
            raise ValueError(f"at most {self.track_batch_size} numbers a call (got {len(tracking_numbers)})")
        wanted = set(tracking_numbers)
        newest: dict[str, Any] = {}
        for found in self.client.trackers(list(tracking_numbers)):
            code = found.get("tracking_code") if isinstance(found, dict) else None
            if code in wanted and code not in newest:
                newest[code] = found
        return [mapping.tracker(newest[n], "tracker") for n in tracking_numbers if n in newest]

    def subscribe_tracking(self, tracking_numbers: list[str]) -> list[str]:
        """Creates a tracker per number (EasyPost returns the existing one for a number it follows);
        labels bought through EasyPost have one already."""
        accepted = []
        for number in tracking_numbers:
            try:
                self.client.create_tracker(mapping.tracker_body(number))
            except EasyPostError:
                continue  # a number EasyPost cannot follow; the others still count
            accepted.append(number)
        return accepted

    def trackers_from_webhook(self, payload: Any) -> list[Tracker]:
        return mapping.trackers_from_event(payload)

    # -- webhooks ---------------------------------------------------------------------------------
    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        return webhooks.signature_ok(credentials.get("webhook_secret"), headers, body)

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        return webhooks.delivery(headers, body)

    def register_webhooks(self) -> list[str]:
        """The hub's webhook, created once; updated when EasyPost disabled it or holds an older
        secret (a custom header carries a fingerprint of the secret EasyPost was given)."""
        address, secret = self.ctx.webhook_url, self.ctx.credentials.get("webhook_secret")
        if not address:
            raise ValueError("the hub's public URL is not known")
        if not secret:
            return []  # tracking by polling only
        headers = [{"name": SECRET_TAG_HEADER, "value": _secret_tag(str(secret))}]
        mine = [w for w in self.client.webhooks() if isinstance(w, dict) and w.get("url") == address]
        if not mine:
            self.client.create_webhook(address, str(secret), headers)
            return ["webhook created"]
        hook = mine[0]
        if hook.get("disabled_at") is None and (hook.get("custom_headers") or []) == headers:
            return []
        self.client.update_webhook(str(hook["id"]), str(secret), headers)
        return ["webhook re-enabled" if hook.get("disabled_at") else "webhook secret updated"]
