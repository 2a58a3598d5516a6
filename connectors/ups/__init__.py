"""UPS: rates, labels, voids and tracking (being built)."""

from __future__ import annotations

from hub.carriers import CarrierConnector


class UpsConnector(CarrierConnector):
    name = "ups"
    display_name = "UPS"
