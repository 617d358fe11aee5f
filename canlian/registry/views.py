"""Registry pages: person list, person page, create / edit, status, ID reveal, regions.

Views parse input, call a selector or a service, and render. Every record comes from ``accounts.access``;
a person outside the user's scope is a 404 (``access.person_get``). Writes are POST-only with CSRF.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canlian.accounts import access
from canlian.common import audit_display
from canlian.common.audit import audit_read
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.masking import mask_id_number, mask_phone

from . import circumstances, selectors, services
from .forms import (
    CircumstanceEndForm,
    CircumstanceForm,
    CommunityForm,
    EmploymentForm,
    PersonForm,
    StatusForm,
    add_errors,
    writable_towns,
)
from .identity import CATEGORY_LABELS, GRADE_LABELS
from .identity import normalize as identity_normalize
from .models import Certificate, EmploymentPeriod, Person, PersonCircumstance, Region
from .timeline import person_timeline

AUDIT_TIMELINE_LIMIT = 50


def _can_read_persons(user) -> bool:
    return bool(user.is_active and user.role in access.PERSON_READERS)


def _require_person_reader(user) -> None:
    if not _can_read_persons(user):
        raise Forbidden("您无权查看残疾人档案")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _add_domain_error(form, exc: DomainError, *, default: str | None = None) -> None:
    """A service refusal: next to its field when the service names one, else at the top of the form."""
    field = exc.field if exc.field in form.fields else default
    form.add_error(field, exc.message)


# ---- list ------------------------------------------------------------------------------------------------


FILTER_KEYS = ("q", "town", "community", "category", "grade", "status", "age")


def _filters(get, user) -> selectors.PersonFilters:
    status = get.get("status", "")
    band = get.get("age", "")
    return selectors.PersonFilters(
        q=get.get("q", "").strip()[:60],
        town=None if access.town_scope(user) else _int(get.get("town")),
        community=_int(get.get("community")),
        category=_int(get.get("category")),
        grade=_int(get.get("grade")),
        status=status if status in Person.Status.values else "",
        age_band=band if band in selectors.AGE_BANDS else "",
    )


def _query_string(request, *, drop=("after",)) -> str:
    params = request.GET.copy()
    for key in drop:
        params.pop(key, None)
    return params.urlencode()


@login_required
@require_http_methods(["GET", "POST"])
def person_list(request):
    """The search form posts. A search by ID or certificate number is answered in the response to that
    POST, so the number never lands in a URL (browser history, proxy logs, the Referer of the next click);
    every other search is redirected to a plain GET that can be bookmarked and paged."""
    user = request.user
    _require_person_reader(user)
    today = timezone.localdate()
    params, identity_search = request.GET, False
    if request.method == "POST":
        params = request.POST
        if not selectors.is_identity_query(params.get("q", "")):
            kept = {key: value for key in FILTER_KEYS if (value := params.get(key, "").strip())}
            return redirect(reverse("registry:person_list") + (f"?{urlencode(kept)}" if kept else ""))
        identity_search = True
    filters = _filters(params, user)
    after = None if identity_search else _int(request.GET.get("after"))
    page = selectors.person_page(user, filters, today=today, after=after)
    if identity_search:  # who looked up which number, and what they found (a masked number confirmed unseen)
        audit_read(
            acting_user=user,
            action="person.search",
            object_type="registry.person",
            object_repr="按身份证号或证号查询",
            changes={
                "q": [None, mask_id_number(identity_normalize(filters.q))],
                "results": [None, len(page.items)],
            },
        )
    for person in page.items:
        person.age = person.age_on(today)
    if identity_search:  # links on the page (first page, export) carry the other filters, never the number
        query = urlencode({key: value for key in FILTER_KEYS[1:] if (value := params.get(key, "").strip())})
    else:
        query = _query_string(request)
    town_fixed = access.town_scope(user)
    context = {
        "town_fixed": town_fixed,
        "page": page,
        "filters": filters,
        "after": after,
        "query": query,
        "identity_search": identity_search,
    }
    if after and _is_htmx(request):
        return render(request, "registry/_person_rows.html", context)
    context |= {
        "towns": [] if town_fixed else list(access.towns_visible(user).order_by("code")),
        "communities": list(
            access.communities_visible(user).select_related("parent").order_by("parent__code", "code")
        ),
        "categories": Certificate.Category.choices,
        "grades": Certificate.Grade.choices,
        "statuses": Person.Status.choices,
        "age_bands": list(selectors.AGE_BAND_LABELS.items()),
        "can_create": bool(writable_towns(user)),
        "can_export": access.can_export(user),
        "can_export_unmasked": access.export_unmasked_allowed(user),
        "can_import": access.can_import(user),
        "filtered": any(
            (filters.q, filters.town, filters.community, filters.category, filters.grade, filters.status)
        )
        or bool(filters.age_band),
    }
    return render(request, "registry/person_list.html", context)


# ---- person page -----------------------------------------------------------------------------------------


@dataclass
class Component:
    category: str
    grade: str


def _components(cert: Certificate) -> list[Component]:
    out = []
    for item in cert.components or []:
        if isinstance(item, dict):
            out.append(
                Component(
                    CATEGORY_LABELS.get(_int(item.get("category")), "?"),
                    GRADE_LABELS.get(_int(item.get("grade")), "?"),
                )
            )
    return out


def _detail_context(
    request,
    person: Person,
    *,
    status_form: StatusForm | None = None,
    fact_form: CircumstanceForm | None = None,
    end_form: CircumstanceEndForm | None = None,
    employment_form: EmploymentForm | None = None,
) -> dict:
    user = request.user
    today = timezone.localdate()
    certificates = selectors.person_certificates(person)
    for cert in certificates:
        cert.status_today = cert.status_on(today)
        cert.status_today_label = Certificate.Status(cert.status_today).label
        cert.component_list = _components(cert)
        cert.masked_number = mask_id_number(cert.number)
    current = next((c for c in certificates if c.is_current), None)
    periods = selectors.person_economic_periods(person)
    for period in periods:
        period.is_current = period.covers(today)
    timeline = audit_display.describe(
        access.person_audit_visible(user, person)
        .exclude(action__in=audit_display.READ_ACTIONS)
        .order_by("-id")[:AUDIT_TIMELINE_LIMIT]
    )
    can_edit = access.can_edit_person(user, person)
    facts = circumstances.person_circumstances(person)
    for fact in facts:
        fact.is_current = fact.valid_to is None or fact.valid_to >= today
        fact.end_form = None
        if can_edit and fact.valid_to is None:
            bound = end_form is not None and end_form.data.get("period") == str(fact.pk)
            fact.end_form = (
                end_form
                if bound
                else CircumstanceEndForm(initial={"period": fact.pk}, auto_id=f"id_end{fact.pk}_%s")
            )
    employment = list(EmploymentPeriod.objects.filter(person=person).order_by("-valid_from"))
    return {
        "person": person,
        "age": person.age_on(today),
        "masked_phone": mask_phone(person.phone),
        "masked_guardian_phone": mask_phone(person.guardian_phone),
        "certificate": current,
        "history": [c for c in certificates if not c.is_current],
        "periods": periods,
        "economic_status": next((p for p in periods if p.is_current), None),
        "timeline": timeline,
        "services_timeline": person_timeline(user, person),
        "timeline_limit": AUDIT_TIMELINE_LIMIT,
        "can_edit": can_edit,
        "can_reveal": access.can_reveal(user, person),
        "status_form": status_form or (StatusForm(initial={"status": person.status}) if can_edit else None),
        "facts": facts,
        "employment_periods": employment,
        "fact_form": fact_form or (CircumstanceForm(prefix="fact") if can_edit else None),
        "employment_form": employment_form
        or (EmploymentForm(prefix="job", initial={"status": person.employment_status}) if can_edit else None),
        "today": today,
    }


@login_required
@require_GET
def person_detail(request, pk):
    person = access.person_get(request.user, pk)
    audit_read(acting_user=request.user, action="person.view", obj=person)
    return render(request, "registry/person_detail.html", _detail_context(request, person))


@login_required
@require_POST
@never_cache
def person_reveal(request, pk):
    person = access.person_get(request.user, pk)
    try:
        full = services.person_reveal_id(acting_user=request.user, person=person)
    except PermissionDenied as exc:
        return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
    template = "registry/_reveal.html" if _is_htmx(request) else "registry/person_reveal.html"
    return render(request, template, {"person": person, "id_number": full})


@login_required
@require_POST
def person_status(request, pk):
    person = access.person_get(request.user, pk, for_edit=True)
    form = StatusForm(request.POST)
    if form.is_valid():
        try:
            services.person_set_status(
                acting_user=request.user,
                person=person,
                status=form.cleaned_data["status"],
                death_date=form.cleaned_data["death_date"],
                moved_out_on=form.cleaned_data["moved_out_on"],
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except DomainError as exc:
            _add_domain_error(form, exc, default="status")
        else:
            messages.success(request, "人员状态已更新")
            return redirect("registry:person_detail", pk=person.pk)
    context = _detail_context(request, person, status_form=form)
    context["status_open"] = True
    return render(request, "registry/person_detail.html", context, status=400)


# ---- circumstances and employment, dated ------------------------------------------------------------------


def _facts_error(request, person: Person, *, status: int = 400, **forms) -> HttpResponse:
    context = _detail_context(request, person, **forms)
    context["facts_open"] = "fact_form" in forms
    return render(request, "registry/person_detail.html", context, status=status)


@login_required
@require_POST
def person_circumstance_add(request, pk):
    person = access.person_get(request.user, pk, for_edit=True)
    form = CircumstanceForm(request.POST, prefix="fact")
    if form.is_valid():
        data = form.cleaned_data
        try:
            period = circumstances.circumstance_add(
                acting_user=request.user,
                person=person,
                kind=data["kind"],
                valid_from=data["valid_from"],
                valid_to=data["valid_to"],
                amount=data["amount"] or None,
                source=data["source"],
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except DomainError as exc:
            _add_domain_error(form, exc, default="kind")
        else:
            messages.success(request, f"已登记：{period}")
            return redirect(reverse("registry:person_detail", args=[person.pk]) + "#facts")
    return _facts_error(request, person, fact_form=form)


@login_required
@require_POST
def person_circumstance_end(request, pk):
    person = access.person_get(request.user, pk, for_edit=True)
    form = CircumstanceEndForm(request.POST, auto_id=f"id_end{_int(request.POST.get('period'))}_%s")
    if form.is_valid():
        period = PersonCircumstance.objects.filter(person=person, pk=form.cleaned_data["period"]).first()
        if period is None:
            raise Http404("未找到该记录")
        try:
            circumstances.circumstance_end(
                acting_user=request.user, circumstance=period, valid_to=form.cleaned_data["valid_to"]
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except DomainError as exc:
            _add_domain_error(form, exc, default="valid_to")
        else:
            messages.success(request, f"已结束：{period}")
            return redirect(reverse("registry:person_detail", args=[person.pk]) + "#facts")
    return _facts_error(request, person, end_form=form)


@login_required
@require_POST
def person_employment(request, pk):
    person = access.person_get(request.user, pk, for_edit=True)
    form = EmploymentForm(request.POST, prefix="job")
    if form.is_valid():
        try:
            circumstances.employment_status_change(
                acting_user=request.user,
                person=person,
                status=form.cleaned_data["status"],
                valid_from=form.cleaned_data["valid_from"],
                source="档案页登记",
            )
        except ValidationFailed as exc:
            add_errors(form, exc.errors)
        except DomainError as exc:
            _add_domain_error(form, exc, default="valid_from")
        else:
            messages.success(request, "就业状况已更新")
            return redirect(reverse("registry:person_detail", args=[person.pk]) + "#facts")
    return _facts_error(request, person, employment_form=form)


# ---- create and edit -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def person_create(request):
    user = request.user
    today = timezone.localdate()
    if not writable_towns(user):
        raise Forbidden("您无权新增残疾人档案")
    form = PersonForm(request.POST if request.method == "POST" else None, user=user, today=today)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                person = services.person_create(acting_user=user, record=form.record)
            except ValidationFailed as exc:
                add_errors(form, exc.errors)
            except DomainError as exc:
                _add_domain_error(form, exc)
            else:
                messages.success(request, f"已建档：{person.name}")
                return redirect("registry:person_detail", pk=person.pk)
        status = 400
    return render(request, "registry/person_form.html", {"form": form, "person": None}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def person_edit(request, pk):
    user = request.user
    today = timezone.localdate()
    person = access.person_get(user, pk, for_edit=True)
    economic = services.current_economic_status(person, today)
    form = PersonForm(
        request.POST if request.method == "POST" else None,
        user=user,
        today=today,
        person=person,
        economic_status=economic,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                changes = services.person_update(acting_user=user, person=person, record=form.record)
            except ValidationFailed as exc:
                add_errors(form, exc.errors)
            except DomainError as exc:
                _add_domain_error(form, exc)
            else:
                if changes:
                    messages.success(request, f"已保存 {len(changes)} 项修改")
                else:
                    messages.info(request, "没有需要保存的修改")
                return redirect("registry:person_detail", pk=person.pk)
        status = 400
    return render(request, "registry/person_form.html", {"form": form, "person": person}, status=status)


# ---- regions ---------------------------------------------------------------------------------------------


def _require_region_reader(user) -> None:
    # Auditors see the audit log only (separation of duties).
    if not user.is_active or not user.role or access.can_read_audit(user):
        raise Forbidden("您无权查看行政区划")


def _creatable_region_towns(user) -> list[Region]:
    towns = access.towns_visible(user).order_by("code")
    if access.can_manage_regions(user):
        return list(towns)
    return []


@login_required
@require_GET
def region_list(request):
    user = request.user
    _require_region_reader(user)
    towns = list(access.towns_visible(user).order_by("code"))
    by_town: dict[int, list[Region]] = {t.pk: [] for t in towns}
    for community in access.communities_visible(user).order_by("code"):
        by_town.setdefault(community.parent_id, []).append(community)
    for town in towns:
        town.community_list = by_town.get(town.pk, [])
    return render(
        request,
        "registry/region_list.html",
        {"towns": towns, "can_add": bool(_creatable_region_towns(user))},
    )


@login_required
@require_http_methods(["GET", "POST"])
def region_create(request):
    user = request.user
    towns = _creatable_region_towns(user)
    if not towns:
        raise Forbidden("您无权新增村(社区)")
    initial = {}
    if (town_id := _int(request.GET.get("town"))) and any(t.pk == town_id for t in towns):
        initial["town"] = str(town_id)
    form = CommunityForm(request.POST if request.method == "POST" else None, towns=towns, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                region = services.community_create(
                    acting_user=user,
                    town=form.cleaned_data["town_obj"],
                    name=form.cleaned_data["name"],
                    code=form.cleaned_data["code"].strip(),
                    kind=form.cleaned_data["kind"] or Region.Kind.COMMUNITY,
                )
            except ValidationFailed as exc:
                add_errors(form, exc.errors)
            except DomainError as exc:
                _add_domain_error(form, exc)
            else:
                messages.success(request, f"已新增：{region.parent.name} {region.name}（{region.code}）")
                return redirect(f"{reverse('registry:region_list')}#town-{region.parent_id}")
        status = 400
    return render(request, "registry/region_form.html", {"form": form}, status=status)
