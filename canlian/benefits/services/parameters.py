"""Adding a dated parameter value. A change of standard is a new value, never an edit of an old one."""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction

from canlian.accounts import access
from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed

from ..models import ParameterValue
from ..parameters import ParameterError, coerce, shipped


def parameter_value_add(
    *, acting_user, name: str, valid_from: date, value: str, reference: str
) -> ParameterValue:
    if not access.can_manage_parameters(acting_user):
        raise PermissionDenied("只有区残联管理员或业务科室可以调整参数")
    params = shipped()
    if name not in params.parameters:
        raise ValidationFailed({"name": f"未定义的参数 {name}"})
    param = params[name]
    errors = {}
    try:
        coerced = coerce(param.kind, value.strip())
    except (ParameterError, ValueError, ArithmeticError) as exc:
        errors["value"] = f"取值无效：{exc}"
        coerced = None
    if not reference.strip():
        errors["reference"] = "请填写调整依据（文件名称和文号）"
    if (
        any(v.valid_from == valid_from for v in param.values)
        or ParameterValue.objects.filter(name=name, valid_from=valid_from).exists()
    ):
        errors["valid_from"] = f"{valid_from:%Y-%m-%d} 已有取值；调整标准请另选生效日期，历史取值不可修改"
    if errors:
        raise ValidationFailed(errors)
    text = str(coerced).lower() if isinstance(coerced, bool) else str(coerced)
    try:
        with transaction.atomic():
            pv = ParameterValue.objects.create(
                name=name,
                valid_from=valid_from,
                value=text,
                reference=reference.strip(),
                created_by=acting_user,
            )
            audit_record(
                acting_user=acting_user,
                action="parameter.add",
                object_type="benefits.parameter",
                object_id=name,
                object_repr=param.description[:200],
                changes={"valid_from": [None, valid_from.isoformat()], "value": [None, text]},
                detail=reference.strip(),
            )
    except IntegrityError:
        raise ValidationFailed({"valid_from": f"{valid_from:%Y-%m-%d} 已有取值"}) from None
    return pv
