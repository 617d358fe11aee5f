"""The writes of the community services (atomic, scoped, attributed, audited) and the audited reads of
counselling content.

One create service for every kind (``record_create``: who may enter it, which town it belongs to, the
person looked up in the user's scope, the model's own checks in Chinese, one audit row); the 实事 project and
legal-aid workflows; a visit's need turned into a project; activity attendees and photos; team members."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from canlian.accounts.models import Role
from canlian.common.audit import audit_read, audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed
from canlian.common.workflow import Move, Workflow

from . import access
from .kinds import KINDS, Kind

DISTRICT, TOWN = Role.DISTRICT_STAFF, Role.TOWN_STAFF
MAX_PHOTO = 10 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


# ---- workflows ---------------------------------------------------------------------------------------------


def _not_creator(user, obj) -> bool:
    return obj.created_by_id != user.pk


SHISHI_WORKFLOW = Workflow(
    code="shishi_project",
    name="实事项目",
    states={
        "proposed": "拟立项",
        "approved": "已立项",
        "in_progress": "实施中",
        "done": "已完成",
        "cancelled": "已取消",
    },
    initial="proposed",
    moves=(
        # maker ≠ checker: whoever proposed the project does not approve it
        Move("approve", "立项", ("proposed",), "approved", {DISTRICT}, check=_not_creator),
        Move("start", "开始实施", ("approved",), "in_progress", {DISTRICT, TOWN}),
        Move("complete", "完成", ("in_progress",), "done", {DISTRICT, TOWN}),
        Move("cancel", "取消", ("proposed", "approved", "in_progress"), "cancelled", {DISTRICT}),
    ),
    scope=lambda user: _projects_workable(user),
)


def _projects_workable(user):
    from canlian.casework.models import ShishiProject

    return access.visible(user, ShishiProject, write=True)


def _legal_aid_workable(user):
    from canlian.casework.models import LegalAidCase

    return access.visible(user, LegalAidCase, write=True)


def _validate_dates(*names):
    def check(obj, data) -> dict:
        from datetime import date

        errors = {}
        for name in names:
            if name in data and not isinstance(data[name], date):
                errors[name] = "日期格式不正确，应为 2023-05-06"
            elif name in data and data[name] < obj.received_on:
                errors[name] = "日期不能早于受理日期"
        if "referred_to" in data and data["referred_to"] not in dict(type(obj).ReferredTo.choices):
            errors["referred_to"] = "请选择转介至法律援助中心或残联法律援助工作站"
        return errors

    return check


LEGAL_AID_WORKFLOW = Workflow(
    code="legal_aid",
    name="法律援助",
    states={"received": "已受理", "referred": "已转介", "closed": "已办结"},
    initial="received",
    moves=(
        Move(
            "refer",
            "转介",
            ("received",),
            "referred",
            {DISTRICT, TOWN},
            requires=("referred_to", "referred_on"),
            records=("referred_to", "referred_on"),
            validate=_validate_dates("referred_on"),
        ),
        Move(
            "close",
            "办结",
            ("received", "referred"),
            "closed",
            {DISTRICT, TOWN},
            requires=("outcome", "closed_on"),
            records=("outcome", "closed_on"),
            validate=_validate_dates("closed_on"),
        ),
    ),
    field_labels={
        "referred_to": "转介至",
        "referred_on": "转介日期",
        "outcome": "办理结果",
        "closed_on": "结案日期",
    },
    scope=lambda user: _legal_aid_workable(user),
)


# ---- the one create service ----------------------------------------------------------------------------------


def _may_enter(user, kind: Kind) -> bool:
    return access.is_counsellor(user) if kind.sensitive else access.can_write(user)


def _person_in_scope(user, kind: Kind, id_number: str):
    from canlian.casework.views_common import person_lookup
    from canlian.registry.models import Person

    # a counsellor serves callers from every town: the lookup is over the whole register (audited)
    people = Person.objects.all() if kind.sensitive else None
    return person_lookup(user, id_number, people=people)


def _resolve(user, kind: Kind, values: dict) -> dict:
    """Turn the parsed values into model values: the person, the town (chosen within the user's towns, or
    the person's, the institution's or the plan's), the institution, the plan."""
    from canlian.casework.models import HomeTeachingPlan
    from canlian.institutions.models import Institution

    data = dict(values)
    errors: dict = {}
    person = None
    if data.get("id_number"):
        try:
            person = _person_in_scope(user, kind, data["id_number"])
        except ValidationFailed as exc:
            errors.update(exc.errors)
    data.pop("id_number", None)
    if person is not None:
        data["person"] = person
    if "institution" in data:
        inst = Institution.objects.filter(pk=data["institution"]).select_related("town").first()
        if inst is None or (user.role == TOWN and inst.town_id != user.jurisdiction_id):
            errors["institution"] = "请从列表中选择机构"
        data["institution"] = inst
    if "plan" in data:
        plan = access.visible(user, HomeTeachingPlan, write=True).filter(pk=data["plan"]).first()
        if plan is None:
            raise PermissionDenied("未找到该送教计划，或您无权录入")
        data["plan"] = plan
        data["town"] = plan.town
    elif "town" in data:
        town = access.towns_for(user).filter(pk=data["town"]).first()
        if town is None:
            errors["town"] = "请从列表中选择镇(街道)"
        data["town"] = town
    if "town" not in data:
        if person is not None:
            data["town"] = person.town
        elif data.get("institution") is not None:
            data["town"] = data["institution"].town
    if not errors and data.get("town") is None:
        errors["town"] = "请选择镇(街道)"
    if not errors and user.role == TOWN and data["town"].pk != user.jurisdiction_id:
        errors["town"] = "只能录入本镇(街道)的记录"
    if errors:
        raise ValidationFailed(errors)
    return data


def _full_clean(obj) -> None:
    try:
        obj.full_clean(exclude=["created_by", "counsellor", "state", "version"])
    except ValidationError as exc:
        errors = {}
        for key, messages in exc.message_dict.items():
            errors["form" if key == "__all__" else key] = "；".join(messages)
        raise ValidationFailed(errors) from None


def _audit_changes(kind: Kind, obj) -> dict:
    """What the audit row says was entered: every field of an open kind; for counselling records, never the
    content (only when and where: the auditor's page is not a way round the counsellors' secrecy)."""
    out = {}
    for f in kind.fields:
        if kind.sensitive and f.type in ("text", "textarea", "id_number", "choice", "bool"):
            continue
        name = "person" if f.type == "id_number" else f.name
        value = getattr(obj, name, None)
        if hasattr(value, "pk"):
            value = str(value)
        elif value is not None and not isinstance(value, (int, str, bool)):
            value = str(value)
        out[name] = [None, value]
    return out


DOUBLE_SUBMIT_WINDOW = timedelta(minutes=2)


def _refuse_double_submit(kind: Kind, obj, user, data: dict) -> None:
    """The same user entering the same record again within two minutes is a double submit (the form posted
    twice), not a second visit or call: refused with a message. Encrypted fields cannot be compared in SQL
    and are left out of the comparison."""
    from canlian.common.crypto import EncryptedTextField

    same = {
        name: value
        for name, value in data.items()
        if not isinstance(kind.model._meta.get_field(name), EncryptedTextField)
    }
    who = "counsellor" if kind.sensitive else "created_by"
    since = timezone.now() - DOUBLE_SUBMIT_WINDOW
    if kind.model.objects.filter(**same, **{who: user}, created_at__gte=since).exists():
        raise DomainError(f"您刚刚已登记过相同的{kind.label}（可能是重复提交），请在列表中查看")


@transaction.atomic
def record_create(*, acting_user, kind: Kind, values: dict):
    """Enter one record of ``kind`` from parsed ``values`` (``forms.parse``)."""
    if not _may_enter(acting_user, kind):
        raise PermissionDenied(f"您无权录入{kind.label}")
    if not kind.create_here and "plan" not in values:
        raise PermissionDenied(f"{kind.label}在其计划页面录入")
    data = _resolve(acting_user, kind, values)
    if kind.code == "visit" and data.get("person") is None and data.get("institution") is None:
        raise ValidationFailed({"id_number": "请填写访视对象：残疾人身份证号或访视机构"})
    obj = kind.model(**data)
    if kind.sensitive:
        obj.counsellor = acting_user
    else:
        obj.created_by = acting_user
    _full_clean(obj)
    _refuse_double_submit(kind, obj, acting_user, data)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise DomainError("该记录已存在（可能是重复提交），请刷新后查看") from None
    audit_record(
        acting_user=acting_user,
        action=f"community.{kind.code}.create",
        obj=obj,
        changes=_audit_changes(kind, obj),
    )
    return obj


@transaction.atomic
def visit_to_project(*, acting_user, visit, name: str, owner: str, budget, year: int):
    """A need found on a visit becomes a proposed 实事 project of ``year`` in the visit's town."""
    from canlian.casework.models import Visit

    if not access.visible(acting_user, Visit, write=True).filter(pk=visit.pk).exists():
        raise PermissionDenied("未找到该访视，或您无权办理")
    project = record_create(
        acting_user=acting_user,
        kind=KINDS["project"],
        values={"year": year, "name": name, "town": visit.town_id, "owner": owner, "budget": budget},
    )
    project.visit = visit
    project.save(update_fields=["visit"])
    audit_record(
        acting_user=acting_user,
        action="community.visit.to_project",
        obj=visit,
        changes={"project": [None, project.pk], "name": [None, project.name]},
    )
    return project


# ---- activities and teams ------------------------------------------------------------------------------------


def _join(
    *, acting_user, obj, model, relation: str, id_number: str, code: str, verb: str, what: str, already: str
):
    """Add the person with ``id_number`` (looked up in the user's scope, audited) to ``obj.<relation>``."""
    from canlian.casework.views_common import person_lookup

    if not access.visible(acting_user, model, write=True).filter(pk=obj.pk).exists():
        raise PermissionDenied(f"未找到该{what}，或您无权办理")
    person = person_lookup(acting_user, id_number)
    members = getattr(obj, relation)
    if members.filter(pk=person.pk).exists():
        raise DomainError(f"{person.name}{already}")
    members.add(person)
    audit_record(
        acting_user=acting_user,
        action=f"community.{code}.{verb}",
        obj=obj,
        changes={"person": [None, person.name]},
    )
    return person


@transaction.atomic
def activity_attendee_add(*, acting_user, activity, id_number: str):
    from canlian.casework.models import Activity

    return _join(
        acting_user=acting_user,
        obj=activity,
        model=Activity,
        relation="attendees",
        id_number=id_number,
        code="activity",
        verb="attend",
        what="活动",
        already="已登记参加该活动",
    )


@transaction.atomic
def team_member_add(*, acting_user, team, id_number: str):
    from canlian.casework.models import InterestTeam

    return _join(
        acting_user=acting_user,
        obj=team,
        model=InterestTeam,
        relation="members",
        id_number=id_number,
        code="team",
        verb="member_add",
        what="队伍",
        already="已是该队伍队员",
    )


@transaction.atomic
def activity_photo_add(*, acting_user, activity, name: str, content: bytes, content_type: str = ""):
    from canlian.casework.models import Activity, ActivityPhoto

    if not access.visible(acting_user, Activity, write=True).filter(pk=activity.pk).exists():
        raise PermissionDenied("未找到该活动，或您无权上传照片")
    if not content:
        raise ValidationFailed({"file": "照片为空"})
    if len(content) > MAX_PHOTO:
        raise ValidationFailed({"file": "照片不能超过 10 MB"})
    if content_type not in PHOTO_TYPES:
        raise ValidationFailed({"file": "只能上传 jpg、png、gif 或 webp 图片"})
    name = (name or "照片").replace("/", "_").replace("\\", "_")[:200]
    photo = ActivityPhoto.objects.create(
        activity=activity,
        name=name,
        content_type=content_type[:100],
        uploaded_by=acting_user,
        **ActivityPhoto.stored(content),
    )
    audit_record(
        acting_user=acting_user,
        action="community.activity.photo_add",
        obj=activity,
        changes={"attachment": [None, name], "size": [None, len(content)]},
    )
    return photo


def activity_photo_read(*, acting_user, pk):
    """Decrypt one photo for the browser; an audited read, scoped like its activity."""
    from canlian.casework.models import Activity, ActivityPhoto

    photo = (
        ActivityPhoto.objects.filter(activity__in=access.visible(acting_user, Activity), pk=pk)
        .select_related("activity")
        .first()
    )
    if photo is None:
        raise Http404("未找到该照片，或您无权查看")
    data = photo.data()
    audit_read(
        acting_user=acting_user,
        action="community.activity.photo_read",
        obj=photo.activity,
        changes={"attachment": [None, photo.name]},
    )
    return photo, data


# ---- reads ---------------------------------------------------------------------------------------------------


def record_get(user, kind: Kind, pk):
    """One record for its page: counselling records only to who may read their content (the read is
    audited); everyone else's scope for the open kinds. Out of scope: 404."""
    qs = access.content_visible(user, kind.model) if kind.sensitive else access.visible(user, kind.model)
    obj = qs.select_related(*kind.related).filter(pk=pk).first() if str(pk).isdigit() else None
    if obj is None:
        raise Http404(f"未找到该{kind.label}记录，或您无权查看")
    if kind.sensitive:
        content_read(acting_user=user, kind=kind, ids=[obj.pk], how="detail")
    return obj


def content_read(*, acting_user, kind: Kind, ids: list, how: str) -> None:
    """Every read of counselling content is an audit row: which records, and how (list, detail, export)."""
    if not ids:
        return
    audit_read(
        acting_user=acting_user,
        action=f"community.{kind.code}.read",
        object_type=kind.model._meta.label_lower,
        object_repr=f"{kind.label}（{len(ids)} 条）",
        changes={"records": [None, ids[:200]], "how": [None, how]},
    )
