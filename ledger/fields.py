"""`AmountField`: integer base units in NUMERIC(39, 0), read back as a Python `int`.

Its internal type is its own, not "DecimalField", so that no backend converter for decimals
runs before `from_db_value`: the column is the same `numeric(39, 0)`, and values reach
`from_db_value` exactly as the driver read them. (It was chosen when a SQLite demo database
read every decimal through a 15-digit float context; it is kept as the safe default.)
"""

from decimal import Decimal

from django.db import models

from core.money import MAX_DIGITS


class AmountField(models.DecimalField):
    description = "An exact amount in a token's base units (NUMERIC(39, 0))"

    def __init__(self, *args, **kwargs):
        kwargs["max_digits"] = MAX_DIGITS
        kwargs["decimal_places"] = 0
        super().__init__(*args, **kwargs)

    def get_internal_type(self):
        return "AmountField"

    def db_type(self, connection):
        return connection.data_types["DecimalField"] % self.db_type_parameters(connection)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return int(value)

    def to_python(self, value):
        if value is None or isinstance(value, int):
            return value
        return int(Decimal(value))

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, int):
            value = Decimal(value)
        return super().get_db_prep_value(value, connection, prepared)

    def get_db_prep_save(self, value, connection):
        if isinstance(value, int):
            value = Decimal(value)
        return super().get_db_prep_save(value, connection)
