"""USPS: rates, labels, voids and tracking (being built)."""

from __future__ import annotations

from hub.carriers import CarrierConnector


class UspsConnector(CarrierConnector):
    name = "usps"
    display_name = "USPS"
