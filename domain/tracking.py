"""The citizen's tracking link: an unguessable code per report, and the URL built from it.

    {PUBLIC_BASE_URL}/lacak/TLR-2026-000123?kode=<code>

The code is 16 random bytes (`secrets.token_urlsafe`, 22 URL-safe characters) stored with the report
(reports.tracking_code) and compared in constant time. It opens the report's public projection only
(dashboard/tracking_data.py): a wrong or missing code reads exactly like a ticket that does not exist.
Access logs write the `kode` parameter as [redacted] (dashboard/access_log.py). Pure Python.
"""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

PATH = "/lacak"
CODE_PARAM = "kode"
CODE_BYTES = 16
MAX_CODE_LENGTH = 64  # anything longer is not a code of ours: refused before any comparison


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def path(ticket: str, code: str) -> str:
    return f"{PATH}/{quote(ticket, safe='')}?{CODE_PARAM}={quote(code, safe='')}"


def url(base_url: str, ticket: str, code: str | None) -> str | None:
    """The tracking link of a report (None for a report without a code)."""
    if not code:
        return None
    return (base_url or "").rstrip("/") + path(ticket, code)


def code_matches(stored: str | None, given: str | None) -> bool:
    """Constant-time comparison; a report without a code, or no/oversized code given, never matches."""
    if not stored or not given or not isinstance(given, str) or len(given) > MAX_CODE_LENGTH:
        return False
    return hmac.compare_digest(stored.encode(), given.encode())
