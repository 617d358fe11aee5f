"""Sign-in steps after the password: the second factor (enrol, then verify) and the forced password change.

Until they are done, every page but the steps themselves (and sign-out) redirects to the next step."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseForbidden
from django.shortcuts import redirect

from . import services

STEP_VIEWS = frozenset(
    {
        "accounts:login",
        "accounts:logout",
        "accounts:otp_verify",
        "accounts:otp_enrol",
        "accounts:otp_codes",
        "accounts:password_change",
    }
)


def sign_in_step(request) -> str | None:
    """The URL name of the step the signed-in user must do next, or None."""
    user = request.user
    if not user.is_authenticated:
        return None
    if services.needs_second_factor(user) and not user.is_verified():
        return "accounts:otp_verify" if services.totp_device(user) else "accounts:otp_enrol"
    if user.must_change_password and not services.demo_exempt(user):
        return "accounts:password_change"
    return None


class SignInStepsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or match.view_name in STEP_VIEWS:
            return None
        step = sign_in_step(request)
        if step is None:
            return None
        if request.headers.get("X-Requested-With") or request.headers.get("HX-Request"):
            # a fragment (a navigation badge, an htmx swap) must not receive the step's whole page
            return HttpResponseForbidden("请先完成登录验证（动态验证码或修改密码）")
        query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
        response = redirect(step)
        if query:
            response["Location"] += f"?{query}"
        return response
