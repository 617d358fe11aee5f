"""Login safety: lockout, password strength, session timeout, audit of logins."""

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from canlian.accounts.services import user_create
from canlian.common.exceptions import PermissionDenied, ValidationFailed
from canlian.common.models import AuditLog

LOGIN = "accounts:login"


def _login(client, username, password):
    return client.post(reverse(LOGIN), {"username": username, "password": password})


def test_login_success_is_audited(client, users):
    response = _login(client, "luzhi1", "Canlian#2023pw")
    assert response.status_code == 302
    log = AuditLog.objects.get(action="login", result="success")
    assert (log.username, log.role, log.ip) == ("luzhi1", "town_staff", "127.0.0.1")


def test_wrong_password_shows_chinese_message_and_is_audited(client, users):
    response = _login(client, "luzhi1", "wrong-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    assert AuditLog.objects.filter(action="login", result="failure", username="luzhi1").count() == 1


def test_five_failures_lock_the_account_for_15_minutes(client, users):
    for _ in range(5):
        _login(client, "luzhi1", "wrong-password")
    response = _login(client, "luzhi1", "Canlian#2023pw")
    assert response.status_code == 429
    assert "锁定15分钟" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    # another account is not affected
    assert _login(client, "mudu1", "Canlian#2023pw").status_code == 302


def test_four_failures_then_success_resets(client, users):
    for _ in range(4):
        _login(client, "luzhi1", "wrong-password")
    assert _login(client, "luzhi1", "Canlian#2023pw").status_code == 302


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Short#1a", False),  # 8 characters
        ("alllowercaseletters", False),  # one class
        ("lowercase123456", False),  # two classes
        ("Lowercase123456", True),
        ("lower-case-12345", True),
        ("Abcdefghij#", True),
    ],
)
def test_password_rules(password, ok):
    if ok:
        validate_password(password)
    else:
        with pytest.raises(ValidationError):
            validate_password(password)


def test_session_ends_after_30_idle_minutes():
    assert settings.SESSION_COOKIE_AGE == 1800
    # refreshed at most once a minute by common.middleware.SessionRefreshMiddleware (test_session_refresh.py)
    assert "canlian.common.middleware.SessionRefreshMiddleware" in settings.MIDDLEWARE
    assert settings.CANLIAN_SESSION_REFRESH_SECONDS == 60


def test_pages_need_login(client, db):
    response = client.get(reverse("registry:person_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse(LOGIN))


def test_only_admin_creates_users(users, towns):
    with pytest.raises(PermissionDenied):
        user_create(acting_user=users["district"], username="x1", role="leader", password="Lowercase123456")
    with pytest.raises(ValidationFailed) as exc:
        user_create(acting_user=users["admin"], username="x2", role="town_staff", password="weak")
    assert set(exc.value.errors) == {"town", "password"}
    user = user_create(
        acting_user=users["admin"],
        username="x3",
        role="town_staff",
        password="Lowercase123456",
        town=towns["东山镇"],
    )
    assert user.jurisdiction.name == "东山镇"
    assert AuditLog.objects.filter(action="user.create", object_id=str(user.pk), username="admin1").exists()
