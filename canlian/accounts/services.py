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
    full_name: str = "",
    check_permission: bool = True,
) -> User:
    if check_permission and not (
        acting_user and (access.can_manage_users(acting_user) or acting_user.username == SYSTEM_USERNAME)
    ):
        raise PermissionDenied("只有区残联管理员可以新建用户")
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = "无效的角色"
    if role == Role.TOWN_STAFF and town is None:
        errors["town"] = "镇(街道)工作人员必须指定所属镇(街道)"
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
        full_name=full_name,
        is_staff=role == Role.DISTRICT_ADMIN,
    )
    audit_record(
        acting_user=acting_user,
        action="user.create",
        obj=user,
        changes={"role": [None, role], "jurisdiction": [None, town.name if town else "全区"]},
    )
    return user


def createuser_cli(*, username, role, town, full_name, password, acting_user) -> int:
    from canlian.registry.models import Region

    town_obj = None
    if town:
        town_obj = Region.objects.filter(code=town, level=Region.Level.TOWN).first()
        if town_obj is None:
            print(f"未知的镇(街道)代码：{town}")
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
            full_name=full_name,
        )
    except ValidationFailed as exc:
        for field, msg in exc.errors.items():
            print(f"{field}: {msg}")
        return 1
    print(f"已创建用户 {user.username}（{user.role_label}） / user created")
    return 0
