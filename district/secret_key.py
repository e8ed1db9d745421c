"""The installation's secret key: from the environment, else generated once and kept in ``.data/``.

A key shipped in the source signs nothing safely: anyone with the repository could forge a
session or a ``messages`` cookie offline (found in review). So without ``SECRET_KEY`` in the
environment, the first start of an installation generates a random key and keeps it in
``.data/secret_key`` (mode 0600, outside git); every later start, and every other process of
the installation (the ASGI server, the job worker, manage.py), reads the same file.

A key known to be public (the development key older checkouts used, or anything short) is
refused when ``DEBUG`` is off and the server answers for a host that is not this machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

# Keys that have been public: never accepted outside a local development run.
PUBLIC_KEYS = frozenset({"dev-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]", "testserver"})
MIN_LENGTH = 50


class InsecureSecretKeyError(RuntimeError):
    """The configured secret key is public or weak, and the server is not a local development run."""


def installation_key(path: Path) -> str:
    """The key kept at ``path``, generated there on first use.

    Safe when several processes start at once: the key is written to a private temporary file
    and linked into place, which fails if another process got there first; everyone then reads
    the one file that won.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(64) + "\n")
        with contextlib.suppress(FileExistsError):  # another process generated it first: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def check_secret_key(key: str, *, debug: bool, allowed_hosts: list[str]) -> None:
    """Refuse a public or short key unless this is a debug run or every allowed host is local."""
    weak = key in PUBLIC_KEYS or len(key) < MIN_LENGTH
    public_host = any(host not in LOCAL_HOSTS for host in allowed_hosts)
    if weak and not debug and public_host:
        raise InsecureSecretKeyError(
            "SECRET_KEY is a known or short key and DEBUG is off on a public host: set SECRET_KEY to a "
            f"random value of at least {MIN_LENGTH} characters, or unset it to use the generated installation key."
        )
