"""DHL Express: rates, labels, voids and tracking (being built)."""

from __future__ import annotations

from hub.carriers import CarrierConnector


class DhlExpressConnector(CarrierConnector):
    name = "dhl_express"
    display_name = "DHL Express"
