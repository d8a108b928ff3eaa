"""Instagram and Facebook through Meta's webhooks, replies through the Graph API.

    GET  /webhooks/meta   subscription check: hub.mode=subscribe, hub.verify_token, hub.challenge
    POST /webhooks/meta   X-Hub-Signature-256 = "sha256=" + HMAC-SHA256(app secret, raw body)

Ingested: page/Instagram messages (`entry[].messaging[]`, key = message.mid), Facebook page comments
(`changes[]` field "feed", item "comment", key = comment_id), Instagram comments (field "comments",
key = id) and mentions (field "mentions", key = comment_id or media_id). Echoes of our own messages,
delivery and read receipts are skipped. An event that cannot become a report, or whose handling raises,
is dead-lettered alone (wrapped as a one-event payload so it can be re-processed through the same path)
and the events after it in the same webhook are still handled. A report's received time is when the
webhook arrived (the staging inbox's row); the event's own timestamp is kept as `claimed_at`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime

import requests

from domain.clock import UTC, isoformat
from domain.intake import AttachmentInfo, IncomingReport, lone_surrogate_at
from domain.lifecycle import ValidationError
from domain.models import OutboxMessage
from ingest import json_input
from ingest.base import DeliveryError, Unusable, http_error, reply_route, set_aside
from ingest.conversation import InboundMessage, handle
from ingest.inbox import Outcome

log = logging.getLogger("ingest.meta")


def _time(value) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return isoformat(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    return None


class MetaAdapter:
    def __init__(self, channels):
        self.channels = channels
        self.config = channels.config
        self.http = requests.Session()

    # ------------------------------------------------------------ webhook security
    def verify_subscription(self, args: dict) -> str | None:
        token = self.config.meta_verify_token
        if (args.get("hub.mode") == "subscribe" and token
                and hmac.compare_digest(args.get("hub.verify_token", ""), token)):
            return args.get("hub.challenge", "")
        return None

    def signature_ok(self, raw: bytes, header: str | None) -> bool:
        if not self.config.meta_app_secret or not header or not header.startswith("sha256="):
            return False
        expected = hmac.new(self.config.meta_app_secret.encode(), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header[len("sha256="):].strip().lower())

    # ------------------------------------------------------------ events
    def inbound(self, raw: bytes, headers: dict | None = None, received_at: datetime | None = None) -> list[Outcome]:
        """Every event of one webhook; `received_at` is when the webhook arrived (default: now)."""
        inbox = self.channels.inbox
        received_at = received_at or self.channels.clock()
        try:
            body = json_input.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
                raise Unusable("not a Meta webhook payload (no entry list)")
            obj = body.get("object")
            if obj not in ("page", "instagram"):
                raise Unusable(f"unsupported object {obj!r}")
        except (ValueError, Unusable) as exc:
            return [Outcome("dead_letter", dead_letter_id=inbox.dead_letter("meta", raw, str(exc), headers))]
        channel = "facebook" if obj == "page" else "instagram"
        outcomes = []
        for entry in body["entry"]:
            if not isinstance(entry, dict):
                outcomes.append(self._dead(channel, obj, entry, "entry is not an object", headers))
                continue
            events = [("messaging", e) for e in entry.get("messaging") or []]
            events += [("changes", c) for c in entry.get("changes") or []]
            for kind, event in events:
                try:
                    surrogate = lone_surrogate_at(event, kind)
                    if surrogate is not None:  # a follow-up or command never reaches IncomingReport's check
                        raise Unusable(f"{surrogate}: contains a lone UTF-16 surrogate (not valid Unicode text)")
                    msg = self._message(channel, kind, event, entry, received_at)
                    if msg is not None:
                        outcomes.append(handle(self.channels, msg))
                except Exception as exc:  # noqa: BLE001 - one event must not stop the others (set_aside)
                    wrapped = {"id": entry.get("id"), "time": entry.get("time"), kind: [event]}
                    if isinstance(exc, (ValidationError, TypeError, AttributeError, KeyError)):
                        exc = Unusable(str(exc) or type(exc).__name__)  # a payload not shaped as documented
                    outcomes.append(self._dead(channel, obj, wrapped, exc, headers))
        return outcomes

    def _dead(self, channel, obj, entry, error, headers) -> Outcome:
        # backslashreplace: a lone surrogate is kept as its JSON escape ("\\ud800"), so the dead letter is
        # the event as received (and UTF-8 encoding cannot fail halfway through setting it aside)
        raw = json.dumps({"object": obj, "entry": [entry]}, ensure_ascii=False, sort_keys=True,
                         default=str).encode("utf-8", "backslashreplace")
        if isinstance(error, str):
            error = Unusable(error)
        return Outcome("dead_letter", dead_letter_id=set_aside(self.channels.inbox, channel, raw, error, headers,
                                                               log=log))

    def _message(self, channel: str, kind: str, event: dict, entry: dict,
                 received_at: datetime) -> InboundMessage | None:
        if not isinstance(event, dict):
            raise Unusable(f"{kind} event is not an object")
        if kind == "messaging":
            message = event.get("message")
            if not isinstance(message, dict) or message.get("is_echo"):
                return None  # delivery/read receipts, reactions, our own echoes
            sender = str((event.get("sender") or {}).get("id") or "")
            mid = str(message.get("mid") or "")
            if not sender or not mid:
                raise Unusable("message without sender.id or mid")
            text = message.get("text") or ""
            if not isinstance(text, str):
                raise Unusable("message.text is not a string")
            attachments = tuple(
                AttachmentInfo(filename=f"{mid[-24:]}-{i}", content_type=f"{a.get('type', 'file')}/*"[:100],
                               source_url=str((a.get("payload") or {}).get("url")))
                for i, a in enumerate(message.get("attachments") or [])
                if isinstance(a, dict) and isinstance(a.get("payload"), dict) and a["payload"].get("url"))
            route = reply_route(channel, sender, kind="dm")
            return self._inbound(channel, mid, sender, None, text, event.get("timestamp"), route, attachments,
                                 {"entry_id": entry.get("id"), "messaging": event}, received_at)
        field, value = event.get("field"), event.get("value")
        if not isinstance(value, dict):
            raise Unusable("change without a value object")
        if field == "feed":
            if value.get("item") != "comment" or value.get("verb") != "add":
                return None
            sender = value.get("from") or {}
            if str(sender.get("id")) == str(entry.get("id")):
                return None  # the page's own comment
            comment_id = str(value.get("comment_id") or "")
            if not comment_id:
                raise Unusable("feed comment without comment_id")
            route = reply_route(channel, comment_id, kind="comment")
            return self._inbound(channel, comment_id, str(sender.get("id") or ""), sender.get("name"),
                                 value.get("message") or "", value.get("created_time"), route, (),
                                 {"entry_id": entry.get("id"), "change": event}, received_at)
        if field == "comments":
            sender = value.get("from") or {}
            comment_id = str(value.get("id") or "")
            if not comment_id:
                raise Unusable("Instagram comment without id")
            route = reply_route(channel, comment_id, kind="comment")
            return self._inbound(channel, comment_id, str(sender.get("id") or ""), sender.get("username"),
                                 value.get("text") or "", entry.get("time"), route, (),
                                 {"entry_id": entry.get("id"), "change": event}, received_at)
        if field == "mentions":
            key = str(value.get("comment_id") or value.get("media_id") or "")
            if not key:
                raise Unusable("mention without comment_id or media_id")
            text = f"Akun kota disebut di Instagram (media {value.get('media_id')}, komentar {value.get('comment_id')})"
            route = reply_route(channel, key, kind="comment") if value.get("comment_id") else {}
            return self._inbound(channel, key, "", None, text, entry.get("time"), route, (),
                                 {"entry_id": entry.get("id"), "change": event}, received_at)
        return None

    def _inbound(self, channel, external_id, sender_id, name, text, timestamp, route, attachments, provider,
                 received_at):
        if not isinstance(text, str):
            raise Unusable("text is not a string")

        def build() -> IncomingReport:
            data = {
                "channel": channel, "external_id": external_id[:200], "text": text,
                "received_at": isoformat(received_at), "claimed_at": _time(timestamp),
                "citizen": {"handle": sender_id, "name": name} if sender_id else None,
                "attachments": [a.__dict__ for a in attachments],
                "raw_payload": {"provider": provider, **({"reply": route} if route else {})},
            }
            try:
                return IncomingReport.from_dict(data, max_bytes=self.channels.services.settings.max_payload_bytes)
            except ValidationError as exc:
                raise Unusable(str(exc)) from None

        identity = (channel, sender_id.lower()) if sender_id else None
        return InboundMessage(channel=channel, external_id=external_id[:200], identity=identity,
                              author=(name or sender_id or channel)[:200], text=text,
                              reply=route or reply_route(channel, sender_id or "-"), build_report=build,
                              attachments=attachments, join_open_report=route.get("thread", {}).get("kind") == "dm")

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        outcomes = self.inbound(raw, headers)
        return outcomes[0] if outcomes else Outcome("duplicate")

    # ------------------------------------------------------------ replies (Graph API)
    def send(self, message: OutboxMessage) -> str:
        c = self.config
        if not c.meta_page_access_token:
            raise DeliveryError("Meta is not configured (META_PAGE_ACCESS_TOKEN)")
        thread = (message.payload or {}).get("thread") or {}
        base = f"{c.meta_graph_base.rstrip('/')}/{c.meta_graph_version}"
        if thread.get("kind") == "comment":
            edge = "replies" if message.channel == "instagram" else "comments"
            url, body = f"{base}/{message.recipient}/{edge}", {"message": message.body[:2000]}
        else:
            url = f"{base}/me/messages"
            body = {"recipient": {"id": message.recipient}, "message": {"text": message.body[:2000]},
                    "messaging_type": "RESPONSE"}
        try:
            response = self.http.post(url, json=body, params={"access_token": c.meta_page_access_token},
                                      timeout=c.http_timeout_seconds)
        except requests.RequestException as exc:
            raise DeliveryError(f"Graph API unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise http_error(response.status_code, response.text)
        try:
            data = response.json()
        except ValueError as exc:
            raise DeliveryError("Graph API answered without JSON") from exc
        return str(data.get("message_id") or data.get("id") or "")
