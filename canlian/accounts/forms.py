from collections.abc import Callable

from django import forms
from django.contrib.auth.forms import AuthenticationForm

# Other apps refuse sign-in for their own reasons (the registry: demo accounts under production settings).
# Each callable takes the authenticated user and returns a Chinese message to refuse, or None.
_LOGIN_REFUSALS: list[Callable] = []


def login_refusal_register(check: Callable) -> None:
    if check not in _LOGIN_REFUSALS:
        _LOGIN_REFUSALS.append(check)


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "用户名或密码错误。连续失败5次将锁定15分钟。",
        "inactive": "该账号已停用。",
    }

    username = forms.CharField(
        label="用户名", widget=forms.TextInput(attrs={"autofocus": True, "class": "form-control"})
    )
    password = forms.CharField(
        label="密码", strip=False, widget=forms.PasswordInput(attrs={"class": "form-control"})
    )

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        for check in _LOGIN_REFUSALS:
            message = check(user)
            if message:
                raise forms.ValidationError(message, code="refused")
