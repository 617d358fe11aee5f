"""In a real browser (issue 10 §4): the admin enrols TOTP at the first sign-in, creates a town clerk; the clerk
signs in, is made to change the password, then works; the admin signs in again with a code."""

import base64

import pytest
from django_otp.oath import totp

pytestmark = pytest.mark.browser

CLERK_FIRST = "Chushi#2024pw"
CLERK_OWN = "Xinmima#2024ok"


def _code(secret_text: str, ahead: int = 0) -> str:
    secret = secret_text.replace(" ", "")
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, t0=0, step=30, digits=6, drift=ahead):06d}"


def _sign_in(page, username, password):
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_load_state()


def test_admin_enrols_totp_creates_a_clerk_who_changes_the_password(browser_page, users, towns, settings):
    settings.CANLIAN_SECOND_FACTOR_REQUIRED = True
    page = browser_page

    _sign_in(page, "admin1", "Canlian#2023pw")
    assert "/accounts/otp/enrol/" in page.url
    assert page.locator("#otp-qr svg").count() == 1
    secret = page.inner_text("#otp-secret")
    page.fill("#otp-token", _code(secret))
    page.click("#otp-enrol-submit")
    page.wait_for_load_state()
    assert page.locator("#recovery-codes li").count() == 10
    page.click("#codes-done")
    page.wait_for_load_state()

    page.goto("/accounts/users/new/")
    page.fill("#u-username", "zhangsan")
    page.fill("#u-name", "张三")
    page.select_option("#u-role", "town_staff")
    page.select_option("#u-town", label="甪直镇")
    page.fill("#u-password", CLERK_FIRST)
    page.click("#user-save")
    page.wait_for_load_state()
    assert "已新建用户 zhangsan" in page.content()

    _sign_in(page, "zhangsan", CLERK_FIRST)
    assert "/accounts/password/" in page.url and page.locator("#forced-change").is_visible()
    page.goto("/registry/persons/")
    assert "/accounts/password/" in page.url  # nothing else until the password is changed
    page.fill("#p-old", CLERK_FIRST)
    page.fill("#p-new", CLERK_OWN)
    page.fill("#p-new2", CLERK_OWN)
    page.click("#password-submit")
    page.wait_for_load_state()
    assert "/registry/persons/" in page.url
    assert "残疾人" in page.inner_text("h1")

    _sign_in(page, "admin1", "Canlian#2023pw")
    assert "/accounts/otp/verify/" in page.url
    page.fill("#otp-token", _code(secret, ahead=1))  # a step the enrolment has not used
    page.click("#otp-verify-submit")
    page.wait_for_load_state()
    page.goto("/accounts/users/")
    assert "zhangsan" in page.inner_text("#user-table")
