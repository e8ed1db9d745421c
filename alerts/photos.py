"""A broadcast's photo: checked within the face pipeline's limits, stored re-encoded under a random name.

The upload passes through ``access.faces.decode`` (byte cap, format and pixel count checked
before any pixel is decoded, EXIF orientation applied) and is stored as a fresh JPEG no longer
than :data:`MAX_SIDE`: whatever else the file carried (EXIF GPS, a second payload) is gone.
Stored under ``broadcasts/<random>.jpg`` and served only by a permission-checked view.
"""

from __future__ import annotations

import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from access.faces import decode, thumbnail_jpeg

__all__ = ["MAX_SIDE", "discard_broadcast_photo", "store_broadcast_photo"]

MAX_SIDE = 1600
PHOTO_DIR = "broadcasts"


def store_broadcast_photo(data: bytes) -> str:
    """Store the photo re-encoded; its storage name. Raises ``access.faces.ImageRefusedError``."""
    jpeg = thumbnail_jpeg(decode(data), side=MAX_SIDE)
    return default_storage.save(f"{PHOTO_DIR}/{uuid.uuid4().hex}.jpg", ContentFile(jpeg))


def discard_broadcast_photo(name: str) -> None:
    """Delete a stored photo whose broadcast was not sent (the action refused it)."""
    if name:
        default_storage.delete(name)
