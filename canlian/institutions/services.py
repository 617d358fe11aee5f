"""Writes on institutions: create, edit the particulars, move the status through the workflow."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.masking import mask_phone
from canlian.common.workflow import transition

from . import access
from .models import Institution

EDITABLE = ("name", "kind", "town", "address", "contact", "phone")


def _validate(values: dict) -> dict:
    errors = {}
    name = (values.get("name") or "").strip()
    if not name:
        errors["name"] = "请填写机构名称"
    if values.get("kind") not in Institution.Kind.values:
        errors["kind"] = "机构类型不正确"
    if values.get("town") is None:
        errors["town"] = "请选择所在镇(街道)"
    phone = "".join(str(values.get("phone") or "").split())
    if phone and not phone.replace("-", "").isdigit():
        errors["phone"] = "联系电话只能包含数字和“-”"
    if errors:
        raise ValidationFailed(errors)
    return {**values, "name": name, "phone": phone}


@transaction.atomic
def institution_create(
    *, acting_user, name: str, kind: str, town, address: str = "", contact: str = "", phone: str = ""
) -> Institution:
    if not access.can_manage_institutions(acting_user):
        raise PermissionDenied("您无权登记服务机构")
    v = _validate(
        {"name": name, "kind": kind, "town": town, "address": address, "contact": contact, "phone": phone}
    )
    if Institution.objects.filter(name=v["name"]).exists():
        raise ValidationFailed({"name": f"已有名为“{v['name']}”的机构"})
    inst = Institution.objects.create(**v, created_by=acting_user)
    audit_record(
        acting_user=acting_user,
        action="institution.create",
        obj=inst,
        changes={
            "name": [None, inst.name],
            "kind": [None, inst.kind],
            "town": [None, town.name],
            "phone": [None, mask_phone(inst.phone)],
        },
    )
    return inst


@transaction.atomic
def institution_update(*, acting_user, institution: Institution, **values) -> Institution:
    try:
        inst = access.institutions_manageable(acting_user).select_for_update().get(pk=institution.pk)
    except Institution.DoesNotExist:
        raise PermissionDenied("未找到该机构，或您无权修改") from None
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValidationFailed({f: "该项不能在此修改" for f in unknown})
    v = _validate({**{f: getattr(inst, f) for f in EDITABLE}, **values})
    if Institution.objects.filter(name=v["name"]).exclude(pk=inst.pk).exists():
        raise ValidationFailed({"name": f"已有名为“{v['name']}”的机构"})
    changes = {}
    for f in EDITABLE:
        old, new = getattr(inst, f), v[f]
        if old != new:
            setattr(inst, f, new)
            if f == "phone":
                changes[f] = [mask_phone(old), mask_phone(new)]
            elif f == "town":
                changes[f] = [old.name, new.name]
            else:
                changes[f] = [old, new]
    if changes:
        inst.save(update_fields=[*changes, "updated_at"])
        audit_record(acting_user=acting_user, action="institution.update", obj=inst, changes=changes)
    return inst


def institution_move(
    *,
    acting_user,
    institution: Institution,
    move: str,
    expected_state: str,
    note: str = "",
    designated_from: date | None = None,
    designated_to: date | None = None,
    state_reason: str = "",
) -> Institution:
    data = {}
    if move == "submit":
        if designated_from and designated_to and designated_to < designated_from:
            raise ValidationFailed({"designated_to": "认定截止日期不能早于起始日期"})
        data = {"designated_from": designated_from, "designated_to": designated_to}
    elif state_reason or move in {"return", "suspend", "revoke"}:
        data = {"state_reason": state_reason}
    return transition(
        institution, move, acting_user=acting_user, expected_state=expected_state, note=note, **data
    )
