"""The contract JSON Schemas the tests validate against.

They are read from ``../shared/contracts/`` (beside the clone, as CI lays it out);
the copy packaged in ``hub/contracts/`` is only the fallback for a checkout without
``shared/``, and a test keeps the two identical.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parent.parent
SHARED_CONTRACTS = ROOT.parent / "shared" / "contracts"
PACKAGED_CONTRACTS = ROOT / "hub" / "contracts"
SHARED_SAMPLES = ROOT.parent / "shared" / "reference" / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def contract_path(name: str) -> Path:
    shared = SHARED_CONTRACTS / name
    return shared if shared.exists() else PACKAGED_CONTRACTS / name


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads(contract_path(name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_order(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``document`` is a canonical order."""
    _validator("canonical-order.schema.json").validate(document)


def validate_shipping(document: Any) -> None:
    _validator("canonical-shipping.schema.json").validate(document)
