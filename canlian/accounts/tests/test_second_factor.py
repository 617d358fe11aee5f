"""The admin and district roles sign in with a second factor (issue 10 §4): TOTP enrolled on a page with a QR
code and the secret as text, verified at each sign-in; 10 single-use recovery codes, stored hashed and shown
once; the admin can reset a user's second factor. Every step is audited."""

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client, override_settings
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from canlian.accounts.models import RecoveryCode
from canlian.common.models import AuditLog

PW = "Canlian#2023pw"
pytestmark = pytest.mark.usefixtures("second_factor_on")


@pytest.fixture
def second_factor_on(settings):
    settings.CANLIAN_SECOND_FACTOR_REQUIRED = True


def code_for(device, ahead: int = 0) -> str:
    """The code the phone shows now (``ahead`` steps later: a code not used yet on this device)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + ahead)
    return f"{totp.token():0{device.digits}d}"


def _login(client, username):
    return client.post(reverse("accounts:login"), {"username": username, "password": PW})


def enrol(client, username="district1") -> list[str]:
    """Sign in, follow the redirect to enrolment, confirm with a code; returns the recovery codes shown."""
    _login(client, username)
    page = client.get(reverse("accounts:security"))
    assert page["Location"].startswith(reverse("accounts:otp_enrol"))
    device = (
        TOTPDevice.objects.get(user__username=username)
        if TOTPDevice.objects.filter(user__username=username).exists()
        else None
    )
    enrol_page = client.get(page["Location"])
    device = TOTPDevice.objects.get(user__username=username)
    done = client.post(reverse("accounts:otp_enrol"), {"token": code_for(device)})
    assert done.status_code == 302 and enrol_page.status_code == 200
    shown = client.get(done["Location"]).content.decode()
    return [c.split("<", 1)[0] for c in shown.split('id="recovery-codes">', 1)[1].split("<li>")[1:]]


@pytest.mark.parametrize("role", ["admin", "district"])
def test_district_roles_must_enrol_then_work(users, role):
    client = Client()
    username = users[role].username
    _login(client, username)
    # nothing else until the second factor is set up
    response = client.get(reverse("accounts:security"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:otp_enrol"))
    page = client.get(reverse("accounts:otp_enrol")).content.decode()
    device = TOTPDevice.objects.get(user=users[role], confirmed=False)
    assert "<svg" in page and 'id="otp-qr"' in page  # the QR code, inline
    secret = page.split('id="otp-secret" class="fs-6">', 1)[1].split("<", 1)[0].replace(" ", "")
    import base64

    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key  # the same key as text
    wrong = client.post(
        reverse("accounts:otp_enrol"), {"token": "000000" if code_for(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and "验证码不正确" in wrong.content.decode()
    ok = client.post(reverse("accounts:otp_enrol"), {"token": code_for(device)})
    assert ok.status_code == 302
    codes_page = client.get(ok["Location"]).content.decode()
    assert codes_page.count("<li>") >= 10 and "只显示这一次" in codes_page
    assert client.get(reverse("accounts:security")).status_code == 200
    assert AuditLog.objects.filter(action="otp.enrol", result="success", username=username).exists()


def test_recovery_codes_are_hashed_shown_once_and_single_use(users):
    client = Client()
    codes = enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(user=users["district"]).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not any(c.replace("-", "") in h for c in codes for h in stored)
    assert check_password(codes[0].replace("-", ""), stored[0]) or any(
        check_password(codes[0].replace("-", ""), h) for h in stored
    )
    assert client.get(reverse("accounts:otp_codes"))["Location"]  # shown once: now a redirect

    second = Client()
    _login(second, "district1")
    assert second.get(reverse("home"))["Location"].startswith(reverse("accounts:otp_verify"))
    assert second.post(reverse("accounts:otp_verify"), {"token": codes[0]}).status_code == 302
    assert second.get(reverse("registry:person_list")).status_code == 200
    assert AuditLog.objects.filter(action="otp.recovery_use", username="district1").get().changes == {
        "count": 9
    }

    third = Client()
    _login(third, "district1")
    refused = third.post(reverse("accounts:otp_verify"), {"token": codes[0]})
    assert refused.status_code == 400 and "恢复码每个只能用一次" in refused.content.decode()
    assert third.get(reverse("registry:person_list")).status_code == 302


def test_sign_in_with_a_totp_code(users):
    enrol(Client())
    device = TOTPDevice.objects.get(user=users["district"])
    client = Client()
    _login(client, "district1")
    wrong = client.post(reverse("accounts:otp_verify"), {"token": "12345"})
    assert wrong.status_code == 400 and "验证码不正确" in wrong.content.decode()
    ok = client.post(
        reverse("accounts:otp_verify"),
        {"token": code_for(device, ahead=1), "next": reverse("registry:person_list")},
    )
    assert ok.status_code == 302 and ok["Location"] == reverse("registry:person_list")
    assert client.get(reverse("registry:person_list")).status_code == 200
    assert AuditLog.objects.filter(action="otp.verify", result="failure", username="district1").exists()
    assert AuditLog.objects.filter(action="otp.verify", result="success", username="district1").exists()


def test_admin_resets_a_users_second_factor(users):
    enrol(Client())
    admin = Client()
    admin.force_login(users["admin"])
    # the admin's own session must be verified too: enrol the admin
    enrol(admin, "admin1")
    response = admin.post(reverse("accounts:user_action", args=[users["district"].pk, "reset-otp"]))
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=users["district"]).exists()
    assert not RecoveryCode.objects.filter(user=users["district"]).exists()
    log = AuditLog.objects.get(action="otp.reset")
    assert (log.username, log.object_id) == ("admin1", str(users["district"].pk))
    client = Client()
    _login(client, "district1")
    assert client.get(reverse("home"))["Location"].startswith(reverse("accounts:otp_enrol"))


def test_town_staff_sign_in_without_a_second_factor(users):
    client = Client()
    _login(client, "luzhi1")
    assert client.get(reverse("registry:person_list")).status_code == 200


@override_settings(CANLIAN_DEMO_SIGNIN_EXEMPT=True, CANLIAN_DEMO_ALLOWED=True)
def test_demo_admin_signs_in_without_a_second_factor_under_dev_settings(make_user):
    make_user("demo_admin", "district_admin")
    client = Client()
    _login(client, "demo_admin")
    assert client.get(reverse("accounts:user_list")).status_code == 200
