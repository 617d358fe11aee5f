"""Demo work plan: the seed (Wuzhong's 2023 工作要点) as this year's plan, reviewed and published through the
services the way district staff would: targets tied to indicators (or milestones), two targets the document
states only in words added by hand, the quantity targets split across towns in proportion to the persons
living there, and this year's closed months frozen. Deterministic; skipped when the year already has a plan."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from django.utils import timezone

from canlian.common.jobs import Progress, noop_progress

SEED = Path(__file__).resolve().parent / "tests" / "data" / "wuzhong_2023.txt"

# task → indicator code (the first one registered wins; a milestone when none is)
LINKS = {
    6: ("graduate_employment_rate",),
    7: ("facilities_built",),
    8: ("custodial_new",),
    9: ("employment_net",),
}
# targets the seed states in words only ("持续推动…无障碍改造"), added by hand as district staff would
ADDED = (
    (16, "完成困难重度残疾人家庭无障碍改造 40 户", "40", "户", "renovation_done", "康复部"),
    (5, "为有需求的残疾人适配辅助器具 300 人", "300", "人", "devices_fitted", "康复部"),
)
DEPARTMENTS = {6: "就业服务部", 7: "组联部", 8: "康复部", 9: "就业服务部"}


def workplan_demo(*, seed: int = 2023, today: date | None = None, progress: Progress = noop_progress) -> dict:
    from canlian.accounts.models import Role, User

    from . import services
    from .indicators import indicators
    from .models import Plan
    from .progress import snapshot_month

    today = today or timezone.localdate()
    year = today.year
    if Plan.objects.filter(year=year).exists():
        return {"skipped": True}
    staff = User.objects.filter(role=Role.DISTRICT_STAFF, is_active=True).order_by("pk").first()
    if staff is None:
        return {"skipped": True}
    known = {i.code for i in indicators()}
    text = SEED.read_text(encoding="utf-8").replace("2023", str(year))
    plan = services.plan_import(
        acting_user=staff, year=year, data=text.encode("utf-8"), filename=f"{year}年工作要点（演示）.txt"
    ).plan
    progress(1, 5, "导入")
    for number, words, value, unit, code, department in ADDED:
        if code in known:
            services.target_add(
                acting_user=staff,
                plan_id=plan.pk,
                task_number=number,
                data={
                    "text": words,
                    "value": value,
                    "unit": unit,
                    "deadline": f"{year}-12-31",
                    "indicator": code,
                    "department": department,
                },
            )
    for t in plan.targets.select_related("task").filter(link=""):
        code = next((c for c in LINKS.get(t.task.number, ()) if c in known), "")
        data = {"indicator": code} if code else {"link": "milestone"}
        data["department"] = DEPARTMENTS.get(t.task.number, "办公室")
        services.target_update(acting_user=staff, target_id=t.pk, data=data)
    progress(2, 5, "关联指标")
    services.plan_publish(acting_user=staff, plan_id=plan.pk)
    split = 0
    for t in plan.targets.filter(town__isnull=True, link="indicator").exclude(unit="%"):
        services.quotas_proportional(acting_user=staff, target_id=t.pk)
        split += 1
    progress(3, 5, "分解到各镇")
    frozen = sum(snapshot_month(year, month) for month in range(1, today.month))
    progress(5, 5, "冻结月度快照")
    return {
        "计划": f"{year}年第{plan.version}版",
        "目标": plan.targets.count(),
        "分解": split,
        "快照行": frozen,
    }


def workplan_demo_delete(*, acting_user) -> int:
    """Remove the demo plans (those imported from the demo file) and every snapshot."""
    from .models import IndicatorSnapshot, Plan

    plans = Plan.objects.filter(source_name__endswith="工作要点（演示）.txt")
    n = plans.count()
    plans.delete()
    IndicatorSnapshot.objects.all().delete()
    return n
