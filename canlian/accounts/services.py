"""Writes to accounts: creating users, audited."""

from __future__ import annotations

import getpass

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from canlian.common.audit import audit_record
from canlian.common.exceptions import PermissionDenied, ValidationFailed

from . import access
from .models import Role, User

SYSTEM_USERNAME = "system"


def system_user() -> User:
    """The account that command-line and scheduled work is attributed to (cannot log in)."""
    user, created = User.objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={"role": Role.DISTRICT_STAFF, "full_name": "系统（命令行）"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def user_create(
    *,
    acting_user: User | None,
    username: str,
    role: str,
    password: str,
    town=None,
    institution=None,
    full_name: str = "",
    check_permission: bool = True,
    institution_assigned_later: bool = False,
) -> User:
    """A staff account. Town staff belong to a town; institution staff to exactly one institution (they see
    only its cases), and no other role may be bound to an institution. ``institution_assigned_later`` is for
    the demo only: its institution login is made before the demo institutions exist and the casework demo
    assigns it (audited ``user.institution``); until then it sees nothing."""
    if check_permission and not (
        acting_user and (access.can_manage_users(acting_user) or acting_user.username == SYSTEM_USERNAME)
    ):
        raise PermissionDenied("只有区残联管理员可以新建用户")
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = "无效的角色"
    if role == Role.TOWN_STAFF and town is None:
        errors["town"] = "镇(街道)工作人员必须指定所属镇(街道)"
    if role == Role.INSTITUTION_STAFF and institution is None and not institution_assigned_later:
        errors["institution"] = "机构工作人员必须指定所属服务机构"
    elif role != Role.INSTITUTION_STAFF and institution is not None and role in Role.values:
        errors["institution"] = f"只有机构工作人员可以指定所属服务机构，{Role(role).label}不能指定"
    if User.objects.filter(username=username).exists():
        errors["username"] = f"用户名“{username}”已存在"
    candidate = User(username=username, full_name=full_name, role=role)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        errors["password"] = "；".join(exc.messages)
    if errors:
        raise ValidationFailed(errors)
    user = User.objects.create_user(
        username=username,
        password=password,
        role=role,
        jurisdiction=town if role == Role.TOWN_STAFF else None,
        institution=institution if role == Role.INSTITUTION_STAFF else None,
        full_name=full_name,
        is_staff=role == Role.DISTRICT_ADMIN,
    )
    audit_record(
        acting_user=acting_user,
        action="user.create",
        obj=user,
        changes={
            "role": [None, role],
            "jurisdiction": [None, town.name if town else "全区"],
            **({"institution": [None, institution.name]} if user.institution_id else {}),
        },
    )
    return user


FIELD_LABELS = {
    "role": "角色",
    "town": "镇(街道)（--town）",
    "institution": "所属机构（--institution）",
    "username": "用户名",
    "password": "密码",
}


def institution_find(text: str):
    """An institution by its number or its exact name (the CLI's ``--institution``), or None."""
    from canlian.institutions.models import Institution

    text = (text or "").strip()
    if text.isdigit():
        found = Institution.objects.filter(pk=int(text)).first()
        if found is not None:
            return found
    return Institution.objects.filter(name=text).first() if text else None


def createuser_cli(*, username, role, town, full_name, password, acting_user, institution=None) -> int:
    from canlian.registry.models import Region

    town_obj = None
    if town:
        town_obj = Region.objects.filter(code=town, level=Region.Level.TOWN).first()
        if town_obj is None:
            print(f"未知的镇(街道)代码：{town}")
            return 2
    inst_obj = None
    if institution is not None:
        inst_obj = institution_find(institution)
        if inst_obj is None:
            print(f"未找到服务机构“{institution}”：请填写机构编号或完整的机构名称")
            return 2
    if not password:
        password = getpass.getpass("密码 / password: ")
    try:
        user = user_create(
            acting_user=acting_user,
            username=username,
            role=role,
            password=password,
            town=town_obj,
            institution=inst_obj,
            full_name=full_name,
        )
    except ValidationFailed as exc:
        for field, msg in exc.errors.items():
            print(f"{FIELD_LABELS.get(field, field)}：{msg}")
        return 1
    except PermissionDenied as exc:
        print(exc.message)
        return 1
    print(f"已创建用户 {user.username}（{user.role_label}） / user created")
    return 0
