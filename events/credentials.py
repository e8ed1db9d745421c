"""Device credentials: ``<uid>.<secret>``, shown once; only SHA-256 of the secret is stored.

The secret is 32 random bytes (256 bits), so a fast hash is enough: nobody can guess it, and a
stolen table reveals nothing usable. ``uid`` is ours (``D`` + 16 hex digits) unless the device
brings its own (a GA/T 1400 20-digit DeviceID).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["hash_secret", "new_secret", "new_uid", "secret_matches", "split_token"]


def new_uid() -> str:
    return "D" + secrets.token_hex(8).upper()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def split_token(token: str) -> tuple[str, str] | None:
    """``(uid, secret)`` of a presented ``<uid>.<secret>`` token, None when malformed."""
    uid, dot, secret = token.strip().partition(".")
    if not dot or not uid or not secret or len(uid) > 32 or len(secret) > 128:
        return None
    return uid, secret
