"""Where pages find the services the composition root built (set once at start-up)."""
from __future__ import annotations

_services = None


def set_services(services) -> None:
    global _services
    _services = services


def services():
    if _services is None:
        raise RuntimeError("dashboard services are not set: build the app with app.create_server()")
    return _services
