"""The SLA timers' jobs for the worker's scheduler (worker.extra_jobs picks up `jobs`).

The sweep itself is domain code (domain/sweep.py); this module only wires it to the services.
"""
from __future__ import annotations

from domain.sweep import SlaSweep, build_sweep

SWEEP_INTERVAL_SECONDS = 1


def sweep_for(services) -> SlaSweep:
    """One sweep per services object (the worker's catch-up and its scheduled job share it)."""
    sweep = getattr(services, "_sla_sweep", None)
    if sweep is None:
        sweep = build_sweep(services.sessions, services.sla, services.settings.data_dir,
                            clock=services.clock, notify=services.queue.notify)
        services._sla_sweep = sweep
    return sweep


def catch_up(services):
    """Record what fell due while no worker was active (called when a worker becomes the active one)."""
    return sweep_for(services).catch_up()


def jobs(services) -> list[tuple[str, object, int]]:
    """The sweep every second; within its second it wakes again exactly when the next level falls due."""
    sweep = sweep_for(services)

    def sla_sweep():
        sweep.sweep_through(SWEEP_INTERVAL_SECONDS * 0.9)

    return [("sla-sweep", sla_sweep, SWEEP_INTERVAL_SECONDS)]
