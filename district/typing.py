"""Types the project shares: who is asking, and the request as our middleware leaves it.

Only annotations use these (mypy, ``make typecheck``); nothing here runs at request time.
Modules of the lowest layer (``district.models`` and below) must not import this module: it
names ``tenants.models``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from tenants.models import Compound

# Who a request, a job or a command acts for. The settings keep Django's ``auth.User``
# (no AUTH_USER_MODEL), so a signed-in user is a ``User``.
AnyUser: TypeAlias = "User | AnonymousUser"


class CompoundRequest(HttpRequest):
    """A request after ``district.middleware.CompoundMiddleware``.

    ``tenant`` is the compound named by the ``/c/<code>/`` URL (already checked to be in the
    user's scope), or None outside compound URLs and for anonymous visitors.
    """

    tenant: Compound | None
