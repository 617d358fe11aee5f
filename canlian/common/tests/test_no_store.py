"""Pages with personal data are never cached; static files still are."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from canlian.common.tests.export_client import export_through_job

pytestmark = pytest.mark.django_db


def test_signed_in_pages_are_not_stored(users, make_person):
    person = make_person()
    client = Client()
    client.force_login(users["district"])
    for url in (reverse("registry:person_list"), reverse("registry:person_detail", args=[person.pk])):
        response = client.get(url)
        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store, private"
    _page, export = export_through_job(client, reverse("registry:person_export"))
    assert export.status_code == 200
    assert "no-store" in export["Cache-Control"] and "private" in export["Cache-Control"]
    assert "no-store" in _page["Cache-Control"] and "private" in _page["Cache-Control"]


def test_static_files_stay_cacheable(users):
    client = Client()
    client.force_login(users["district"])
    static = client.get("/static/canlian/app.css")
    assert static.status_code == 200
    assert "no-store" not in static.get("Cache-Control", "")
