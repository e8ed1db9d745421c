"""Template context shared by every page."""

from django.http import HttpRequest

from district.permissions import capabilities


def permissions(request: HttpRequest) -> dict:
    """``caps``: the user's capabilities at the current compound, or anywhere in scope on public pages."""
    user = getattr(request, "user", None)
    if user is None:
        return {"caps": frozenset()}
    return {"caps": capabilities(user, getattr(request, "tenant", None))}
