"""What the data comparison tells the payroll pages (registered with ``benefits.hooks`` by ``apps.py``):
how many open findings would stop a payment in this payroll, as the user may see them, with a link to them."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.urls import reverse

from canlian.accounts import access
from canlian.benefits.hooks import PayrollWarning

from . import selectors

CHECK_NAME = "verification.open_findings"


def open_findings_check(*, user, programme, month: date) -> PayrollWarning | None:
    count = selectors.open_findings_count_visible(user, programme, month)
    if not count:
        return None
    town = access.town_scope(user)
    scope = f"{town.name}" if town is not None else "全区"
    return PayrollWarning(
        source=CHECK_NAME,
        count=count,
        message=(
            f"{programme.name} {month:%Y年}{month.month}月发放：{scope}有 {count} 条待处理的数据比对疑点"
            "涉及本项目（应停发月份在本月或之前）。请先确认或排除，再生成、复核、审批；是否继续由办理人决定。"
        ),
        url=reverse("verification:finding_list")
        + "?"
        + urlencode({"status": "open", "programme": programme.code, "payroll_month": f"{month:%Y-%m}"}),
        link_text="查看待处理疑点",
    )
