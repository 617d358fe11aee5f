"""Content-Security-Policy without 'unsafe-inline': every response carries the strict policy, and no page
holds anything that policy would block (an inline <script>, a <style> block, a style="…" attribute, an
on…="" handler, a javascript: link).

The walk signs in as one user of each role on the demo data and follows every link, htmx URL and badge URL a
page offers (a crawl, so it reaches the detail pages of real records), a few URLs per view; a page that is
refused (403/404) is checked too. Forms shown again with their errors are POSTed on purpose. A scan of the
template sources covers the branches the walk does not reach."""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from canlian.accounts.models import Role, User

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# a few URLs per view (three persons, three payrolls …) and a bound on the whole walk
PER_VIEW = 2
PAGES_PER_ROLE = 260


class InlineFinder(HTMLParser):
    """Collects what a strict policy would refuse: (line, what)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.links: list[str] = []
        self._script_inline = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        line = self.getpos()[0]
        for name, value in attrs:
            if name == "style":
                self.found.append((line, f'<{tag} style="{value}">'))
            elif name.startswith("on"):
                self.found.append((line, f'<{tag} {name}="{value}">'))
            elif name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append((line, f'<{tag} {name}="{value}">'))
        if tag == "style":
            self.found.append((line, "<style> block"))
        if tag == "script":
            data_only = values.get("type", "").lower() in ("application/json", "application/ld+json")
            self._script_inline = not values.get("src") and not data_only
        for name in ("href", "hx-get", "data-badge-url"):
            if values.get(name):
                self.links.append(values[name])

    def handle_data(self, data):
        if self._script_inline and data.strip():
            self.found.append((self.getpos()[0], f"inline <script>: {data.strip()[:60]}"))

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_inline = False


def inline_content(html: str) -> InlineFinder:
    finder = InlineFinder()
    finder.feed(html)
    finder.close()
    return finder


def test_the_finder_sees_each_kind_of_inline_content():
    html = """<html><head><style>p{}</style><script>alert(1)</script>
    <script src="/static/x.js"></script><script id="d" type="application/json">{"a": 1}</script></head>
    <body><p style="color: red" onclick="x()">t</p><a href="javascript:void(0)">x</a>
    <select onchange="this.form.submit()"></select><a href="/ok/" hx-get="/frag/">ok</a></body></html>"""
    finder = inline_content(html)
    kinds = sorted(what.split(":")[0].split(" ")[0] for _, what in finder.found)
    assert kinds == ["<a", "<p", "<p", "<select", "<style>", "inline"]
    assert finder.links == ["javascript:void(0)", "/ok/", "/frag/"]
    assert inline_content('<p class="x">t</p><script src="/a.js"></script>').found == []


def _view_name(path: str) -> str | None:
    try:
        match = resolve(urlsplit(path).path)
    except Resolver404:
        return None
    return match.view_name


@pytest.fixture
def demo_world(db, towns, capsys):
    from canlian.demo import demo_all

    assert demo_all(persons=240, seed=11) == 0
    capsys.readouterr()
    return {
        role: User.objects.filter(role=role, is_active=True).order_by("pk").first() for role in Role.values
    }


def _walk(client: Client, start: str):
    """Breadth-first over the site from ``start``: yields (path, response)."""
    seen: set[str] = set()
    per_view: dict[str, int] = {}
    queue = deque([start])
    while queue and len(seen) < PAGES_PER_ROLE:
        path = queue.popleft()
        if path in seen:
            continue
        name = _view_name(path)
        if name is None or name in ("accounts:logout",):
            continue
        if per_view.get(name, 0) >= PER_VIEW:
            continue
        per_view[name] = per_view.get(name, 0) + 1
        seen.add(path)
        response = client.get(path)
        yield path, name, response
        if response.status_code in (301, 302) and response["Location"].startswith("/"):
            queue.append(response["Location"])
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        for link in inline_content(response.content.decode()).links:
            link = urldefrag(link)[0]
            if link.startswith("/") and not link.startswith("//") and not link.startswith("/static/"):
                queue.append(link)


def test_every_page_of_every_role_carries_the_policy_and_nothing_inline(demo_world):
    visited: dict[str, set[str]] = {}
    problems: list[str] = []
    for role, user in demo_world.items():
        assert user is not None, f"the demo has no {role} user"
        client = Client()
        client.force_login(user)
        for path, name, response in _walk(client, "/"):
            visited.setdefault(name, set()).add(role)
            if response.status_code >= 500:
                problems.append(f"{role} {path}: {response.status_code}")
            if response.get("Content-Security-Policy") != POLICY:
                problems.append(
                    f"{role} {path}: Content-Security-Policy={response.get('Content-Security-Policy')}"
                )
            if response.get("Content-Type", "").startswith("text/html"):
                for line, what in inline_content(response.content.decode()).found:
                    problems.append(f"{role} {path} line {line}: {what}")
    assert problems == []
    # the walk reached the main pages of each part of the platform, including detail pages of real records
    for name in (
        "registry:person_list",
        "registry:person_detail",
        "registry:person_create",
        "benefits:payroll_list",
        "benefits:payroll_detail",
        "benefits:application_list",
        "benefits:application_detail",
        "benefits:review_queue",
        "verification:finding_list",
        "verification:finding_detail",
        "verification:report",
        "casework:index",
        "common:audit_list",
    ):
        assert name in visited, f"the walk never reached {name}"
    assert len(visited) >= 45, sorted(visited)


def test_anonymous_pages_and_refusals_carry_the_policy(users):
    client = Client()
    for path in ("/accounts/login/", "/registry/persons/", "/no-such-page/", "/static/canlian/app.css"):
        response = client.get(path)
        assert response["Content-Security-Policy"] == POLICY, path
        if response.get("Content-Type", "").startswith("text/html"):
            assert inline_content(response.content.decode()).found == [], path


def test_a_form_shown_again_with_its_errors_has_nothing_inline(users):
    client = Client()
    client.force_login(users["district"])
    response = client.post(reverse("registry:person_create"), {"name": ""})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-invalid="true"' in html and "data-focus-error" in html
    assert inline_content(html).found == []
    assert response["Content-Security-Policy"] == POLICY


def test_the_audited_reveal_has_nothing_inline(users, make_person):
    client = Client()
    client.force_login(users["district"])
    person = make_person()
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):  # the page without JavaScript, the fragment with htmx
        response = client.post(reverse("registry:person_reveal", args=[person.pk]), **headers)
        assert response.status_code == 200
        assert person.id_number in response.content.decode()
        assert inline_content(response.content.decode()).found == []
        assert response["Content-Security-Policy"] == POLICY


TEMPLATE_ROOTS = [Path(settings.BASE_DIR) / "canlian" / "templates"]
INLINE_IN_SOURCE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), 'style="…" attribute'),
    (re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I), 'on…="" handler'),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_holds_inline_script_style_or_handler():
    problems = []
    for root in TEMPLATE_ROOTS:
        for path in sorted(root.rglob("*.html")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for pattern, what in INLINE_IN_SOURCE:
                    if pattern.search(line):
                        problems.append(f"{path.relative_to(root)}:{number}: {what}")
    assert problems == []


def test_htmx_is_told_not_to_inject_its_style_nor_evaluate_code(users):
    client = Client()
    client.force_login(users["town_luzhi"])
    html = client.get(reverse("registry:person_list")).content.decode()
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']+)\'>', html)
    import json

    assert json.loads(meta.group(1)) == {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
    }
    css = (Path(settings.BASE_DIR) / "canlian" / "static" / "canlian" / "app.css").read_text()
    assert ".htmx-request .htmx-indicator" in css


@pytest.mark.django_db
def test_debug_error_pages_stay_readable_and_other_pages_keep_the_policy(settings, users):
    """Django's technical error pages are styled inline; under DEBUG (never in production) they go without
    the header so a developer can read them. Every other response keeps it."""
    settings.DEBUG = True
    client = Client()
    client.force_login(users["district"])
    missing = client.get("/registry/persons/999999999/")
    assert missing.status_code == 404 and "Content-Security-Policy" not in missing
    assert client.get(reverse("registry:person_list"))["Content-Security-Policy"] == POLICY
