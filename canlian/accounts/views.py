"""Sign-in, the sign-in steps (second factor, forced password change), the user's own security page and the
admin's user administration. Writes go through ``services``; errors come back in Chinese."""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as Forbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login

from canlian.common.exceptions import DomainError, ValidationFailed

from . import access, services
from .forms import LoginForm
from .middleware import sign_in_step
from .models import CliToken, Role, User

_SHOW_ONCE = "accounts_show_once"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@require_POST
def logout_view(request):
    logout(request)
    return redirect("accounts:login")


def _next_url(request, default: str = "home"):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return redirect(default).url


def _after_step(request):
    """Where to go once a step is done: the next step, else the page first asked for."""
    step = sign_in_step(request)
    target = _next_url(request)
    if step:
        return redirect(f"{redirect(step).url}?{urlencode({'next': target})}")
    return redirect(target)


def _show_once(request, key: str, value) -> None:
    request.session.setdefault(_SHOW_ONCE, {})[key] = value
    request.session.modified = True


def _take_once(request, key: str):
    stash = request.session.get(_SHOW_ONCE, {})
    value = stash.pop(key, None)
    request.session.modified = True
    return value


# ---- sign-in steps ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request):
    errors = {}
    if request.method == "POST":
        try:
            user = services.password_change(
                user=request.user,
                old_password=request.POST.get("old_password", ""),
                new_password=request.POST.get("new_password", ""),
                new_password2=request.POST.get("new_password2", ""),
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            # keep request.user (it carries the second factor's is_verified), with the new password
            request.user.password, request.user.must_change_password = (
                user.password,
                user.must_change_password,
            )
            update_session_auth_hash(request, request.user)
            messages.success(request, "密码已修改")
            return _after_step(request)
    return render(
        request,
        "accounts/password_change.html",
        {"errors": errors, "forced": request.user.must_change_password, "next": _next_url(request)},
        status=400 if errors else 200,
    )


def _qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=5, title="动态验证码二维码")


@login_required
@require_http_methods(["GET", "POST"])
def otp_enrol(request):
    errors = {}
    if services.totp_device(request.user):
        messages.info(request, "您已绑定动态验证码")
        return redirect("accounts:security")
    try:
        enrolment = services.totp_enrol_start(user=request.user)
    except ValidationFailed as exc:
        messages.error(request, exc.message)
        return redirect("accounts:security")
    if request.method == "POST":
        try:
            device, codes = services.totp_enrol_confirm(
                user=request.user, token=request.POST.get("token", "")
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            otp_login(request, device)
            _show_once(request, "recovery_codes", codes)
            return redirect(f"{redirect('accounts:otp_codes').url}?{urlencode({'next': _next_url(request)})}")
    return render(
        request,
        "accounts/otp_enrol.html",
        {
            "errors": errors,
            "qr_svg": _qr_svg(enrolment.url),
            "secret": " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4)),
            "next": _next_url(request),
        },
        status=400 if errors else 200,
    )


@login_required
@require_GET
def otp_codes(request):
    codes = _take_once(request, "recovery_codes")
    if not codes:
        return redirect(_next_url(request))
    return render(request, "accounts/otp_codes.html", {"codes": codes, "next": _next_url(request)})


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request):
    if not services.totp_device(request.user):
        return redirect("accounts:otp_enrol")
    errors = {}
    if request.method == "POST":
        try:
            device = services.second_factor_verify(user=request.user, code=request.POST.get("token", ""))
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            otp_login(request, device)
            return _after_step(request)
    return render(
        request,
        "accounts/otp_verify.html",
        {"errors": errors, "next": _next_url(request)},
        status=400 if errors else 200,
    )


# ---- the user's own security page: password, second factor, command-line tokens ------------------------


@login_required
@require_http_methods(["GET", "POST"])
def security(request):
    errors = {}
    if request.method == "POST":
        days = request.POST.get("days", "30").strip()
        try:
            _, raw = services.cli_token_create(
                user=request.user,
                name=request.POST.get("name", ""),
                days=int(days) if days.isdigit() else -1,
            )
        except DomainError as exc:
            errors = getattr(exc, "errors", None) or {"token": exc.message}
        else:
            _show_once(request, "cli_token", raw)
            return redirect("accounts:security")
    return render(
        request,
        "accounts/security.html",
        {
            "errors": errors,
            "new_token": _take_once(request, "cli_token"),
            "tokens": CliToken.objects.filter(user=request.user),
            "has_totp": bool(services.totp_device(request.user)),
            "codes_left": request.user.recovery_codes.filter(used_at__isnull=True).count(),
            "needs_totp": services.needs_second_factor(request.user),
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(CliToken, pk=pk)
    try:
        services.cli_token_revoke(acting_user=request.user, token=token)
    except DomainError as exc:
        raise Forbidden(exc.message) from None
    messages.success(request, f"令牌 {token.prefix}… 已撤销")
    if token.user_id != request.user.pk:
        return redirect("accounts:user_detail", pk=token.user_id)
    return redirect("accounts:security")


# ---- user administration (district admin) ----------------------------------------------------------------


def _admin_only(request) -> None:
    if not access.can_manage_users(request.user):
        raise Forbidden("只有区残联管理员可以管理用户")


def _placement_choices():
    from canlian.institutions.models import Institution
    from canlian.registry.models import Region

    return {
        "roles": Role.choices,
        "towns": Region.objects.filter(level=Region.Level.TOWN).order_by("code"),
        "institutions": Institution.objects.order_by("name"),
    }


def _placement_from_post(post, choices):
    town_id, inst_id = post.get("town", ""), post.get("institution", "")
    town = choices["towns"].filter(pk=town_id).first() if town_id.isdigit() else None
    institution = choices["institutions"].filter(pk=inst_id).first() if inst_id.isdigit() else None
    return town, institution


@login_required
@require_GET
def user_list(request):
    _admin_only(request)
    users = User.objects.exclude(username=services.SYSTEM_USERNAME).select_related(
        "jurisdiction", "institution"
    )
    q = request.GET.get("q", "").strip()
    if q:
        users = users.filter(username__icontains=q) | users.filter(full_name__icontains=q)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    enrolled = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    rows = [
        {"u": u, "totp": u.pk in enrolled, "locked": services.is_locked(u)}
        for u in users.order_by("username")
    ]
    return render(request, "accounts/user_list.html", {"rows": rows, "q": q})


@login_required
@require_http_methods(["GET", "POST"])
def user_create(request):
    _admin_only(request)
    choices = _placement_choices()
    errors, values = {}, {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "").strip()
            for k in ("username", "full_name", "role", "town", "institution")
        }
        town, institution = _placement_from_post(request.POST, choices)
        password = request.POST.get("password", "")
        try:
            user = services.user_create(
                acting_user=request.user,
                username=values["username"],
                role=values["role"],
                password=password,
                town=town,
                institution=institution,
                full_name=values["full_name"],
            )
        except ValidationFailed as exc:
            errors = exc.errors
        except DomainError as exc:
            errors = {"form": exc.message}
        else:
            messages.success(request, f"已新建用户 {user.username}，首次登录须修改密码")
            return redirect("accounts:user_detail", pk=user.pk)
    return render(
        request,
        "accounts/user_form.html",
        {"errors": errors, "values": values, "creating": True, **choices},
        status=400 if errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def user_detail(request, pk):
    _admin_only(request)
    target = get_object_or_404(User.objects.exclude(username=services.SYSTEM_USERNAME), pk=pk)
    choices = _placement_choices()
    errors = {}
    values = {
        "username": target.username,
        "full_name": target.full_name,
        "role": target.role,
        "town": str(target.jurisdiction_id or ""),
        "institution": str(target.institution_id or ""),
    }
    if request.method == "POST":
        values.update(
            {k: request.POST.get(k, "").strip() for k in ("full_name", "role", "town", "institution")}
        )
        town, institution = _placement_from_post(request.POST, choices)
        try:
            services.user_update(
                acting_user=request.user,
                user=target,
                role=values["role"],
                town=town,
                institution=institution,
                full_name=values["full_name"],
            )
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            messages.success(request, "已保存")
            return redirect("accounts:user_detail", pk=target.pk)
    return render(
        request,
        "accounts/user_form.html",
        {
            "errors": errors,
            "values": values,
            "target": target,
            "creating": False,
            "temporary_password": _take_once(request, f"temporary_password:{target.pk}"),
            "locked": services.is_locked(target),
            "has_totp": bool(services.totp_device(target)),
            "tokens": CliToken.objects.filter(user=target, revoked_at__isnull=True),
            **choices,
        },
        status=400 if errors else 200,
    )


@login_required
@require_POST
def user_action(request, pk, action):
    _admin_only(request)
    target = get_object_or_404(User.objects.exclude(username=services.SYSTEM_USERNAME), pk=pk)
    try:
        if action == "reset-password":
            _show_once(
                request,
                f"temporary_password:{target.pk}",
                services.user_password_reset(acting_user=request.user, user=target),
            )
            messages.success(request, "已重置密码：请把下方的临时密码交给本人，登录后须立即修改")
        elif action == "unlock":
            services.user_unlock(acting_user=request.user, user=target)
            messages.success(request, "已解除锁定")
        elif action == "deactivate":
            services.user_set_active(acting_user=request.user, user=target, active=False)
            messages.success(request, "已停用该账号，其命令行令牌已全部撤销")
        elif action == "activate":
            services.user_set_active(acting_user=request.user, user=target, active=True)
            messages.success(request, "已启用该账号")
        elif action == "reset-otp":
            services.second_factor_reset(acting_user=request.user, user=target)
            messages.success(request, "已重置动态验证码：该用户下次登录时重新绑定")
        else:
            raise Forbidden("未知的操作")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("accounts:user_detail", pk=target.pk)
