"""The forms of the stock pages (CSRF-guarded by Flask-WTF)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, Form, FormField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

MAX_UNITS = 1_000_000_000


class AdjustForm(FlaskForm):
    location = SelectField("Location", validators=[DataRequired()])
    mode = SelectField(
        "Change",
        choices=[
            SelectChoice("adjust", "Adjust by (+ or -)"),
            SelectChoice("count", "Set on hand to (a count)"),
        ],
        default="adjust",
    )
    quantity = IntegerField("Units", validators=[InputRequired(), NumberRange(-MAX_UNITS, MAX_UNITS)])
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class ReorderForm(FlaskForm):
    reorder_point = IntegerField(
        "Reorder point",
        validators=[Optional(), NumberRange(0, MAX_UNITS)],
        description="Listed as low stock at or under this many available units; blank: never.",
    )


class SkuForm(FlaskForm):
    sku = StringField("SKU", validators=[DataRequired(), Length(max=200)])
    name = StringField("Name", validators=[Optional(), Length(max=300)])
    reorder_point = IntegerField("Reorder point", validators=[Optional(), NumberRange(0, MAX_UNITS)])


class MapForm(FlaskForm):
    sku = StringField(
        "Internal SKU",
        validators=[Optional(), Length(max=200)],
        description="An existing internal SKU; blank leaves the channel SKU unmapped.",
    )


class CreateSkuForm(FlaskForm):
    sku = StringField("New internal SKU", validators=[Optional(), Length(max=200)])
    name = StringField("Name", validators=[Optional(), Length(max=300)])


class CsvForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired()])


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class AddressForm(Form):
    """A location's ship-from address. Its rules are the API's (``hub.shipping.schemas.location_address``),
    checked by the page, so the form and ``PUT /api/v1/locations/<code>/address`` never disagree."""

    name = StringField("Contact name", filters=[_stripped])
    company = StringField("Company", filters=[_stripped])
    line1 = StringField("Address line 1", filters=[_stripped])
    line2 = StringField("Address line 2", filters=[_stripped])
    city = StringField("City", filters=[_stripped])
    region = StringField(
        "State or region", filters=[_stripped], description="In the US, the 2-letter state code (GA)."
    )
    postal_code = StringField("Postal code", filters=[_stripped])
    country_code = StringField("Country code", filters=[_stripped], description="2 letters (US, DE).")
    phone = StringField("Phone", filters=[_stripped])
    email = StringField("E-mail", filters=[_stripped])

    def body(self) -> dict[str, str] | None:
        """The fields filled in (country code upper-cased); None when every one is blank."""
        values = {name: field.data for name, field in self._fields.items() if field.data}
        if not values:
            return None
        if "country_code" in values:
            values["country_code"] = values["country_code"].upper()
        return values


class LocationForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=50)])
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    priority = IntegerField("Priority", default=100, validators=[InputRequired(), NumberRange(0, 1_000_000)])
    country_code = StringField("Country", validators=[Optional(), Length(min=2, max=2)])
    regions = StringField(
        "Ships to",
        validators=[Optional(), Length(max=2000)],
        description="Countries or country-regions, comma separated (US, US-CA); blank: anywhere.",
    )
    paused = BooleanField("Paused (takes no new orders)")
    allow_split = BooleanField("May take part of a line", default=True)
    address = FormField(AddressForm, "Ships from", separator="-")


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
