"""What a connector declares and the registry the core finds connectors in.

A connector is a class registered under the ``hub.connectors`` entry-point group.
It declares its display name, kind, the fields its form needs and its
capabilities; the core builds forms, CLI validation and schedules from that
declaration and never imports a connector by name.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

from hub.http import HttpClient

Kind = Literal["channel", "carrier"]
ENTRY_POINT_GROUP = "hub.connectors"


class Capability(enum.StrEnum):
    ORDERS_POLL = "orders_poll"
    ORDERS_WEBHOOK = "orders_webhook"
    INVENTORY_READ = "inventory_read"
    INVENTORY_WRITE = "inventory_write"
    FULFILMENT_PUSH = "fulfilment_push"
    RATES = "rates"
    LABELS = "labels"
    TRACKING_POLL = "tracking_poll"
    TRACKING_WEBHOOK = "tracking_webhook"


FieldType = Literal["text", "secret", "url", "choice", "integer", "boolean", "date"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of a connection's form.

    ``group`` is ``credentials`` (encrypted at rest) or ``settings`` (plain).
    ``secret`` fields are never rendered back: the form shows that one is set.
    ``pattern`` is a full-match regular expression; ``check`` a function
    returning an error message or ``None``.
    """

    name: str
    label: str
    type: FieldType = "text"
    required: bool = True
    group: Literal["credentials", "settings"] = "credentials"
    help: str = ""
    default: Any = None
    choices: tuple[tuple[str, str], ...] = ()
    pattern: str | None = None
    pattern_message: str = "is not in the expected format"
    check: Callable[[Any], str | None] | None = None

    @property
    def secret(self) -> bool:
        return self.type == "secret"


def notify_customer_field(channel_action: str) -> FieldSpec:
    """The per-connection switch: whether the channel e-mails the customer when the hub
    sends a shipment's tracking (passed with every fulfilment push)."""
    return FieldSpec(
        "notify_customer",
        "E-mail the customer when the hub sends tracking",
        type="boolean",
        group="settings",
        required=False,
        default=False,
        help=f"The channel sends its own shipping e-mail ({channel_action}).",
    )


class FieldError(ValueError):
    """Validation failed; ``errors`` maps field name to message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


def _coerce(spec: FieldSpec, raw: Any) -> Any:
    """A submitted value (text from a form or the CLI) as the field's type; raises ValueError."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if spec.type == "integer":
        return int(raw)
    if spec.type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on", "y"):
            return True
        if text in ("0", "false", "no", "off", "n"):
            return False
        raise ValueError("must be yes or no")
    if spec.type == "date":
        return raw.isoformat() if isinstance(raw, date) else date.fromisoformat(str(raw).strip()).isoformat()
    value = str(raw) if spec.secret else str(raw).strip()
    if spec.type == "url" and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    if spec.type == "choice" and value not in {c for c, _ in spec.choices}:
        raise ValueError("is not one of the choices")
    return value


def validate_values(
    specs: tuple[FieldSpec, ...], submitted: Mapping[str, Any], existing: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check submitted values against the declaration; return the values to store.

    A secret left blank keeps its existing value. Unknown names are errors
    (a typo on the CLI must not pass silently). Raises ``FieldError``.
    """
    existing = existing or {}
    known = {s.name for s in specs}
    errors: dict[str, str] = {
        name: "is not a field of this connector" for name in submitted if name not in known
    }
    values: dict[str, Any] = {}
    for spec in specs:
        try:
            value = _coerce(spec, submitted.get(spec.name))
        except ValueError as exc:
            errors[spec.name] = str(exc) if str(exc).startswith(("must", "is")) else "is not valid"
            continue
        if value is None and spec.secret:
            value = existing.get(spec.name)
        if value is None and spec.default is not None and spec.name not in existing:
            value = spec.default
        if value is None:
            if spec.required:
                errors[spec.name] = "is required"
            continue
        if spec.pattern and isinstance(value, str) and not re.fullmatch(spec.pattern, value):
            errors[spec.name] = spec.pattern_message
            continue
        if spec.check is not None and (message := spec.check(value)):
            errors[spec.name] = message
            continue
        values[spec.name] = value
    if errors:
        raise FieldError(errors)
    return values


@dataclass
class ConnectionContext:
    """What a connector instance gets from the core: its values and its HTTP client."""

    connection_id: int | None
    credentials: dict[str, Any]
    settings: dict[str, Any]
    http: HttpClient
    webhook_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TestResult:
    ok: bool
    message: str


@dataclass(frozen=True)
class OrderPage:
    """One page of a poll: raw channel orders, sorted by their ``updated_at`` ascending,
    and the token of the next page (None on the last)."""

    payloads: list[Any]
    next_page: str | None = None
    #: for channels with no count endpoint: the estimated orders in the whole poll, and the
    #: seconds left at the channel's rate limits (shown as the backfill's progress)
    estimated_total: int | None = None
    seconds_left: float | None = None


@dataclass(frozen=True)
class WebhookDelivery:
    """Who a webhook is: its idempotency key (the channel's event id) and topic.
    ``ignore`` (a reason) records a delivery that needs no processing, such as a ping."""

    key: str
    topic: str
    ignore: str | None = None


@dataclass(frozen=True)
class OrderChanged:
    """A webhook (or anything else) brought the full order payload: map and ingest it."""

    payload: Any


@dataclass(frozen=True)
class ConnectionGone:
    """The channel revoked the hub (app uninstalled): disable the connection."""

    reason: str


@dataclass(frozen=True)
class Ignored:
    reason: str


@dataclass(frozen=True)
class StockChanged:
    """A webhook brought the channel's stock of some listings as read at ``at`` (aware UTC):
    take it in by the inflow rule (relative to the last publish; older than it: stale)."""

    levels: tuple[StockLevel, ...]
    at: datetime


WebhookAction = OrderChanged | ConnectionGone | Ignored | StockChanged


@dataclass(frozen=True)
class StockLevel:
    """A channel's stock of one SKU at one of its locations."""

    sku: str
    location_id: str
    available: int


@dataclass(frozen=True)
class StockWrite:
    sku: str
    location_id: str
    quantity: int


@dataclass(frozen=True)
class StockWriteResult:
    sku: str
    location_id: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class ShipmentLine:
    line_external_id: str
    quantity: int


@dataclass(frozen=True)
class ShipmentPush:
    """What the hub tells a channel about a shipment. ``key`` is the hub's own id of the
    shipment: the channel-side record is found by it (or by the tracking number) before
    anything is created, so a push repeated after a lost answer creates nothing new."""

    key: str
    order_external_id: str
    lines: tuple[ShipmentLine, ...]
    carrier: str  # ups | fedex | usps | dhl_express | other
    carrier_name: str
    tracking_number: str
    tracking_url: str | None = None
    notify_customer: bool = False


@dataclass(frozen=True)
class PushResult:
    outcome: Literal["created", "updated", "unchanged"]
    channel_ref: str


class Connector:
    """Base class of every connector. Subclasses set the class attributes and
    implement the methods their capabilities promise."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    kind: ClassVar[Kind]
    fields: ClassVar[tuple[FieldSpec, ...]] = ()
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: module path of the pure mapping (``mappings.shopify``), used by ``hub map``
    mapping_module: ClassVar[str | None] = None
    #: ``module:callable`` returning a running sandbox (see ``hub.sandbox``)
    sandbox: ClassVar[str | None] = None
    #: whether the hub creates the channel's webhook subscriptions (False: the merchant
    #: points a webhook module at the hub's URL by hand, and there is nothing to check)
    manages_webhooks: ClassVar[bool] = True
    #: what the connection page should tell the merchant about this channel
    notes: ClassVar[tuple[str, ...]] = ()
    #: ``module:function(db, box, public_url, connection_id)`` that pulls the channel's own
    #: notification queue (where a channel notifies by queue instead of webhooks)
    notifications: ClassVar[str | None] = None

    @classmethod
    def wants_notifications(cls, settings: Mapping[str, Any]) -> bool:
        """Whether this connection has a notification queue to drain."""
        return cls.notifications is not None

    def __init__(self, ctx: ConnectionContext) -> None:
        self.ctx = ctx

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        """The root URL requests go to (the HTTP layer is built on it)."""
        raise NotImplementedError

    @classmethod
    def secret_values(cls, credentials: Mapping[str, Any]) -> list[str]:
        """Values that must be masked wherever they could show (call log, errors)."""
        return [str(credentials[s.name]) for s in cls.fields if s.secret and credentials.get(s.name)]

    #: seconds between runs of the scheduled jobs, where a connector differs from the defaults
    schedule_defaults: ClassVar[dict[str, int]] = {}
    #: the shortest interval a merchant may set per job (a channel's rate limits allow no faster)
    schedule_minimums: ClassVar[dict[str, int]] = {}

    @classmethod
    def rate_limit(cls, settings: Mapping[str, Any]) -> tuple[float, float] | None:
        """(capacity, refill per second) of the connection's token bucket, or None."""
        return None

    @classmethod
    def concurrency(cls, settings: Mapping[str, Any]) -> int | None:
        """How many requests of one connection may be in flight at once (None: no cap)."""
        return None

    def test_connection(self) -> TestResult:
        raise NotImplementedError

    # -- orders by poll (Capability.ORDERS_POLL) --------------------------------------
    def count_orders(self, since: datetime) -> int | None:
        """How many orders changed since ``since`` (for backfill progress), if the channel says."""
        return None

    def fetch_orders(self, since: datetime, page: str | None) -> OrderPage:
        """A page of orders updated at or after ``since``, oldest change first."""
        raise NotImplementedError

    # -- orders by webhook (Capability.ORDERS_WEBHOOK) --------------------------------
    @classmethod
    def verify_webhook(cls, credentials: Mapping[str, Any], headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the signature over the raw body is right (constant-time compare)."""
        return False

    @classmethod
    def webhook_delivery(cls, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        raise NotImplementedError

    def handle_webhook(self, topic: str, payload: Any) -> list[WebhookAction]:
        """What a stored delivery means; may call the channel (e.g. re-read an order)."""
        return [Ignored(f"topic {topic} is not handled")]

    def register_webhooks(self) -> list[str]:
        """Create the subscriptions the hub needs (missing ones only); returns the topics created."""
        raise NotImplementedError

    # -- inventory (INVENTORY_READ / INVENTORY_WRITE) -----------------------------------
    def read_stock(self, skus: list[str] | None = None) -> list[StockLevel]:
        """Levels per SKU per location (all SKUs when ``skus`` is None)."""
        raise NotImplementedError

    def write_stock(self, writes: list[StockWrite]) -> list[StockWriteResult]:
        """Set absolute quantities, in the channel's batch sizes."""
        raise NotImplementedError

    # -- fulfilment (FULFILMENT_PUSH) ----------------------------------------------------
    def push_fulfilment(self, shipment: ShipmentPush) -> PushResult:
        """Create (or, when the tracking changed, update) the channel's fulfilment; idempotent."""
        raise NotImplementedError

    def has(self, capability: Capability) -> bool:
        return capability in self.capabilities


def load_object(spec: str) -> Any:
    """What a declaration names as ``module:attribute`` (a sandbox, a notification drain)."""
    module_name, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module_name), attr)


@cache
def registry() -> dict[str, type[Connector]]:
    """Every installed connector by name, found through entry points."""
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise TypeError(f"entry point {ep.name} is not a Connector")
        found[ep.name] = cls
    return dict(sorted(found.items()))


class UnknownConnector(LookupError):
    pass


def get_connector(name: str) -> type[Connector]:
    try:
        return registry()[name]
    except KeyError:
        known = ", ".join(registry()) or "none installed"
        raise UnknownConnector(f"unknown connector {name!r} (known: {known})") from None
