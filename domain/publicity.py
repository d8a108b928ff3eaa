"""Which reports a public surface may show at all: the one rule behind anonymous Open311 reads, the
/public page's before/after photos, the tracking page's photos and /foto/<ref>.

A report is public only when its category is marked `public` in data/categories.csv (emergency and
sensitive topics such as crime, social welfare and health never are), it is not an emergency, not a
112 call, not demo data, and not rejected or merged. `PUBLIC_REPORT` is the SQL condition (the query
joins Category on Report.category_code); `public_report(session, report_id)` asks it for one report.
"""
from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from domain.lifecycle import Kind, Status
from domain.models import Category, Report

NOT_LISTED = (Status.REJECTED.value, Status.MERGED.value)
PUBLIC_REPORT = and_(Category.public.is_(True), Report.kind != Kind.EMERGENCY.value, Report.channel != "call112",
                     Report.is_demo.is_(False), Report.status.not_in(NOT_LISTED))


def public_report(session: Session, report_id: int) -> bool:
    """Whether a public surface may show anything of this report (its photos, say)."""
    return session.scalar(select(Report.id).join(Category, Category.code == Report.category_code)
                          .where(Report.id == report_id, PUBLIC_REPORT)) is not None


__all__ = ["NOT_LISTED", "PUBLIC_REPORT", "public_report"]
