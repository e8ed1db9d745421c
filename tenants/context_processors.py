"""Template context for compound pages."""

from django.http import HttpRequest


def compound(request: HttpRequest) -> dict:
    """The compound of the current URL (None on public pages)."""
    return {"compound": getattr(request, "tenant", None)}
