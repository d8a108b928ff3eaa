"""Files attached by reference (WhatsApp media, Meta attachment URLs, call recordings) are fetched by
the worker after the report is stored, so webhooks answer fast. A file that cannot be fetched for good
keeps its source URL and gets an empty path ("" = unavailable); transient failures are retried for
MEDIA_RETRY_FOR, then given up the same way, so a file that never comes cannot hold up the others."""
from __future__ import annotations

import hashlib
import logging
import mimetypes
import re
import uuid
from datetime import timedelta
from pathlib import Path, PurePosixPath

from sqlalchemy import select, update

from domain.models import Attachment
from ingest.base import DeliveryError
from ingest.fetch import FetchPolicy, fetch

log = logging.getLogger("ingest.media")
MEDIA_RETRY_FOR = timedelta(hours=24)


def stored_name(data: bytes, content_type: str, filename: str = "", folder: str = "") -> tuple[str, str]:
    """(path relative to the attachments folder, sha256) a file's bytes are stored under: content-addressed,
    `<2 hex>/<sha256><ext>` or `<folder>/<sha256><ext>`, in POSIX form whatever the platform."""
    digest = hashlib.sha256(data).hexdigest()
    ext = _extension(filename) or mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    return PurePosixPath(folder or digest[:2], f"{digest}{ext}").as_posix(), digest


def _extension(filename: str) -> str:
    suffix = PurePosixPath((filename or "").replace("\\", "/")).suffix[:10]
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,9}", suffix) else ""


def store_bytes(attachments_dir: Path, data: bytes, content_type: str, filename: str = "", folder: str = ""
                ) -> tuple[str, str]:
    """Write bytes content-addressed under the attachments folder; returns (path relative to it, sha256).
    The row keeps the relative path: ATTACHMENTS_DIR is joined to it when the file is served."""
    relative, digest = stored_name(data, content_type, filename, folder)
    target = Path(attachments_dir) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + f".{uuid.uuid4().hex[:8]}.part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return relative, digest


def stored_file(attachments_dir: Path, stored: str | None) -> Path | None:
    """The file a row's path names, inside the attachments folder, or None (no file, or a path that leads
    outside the folder: `../`, an absolute path elsewhere, a symlink out)."""
    if not stored:
        return None
    root = Path(attachments_dir).resolve()
    try:
        path = (root / stored).resolve()
    except (OSError, ValueError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


IMAGE_SIGNATURES = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",),
                    "image/gif": (b"GIF87a", b"GIF89a")}


def image_type(data: bytes) -> str | None:
    """What kind of image the bytes are, from their first bytes (None: not a photo we accept)."""
    for ctype, signatures in IMAGE_SIGNATURES.items():
        if data.startswith(signatures):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
        return "image/heic"
    return None


def fetch_pending_media(channels, limit: int = 20) -> int:
    """Download attachments known only by URL (through ingest/fetch.py: https, public addresses, the media
    allow-list, size and time limits); returns how many were stored. A URL refused for good keeps its
    source and gets the empty path (unavailable); network trouble waits for the next run."""
    config, services = channels.config, channels.services
    policy = FetchPolicy.from_config(config)
    with services.sessions() as s:
        pending = list(s.execute(select(Attachment.id, Attachment.source_url, Attachment.content_type,
                                        Attachment.filename, Attachment.created_at)
                                 .where(Attachment.path.is_(None), Attachment.source_url.is_not(None))
                                 .order_by(Attachment.id).limit(limit)))
    stored, now = 0, channels.clock()
    for att_id, url, ctype, filename, created_at in pending:
        try:
            data, served_type = fetch(url, services.settings.max_attachment_bytes, policy)
            kind = image_type(data)  # what the bytes are decides how /media serves them, not what was claimed
            path, digest = store_bytes(services.settings.attachments_dir, data, kind or served_type or ctype, filename)
        except Exception as exc:  # noqa: BLE001 - network or disk trouble: next run, for a while
            retryable = not isinstance(exc, DeliveryError) or exc.retryable
            if not retryable or created_at < now - MEDIA_RETRY_FOR:
                with services.sessions.begin() as s:
                    s.execute(update(Attachment).where(Attachment.id == att_id).values(path=""))
            log.warning("attachment %s not fetched%s: %s", att_id, "" if retryable else " (given up)",
                        exc if isinstance(exc, DeliveryError) else type(exc).__name__)
            continue
        with services.sessions.begin() as s:
            s.execute(update(Attachment).where(Attachment.id == att_id)
                      .values(path=path, sha256=digest, size=len(data), content_type=(kind or ctype)[:100]))
        stored += 1
    return stored
