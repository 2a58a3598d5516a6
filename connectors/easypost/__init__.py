"""EasyPost: rates, labels, voids and tracking (being built)."""

from __future__ import annotations

from hub.carriers import CarrierConnector


class EasyPostConnector(CarrierConnector):
    name = "easypost"
    display_name = "EasyPost"
