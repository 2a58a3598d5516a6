"""The carrier connector interface: rates, labels, voids and tracking.

A carrier is a :class:`hub.connectors.Connector` with ``kind = "carrier"``; the core
finds it through the same entry points as a channel. Its mapping module (``mappings.ups``
…) is pure and exposes ``map_document(document) -> ShippingDocument`` for ``hub map`` and
the functions its connector uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import requests

from hub.connectors import Capability, Connector, FieldSpec
from hub.http import HttpClient, HttpError
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


def environment_field(
    choices: tuple[tuple[str, str], ...],
    *,
    default: str = "production",
    required: bool = False,
    help: str = "",
) -> FieldSpec:
    """The ``environment`` setting: which of :attr:`CarrierConnector.hosts` the calls go to."""
    return FieldSpec(
        "environment",
        "Environment",
        type="choice",
        group="settings",
        required=required,
        default=default,
        choices=choices,
        help=help,
    )


def url_override_field(help: str) -> FieldSpec:
    """The ``url`` setting: an API root that replaces the environment's host (a local sandbox)."""
    return FieldSpec("url", "API base URL override", type="url", group="settings", required=False, help=help)


def label_format_field(
    choices: tuple[tuple[str, str], ...], *, default: str, label: str = "Label format"
) -> FieldSpec:
    """The ``label_format`` setting: the format a label is bought in unless the request names one."""
    return FieldSpec(
        "label_format",
        label,
        type="choice",
        group="settings",
        required=False,
        default=default,
        choices=choices,
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
    #: environment -> API root, picked by the ``environment`` setting (:func:`environment_field`)
    hosts: ClassVar[Mapping[str, str]] = {}
    #: the environment of a connection whose settings name none
    default_environment: ClassVar[str] = "production"

    @classmethod
    def base_url(cls, credentials: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
        """The ``url`` override (:func:`url_override_field`) without its trailing slash, else the
        host of the connection's environment."""
        override = settings.get("url")
        if override:
            return str(override).rstrip("/")
        if not cls.hosts:
            return super().base_url(credentials, settings)
        return cls.hosts[str(settings.get("environment") or cls.default_environment)]

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


@dataclass(frozen=True)
class Bearer:
    """One OAuth client's bearer calls: its token kept in ``cache`` under ``cache_key``, fetched
    by ``fetch_token``. Each carrier's client adds its own headers and error reading."""

    http: HttpClient
    cache_key: str
    fetch_token: Callable[[], Token]
    cache: TokenCache = TOKENS

    def token(self) -> str:
        """The cached token (fetched once however many threads ask)."""
        return self.cache.get(self.cache_key, self.fetch_token)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """:func:`authorized` with this client's token."""
        return authorized(
            self.http,
            method,
            path,
            cache_key=self.cache_key,
            fetch_token=self.fetch_token,
            cache=self.cache,
            **kw,
        )


def call_details(exc: HttpError) -> dict[str, Any]:
    """What a carrier's own error (an :class:`HttpError` subclass with the carrier's words) keeps
    of the failed call: ``kind(message, **call_details(exc))``."""
    return {
        "url": exc.url,
        "status": exc.status,
        "body": exc.body,
        "request_id": exc.request_id,
        "response": exc.response,
    }
