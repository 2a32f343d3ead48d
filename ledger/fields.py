"""`AmountField`: integer base units in NUMERIC(39, 0), read back as a Python `int`.

Its internal type is its own, not "DecimalField": Django's SQLite backend converts every
DecimalField value it reads through a float context of 15 significant digits, so a balance
of 8234567890123456790 wei came back as 8234567890123460000. Under its own type the column
is the same (`numeric(39, 0)` on PostgreSQL, `decimal` on SQLite), but values reach
`from_db_value` untouched. SQLite still stores integers above 2**63 as REAL: exact amounts
beyond 9.2 * 10**18 base units need PostgreSQL (see docs/ledger.md).
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
