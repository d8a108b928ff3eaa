"""Public copies of photos: the pixels only, never the metadata.

A phone's JPEG carries EXIF (GPS position, time, device serial), a PNG its text chunks, a WebP its
EXIF/XMP chunks: an officer's photo of a street or a citizen's of their house would tell anyone where
and when it was taken, by which device. `public_copy` decodes the stored file with Pillow and encodes
the pixels again in the same format, turned upright by its EXIF orientation first, without EXIF, XMP,
ICC profile, comments or text chunks, at most PUBLIC_PHOTO_SIDE pixels on its longer side. Every
public image route (/foto/<ref>, dashboard/tracking_web.py) serves these copies; a file Pillow cannot
read is not served at all. A JPEG is decoded at the reduced scale it is served at (Pillow's draft
mode), and the last PUBLIC_COPIES copies are kept in memory (keyed by the file's path, size and
modification time), so an anonymous visitor asking again costs no decoding (bench/bench_photos.py).
"""
from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

PUBLIC_PHOTO_SIDE = 2048
MAX_PIXELS = 40_000_000  # a larger "photo" is a decompression bomb, not evidence
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
PUBLIC_COPIES = 32  # kept in memory: about 0.5 MB each


class NotAPhoto(ValueError):
    """The stored file is not a readable image of an allowed type."""


def public_copy(path: Path | str, content_type: str) -> bytes:
    """The photo at `path` encoded again as `content_type` without any metadata (NotAPhoto otherwise)."""
    if content_type not in FORMATS:
        raise NotAPhoto(f"{content_type} is not a public photo type")
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise NotAPhoto(f"unreadable image: {exc}") from None
    return _copy(str(path), content_type, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=PUBLIC_COPIES)
def _copy(path: str, content_type: str, _size: int, _mtime_ns: int) -> bytes:
    fmt = FORMATS[content_type]
    try:
        with Image.open(path) as img:
            if img.format != fmt:
                raise NotAPhoto(f"stored as {img.format}, announced as {content_type}")
            if img.width * img.height > MAX_PIXELS:
                raise NotAPhoto(f"{img.width}x{img.height} pixels is too large")
            if fmt == "JPEG":  # decode at the smallest scale still at least the size served
                img.draft(img.mode, (PUBLIC_PHOTO_SIDE, PUBLIC_PHOTO_SIDE))
            upright = ImageOps.exif_transpose(img)
            upright.thumbnail((PUBLIC_PHOTO_SIDE, PUBLIC_PHOTO_SIDE))
            pixels = _pixels_only(upright, fmt)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        if isinstance(exc, NotAPhoto):
            raise
        raise NotAPhoto(f"unreadable image: {exc}") from None
    out = io.BytesIO()
    options = {"JPEG": {"quality": 88, "optimize": True}, "PNG": {}, "WEBP": {"quality": 88}}[fmt]
    pixels.save(out, fmt, **options)
    return out.getvalue()


def _pixels_only(img: Image.Image, fmt: str) -> Image.Image:
    """A new image holding nothing but `img`'s pixels (no info dict, no EXIF, no palette tricks)."""
    if fmt == "JPEG":
        mode = "L" if img.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"
    else:
        mode = "RGBA" if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info else "RGB"
    converted = img.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


__all__ = ["NotAPhoto", "public_copy", "PUBLIC_PHOTO_SIDE"]
