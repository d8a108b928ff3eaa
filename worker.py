"""The scheduler (APScheduler 3.x): every periodic job of the platform, registered in one place.

Jobs are plain functions of the services; each job opens and commits its own transactions.
"""
from __future__ import annotations

import logging

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

log = logging.getLogger("worker")


def _safe(job):
    """A failing job logs and waits for its next run; it never stops the scheduler."""

    def run():
        try:
            job()
        except Exception:  # noqa: BLE001 - the scheduler must keep running at 3 a.m.
            log.exception("job %s failed", getattr(job, "__name__", job))

    run.__name__ = getattr(job, "__name__", "job")
    return run


def build_scheduler(services, *, demo: bool = False, blocking: bool = False):
    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone="UTC", executors={"default": ThreadPoolExecutor(4)},
                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    workflow = services.workflow
    scheduler.add_job(_safe(workflow.expire_waiting), "interval", minutes=1, id="expire-waiting")
    scheduler.add_job(_safe(workflow.close_resolved), "interval", minutes=5, id="close-resolved")
    for job_id, job, seconds in extra_jobs(services):
        scheduler.add_job(_safe(job), "interval", seconds=seconds, id=job_id)
    if demo:
        from ingest.demo import DemoFeed

        feed = DemoFeed(services.queue, services.workflow, rate_per_minute=services.settings.demo_rate_per_minute)
        feed.backfill(60)
        scheduler.add_job(_safe(feed.tick), "interval", seconds=5, id="demo-feed")
    return scheduler


def extra_jobs(services):
    """Jobs contributed by the SLA engine, the pollers and the outbox, where they are installed."""
    jobs = []
    for module_name in ("routing.timers", "ingest.jobs"):
        try:
            module = __import__(module_name, fromlist=["jobs"])
        except ImportError:
            continue
        jobs.extend(module.jobs(services))
    return jobs
