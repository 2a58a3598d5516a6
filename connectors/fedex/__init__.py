"""FedEx: rates, labels, voids and tracking (being built)."""

from __future__ import annotations

from hub.carriers import CarrierConnector


class FedexConnector(CarrierConnector):
    name = "fedex"
    display_name = "FedEx"
