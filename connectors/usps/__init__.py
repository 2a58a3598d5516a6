"""USPS (APIs v3): rates (Shipping Options), labels (Labels 3.0 with a payment authorization
token), voids and tracking by poll (Tracking 3.0, one number per call).

Never buys twice: the label request carries ``X-Idempotency-Key`` (the hub's key, or a UUID derived
from it: USPS takes UUIDs only), and USPS answers a repeated key with an identical body with the
label it already made, without charging again (Labels 3.0 spec, ``X-Idempotency-Key``). So the
purchase is the one POST the HTTP layer may repeat after a lost answer, and :meth:`find_label`
asks ``POST /labels/v3/label-reprint`` with the same key, which returns that label or "not found"
and never buys. USPS labels one package at a time: a shipment of several packages is not offered.
Tracking webhooks (USPS "Subscriptions - Tracking") are not used: their signature is not
documented publicly; tracking is polled."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from connectors.usps.client import DEFAULT_HOURLY_QUOTA, UspsClient, UspsError
from hub.carriers import (
    CannotReconcile,
    CarrierConnector,
    LabelNotFound,
    environment_field,
    label_format_field,
    rate_timeout_field,
    url_override_field,
)
from hub.connectors import ConnectionContext, FieldSpec, TestResult
from hub.http import HttpError, json_body
from hub.shipping.errors import ShippingError
from hub.shipping.model import Label, LabelRequest, Parcel, RateQuote, RateRequest, Tracker
from mappings import usps

HOSTS = {"production": "https://apis.usps.com", "sandbox": "https://apis-tem.usps.com"}
LABEL_PATH = "/labels/v3/label"
REPRINT_PATH = "/labels/v3/label-reprint"
OPTIONS_PATH = "/shipments/v3/options/search"
TRACKING_PATH = "/tracking/v3/tracking/{number}"
#: the label answer as USPS sends it by default (parsed by mappings.usps.label_from_response)
LABEL_ACCEPT = "multipart/form-data"
SETTING: dict[str, Any] = {"group": "settings", "required": False}


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


class UspsConnector(CarrierConnector):
    name = "usps"
    display_name = "USPS"
    mapping_module = "mappings.usps"
    sandbox = "connectors.usps.sandbox:UspsSandbox"
    track_batch_size: ClassVar[int] = 1
    label_formats: ClassVar[tuple[str, ...]] = ("PDF", "PNG", "GIF", "ZPL")
    rate_timeout_s: ClassVar[float] = 10.0
    tracking_url_template: ClassVar[str] = "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}"
    hosts = HOSTS
    notes = (
        "USPS gives a new app 60 calls an hour per API (rates, labels, tracking each): ask USPS API "
        "support for a higher quota before going live, and set it below.",
        "Labels need the CRID, the Mailer ID and an EPS account enrolled in USPS Ship.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("client_id", "Consumer key", help="From the USPS Customer Onboarding Portal (your app)."),
        FieldSpec("client_secret", "Consumer secret", type="secret"),
        FieldSpec(
            "crid",
            "Customer Registration ID (CRID)",
            required=False,
            pattern=r"\d{4,15}",
            pattern_message="must be the digits of your CRID",
        ),
        FieldSpec(
            "mid",
            "Mailer ID (MID)",
            required=False,
            pattern=r"\d{6}|\d{9}",
            pattern_message="must be a 6- or 9-digit Mailer ID",
        ),
        FieldSpec(
            "manifest_mid",
            "Manifest Mailer ID",
            required=False,
            pattern=r"\d{6}|\d{9}",
            pattern_message="must be a 6- or 9-digit Mailer ID",
            help="Leave blank: the Mailer ID.",
        ),
        FieldSpec(
            "eps_account",
            "EPS account number",
            required=False,
            pattern=r"\d{4,20}",
            pattern_message="must be the digits of your Enterprise Payment System account",
        ),
        environment_field(
            (
                ("production", "Production (apis.usps.com)"),
                ("sandbox", "Testing environment, TEM (apis-tem.usps.com)"),
            )
        ),
        FieldSpec(
            "price_type",
            "Prices",
            type="choice",
            default="COMMERCIAL",
            choices=(("COMMERCIAL", "Commercial"), ("RETAIL", "Retail"), ("CONTRACT", "Contract")),
            **SETTING,
        ),
        label_format_field(tuple((f, f) for f in label_formats), default="PDF"),
        FieldSpec(
            "hourly_quota",
            "Calls per hour per API",
            type="integer",
            default=DEFAULT_HOURLY_QUOTA,
            check=_at_least_one,
            help="The quota USPS granted your app (60 by default).",
            **SETTING,
        ),
        url_override_field("Leave blank. For a sandbox only."),
        rate_timeout_field(rate_timeout_s),
    )

    @classmethod
    def rate_limit(cls, settings: Mapping[str, Any]) -> tuple[float, float]:
        """One API's hourly quota as a bucket; the client keeps one such bucket per API."""
        quota = float(settings.get("hourly_quota") or DEFAULT_HOURLY_QUOTA)
        return quota, quota / 3600.0

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        creds, settings = ctx.credentials, ctx.settings
        self.settings = settings
        self.client = UspsClient(
            ctx.http,
            client_id=str(creds["client_id"]),
            client_secret=str(creds["client_secret"]),
            payment_roles=self.payment_roles(creds),
            hourly_quota=int(settings.get("hourly_quota") or DEFAULT_HOURLY_QUOTA),
        )

    @staticmethod
    def payment_roles(creds: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The Payments API ``roles``: the EPS account pays, the Mailer ID owns the label range."""
        crid, mid, account = creds.get("crid"), creds.get("mid"), creds.get("eps_account")
        if not (crid and mid and account):
            return []
        payer = {"roleName": "PAYER", "CRID": crid, "accountType": "EPS", "accountNumber": account}
        owner = {
            "roleName": "LABEL_OWNER",
            "CRID": crid,
            "MID": mid,
            "manifestMID": creds.get("manifest_mid") or mid,
            "accountType": "EPS",
            "accountNumber": account,
        }
        return [payer, owner]

    def test_connection(self) -> TestResult:
        try:
            self.client.access_token()
            if self.client.roles:
                self.client.payment_token()
        except HttpError as exc:
            return TestResult(False, str(exc))
        labels = "labels enabled" if self.client.roles else "no CRID/MID/EPS account: rates and tracking only"
        return TestResult(True, f"connected to USPS at {self.ctx.http.base_url} ({labels})")

    # -- rates -------------------------------------------------------------------------------
    def rates(self, request: RateRequest) -> list[RateQuote]:
        """Every outbound mail class for a one-package domestic shipment; none for anything else."""
        if len(request.parcels) != 1:
            return []
        try:
            body = usps.options_body(
                request,
                request.parcels[0],
                mailing_date=self._mailing_date(request.ship_date),
                price_type=str(self.settings.get("price_type") or "COMMERCIAL"),
                account_number=self.ctx.credentials.get("eps_account"),
            )
        except usps.NotServed:
            return []
        response = self.client.call(
            "shipments",
            "POST",
            OPTIONS_PATH,
            json=body,
            timeout=self.rate_timeout_s,
            what="rates",
        )
        return usps.quotes_from_options(json_body(response))

    # -- labels ------------------------------------------------------------------------------
    def buy_label(self, request: LabelRequest) -> Label:
        """One label; USPS replays it for a repeated key, so the POST is retried after a lost answer.
        A request USPS cannot take is refused before any call (``ShippingError``: nothing bought)."""
        try:
            parcel = self._one_parcel(request)
            body = usps.label_body(
                request, parcel, mailing_date=self._mailing_date(request.shipment.ship_date)
            )
        except usps.NotServed as exc:
            raise ShippingError(None, f"USPS: {exc}") from exc
        headers = {"X-Idempotency-Key": usps.label_key(request.idempotency_key), "Accept": LABEL_ACCEPT}
        response = self.client.paid(
            "POST", LABEL_PATH, json=body, headers=headers, idempotent=True, what="label"
        )
        return usps.label_from_response(
            response.headers.get("Content-Type", ""), response.content, request.label_format
        )

    def find_label(self, request: LabelRequest) -> Label:
        """The label bought under the request's key, by reprinting it (``/label-reprint`` with the
        same ``X-Idempotency-Key``): never a purchase. USPS allows three reprints per label."""
        self._one_parcel(request)
        headers = {"X-Idempotency-Key": usps.label_key(request.idempotency_key), "Accept": LABEL_ACCEPT}
        try:
            response = self.client.paid(
                "POST",
                REPRINT_PATH,
                json={"imageInfo": usps.image_info(request.label_format)},
                headers=headers,
                what="label lookup",
            )
        except UspsError as exc:
            if exc.status in (400, 404) and "not found" in str(exc).lower():
                raise LabelNotFound(f"USPS has no label under key {headers['X-Idempotency-Key']}") from exc
            raise CannotReconcile(f"USPS could not show the label bought under this key: {exc}") from exc
        except HttpError as exc:
            raise CannotReconcile(f"USPS did not answer the label lookup: {exc}") from exc
        return usps.label_from_response(
            response.headers.get("Content-Type", ""), response.content, request.label_format
        )

    def void_label(self, label: Label) -> bool:
        """Cancel (before the Shipping Services File) or ask a refund (after): both count."""
        number = label.carrier_ref or label.tracking_number
        response = self.client.paid("DELETE", f"{LABEL_PATH}/{quote(number, safe='')}", what="cancel label")
        return usps.cancelled(json_body(response))

    # -- tracking ----------------------------------------------------------------------------
    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        if len(tracking_numbers) > self.track_batch_size:
            raise ValueError(
                f"USPS tracks {self.track_batch_size} number per call, got {len(tracking_numbers)}"
            )
        trackers = []
        for number in tracking_numbers:
            path = TRACKING_PATH.format(number=quote(number, safe=""))
            response = self.client.call(
                "tracking", "GET", path, params={"expand": "DETAIL"}, ok=[200, 404], what="tracking"
            )
            if response.status_code == 404:
                continue  # USPS does not know the number
            trackers.append(usps.tracker_from_tracking(json_body(response)))
        return trackers

    # -- helpers -----------------------------------------------------------------------------
    def _one_parcel(self, request: LabelRequest) -> Parcel:
        if not self.client.roles:
            raise ShippingError("connection", "USPS labels need the CRID, the Mailer ID and the EPS account")
        if len(request.shipment.parcels) != 1:
            raise ShippingError("parcels", "USPS labels one package at a time: make one shipment per package")
        return request.shipment.parcels[0]

    @staticmethod
    def _mailing_date(ship_date: date | None) -> date:
        return ship_date or datetime.now(UTC).date()
