"""Inventory: one stock truth per SKU and location, routing of order lines to locations,
and what each channel is shown.

- ``publish``   pure: available → the quantity a channel is shown (its buffer, percent, max, floor)
- ``routing``   pure: which location(s) an order line is reserved at
- ``catalogue`` SKUs, locations and channel rules in the database
- ``stock``     the database side: reserve, release, fulfil, set and adjust ``on_hand``
- ``ledger``    under ``stock``: the locks in their one order, reservation moves and their stock effects
- ``queries``   stock as the API and the pages show it
"""
