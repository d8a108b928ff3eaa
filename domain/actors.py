"""Who acts: a name, a role and, for agency officers, their agency."""
from __future__ import annotations

from dataclasses import dataclass

from domain.lifecycle import Role


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role
    agency_code: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "role", Role(self.role))


SYSTEM = Actor("system", Role.SYSTEM)
