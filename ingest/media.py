"""Files attached by reference (WhatsApp media, Meta attachment URLs, call recordings) are fetched by
the worker after the report is stored, so webhooks answer fast. A file that cannot be fetched for good
keeps its source URL and gets an empty path ("" = unavailable); transient failures are retried for
MEDIA_RETRY_FOR, then given up the same way, so a file that never comes cannot hold up the others."""
from __future__ import annotations

import hashlib
import logging
import mimetypes
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from domain.models import Attachment
from ingest.base import DeliveryError
from ingest.twilio_api import fetch_media

log = logging.getLogger("ingest.media")
MEDIA_RETRY_FOR = timedelta(hours=24)


def store_bytes(attachments_dir: Path, data: bytes, content_type: str, filename: str = "") -> tuple[str, str]:
    """Write bytes content-addressed under the attachments folder; returns (relative path, sha256)."""
    digest = hashlib.sha256(data).hexdigest()
    ext = Path(filename).suffix[:10] or mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    relative = Path(digest[:2]) / f"{digest}{ext}"
    target = Path(attachments_dir) / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return str(relative), digest


def fetch_pending_media(channels, limit: int = 20) -> int:
    """Download attachments known only by URL; returns how many were stored."""
    config, services = channels.config, channels.services
    if not config.twilio_account_sid:
        return 0
    with services.sessions() as s:
        pending = list(s.execute(select(Attachment.id, Attachment.source_url, Attachment.content_type,
                                        Attachment.filename, Attachment.created_at)
                                 .where(Attachment.path.is_(None), Attachment.source_url.is_not(None))
                                 .order_by(Attachment.id).limit(limit)))
    stored, now = 0, channels.clock()
    for att_id, url, ctype, filename, created_at in pending:
        try:
            data, served_type = fetch_media(config, url, services.settings.max_attachment_bytes)
            path, digest = store_bytes(services.settings.attachments_dir, data, served_type or ctype, filename)
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
                      .values(path=path, sha256=digest, size=len(data)))
        stored += 1
    return stored
