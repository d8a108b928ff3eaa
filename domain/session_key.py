"""The web tier's session signing key: never a built-in one.

Production sets `SECRET_KEY`. The embedded default (`python app.py init-db`, then `serve`) generates
a random key once and keeps it in a file only the app's user can read (mode 0600): beside the SQLite
database, or in DATA_DIR on other databases, or at `SECRET_KEY_FILE`. With neither, the web tier
refuses to start with one line saying what to do (`NoSessionKey`).
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from domain.config import Settings

FILE_NAME = "secret_key"
MIN_LENGTH = 16  # characters of a SECRET_KEY or of the file's key


class NoSessionKey(RuntimeError):
    """The web tier has no usable session key; the message is the one line to print."""


def key_file(settings: Settings) -> Path:
    """Where the generated key lives for these settings."""
    if settings.secret_key_file is not None:
        return Path(settings.secret_key_file)
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0]).resolve().parent / FILE_NAME
    return Path(settings.data_dir) / FILE_NAME


def ensure_key_file(settings: Settings) -> Path | None:
    """Create the key file with a random key unless SECRET_KEY is set or the file exists (idempotent).
    Returns the file when one is in use, None when SECRET_KEY is set."""
    if settings.secret_key:
        return None
    path = key_file(settings)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it in the meantime
        return path
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return path


def load(settings: Settings) -> str:
    """The key to sign sessions with, or NoSessionKey with the reason in one line."""
    if settings.secret_key:
        if len(settings.secret_key) < MIN_LENGTH:
            raise NoSessionKey(f"SECRET_KEY is too short ({len(settings.secret_key)} characters, "
                               f"at least {MIN_LENGTH}): generate one with "
                               "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        return settings.secret_key
    path = key_file(settings)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise NoSessionKey(f"no session key: set SECRET_KEY, or run `python app.py init-db` to create {path}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NoSessionKey(f"session key file {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
                           f"run `chmod 600 {path}`")
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_LENGTH:
        raise NoSessionKey(f"session key file {path} holds no usable key: delete it and run `python app.py init-db`")
    return key
