"""The kiosk wall: a screen that shows /wall without a login, bound to KIOSK_TOKEN, not to a session.

Setting a screen up: open `/wall?kiosk=TOKEN` once. The server answers with a long-lived cookie
holding a fingerprint of the token (HMAC-SHA256 of a fixed label, keyed by the token; HttpOnly,
SameSite=Strict, Secure under https) and a redirect to the clean `/wall`, so the token stays out of
the address bar, of bookmarks and of later access-log lines (the one line that has it is redacted:
dashboard/access_log.py).

From then on every request of that screen is recognised by the cookie alone: no idle timeout, no
session lifetime, and a server restart (even with a new SECRET_KEY) changes nothing. Changing
KIOSK_TOKEN changes the fingerprint, so every screen set up with the old token is refused at its next
request and shows the login page. With KIOSK_TOKEN unset there is no kiosk.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from urllib.parse import urlencode

from flask import abort, redirect, request

log = logging.getLogger("tlr.kiosk")
_warned: list[bool] = []
COOKIE = "tlr_kiosk"
MAX_AGE = 400 * 86400  # the longest a browser keeps a cookie
_LABEL = b"tangerang-live-room kiosk v1"
DEFAULT_RATE_LIMIT = "10 per minute;50 per hour"  # wrong tokens per client address (KIOSK_RATE_LIMIT)


MIN_TOKEN = 16  # a shorter KIOSK_TOKEN could be guessed, or found from a copied cookie: no kiosk then


def _token() -> str:
    token = os.environ.get("KIOSK_TOKEN", "")
    if token and len(token) < MIN_TOKEN:
        if not _warned:
            _warned.append(True)
            log.warning("KIOSK_TOKEN is shorter than %s characters: the kiosk is off (choose a long random one)",
                        MIN_TOKEN)
        return ""
    return token


def _rule() -> str:
    return os.environ.get("KIOSK_RATE_LIMIT", "").strip() or DEFAULT_RATE_LIMIT


def fingerprint(token: str) -> str:
    return hmac.new(token.encode(), _LABEL, hashlib.sha256).hexdigest()


def recognised() -> bool:
    """Whether the current request comes from a screen set up with the current KIOSK_TOKEN."""
    from werkzeug.exceptions import TooManyRequests

    from dashboard.limits import exhausted, hit

    token, cookie = _token(), request.cookies.get(COOKIE, "")
    if not (token and cookie):
        return False
    if exhausted("kiosk-enrol", _rule()) is not None:  # guessing cookies is as slow as guessing ?kiosk=
        return False
    if hmac.compare_digest(cookie.encode(), fingerprint(token).encode()):
        return True
    try:
        hit("kiosk-enrol", _rule())
    except TooManyRequests:
        pass
    return False


def enrol(secure: bool):
    """For `/wall?kiosk=TOKEN`: the redirect to the clean URL that sets the kiosk cookie, or 403."""
    from dashboard.limits import exhausted, hit

    token, given = _token(), request.args.get("kiosk", "")
    rule = _rule()
    if exhausted("kiosk-enrol", rule) is not None:
        hit("kiosk-enrol", rule)  # 429 with Retry-After: guessing the token from one address is slow
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        hit("kiosk-enrol", rule)  # a wrong token counts; the right one costs nothing
        abort(403)
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "kiosk"]
    response = redirect(request.path + ("?" + urlencode(rest) if rest else ""), code=303)
    response.set_cookie(COOKIE, fingerprint(token), max_age=MAX_AGE, httponly=True, samesite="Strict",
                        secure=secure, path="/")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def forget(response, secure: bool):
    """Remove the kiosk cookie (logout on a screen that was a kiosk)."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=secure)
    return response
