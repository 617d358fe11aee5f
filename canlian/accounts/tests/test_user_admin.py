"""User administration in the web (issue 10 §4): the district admin creates users (town staff need a town,
institution staff an institution), resets passwords, unlocks and deactivates accounts; a first or reset password
must be changed before anything else; every write is audited; errors come back in Chinese, never a 500."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from canlian.accounts.models import CliToken, User
from canlian.accounts.services import cli_token_create
from canlian.common.models import AuditLog
from canlian.institutions.models import Institution
from canlian.institutions.services import institution_create

PW = "Canlian#2023pw"
NEW_PW = "Xinmima#2024ok"


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _login(client, username, password):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def _create(client, **values):
    data = {"username": "zhangsan", "full_name": "张三", "role": "town_staff", "password": "Chushi#2024pw"}
    data.update(values)
    return client.post(reverse("accounts:user_create"), data)


def test_admin_creates_a_town_clerk_who_must_change_the_password(users, towns):
    admin = _signed_in(users["admin"])
    response = _create(admin, town=towns["甪直镇"].pk)
    clerk = User.objects.get(username="zhangsan")
    assert response.status_code == 302 and response["Location"] == reverse(
        "accounts:user_detail", args=[clerk.pk]
    )
    assert (clerk.role, clerk.jurisdiction, clerk.must_change_password) == (
        "town_staff",
        towns["甪直镇"],
        True,
    )
    log = AuditLog.objects.get(action="user.create")
    assert (log.username, log.object_repr, log.changes["jurisdiction"]) == (
        "admin1",
        "张三",
        [None, "甪直镇"],
    )

    clerk_client = Client()
    assert _login(clerk_client, "zhangsan", "Chushi#2024pw").status_code == 302
    page = clerk_client.get(reverse("registry:person_list"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("accounts:password_change"))
    form = clerk_client.get(page["Location"])
    assert "请先修改密码再继续使用" in form.content.decode()
    bad = clerk_client.post(
        reverse("accounts:password_change"),
        {"old_password": "Chushi#2024pw", "new_password": "short", "new_password2": "short"},
    )
    assert bad.status_code == 400 and "密码" in bad.content.decode()
    done = clerk_client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "Chushi#2024pw",
            "new_password": NEW_PW,
            "new_password2": NEW_PW,
            "next": reverse("registry:person_list"),
        },
    )
    assert done.status_code == 302 and done["Location"] == reverse("registry:person_list")
    assert clerk_client.get(reverse("registry:person_list")).status_code == 200  # still signed in, now works
    clerk.refresh_from_db()
    assert not clerk.must_change_password and clerk.check_password(NEW_PW)
    assert AuditLog.objects.filter(action="user.password_change", username="zhangsan").exists()


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"role": "town_staff", "town": ""}, "town", "镇(街道)工作人员必须指定所属镇(街道)"),
        ({"role": "institution_staff"}, "institution", "机构工作人员必须指定所属服务机构"),
        ({"role": "nobody"}, "role", "无效的角色"),
        ({"username": ""}, "username", "请填写用户名"),
        ({"password": "abc"}, "password", "密码"),
    ],
)
def test_create_errors_are_chinese_and_name_the_field(users, towns, values, field, message):
    values = {"town": towns["甪直镇"].pk, **values}
    response = _create(_signed_in(users["admin"]), **values)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    ids = {"town": "u-town", "institution": "u-inst", "role": "u-role", "username": "u-username"}
    ids["password"] = "u-password"
    assert f'is-invalid" id="{ids[field]}"' in html  # the field in error is marked
    assert not User.objects.filter(username="zhangsan").exists()


def test_institution_staff_get_their_institution(users, towns):
    inst = institution_create(
        acting_user=users["district"],
        name="吴中区康复中心",
        kind=Institution.Kind.values[0],
        town=towns["甪直镇"],
    )
    _create(_signed_in(users["admin"]), username="kang1", role="institution_staff", institution=inst.pk)
    assert User.objects.get(username="kang1").institution == inst


def test_double_submit_gives_a_chinese_message_not_a_500(users, towns):
    admin = _signed_in(users["admin"])
    assert _create(admin, town=towns["甪直镇"].pk).status_code == 302
    again = _create(admin, town=towns["甪直镇"].pk)
    assert again.status_code == 400 and "用户名“zhangsan”已存在" in again.content.decode()
    assert User.objects.filter(username="zhangsan").count() == 1


def test_only_the_admin_manages_users(users, towns):
    for who in ("district", "town_luzhi", "auditor", "leader"):
        client = _signed_in(users[who])
        assert client.get(reverse("accounts:user_list")).status_code == 403
        assert _create(client, town=towns["甪直镇"].pk).status_code == 403
        target = users["town_mudu"].pk
        assert (
            client.post(reverse("accounts:user_action", args=[target, "reset-password"])).status_code == 403
        )
    assert not User.objects.filter(username="zhangsan").exists()
    assert _signed_in(users["admin"]).get(reverse("accounts:user_list")).status_code == 200


def test_reset_password_shows_it_once_and_forces_a_change(users):
    admin = _signed_in(users["admin"])
    clerk = users["town_luzhi"]
    url = reverse("accounts:user_action", args=[clerk.pk, "reset-password"])
    detail = admin.get(admin.post(url)["Location"]).content.decode()
    temporary = detail.split('id="temporary-password">', 1)[1].split("<", 1)[0]
    assert len(temporary) >= 10
    assert (
        'id="temporary-password"'
        not in admin.get(reverse("accounts:user_detail", args=[clerk.pk])).content.decode()
    )
    clerk.refresh_from_db()
    assert clerk.must_change_password and clerk.check_password(temporary)
    assert AuditLog.objects.get(action="user.password_reset").object_id == str(clerk.pk)
    other = Client()
    assert _login(other, "luzhi1", PW).status_code == 200  # the old password no longer works
    assert _login(other, "luzhi1", temporary).status_code == 302
    assert other.get(reverse("home"))["Location"].startswith(reverse("accounts:password_change"))


def test_unlock_a_locked_account(users):
    for _ in range(5):
        _login(Client(), "luzhi1", "wrong-password")
    assert _login(Client(), "luzhi1", PW).status_code == 429
    admin = _signed_in(users["admin"])
    page = admin.get(reverse("accounts:user_detail", args=[users["town_luzhi"].pk])).content.decode()
    assert "已锁定" in page
    admin.post(reverse("accounts:user_action", args=[users["town_luzhi"].pk, "unlock"]))
    assert _login(Client(), "luzhi1", PW).status_code == 302
    assert AuditLog.objects.filter(action="user.unlock", object_id=str(users["town_luzhi"].pk)).exists()


def test_deactivate_stops_sign_in_and_revokes_tokens(users):
    clerk = users["town_luzhi"]
    cli_token_create(user=clerk, days=5)
    admin = _signed_in(users["admin"])
    admin.post(reverse("accounts:user_action", args=[clerk.pk, "deactivate"]))
    clerk.refresh_from_db()
    assert not clerk.is_active
    assert not CliToken.objects.filter(user=clerk, revoked_at__isnull=True).exists()
    response = _login(Client(), "luzhi1", PW)
    assert response.status_code == 200 and "用户名或密码错误" in response.content.decode()
    log = AuditLog.objects.get(action="user.deactivate")
    assert log.changes == {"is_active": [True, False]}
    # the admin cannot lock themself out
    admin.post(reverse("accounts:user_action", args=[users["admin"].pk, "deactivate"]))
    users["admin"].refresh_from_db()
    assert users["admin"].is_active


def test_admin_changes_role_and_town(users, towns):
    admin = _signed_in(users["admin"])
    clerk = users["town_luzhi"]
    response = admin.post(
        reverse("accounts:user_detail", args=[clerk.pk]),
        {"full_name": "陆一", "role": "town_staff", "town": towns["木渎镇"].pk},
    )
    assert response.status_code == 302
    clerk.refresh_from_db()
    assert clerk.jurisdiction == towns["木渎镇"]
    log = AuditLog.objects.get(action="user.update")
    assert log.changes["jurisdiction"] == ["甪直镇", "木渎镇"]
    bad = admin.post(reverse("accounts:user_detail", args=[clerk.pk]), {"role": "town_staff", "town": ""})
    assert bad.status_code == 400 and "必须指定所属镇(街道)" in bad.content.decode()


def test_user_makes_and_revokes_a_cli_token_in_the_web(users):
    client = _signed_in(users["district"])
    response = client.post(reverse("accounts:security"), {"name": "月度发放", "days": "7"})
    page = client.get(response["Location"]).content.decode()
    raw = page.split('id="new-token">', 1)[1].split("<", 1)[0]
    token = CliToken.objects.get(user=users["district"])
    assert raw.startswith("cl_") and token.prefix == raw[:10] and raw not in token.digest
    assert 'id="new-token"' not in client.get(reverse("accounts:security")).content.decode()
    bad = client.post(reverse("accounts:security"), {"days": "365"})
    assert bad.status_code == 400 and "有效天数应为 1 到 90 天" in bad.content.decode()
    # another user cannot revoke it; its owner can
    assert (
        _signed_in(users["town_luzhi"]).post(reverse("accounts:token_revoke", args=[token.pk])).status_code
        == 403
    )
    client.post(reverse("accounts:token_revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


@override_settings(CANLIAN_DEMO_SIGNIN_EXEMPT=True, CANLIAN_DEMO_ALLOWED=True)
def test_demo_users_are_exempt_only_where_demo_data_is_allowed(make_user):
    from canlian.accounts.services import demo_exempt, needs_second_factor

    demo = make_user("demo_admin", "district_admin")
    demo.must_change_password = True
    demo.save()
    with override_settings(CANLIAN_SECOND_FACTOR_REQUIRED=True):
        assert demo_exempt(demo) and not needs_second_factor(demo)
        with override_settings(CANLIAN_DEMO_ALLOWED=False):  # production
            assert not demo_exempt(demo) and needs_second_factor(demo)
        with override_settings(CANLIAN_DEMO_SIGNIN_EXEMPT=False):
            assert not demo_exempt(demo) and needs_second_factor(demo)


def test_production_settings_never_exempt_demo_users():
    import ast
    from pathlib import Path

    from django.conf import settings

    source = (Path(settings.BASE_DIR) / "config" / "settings" / "production.py").read_text()
    assigned = {
        t.id: n.value.value
        for n in ast.parse(source).body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    assert assigned["CANLIAN_DEMO_SIGNIN_EXEMPT"] is False
    assert assigned["CANLIAN_SECOND_FACTOR_REQUIRED"] is True
    assert assigned["CANLIAN_DEMO_ALLOWED"] is False


def test_fragments_get_no_page_while_a_step_is_pending(users):
    """The navigation badges are fetched after the page: a pending step answers them 403, not its form."""
    clerk = users["town_luzhi"]
    clerk.must_change_password = True
    clerk.save()
    client = _signed_in(clerk)
    response = client.get(reverse("home"), headers={"X-Requested-With": "fetch"})
    assert response.status_code == 403 and "请先完成登录验证" in response.content.decode()
    assert client.get(reverse("home"))["Location"].startswith(reverse("accounts:password_change"))


def test_admin_creates_a_counsellor_in_the_web(users):
    admin = _signed_in(users["admin"])
    form = admin.get(reverse("accounts:user_create")).content.decode()
    assert '<option value="counsellor"' in form and "心理咨询师" in form
    response = _create(admin, username="xinli", role="counsellor")
    assert response.status_code == 302
    assert User.objects.get(username="xinli").role == "counsellor"
