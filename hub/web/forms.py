"""WTForms built from a connector's field declaration (never written per channel)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, Field, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from hub.connectors import Connector, FieldSpec


def _wtf_field(spec: FieldSpec) -> Field:
    kw: dict[str, Any] = {"description": spec.help, "validators": [Optional()]}
    if spec.secret:
        return PasswordField(spec.label, **kw)
    if spec.type == "choice":
        options = [SelectChoice("", "—"), *(SelectChoice(value, label) for value, label in spec.choices)]
        return SelectField(spec.label, choices=options, **kw)
    if spec.type == "boolean":
        return BooleanField(spec.label, description=spec.help, default=bool(spec.default))
    if spec.type == "integer":
        return IntegerField(spec.label, **kw)
    if spec.type == "date":
        return DateField(spec.label, **kw)
    return StringField(spec.label, **kw)


def connection_form_class(cls: type[Connector]) -> type[FlaskForm]:
    """A form class with ``name`` plus one field per declared field. Type checks and
    required fields are enforced by ``hub.connectors.validate_values`` (shared with the
    CLI); the form only renders, parses and guards with CSRF."""
    attrs: dict[str, Any] = {"name": StringField("Display name", validators=[Optional()])}
    for spec in cls.fields:
        attrs[f"f_{spec.name}"] = _wtf_field(spec)
    return type(f"{cls.__name__}Form", (FlaskForm,), attrs)


def submitted_values(form: FlaskForm, cls: type[Connector]) -> dict[str, Any]:
    """The raw values as typed, keyed by field name (blank secrets stay blank)."""
    values: dict[str, Any] = {}
    for spec in cls.fields:
        field = form[f"f_{spec.name}"]
        raw = field.raw_data[0] if field.raw_data else None
        values[spec.name] = field.data if spec.type == "boolean" else raw
    return values
