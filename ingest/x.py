"""X (Twitter): a poller for mentions of the city's account through API v2, replies through the API.

    GET  {X_API_BASE}/2/users/{X_USER_ID}/mentions?since_id=...   (app bearer token)
    POST {X_API_BASE}/2/tweets {"text", "reply": {"in_reply_to_tweet_id"}}   (user-context token)

The `since_id` checkpoint moves to the newest id only after every mention of the run is committed. A
mention whose handling raises is dead-lettered with the reason (ingest/base.py: set_aside) and the run
goes on; only an unreachable database stops it. A report's received time is when the poll fetched it;
the tweet's created_at is kept as `claimed_at`.
Rate limits: when x-rate-limit-remaining reaches 0 (or on 429) the poller sleeps until
x-rate-limit-reset, remembered in the checkpoint so a restarted worker waits too.
"""
from __future__ import annotations

import json
import logging

import requests

from domain.clock import isoformat, parse_timestamp
from domain.intake import IncomingReport
from domain.lifecycle import ValidationError
from domain.models import Checkpoint, OutboxMessage
from ingest import json_input
from ingest.base import DeliveryError, Unusable, http_error, reply_route, set_aside
from ingest.conversation import InboundMessage, handle
from ingest.inbox import Outcome

log = logging.getLogger("ingest.x")
MAX_PAGES = 5


class XAdapter:
    channel = "x"

    def __init__(self, channels):
        self.channels = channels
        self.config = channels.config
        self.http = requests.Session()

    @property
    def checkpoint_name(self) -> str:
        return f"x:mentions:{self.config.x_user_id}"

    def _checkpoint(self) -> dict:
        with self.channels.services.sessions() as s:
            row = s.get(Checkpoint, self.checkpoint_name)
            return json.loads(row.value) if row else {}

    def _save(self, **values) -> None:
        state = {**self._checkpoint(), **values}
        with self.channels.services.sessions.begin() as s:
            row = s.get(Checkpoint, self.checkpoint_name, with_for_update=True)
            if row is None:
                s.add(Checkpoint(name=self.checkpoint_name, value=json.dumps(state), updated_at=self.channels.clock()))
            else:
                row.value, row.updated_at = json.dumps(state), self.channels.clock()

    # ------------------------------------------------------------ polling
    def poll(self) -> list[Outcome]:
        c = self.config
        state = self._checkpoint()
        now = self.channels.clock()
        if state.get("rate_limited_until") and now.timestamp() < state["rate_limited_until"]:
            return []
        url = f"{c.x_api_base.rstrip('/')}/2/users/{c.x_user_id}/mentions"
        params = {"max_results": "100", "expansions": "author_id,geo.place_id",
                  "tweet.fields": "created_at,conversation_id,author_id,geo",
                  "user.fields": "username,name", "place.fields": "full_name,geo"}
        if state.get("since_id"):
            params["since_id"] = state["since_id"]
        outcomes, newest, token = [], None, None
        for _ in range(MAX_PAGES):
            if token:
                params["pagination_token"] = token
            response = self.http.get(url, params=params, headers={"Authorization": f"Bearer {c.x_bearer_token}"},
                                     timeout=c.http_timeout_seconds)
            if response.status_code == 429 or response.headers.get("x-rate-limit-remaining") == "0":
                reset = response.headers.get("x-rate-limit-reset")
                self._save(rate_limited_until=int(reset) if reset and reset.isdigit() else int(now.timestamp()) + 900)
                if response.status_code == 429:
                    break
            if response.status_code >= 300:
                if response.status_code != 429:
                    log.warning("X mentions: HTTP %s %s", response.status_code, response.text[:200])
                break
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                log.warning("X mentions: the answer is not a JSON object: %s", response.text[:200])
                break
            includes = body.get("includes") if isinstance(body.get("includes"), dict) else {}
            users = {str(u.get("id")): u for u in includes.get("users") or [] if isinstance(u, dict)}
            for tweet in body.get("data") if isinstance(body.get("data"), list) else []:
                outcomes.append(self._ingest(tweet, users))
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if newest is None:
                newest = meta.get("newest_id")
            token = meta.get("next_token")
            if not token or response.headers.get("x-rate-limit-remaining") == "0":
                break
        if newest and not token:  # every page of this run is committed: move the checkpoint
            self._save(since_id=newest)
        return outcomes

    def _ingest(self, tweet: dict, users: dict) -> Outcome:
        raw = json.dumps({"data": tweet, "users": users}, ensure_ascii=False, sort_keys=True, default=str).encode()
        received_at = self.channels.clock()
        try:
            if not isinstance(tweet, dict) or not tweet.get("id"):
                raise Unusable("tweet without id")
            author = users.get(str(tweet.get("author_id"))) or {}
            username = author.get("username") or tweet.get("author_id") or ""
            text = tweet.get("text") or ""
            if not isinstance(text, str):
                raise Unusable("tweet text is not a string")
            route = reply_route("x", str(tweet["id"]), username=username)

            def build() -> IncomingReport:
                try:
                    claimed = isoformat(parse_timestamp(str(tweet["created_at"]))) if tweet.get("created_at") else None
                except ValueError:
                    claimed = None
                data = {"channel": "x", "external_id": str(tweet["id"]), "text": text,
                        "received_at": isoformat(received_at), "claimed_at": claimed,
                        "citizen": {"handle": username, "name": author.get("name")} if username else None,
                        "raw_payload": {"provider": {"tweet": tweet, "author": author}, "reply": route}}
                try:
                    return IncomingReport.from_dict(data)
                except ValidationError as exc:
                    raise Unusable(str(exc)) from None

            msg = InboundMessage(channel="x", external_id=str(tweet["id"]),
                                 identity=("x", username.lower()) if username else None,
                                 author=username or None, text=text, reply=route, build_report=build,
                                 join_open_report=False)
            return handle(self.channels, msg)
        except Exception as exc:  # noqa: BLE001 - one mention must not stop the others
            return Outcome("dead_letter", dead_letter_id=set_aside(self.channels.inbox, "x", raw, exc, log=log))

    def reprocess(self, raw: bytes, headers: dict) -> Outcome:
        body = json_input.loads(raw)
        return self._ingest(body.get("data"), body.get("users") or {})

    # ------------------------------------------------------------ replies
    def send(self, message: OutboxMessage) -> str:
        c = self.config
        if not c.x_user_access_token:
            raise DeliveryError("X replies are not configured (X_USER_ACCESS_TOKEN)")
        thread = (message.payload or {}).get("thread") or {}
        text = message.body
        if thread.get("username"):
            text = f"@{thread['username']} {text}"
        body = {"text": text[:280], "reply": {"in_reply_to_tweet_id": message.recipient}}
        try:
            response = self.http.post(f"{c.x_api_base.rstrip('/')}/2/tweets", json=body,
                                      headers={"Authorization": f"Bearer {c.x_user_access_token}"},
                                      timeout=c.http_timeout_seconds)
        except requests.RequestException as exc:
            raise DeliveryError(f"X unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise http_error(response.status_code, response.text)
        return str((response.json().get("data") or {}).get("id") or "")


__all__ = ["XAdapter"]
