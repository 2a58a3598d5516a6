"""The carrier connector interface: rates, labels, voids and tracking.

A carrier is a :class:`hub.connectors.Connector` with ``kind = "carrier"``; the core
finds it through the same entry points as a channel. Its mapping module (``mappings.ups``
…) is pure and exposes ``map_document(document) -> ShippingDocument`` for ``hub map`` and
the functions its connector uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import requests

from hub.connectors import Capability, Connector, FieldSpec
from hub.http import HttpClient
from hub.oauth import TOKENS, Token, TokenCache
from hub.shipping.model import Label, LabelRequest, RateQuote, RateRequest, Tracker

CARRIER_CAPABILITIES = frozenset({Capability.RATES, Capability.LABELS, Capability.TRACKING_POLL})


def rate_timeout_field(default_s: float) -> FieldSpec:
    """The per-connection rate timeout every carrier offers on its form."""
    return FieldSpec(
        "rate_timeout_s",
        "Rate quote timeout (seconds)",
        type="integer",
        group="settings",
        required=False,
        help=f"A rate shop reports this carrier as timed out after so long (default {default_s:g} s); "
        "the other carriers' quotes never wait for it.",
        check=lambda v: None if 1 <= v <= 60 else "must be between 1 and 60",
    )


class LabelNotFound(LookupError):
    """The carrier has no label bought under an idempotency key."""


class CannotReconcile(RuntimeError):
    """The carrier offers no way to find out whether a purchase whose answer was lost
    went through: the hub must not buy again blindly (a person checks)."""


class CarrierConnector(Connector):
    kind = "carrier"
    capabilities = CARRIER_CAPABILITIES
    #: tracking numbers per tracking call
    track_batch_size: ClassVar[int] = 1
    #: label formats the carrier can produce, the first being the default
    label_formats: ClassVar[tuple[str, ...]] = ("PDF",)
    #: seconds a rate request may take before the shop reports the carrier as timed out
    rate_timeout_s: ClassVar[float] = 10.0
    #: whether ``void_label`` exists (DHL Express has no void)
    can_void: ClassVar[bool] = True
    #: the public tracking page of a number (``{number}``); empty where the carrier has none
    tracking_url_template: ClassVar[str] = ""

    def rates(self, request: RateRequest) -> list[RateQuote]:
        raise NotImplementedError

    def buy_label(self, request: LabelRequest) -> Label:
        """Buy one label. May be called again with the same request only after
        :meth:`find_label` said there is none."""
        raise NotImplementedError

    def find_label(self, request: LabelRequest) -> Label:
        """The label already bought under ``request.idempotency_key`` (a purchase whose
        answer was lost). Raises :class:`LabelNotFound` when there is none, and
        :class:`CannotReconcile` when the carrier cannot say."""
        raise CannotReconcile(f"{self.display_name} offers no way to look a purchase up")

    def void_label(self, label: Label) -> bool:
        raise NotImplementedError

    def track(self, tracking_numbers: list[str]) -> list[Tracker]:
        """Trackers for up to ``track_batch_size`` numbers; numbers the carrier does not
        know are left out."""
        raise NotImplementedError

    # -- tracking webhooks (Capability.TRACKING_WEBHOOK) ---------------------------------
    def trackers_from_webhook(self, payload: Any) -> list[Tracker]:
        """The trackers a verified webhook body carries (pure: through the mapping)."""
        return []

    def handle_webhook(self, topic: str, payload: Any) -> list[Any]:
        """A stored carrier webhook: its trackers, for the inbox to merge into the shipments."""
        from hub.connectors import Ignored
        from hub.shipping.model import TrackersChanged

        trackers = tuple(self.trackers_from_webhook(payload))
        return [TrackersChanged(trackers)] if trackers else [Ignored(f"no tracker in this {topic} delivery")]

    def subscribe_tracking(self, tracking_numbers: list[str]) -> list[str]:
        """Ask the carrier to push updates for these numbers (UPS Track Alert); returns
        the numbers it accepted."""
        return []


def authorized(
    http: HttpClient,
    method: str,
    path: str,
    *,
    cache_key: str,
    fetch_token: Callable[[], Token],
    cache: TokenCache = TOKENS,
    headers: Mapping[str, str] | None = None,
    **kw: Any,
) -> requests.Response:
    """A call with a cached bearer token; a 401 drops that token, fetches a new one (once,
    for every thread that saw the same refusal) and retries the call once."""
    token = cache.get(cache_key, fetch_token)
    ok = kw.pop("ok", None)
    accepted = range(200, 300) if ok is None else ok
    response = http.request(
        method,
        path,
        headers={**(headers or {}), "Authorization": f"Bearer {token}"},
        ok=[*accepted, 401],
        **kw,
    )
    if response.status_code != 401:
        return response
    cache.reject(cache_key, token)
    token = cache.get(cache_key, fetch_token)
    return http.request(
        method, path, headers={**(headers or {}), "Authorization": f"Bearer {token}"}, ok=ok, **kw
    )
