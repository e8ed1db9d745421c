"""The API's pages: DRF's ``limit``/``offset``, with bounds that answer 400 instead of a 500 or a guess.

DRF's own ``LimitOffsetPagination`` silently replaces a limit it cannot read (``-1``, ``abc``)
with the default page and passes any offset to the database, where a number past the
64-bit range is an error (500). Here a value out of range is refused with a message in the
user's language, and the bounds are part of the OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from district.params import whole_number

MAX_LIMIT = 1000
# Far beyond any compound's rows, and well inside PostgreSQL's 64-bit OFFSET.
MAX_OFFSET = 2**31 - 1


def bounded_int(request: Request, name: str, minimum: int, maximum: int) -> int | None:
    """The query parameter ``name`` as a whole number within the bounds, None if absent; 400 otherwise."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = whole_number(raw, digits=12)
    if value is None or not minimum <= value <= maximum:
        raise ValidationError(
            {
                name: [
                    _("Enter a whole number from %(minimum)d to %(maximum)d.")
                    % {"minimum": minimum, "maximum": maximum}
                ]
            }
        )
    return value


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """``?limit=`` 1–1000 (default ``PAGE_SIZE``) and ``?offset=`` from 0; anything else is a 400."""

    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int | None:
        limit = bounded_int(request, self.limit_query_param, 1, self.max_limit)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        offset = bounded_int(request, self.offset_query_param, 0, MAX_OFFSET)
        return offset or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            minimum, maximum = bounds[parameter["name"]]
            parameter["schema"].update(minimum=minimum, maximum=maximum)
        return parameters
