"""From uploaded bytes to 128-d float32 face encodings, within hard limits (DESIGN.md §5).

Every photo (an enrolment upload, a gate capture, a watch-list portrait) passes through
:func:`decode` first: a byte cap, Pillow's header check of format and pixel count *before*
any pixel is decoded, EXIF orientation applied (phones store portraits sideways), RGB. Faces
are then searched with dlib's HOG detector on a copy no longer than
``ACCESS_DETECT_MAX_SIDE`` and encoded there. A refused input raises :class:`ImageRefusedError`
with a stable ``code`` for devices and a translated message for people.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = ["FoundFace", "ImageRefusedError", "decode", "encode_one", "find_faces", "thumbnail_jpeg"]

ENCODING_BYTES = 128 * 4


class ImageRefusedError(ValueError):
    """A photo we will not process; ``code`` is for machines, ``str()`` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class FoundFace:
    """One face: its box (top, right, bottom, left) in the decoded image and its encoding."""

    box: tuple[int, int, int, int]
    encoding: np.ndarray  # float32, shape (128,)

    def encoding_bytes(self) -> bytes:
        return self.encoding.astype(np.float32).tobytes()


def decode(data: bytes) -> Image.Image:
    """The photo as an upright RGB image, or :class:`ImageRefusedError` (empty, too big, not JPEG/PNG, corrupt)."""
    if not data:
        raise ImageRefusedError("empty", _("The photo is empty."))
    if len(data) > settings.ACCESS_IMAGE_MAX_BYTES:
        raise ImageRefusedError(
            "too_large",
            _("The photo is larger than %(mb)d MB.") % {"mb": settings.ACCESS_IMAGE_MAX_BYTES // (1024 * 1024)},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            if image.format not in settings.ACCESS_IMAGE_FORMATS:
                raise ImageRefusedError("format", _("Only JPEG and PNG photos are accepted."))
            width, height = image.size
            if width * height > settings.ACCESS_IMAGE_MAX_PIXELS:
                raise ImageRefusedError(
                    "too_many_pixels",
                    _("The photo has more than %(mp)d megapixels.")
                    % {"mp": settings.ACCESS_IMAGE_MAX_PIXELS // 1_000_000},
                )
            # face_recognition sets Pillow's global LOAD_TRUNCATED_IMAGES when imported, which
            # would decode a truncated upload into a half-grey picture instead of refusing it.
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return image.convert("RGB")
    except ImageRefusedError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefusedError("not_image", _("The file is not a readable JPEG or PNG photo.")) from None
    except (OSError, SyntaxError, ValueError):
        # Truncated or damaged data: Pillow raises OSError ("image file is truncated") and friends.
        raise ImageRefusedError("corrupt", _("The photo is damaged and cannot be read.")) from None


def _for_detection(image: Image.Image) -> tuple[np.ndarray, float]:
    """The image as a uint8 array no longer than ACCESS_DETECT_MAX_SIDE, and the scale applied."""
    longest = max(image.size)
    scale = 1.0
    if longest > settings.ACCESS_DETECT_MAX_SIDE:
        scale = settings.ACCESS_DETECT_MAX_SIDE / longest
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    return np.asarray(image, dtype=np.uint8), scale


def find_faces(image: Image.Image, *, upsample: int = 1) -> list[FoundFace]:
    """Every face HOG finds, left to right, each with its float32 encoding."""
    import face_recognition  # dlib loads in ~0.3 s: only in processes that handle faces

    pixels, scale = _for_detection(image)
    boxes: list[Any] = face_recognition.face_locations(pixels, number_of_times_to_upsample=upsample, model="hog")
    if not boxes:
        return []
    boxes = sorted(boxes, key=lambda box: box[3])
    encodings = face_recognition.face_encodings(pixels, known_face_locations=boxes)
    found = []
    for (top, right, bottom, left), encoding in zip(boxes, encodings, strict=True):
        box = tuple(round(v / scale) for v in (top, right, bottom, left))
        found.append(FoundFace(box=(box[0], box[1], box[2], box[3]), encoding=np.asarray(encoding, dtype=np.float32)))
    return found


def encode_one(data: bytes) -> tuple[FoundFace, Image.Image]:
    """The single face of an enrolment photo, or :class:`ImageRefusedError` (none, or more than one)."""
    image = decode(data)
    faces = find_faces(image)
    if not faces:
        raise ImageRefusedError("no_face", _("No face was found in the photo."))
    if len(faces) > 1:
        raise ImageRefusedError(
            "several_faces", _("The photo shows %(n)d faces; an enrolment photo must show one.") % {"n": len(faces)}
        )
    return faces[0], image


def thumbnail_jpeg(image: Image.Image, box: tuple[int, int, int, int] | None = None, *, side: int = 240) -> bytes:
    """A small JPEG of the face (with some margin) or of the whole image, for lists and evidence."""
    if box is not None:
        top, right, bottom, left = box
        pad = (bottom - top) // 2
        image = image.crop(
            (max(0, left - pad), max(0, top - pad), min(image.width, right + pad), min(image.height, bottom + pad))
        )
    copy = image.copy()
    copy.thumbnail((side, side))
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=85)
    return out.getvalue()
