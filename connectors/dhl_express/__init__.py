"""DHL Express (MyDHL API): rates, labels and tracking by poll.

DHL Express authenticates every call with HTTP Basic (no token to cache), has no void
(a waybill never tendered is not charged) and pushes no tracking to a MyDHL customer. It
gives a label once, in the answer that creates it: a purchase whose answer was lost can be
found by its reference (the hub's idempotency key) but its label cannot be fetched again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar

from connectors.dhl_express.client import HOSTS, DhlClient
from hub.carriers import (
    CannotReconcile,
    CarrierConnector,
    environment_field,
    label_format_field,
    rate_timeout_field,
    url_override_field,
)
from hub.connectors import ConnectionContext, FieldSpec, TestResult
from hub.http import HttpError
from hub.shipping.errors import ShippingError
from hub.shipping.model import Label, LabelRequest, RateQuote, RateRequest, Tracker
from mappings import dhl_express as mapping

#: a planned shipping time must not be in the past by the time DHL reads it
LEAD = timedelta(minutes=10)
#: days around the ship date searched when looking a purchase up by its reference
LOOKUP_DAYS = 7


def planned_time(ship_date: date | None, now: datetime) -> datetime:
    """Today's shipments leave ``LEAD`` from now; a later date at 09:00 UTC."""
    soon = now.astimezone(UTC) + LEAD
    if ship_date is None or ship_date <= soon.date():
        return soon.replace(microsecond=0)
    return datetime.combine(ship_date, time(9), UTC)


class DhlExpressConnector(CarrierConnector):
    name = "dhl_express"
    display_name = "DHL Express"
    mapping_module = "mappings.dhl_express"
    sandbox = "connectors.dhl_express.sandbox:DhlExpressSandbox"
    #: ``GET /tracking`` takes up to 200 waybills; 100 keeps the query string under ~4 kB
    track_batch_size: ClassVar[int] = 100
    label_formats: ClassVar[tuple[str, ...]] = ("PDF", "ZPL")
    can_void: ClassVar[bool] = False
    hosts = HOSTS
    default_environment = "sandbox"
    tracking_url_template: ClassVar[str] = (
        "https://www.dhl.com/global-en/home/tracking/tracking-express.html?submit=1&tracking-id={number}"
    )
    notes = (
        "DHL Express has no way to void a label: a waybill that is never handed to DHL is not "
        "charged. If a pickup was booked for it, cancel the pickup in MyDHL+.",
        "DHL gives a label only once. If its answer is lost, the hub looks the purchase up by its "
        "reference and asks a person to reprint the label in MyDHL+ instead of buying again.",
        "International shipments need customs data (declared value, line items) that the hub does "
        "not send yet: DHL refuses them with a clear message.",
    )
    fields: ClassVar[tuple[FieldSpec, ...]] = (
        FieldSpec("api_key", "API key (username)", help="The MyDHL API username DHL Express issued."),
        FieldSpec("api_secret", "API secret (password)", type="secret"),
        FieldSpec(
            "account_number",
            "DHL Express account number",
            group="settings",
            pattern=r"\d{9}",
            pattern_message="must be the 9-digit DHL Express account number",
        ),
        environment_field(
            (("sandbox", f"Test ({HOSTS['sandbox']})"), ("production", f"Live ({HOSTS['production']})")),
            default="sandbox",
            required=True,
        ),
        FieldSpec(
            "unit_of_measurement",
            "Units sent to DHL",
            type="choice",
            group="settings",
            required=False,
            default="metric",
            choices=(("metric", "Metric (kg, cm)"), ("imperial", "Imperial (lb, in)")),
        ),
        label_format_field((("PDF", "PDF"), ("ZPL", "ZPL (thermal printers)")), default="PDF"),
        FieldSpec(
            "label_template",
            "Label template",
            group="settings",
            required=False,
            default=mapping.DEFAULT_TEMPLATE,
            help="DHL template name; ECOM26_84_001 is a 4x6 in label.",
        ),
        FieldSpec(
            "contents",
            "Description of contents",
            group="settings",
            required=False,
            default="Merchandise",
            help="Printed on the waybill (at most 70 characters).",
        ),
        url_override_field("Only for a local sandbox; leave blank to use the environment's DHL host."),
        rate_timeout_field(CarrierConnector.rate_timeout_s),
    )

    def __init__(self, ctx: ConnectionContext) -> None:
        super().__init__(ctx)
        creds, settings = ctx.credentials, ctx.settings
        self.account = str(settings["account_number"])
        self.units: mapping.Units = (
            "imperial" if settings.get("unit_of_measurement") == "imperial" else "metric"
        )
        self.client = DhlClient(ctx.http, str(creds["api_key"]), str(creds["api_secret"]), self.account)

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def test_connection(self) -> TestResult:
        try:
            self.client.validate_address("DE", "53113", "Bonn")
        except HttpError as exc:
            if exc.status == 401:
                return TestResult(False, "DHL Express refused the API key and secret (401)")
            return TestResult(False, str(exc))
        return TestResult(True, f"connected to DHL Express as account {self.account}")

    def rates(self, request: RateRequest) -> list[RateQuote]:
        """Quotes only for a shipment DHL would also sell a label for: its shipment API
        refuses parties without a phone, so such a shop reports why instead of a quote the
        merchant cannot buy."""
        if missing := mapping.missing_phones(request):
            raise ShippingError(None, f"DHL Express needs a phone number for the {' and the '.join(missing)}")
        planned = planned_time(request.ship_date, self._now())
        body = mapping.rate_request(request, account=self.account, units=self.units, planned=planned)
        quotes, _ = mapping.quotes_from_rates(self.client.rates(body))
        return quotes

    def buy_label(self, request: LabelRequest) -> Label:
        settings = self.ctx.settings
        body = mapping.shipment_request(
            request,
            account=self.account,
            units=self.units,
            planned=planned_time(request.shipment.ship_date, self._now()),
            template=str(settings.get("label_template") or mapping.DEFAULT_TEMPLATE),
            description=str(settings.get("contents") or "Merchandise"),
        )
        answer = self.client.create_shipment(body, reference=request.idempotency_key)
        return mapping.label_from_shipment(answer, request.label_format)

    def find_label(self, request: LabelRequest) -> Label:
        """DHL can say whether a waybill exists under the purchase's reference, but gives no
        label again (``get-image`` returns waybill documents and invoices only), so this
        always ends in :class:`CannotReconcile`, naming the waybill when there is one."""
        reference = mapping.shipment_reference(request.idempotency_key)
        today = self._now().date()
        around = request.shipment.ship_date or today
        since = min(around, today) - timedelta(days=LOOKUP_DAYS)
        until = max(around, today) + timedelta(days=1)
        found = mapping.waybills_by_reference(self.client.by_reference(reference, since, until), reference)
        if found:
            raise CannotReconcile(
                f"DHL Express created waybill {', '.join(found)} under reference {reference}, but gives "
                "its label only once: reprint it in MyDHL+ (do not buy again)"
            )
        raise CannotReconcile(
            f"DHL Express shows no shipment under reference {reference} yet, but its tracking can lag "
            "behind label creation: check MyDHL+ before buying again"
        )

    def void_label(self, label: Label) -> bool:
        raise NotImplementedError("DHL Express has no void: a waybill never handed to DHL is not charged")

    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        if len(tracking_numbers) > self.track_batch_size:
            raise ValueError(f"at most {self.track_batch_size} tracking numbers per DHL Express call")
        if not tracking_numbers:
            return []
        trackers, _ = mapping.trackers_from_tracking(self.client.track(tracking_numbers), tracking_numbers)
        return trackers
