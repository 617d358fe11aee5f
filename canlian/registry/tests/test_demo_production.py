"""Demo accounts (their passwords are printed) never work under production settings."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from django.urls import reverse

from canlian.accounts.models import User
from canlian.registry.demo import DEMO_USERS

pytestmark = pytest.mark.django_db

DEMO = DEMO_USERS[0]


@pytest.fixture
def demo_admin(make_user):
    return make_user(DEMO.username, DEMO.role, password=DEMO.password)


def _login(username, password):
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": username, "password": password})
    return client, response


def test_deploy_check_fails_while_a_demo_account_is_active(demo_admin, settings):
    settings.CANLIAN_DEMO_ALLOWED = False
    with pytest.raises(SystemCheckError) as exc:
        call_command("check", deploy=True, tags=["security"])
    assert "canlian.E001" in str(exc.value) and DEMO.username in str(exc.value)
    User.objects.filter(pk=demo_admin.pk).update(is_active=False)
    call_command("check", deploy=True, tags=["security"])  # passes once deactivated


def test_demo_account_cannot_sign_in_in_production(demo_admin, settings):
    settings.CANLIAN_DEMO_ALLOWED = False
    client, response = _login(DEMO.username, DEMO.password)
    assert response.status_code == 200
    assert "演示账号不能在正式环境中登录" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_demo_account_signs_in_where_demo_is_allowed(demo_admin, settings):
    settings.CANLIAN_DEMO_ALLOWED = True
    client, response = _login(DEMO.username, DEMO.password)
    assert response.status_code == 302 and "_auth_user_id" in client.session


def test_other_accounts_are_not_affected(make_user, settings):
    settings.CANLIAN_DEMO_ALLOWED = False
    make_user("wangfang", "district_staff", password="Canlian#2023pw")
    _client, response = _login("wangfang", "Canlian#2023pw")
    assert response.status_code == 302
