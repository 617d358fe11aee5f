"""Parameters admin page: every parameter with its description, unit, legal reference and full dated history;
a change of standard is a new dated value (``services.parameters.parameter_value_add``), never an edit."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from canlian.accounts import access
from canlian.common.exceptions import DomainError, ValidationFailed

from .. import selectors
from ..forms import ParameterValueForm, add_errors, mark_invalid
from ..models import ParameterValue, Programme
from ..services.parameters import parameter_value_add
from ._base import show

UNITS = {
    "CNY/month": "元/月",
    "CNY": "元",
    "ratio": "比例",
    "rate": "比例",
    "switch": "开关",
    "bool": "开关",
    "grade": "级",
    "year": "周岁",
    "years": "周岁",
    "days": "天",
    "months": "个月",
}
KINDS = {"money": "金额", "rate": "比例", "bool": "开关", "int": "整数"}
GROUP_NAMES = {"common": "通用"}


@dataclass
class ValueRow:
    valid_from: object
    value: str
    reference: str
    source: str
    by: str = ""
    at: object = None
    current: bool = False
    future: bool = False


@dataclass
class ParamView:
    name: str
    slug: str
    description: str
    unit: str
    kind: str
    reference: str
    example: bool
    values: list[ValueRow]
    form: ParameterValueForm
    open: bool = False
    current: ValueRow | None = None


@dataclass
class Group:
    key: str
    title: str
    params: list[ParamView] = field(default_factory=list)


def slug(name: str) -> str:
    return name.replace(".", "-")


def _show(kind: str, value) -> str:
    if kind == "bool":
        return "是" if value else "否"
    if kind == "rate":
        return f"{value}（{(value * 100).normalize():f}%）"
    return str(value)


def _require_manager(user) -> None:
    if not access.can_manage_parameters(user):
        raise Forbidden("只有区残联管理员或业务科室可以查看和调整参数")


def _context(request, *, bound: tuple[str, ParameterValueForm] | None = None) -> dict:
    today = timezone.localdate()
    params = selectors.current_parameters()
    added = {
        (v.name, v.valid_from): v for v in ParameterValue.objects.select_related("created_by").order_by("id")
    }
    names = dict(Programme.objects.values_list("code", "name"))
    groups: dict[str, Group] = {}
    for name in params.names():
        p = params[name]
        key = name.split(".", 1)[0]
        group = groups.setdefault(key, Group(key, GROUP_NAMES.get(key) or names.get(key, key)))
        rows = []
        for v in p.values:
            row = ValueRow(v.valid_from, _show(p.kind, v.value), v.reference, v.source)
            pv = added.get((name, v.valid_from)) if v.source == "db" else None
            if pv:
                row.by, row.at = (pv.created_by.full_name or pv.created_by.username), pv.created_at
            row.future = v.valid_from > today
            rows.append(row)
        current = next((r for r in reversed(rows) if not r.future), None)
        if current:
            current.current = True
        if bound and bound[0] == name:
            form, is_open = bound[1], True
        else:
            form, is_open = ParameterValueForm(prefix=slug(name), initial={"name": name}), False
        group.params.append(
            ParamView(
                name=name,
                slug=slug(name),
                description=p.description,
                unit=UNITS.get(p.unit, p.unit),
                kind=KINDS.get(p.kind, p.kind),
                reference=p.reference,
                example=p.example,
                values=list(reversed(rows)),
                form=form,
                open=is_open,
                current=current,
            )
        )
    order = {"common": -1} | {
        code: i for i, code in enumerate(Programme.objects.order_by("id").values_list("code", flat=True))
    }
    ordered = sorted(groups.values(), key=lambda g: (order.get(g.key, 999), g.key))
    return {"groups": ordered, "today": today, "nav_tab": "parameters"}


@login_required
@require_GET
def parameter_list(request):
    _require_manager(request.user)
    return show(request, "benefits/parameters.html", _context(request))


@login_required
@require_POST
def parameter_add(request):
    user = request.user
    _require_manager(user)
    name = request.POST.get("param", "")
    form = ParameterValueForm(request.POST, prefix=slug(name))
    if form.is_valid():
        data = form.cleaned_data
        try:
            pv = parameter_value_add(
                acting_user=user,
                name=data["name"],
                valid_from=data["valid_from"],
                value=data["value"],
                reference=data["reference"],
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"已新增取值：{pv.valid_from:%Y-%m-%d} 起为 {pv.value}")
            return redirect(reverse("benefits:parameter_list") + f"#param-{slug(pv.name)}")
    mark_invalid(form)
    context = _context(request, bound=(name, form))
    context["error"] = "未保存：" + "；".join(e for errors in form.errors.values() for e in errors)
    context["error_param"] = slug(name)
    return show(request, "benefits/parameters.html", context, status=400)
