"""A search of any length gets an answer (issue 8, part 9): 2,000 characters answer, never hang or reset."""

from __future__ import annotations

import pytest

BASE = "/c/370102001001"


@pytest.mark.parametrize("kind", ["persons", "houses", "leases", "organisations", "vehicles"])
def test_a_2000_character_search_is_answered(client, staff_a, kind) -> None:
    client.force_login(staff_a)
    response = client.get(f"{BASE}/{kind}/", {"q": "张" * 2000})
    assert response.status_code in (200, 400)
    assert response["Content-Type"].startswith("text/html")


def test_a_2000_character_search_in_the_api_is_answered(client, staff_a) -> None:
    client.force_login(staff_a)
    response = client.get(f"{BASE}/api/registry/persons/", {"q": "3" * 2000})
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"


def test_daphne_passes_long_request_lines_to_django_and_answers_longer_ones() -> None:
    """twisted drops a connection whose request line passes 16 KiB: 2,000 Chinese characters are 18 KB."""
    from twisted.internet.testing import StringTransport
    from twisted.web import http

    import district.asgi  # noqa: F401  (the module daphne loads sets the limits)

    assert http.HTTPChannel.MAX_LENGTH >= 64 * 1024 and http.HTTPChannel.totalHeadersSize >= 64 * 1024
    transport = StringTransport()
    channel = http.HTTPChannel()
    channel.makeConnection(transport)
    channel.dataReceived(b"GET /?q=" + b"x" * (70 * 1024))  # no end of line yet: past MAX_LENGTH
    assert transport.value().startswith(b"HTTP/1.1 400 Bad Request")
