"""What the programme pages share: the person lookup by ID number (scoped, audited like every ID search) and
the apply page every programme's "new case" form is (role check, application date, person lookup, the
programme's own fields, one service call, errors at their fields, redirect to the new case)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied as Forbidden
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from canlian.accounts import access as core
from canlian.accounts.models import Role
from canlian.common.exceptions import DomainError, ValidationFailed

from .programme import programmes

NOT_FOUND = "未找到该身份证号的{who}，或不在您的管辖范围内"
APPLY_ROLES = (Role.DISTRICT_STAFF, Role.TOWN_STAFF)


def error_text(exc: DomainError) -> str:
    return "；".join(exc.errors.values()) if isinstance(exc, ValidationFailed) else exc.message


def file_response(data: bytes, name: str, content_type: str = "") -> HttpResponse:
    """A download of ``data`` as ``name`` (UTF-8 file name), never cached, never sniffed."""
    from urllib.parse import quote

    response = HttpResponse(data, content_type=content_type or "application/octet-stream")
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def parse_date(value: str, label: str, errors: dict, key: str, *, required=True) -> date | None:
    value = (value or "").strip()
    if not value:
        if required:
            errors[key] = f"请填写{label}"
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[key] = f"{label}格式不正确，应为 2023-05-06"
        return None


def person_lookup(user, text: str, *, people: QuerySet | None = None, who: str = "残疾人"):
    """The person with ID number ``text`` among ``people`` (default: the persons the user may see).

    A number that is not one → its reason; a number registered outside ``people`` gets the same answer as one
    registered nowhere, so the form does not tell a town whether someone is registered in another town. Every
    lookup of a valid number is an audited read (``person.search``: the masked number and how many were
    found), like the ID search of the person list."""
    from canlian.common.audit import audit_read
    from canlian.common.masking import mask_id_number
    from canlian.registry import identity
    from canlian.registry.services import id_index

    try:
        id_number = identity.validate_id(text)
    except identity.IdentityError as exc:
        raise ValidationFailed({"id_number": str(exc)}) from None
    qs = core.persons_visible(user) if people is None else people
    person = qs.filter(id_number_index=id_index(id_number)).first()
    audit_read(
        acting_user=user,
        action="person.search",
        object_type="registry.person",
        object_repr="按身份证号查询",
        changes={"q": [None, mask_id_number(id_number)], "results": [None, 0 if person is None else 1]},
    )
    if person is None:
        raise ValidationFailed({"id_number": NOT_FOUND.format(who=who)})
    return person


def dated_action(request, *, field: str, label: str, call: Callable[[date], object], success: str, to: str):
    """A small POST on a row of a list page (return a loan, end a contract, record a follow-up): parse the
    date in ``field``, ``call(day)`` the service, say what happened (or why not, in Chinese), go back."""
    errors: dict = {}
    day = parse_date(request.POST.get(field), label, errors, field)
    try:
        if errors:
            raise ValidationFailed(errors)
        call(day)
    except DomainError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, success)
    return redirect(to)


@dataclass
class ApplyForm:
    """The posted form as the programme's ``fields`` callback reads it; errors collect at their field."""

    post: object
    errors: dict = field(default_factory=dict)

    def get(self, key: str, default: str = "") -> str:
        return self.post.get(key, default)

    def getlist(self, key: str) -> list[str]:
        return self.post.getlist(key)

    def date(self, key: str, label: str, *, required=True) -> date | None:
        return parse_date(self.post.get(key), label, self.errors, key, required=required)


def apply_page(
    request,
    *,
    forbidden: str,
    template: str,
    create: Callable,
    fields: Callable[[ApplyForm], dict] = lambda form: {},
    success: Callable[[object], str],
    context: Callable[[], dict] = dict,
    who: str = "残疾人",
):
    """A programme's application page. ``create(acting_user=, person=, applied_on=, **fields(form))`` is the
    programme's service; ``success(case)`` the message after it; ``context()`` what the template adds.
    Errors re-render the form with the values entered (status 400); success redirects to the new case."""
    user = request.user
    if user.role not in APPLY_ROLES:
        raise Forbidden(forbidden)
    errors, values = {}, {}
    if request.method == "POST":
        form = ApplyForm(request.POST)
        errors = form.errors
        values = {k: request.POST.get(k, "").strip() for k in request.POST}
        applied_on = form.date("applied_on", "申请日期")
        extra = fields(form)
        person = None
        try:
            person = person_lookup(user, request.POST.get("id_number", ""), who=who)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        except DomainError as exc:
            errors["id_number"] = exc.message
        if not errors:
            try:
                case = create(acting_user=user, person=person, applied_on=applied_on, **extra)
            except ValidationFailed as exc:
                errors.update(exc.errors)
            except DomainError as exc:
                errors["id_number"] = exc.message
            else:
                messages.success(request, success(case))
                return redirect("casework:case_detail", pk=case.pk)
    return render(
        request,
        template,
        {
            "programmes": programmes(),
            "errors": errors,
            "values": values,
            "today": timezone.localdate(),
            **context(),
        },
        status=400 if errors else 200,
    )
