"""The API's JSON parser: DRF's, with a cap on the body's size and on its nesting (400 beyond either).

Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` guards ``request.body`` and form posts, but DRF streams a
JSON body straight from the request, so without a cap here a client could send any size. No
record of the API is more than a few kilobytes or three levels deep; a body nested thousands of
levels would otherwise end in Python's ``RecursionError`` (a 500).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


def nesting_depth(value: Any) -> int:
    """How many arrays and objects ``value`` holds inside one another (a scalar: 0)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """JSON bodies of at most 1 MB and 32 levels of nesting; larger or deeper ones answer 400."""

    max_bytes = MAX_JSON_BYTES
    max_depth = MAX_JSON_DEPTH

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        body = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(body) > self.max_bytes:
            raise ParseError(
                _("The request body is larger than %(megabytes)d MB.") % {"megabytes": self.max_bytes >> 20}
            )
        too_deep = ParseError(_("The request body is nested deeper than %(depth)d levels.") % {"depth": self.max_depth})
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nesting_depth(data) > self.max_depth:
            raise too_deep
        return data
