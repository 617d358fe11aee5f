"""The idle timeout without a session write on every request (``SessionRefreshMiddleware``)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from canlian.common.middleware import SessionRefreshMiddleware

pytestmark = pytest.mark.django_db
KEY = SessionRefreshMiddleware.KEY


def _session_writes(ctx) -> int:
    return sum(
        1
        for q in ctx.captured_queries
        if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT")) and "django_session" in q["sql"]
    )


def _set_stamp(client: Client, seconds_ago: int) -> None:
    session = client.session
    session[KEY] = int(time.time()) - seconds_ago
    session.save()


def test_the_session_is_written_at_most_once_a_minute_unless_it_changes(users):
    client = Client()
    client.force_login(users["district"])
    url = reverse("registry:person_list")
    assert client.get(url).status_code == 200  # the first page after signing in stamps the session
    row = Session.objects.get(session_key=client.session.session_key)
    stamped = client.session[KEY]
    assert abs(stamped - time.time()) < 5
    expected = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs((row.expire_date - expected).total_seconds()) < 5

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    assert _session_writes(ctx) == 0  # within the minute: nothing written
    assert Session.objects.get(session_key=row.session_key).expire_date == row.expire_date

    _set_stamp(client, settings.CANLIAN_SESSION_REFRESH_SECONDS + 1)
    before = Session.objects.get(session_key=row.session_key).expire_date
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    assert _session_writes(ctx) == 1  # a minute later: the idle timeout starts again
    after = Session.objects.get(session_key=row.session_key)
    assert after.expire_date >= before
    assert client.session[KEY] > stamped - settings.CANLIAN_SESSION_REFRESH_SECONDS


def test_the_idle_timeout_never_exceeds_thirty_minutes(users):
    client = Client()
    client.force_login(users["district"])
    client.get(reverse("registry:person_list"))
    _set_stamp(client, settings.CANLIAN_SESSION_REFRESH_SECONDS - 5)  # refreshed 55 s ago: not written now
    row = Session.objects.get(session_key=client.session.session_key)
    client.get(reverse("registry:person_list"))
    assert Session.objects.get(session_key=row.session_key).expire_date == row.expire_date
    # the stored expiry is at most SESSION_COOKIE_AGE after this request: the timeout only gets shorter
    assert row.expire_date <= timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)


def test_a_changed_session_is_written_at_once_and_anonymous_requests_make_none(make_user, client):
    user = make_user("clerk9", "district_staff")
    user.set_password("Refresh#Pass2026")
    user.must_change_password = False
    user.save()
    assert client.get(reverse("accounts:login")).status_code == 200
    assert Session.objects.count() == 0  # an anonymous page creates no session
    response = client.post(reverse("accounts:login"), {"username": "clerk9", "password": "Refresh#Pass2026"})
    assert response.status_code == 302
    row = Session.objects.get()  # signing in changed the session: written at once, and stamped
    assert abs(row.get_decoded()[KEY] - time.time()) < 5
