"""Shipping: the canonical rate quote and tracker (``contracts/canonical-shipping.md``),
shipments, rate shopping, labels and tracking."""
