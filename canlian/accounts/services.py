"""Writes to accounts: users, passwords, the second factor, command-line tokens. Every write is atomic,
checked against what the acting user may do, and audited."""

from __future__ import annotations

import base64
import getpass
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from canlian.common.audit import audit_record
from canlian.common.exceptions import DomainError, PermissionDenied, ValidationFailed

from . import access
from .models import CliToken, RecoveryCode, Role, User

SYSTEM_USERNAME = "system"
RECOVERY_CODE_COUNT = 10
TOKEN_PREFIX = "cl_"
TOKEN_MAX_DAYS = 90


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


def _require_admin(acting_user, message: str = "只有区残联管理员可以管理用户") -> None:
    if not (
        acting_user and (access.can_manage_users(acting_user) or acting_user.username == SYSTEM_USERNAME)
    ):
        raise PermissionDenied(message)


def _placement_errors(role: str, town, institution) -> dict[str, str]:
    errors: dict[str, str] = {}
    if role not in Role.values:
        errors["role"] = "无效的角色"
    if role == Role.TOWN_STAFF and town is None:
        errors["town"] = "镇(街道)工作人员必须指定所属镇(街道)"
    if role == Role.INSTITUTION_STAFF and institution is None:
        errors["institution"] = "机构工作人员必须指定所属服务机构"
    elif role != Role.INSTITUTION_STAFF and institution is not None and role in Role.values:
        errors["institution"] = f"只有机构工作人员可以指定所属服务机构，{Role(role).label}不能指定"
    return errors


def _password_errors(password: str, user: User) -> dict[str, str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return {"password": "；".join(exc.messages)}
    return {}


def _locate(user: User) -> str:
    if user.institution_id:
        return user.institution.name
    return user.jurisdiction.name if user.jurisdiction_id else "全区"


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
    """A new account. Its first password must be changed at the first sign-in.

    ``institution_assigned_later``: institution staff whose institution is assigned afterwards (the demo designates its
    institutions after it has made the users); the web and the CLI never pass it."""
    if check_permission:
        _require_admin(acting_user, "只有区残联管理员可以新建用户")
    username = (username or "").strip()
    errors = _placement_errors(role, town, institution)
    if institution_assigned_later:
        errors.pop("institution", None)
    if not username:
        errors["username"] = "请填写用户名"
    elif User.objects.filter(username=username).exists():
        errors["username"] = f"用户名“{username}”已存在"
    candidate = User(username=username, full_name=full_name, role=role)
    errors.update(_password_errors(password, candidate))
    if errors:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username,
                password=password,
                role=role,
                jurisdiction=town if role == Role.TOWN_STAFF else None,
                institution=institution if role == Role.INSTITUTION_STAFF else None,
                full_name=full_name,
                is_staff=role == Role.DISTRICT_ADMIN,
                must_change_password=True,
            )
    except IntegrityError:  # the same form sent twice at once: the other request made it
        raise ValidationFailed({"username": f"用户名“{username}”已存在"}) from None
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


@transaction.atomic
def user_update(
    *, acting_user: User, user: User, role: str, town=None, institution=None, full_name: str = ""
) -> User:
    """Change an account's role, town or institution, and name."""
    _require_admin(acting_user)
    user = User.objects.select_for_update().get(pk=user.pk)
    errors = _placement_errors(role, town, institution)
    if user.pk == acting_user.pk and role != Role.DISTRICT_ADMIN:
        errors["role"] = "不能取消自己的管理员角色"
    if errors:
        raise ValidationFailed(errors)
    before = {"role": user.role, "jurisdiction": _locate(user), "full_name": user.full_name}
    user.role = role
    user.jurisdiction = town if role == Role.TOWN_STAFF else None
    user.institution = institution if role == Role.INSTITUTION_STAFF else None
    user.full_name = full_name
    user.is_staff = role == Role.DISTRICT_ADMIN
    user.save(update_fields=["role", "jurisdiction", "institution", "full_name", "is_staff"])
    after = {"role": user.role, "jurisdiction": _locate(user), "full_name": user.full_name}
    changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if changes:
        audit_record(acting_user=acting_user, action="user.update", obj=user, changes=changes)
    return user


def temporary_password() -> str:
    """A one-time password that passes the validators (upper, lower, digits, a symbol; 14 characters)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
    body = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"{body[:5]}-{secrets.randbelow(90) + 10}{body[5:]}Aa"


@transaction.atomic
def user_password_reset(*, acting_user: User, user: User) -> str:
    """The admin sets a new temporary password (returned, to hand over); it must be changed at sign-in."""
    _require_admin(acting_user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.username == SYSTEM_USERNAME:
        raise PermissionDenied("系统账号不能登录，不能重置密码")
    password = temporary_password()
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    audit_record(acting_user=acting_user, action="user.password_reset", obj=user)
    return password


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str, new_password2: str) -> User:
    """A user changes their own password (the forced change after a first or reset password, too)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    errors: dict[str, str] = {}
    if not user.check_password(old_password):
        errors["old_password"] = "原密码不正确"
    if new_password != new_password2:
        errors["new_password2"] = "两次输入的新密码不一致"
    elif new_password == old_password:
        errors["new_password"] = "新密码不能与原密码相同"
    else:
        errors.update(
            {
                ("new_password" if k == "password" else k): v
                for k, v in _password_errors(new_password, user).items()
            }
        )
    if errors:
        raise ValidationFailed(errors)
    user.set_password(new_password)
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    audit_record(acting_user=user, action="user.password_change", obj=user)
    return user


@transaction.atomic
def user_unlock(*, acting_user: User, user: User) -> int:
    """Lift a lockout after repeated failed sign-ins (django-axes); returns the number of records cleared."""
    from axes.utils import reset

    _require_admin(acting_user)
    cleared = reset(username=user.username)
    audit_record(acting_user=acting_user, action="user.unlock", obj=user, changes={"count": cleared})
    return cleared


def is_locked(user: User) -> bool:
    from axes.models import AccessAttempt

    return AccessAttempt.objects.filter(
        username=user.username, failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    ).exists()


@transaction.atomic
def user_set_active(*, acting_user: User, user: User, active: bool) -> User:
    """Deactivate (or reactivate) an account; a deactivated account's command-line tokens are revoked."""
    _require_admin(acting_user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.pk == acting_user.pk and not active:
        raise ValidationFailed({"is_active": "不能停用自己的账号"})
    if user.is_active == active:
        return user
    user.is_active = active
    user.save(update_fields=["is_active"])
    if not active:
        CliToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    changes = {"is_active": [not active, active]}
    if active:
        audit_record(acting_user=acting_user, action="user.activate", obj=user, changes=changes)
    else:
        audit_record(acting_user=acting_user, action="user.deactivate", obj=user, changes=changes)
    return user


# ---- second factor (TOTP and recovery codes) ------------------------------------------------------------


def needs_second_factor(user) -> bool:
    """The admin and district roles sign in with a second factor (dev settings may exempt the demo users)."""
    if not getattr(settings, "CANLIAN_SECOND_FACTOR_REQUIRED", True):
        return False
    if user.role not in settings.CANLIAN_SECOND_FACTOR_ROLES:
        return False
    return not demo_exempt(user)


def demo_exempt(user) -> bool:
    """Demo accounts skip the second factor and the forced change only under dev settings that allow demo data
    (never in production: there they cannot sign in at all)."""
    if not (getattr(settings, "CANLIAN_DEMO_SIGNIN_EXEMPT", False) and settings.CANLIAN_DEMO_ALLOWED):
        return False
    from canlian.registry.demo import DEMO_USERNAMES

    return user.username in DEMO_USERNAMES


def totp_device(user, *, confirmed: bool | None = True):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    qs = TOTPDevice.objects.filter(user=user)
    if confirmed is not None:
        qs = qs.filter(confirmed=confirmed)
    return qs.order_by("-pk").first()


@dataclass
class Enrolment:
    device: object
    secret: str  # base32, as authenticator apps take it typed in
    url: str  # otpauth:// for the QR code


@transaction.atomic
def totp_enrol_start(*, user: User) -> Enrolment:
    """An unconfirmed TOTP device for the user (reused until confirmed); a confirmed one must be reset first."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if totp_device(user, confirmed=True):
        raise ValidationFailed({"device": "您已绑定动态验证码，如需更换请联系管理员重置"})
    device = totp_device(user, confirmed=False) or TOTPDevice.objects.create(
        user=user, name="动态验证码", confirmed=False
    )
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return Enrolment(device=device, secret=secret, url=device.config_url)


def _recovery_codes_new(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODE_COUNT)]
    codes = [f"{c[:5]}-{c[5:]}" for c in codes]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=make_password(c.replace("-", ""))) for c in codes]
    )
    return codes


@transaction.atomic
def totp_enrol_confirm(*, user: User, token: str) -> tuple[object, list[str]]:
    """Confirm the enrolment with a code from the app; returns the device and 10 recovery codes (shown once)."""
    device = totp_device(user, confirmed=False)
    if device is None:
        raise ValidationFailed({"token": "没有待确认的动态验证码，请重新开始绑定"})
    if not device.verify_token((token or "").strip()):
        audit_record(acting_user=user, action="otp.enrol", obj=user, result="failure", detail="验证码不正确")
        raise ValidationFailed({"token": "验证码不正确或已过期，请输入手机上显示的6位数字"})
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_new(user)
    audit_record(acting_user=user, action="otp.enrol", obj=user, changes={"count": len(codes)})
    return device, codes


def second_factor_verify(*, user: User, code: str):
    """A TOTP code or an unused recovery code; returns the device to mark the session verified, or raises."""
    code = (code or "").strip().replace(" ", "")
    device = totp_device(user)
    if device is None:
        raise ValidationFailed({"token": "尚未绑定动态验证码"})
    with transaction.atomic():
        if code.isdigit() and len(code) == 6 and device.verify_token(code):
            audit_record(acting_user=user, action="otp.verify", obj=user, detail="动态验证码")
            return device
        plain = code.replace("-", "")
        for rc in RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True):
            if check_password(plain, rc.code_hash):
                rc.used_at = timezone.now()
                rc.save(update_fields=["used_at"])
                left = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
                audit_record(acting_user=user, action="otp.recovery_use", obj=user, changes={"count": left})
                return device
    audit_record(acting_user=user, action="otp.verify", obj=user, result="failure", detail="验证码不正确")
    raise ValidationFailed({"token": "验证码不正确或已过期（恢复码每个只能用一次）"})


@transaction.atomic
def second_factor_reset(*, acting_user: User, user: User) -> int:
    """The admin removes a user's second factor (lost phone): the user enrols again at the next sign-in."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    _require_admin(acting_user)
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    audit_record(acting_user=acting_user, action="otp.reset", obj=user, changes={"count": removed})
    return removed


# ---- command-line tokens ---------------------------------------------------------------------------------


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def cli_token_create(*, user: User, name: str = "", days: int = 30) -> tuple[CliToken, str]:
    """A token for the user's own command-line work; the raw token is returned once and never stored."""
    if not user.is_active:
        raise PermissionDenied("账号已停用")
    if not isinstance(days, int) or not 1 <= days <= TOKEN_MAX_DAYS:
        raise ValidationFailed({"days": f"有效天数应为 1 到 {TOKEN_MAX_DAYS} 天"})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = CliToken.objects.create(
        user=user,
        name=(name or "").strip()[:100],
        prefix=raw[:10],
        digest=_digest(raw),
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(acting_user=user, action="cli_token.create", obj=token, changes={"days": days})
    return token, raw


@transaction.atomic
def cli_token_revoke(*, acting_user: User, token: CliToken) -> CliToken:
    if token.user_id != acting_user.pk and not access.can_manage_users(acting_user):
        raise PermissionDenied("只能撤销自己的令牌")
    token = CliToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(acting_user=acting_user, action="cli_token.revoke", obj=token)
    return token


class IdentityRefused(DomainError):
    """The command line could not prove who runs it."""


def cli_token_authenticate(raw: str) -> User:
    """The active user a token belongs to, if it is known, unexpired and not revoked; audited either way."""
    raw = (raw or "").strip()
    token = CliToken.objects.select_related("user").filter(digest=_digest(raw)).first() if raw else None
    now = timezone.now()
    problem = None
    if token is None:
        problem = "令牌无效"
    elif token.revoked_at is not None:
        problem = "令牌已撤销"
    elif token.expires_at <= now:
        problem = "令牌已过期"
    elif not token.user.is_active:
        problem = "令牌所属账号已停用"
    if problem:
        audit_record(
            acting_user=token.user if token else None,
            action="cli.identity",
            object_type="accounts.clitoken",
            object_id=token.pk if token else "",
            object_repr=raw[:10],
            result="failure",
            detail=problem,
        )
        raise IdentityRefused(f"{problem}：请在网页“命令行令牌”中重新创建")
    CliToken.objects.filter(pk=token.pk).update(last_used_at=now)
    audit_record(acting_user=token.user, action="cli.identity", obj=token, detail="令牌")
    return token.user


def cli_password_authenticate(username: str, password: str) -> User:
    """The active user whose password this is; a failure is audited and counts toward nothing else."""
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None or not user.has_usable_password() or not user.check_password(password or ""):
        audit_record(
            acting_user=None,
            username=username[:150],
            action="cli.identity",
            object_type="accounts.user",
            object_repr=username[:150],
            result="failure",
            detail="密码错误或账号不存在",
        )
        raise IdentityRefused(f"用户 {username} 的密码不正确，或账号不存在、已停用")
    if is_locked(user):
        raise IdentityRefused(f"用户 {username} 因多次输错密码已被锁定，请联系管理员解锁")
    audit_record(acting_user=user, action="cli.identity", obj=user, detail="密码")
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
        password = getpass.getpass("新用户的初始密码 / password: ")
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
    print(f"已创建用户 {user.username}（{user.role_label}），首次登录须修改密码 / user created")
    return 0
