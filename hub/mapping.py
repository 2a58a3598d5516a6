"""Finding a connector's pure mapping (``mappings.<name>``) and applying it."""

from __future__ import annotations

import importlib
from typing import Any

from hub.connectors import Connector
from hub.model import Order


def mapping_of(cls: type[Connector]) -> Any:
    if not cls.mapping_module:
        raise LookupError(f"{cls.name} has no mapping")
    return importlib.import_module(cls.mapping_module)


def map_order(cls: type[Connector], payload: Any) -> Order:
    """The canonical order of a channel payload; raises ValueError (MappingError) when it is not one."""
    return mapping_of(cls).map_order(payload)
