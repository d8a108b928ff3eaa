"""Settings read from the environment, once, by the composition root (app.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DATA_DIR / 'control_room.db'}"
    data_dir: Path = DATA_DIR
    attachments_dir: Path = DATA_DIR / "attachments"
    max_payload_bytes: int = 1_000_000
    max_attachment_bytes: int = 10_000_000
    ticket_prefix: str = "TLR"
    secret_key: str = field(default="", repr=False)
    # where `init-db` keeps the generated session key when SECRET_KEY is unset (default: beside the
    # SQLite database, else in DATA_DIR); see domain/session_key.py
    secret_key_file: Path | None = None
    public_base_url: str = "http://127.0.0.1:8050"
    # the largest request body the web tier reads (chunked bodies included): one attachment
    # base64-encoded in a Dash upload (4/3 x MAX_ATTACHMENT_BYTES) plus room for the form
    max_request_bytes: int = 16_000_000
    # reverse proxies in front of the web tier whose X-Forwarded-For/-Proto are believed (0: none)
    trusted_proxies: int = 0
    demo: bool = False
    demo_rate_per_minute: int = 2
    demo_history_days: int = 90  # days of history a fresh demo database starts with (ingest/demo_history.py)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        data_dir = Path(os.environ.get("DATA_DIR", DATA_DIR))
        values = dict(
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'control_room.db'}",
            data_dir=data_dir,
            attachments_dir=Path(os.environ.get("ATTACHMENTS_DIR", data_dir / "attachments")),
            max_payload_bytes=_env_int("MAX_PAYLOAD_BYTES", 1_000_000),
            max_attachment_bytes=_env_int("MAX_ATTACHMENT_BYTES", 10_000_000),
            ticket_prefix=os.environ.get("TICKET_PREFIX", "TLR"),
            secret_key=os.environ.get("SECRET_KEY", ""),
            secret_key_file=Path(os.environ["SECRET_KEY_FILE"]) if os.environ.get("SECRET_KEY_FILE") else None,
            public_base_url=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8050"),
            max_request_bytes=_env_int("MAX_REQUEST_BYTES", 16_000_000),
            trusted_proxies=_env_int("TRUSTED_PROXIES", 0),
            demo=os.environ.get("DEMO", "").lower() in ("1", "true", "yes"),
            demo_rate_per_minute=_env_int("DEMO_RATE_PER_MINUTE", 2),
            demo_history_days=_env_int("DEMO_HISTORY_DAYS", 90),
        )
        values.update(overrides)
        return cls(**values)
