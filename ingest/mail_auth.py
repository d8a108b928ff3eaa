"""Whether a mail's sender is who it claims to be: the verdict of the city's own receiving server.

A command by e-mail (STATUS, BUKA, a rating) acts on the sender's reports, so it is honoured only when
the city's receiving server (its authserv-id in EMAIL_AUTHSERV_ID, default IMAP_HOST) wrote an
Authentication-Results header (RFC 8601) saying DMARC passed, or DKIM or SPF passed for the sender's own
domain (aligned: the signing domain or the envelope sender's domain is the sender's domain or a
parent of it). Only the topmost Authentication-Results field counts: the receiving server prepends
its own above everything the sender wrote, so a forged header further down is never read.
"""
from __future__ import annotations

import re

_METHOD = re.compile(r"(?:^|;)\s*(dkim|spf|dmarc)\s*=\s*([a-z]+)([^;]*)", re.IGNORECASE)
_PROPERTY = re.compile(r"\b(header\.d|header\.i|smtp\.mailfrom|header\.from)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip().strip(".").lower()


def _aligned(domain: str, sender_domain: str) -> bool:
    return bool(domain) and (sender_domain == domain or sender_domain.endswith("." + domain))


def authenticated(results: list[str] | tuple[str, ...], sender: str, authserv_ids: tuple[str, ...]) -> bool:
    """True when the topmost of `results` (the Authentication-Results values, top first) was written by
    one of `authserv_ids` and vouches for `sender`'s domain."""
    if not results or not authserv_ids or "@" not in (sender or ""):
        return False
    value = _COMMENT.sub(" ", " ".join(results[0].split()))
    authserv, _, rest = value.partition(";")
    authserv_id = (authserv.split() or [""])[0].lower()
    if authserv_id not in {a.lower() for a in authserv_ids}:
        return False
    sender_domain = _domain(sender)
    for method, verdict, props in _METHOD.findall(";" + rest):
        if verdict.lower() != "pass":
            continue
        found = {k.lower(): v for k, v in _PROPERTY.findall(props)}
        method = method.lower()
        if method == "dmarc" and _aligned(_domain(found.get("header.from", "")), sender_domain):
            return True
        if method == "dkim" and _aligned(_domain(found.get("header.d") or found.get("header.i", "")), sender_domain):
            return True
        if method == "spf" and _aligned(_domain(found.get("smtp.mailfrom", "")), sender_domain):
            return True
    return False


__all__ = ["authenticated"]
