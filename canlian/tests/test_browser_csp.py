"""The strict Content-Security-Policy in a real browser (Playwright + Debian chromium): the main pages load
with no violation in the console, and what moved out of inline scripts and handlers still works (charts,
"加载更多" through htmx, the audited reveal through htmx, a select that submits its form, a confirmation
before a discard, focus on the first field with an error)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Canlian#2023pw"


@pytest.fixture
def demo(db, towns, capsys):
    from canlian.accounts.models import User
    from canlian.demo import demo_all

    assert demo_all(persons=160, seed=5) == 0
    capsys.readouterr()
    for user in User.objects.filter(username__startswith="demo_"):
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return User.objects


@pytest.fixture
def watched(browser_page):
    """The page, with every console error and every securitypolicyviolation event collected."""
    page = browser_page
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation', function (e) {"
        "  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + e.sourceFile + ':' + e.lineNumber);"
        "});"
    )
    page.errors = errors
    return page


def violations(page) -> list[str]:
    return page.evaluate("window.__csp || []")


def sign_in(page, username: str):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/accounts/login/" not in page.url


def assert_clean(page, where: str):
    assert violations(page) == [], where
    assert [e for e in page.errors if "Content Security Policy" in e or "page error" in e] == [], where


def test_main_pages_have_no_policy_violation(demo, watched):
    from canlian.benefits.models import Application, Payroll
    from canlian.registry.models import Person
    from canlian.verification.models import Finding

    page = watched
    username = (
        demo.filter(role="district_staff", username__startswith="demo_").order_by("pk").first().username
    )
    sign_in(page, username)
    person = Person.objects.order_by("pk").first()
    pages = [
        "/registry/persons/",
        f"/registry/persons/{person.pk}/",
        "/registry/persons/new/",
        "/benefits/payrolls/",
        f"/benefits/payrolls/{Payroll.objects.order_by('pk').first().pk}/",
        f"/benefits/applications/{Application.objects.order_by('pk').first().pk}/",
        "/benefits/applications/",
        "/verification/findings/",
        f"/verification/findings/{Finding.objects.order_by('pk').first().pk}/",
        "/verification/report/",
        "/services/",
    ]
    for url in pages:
        response = page.goto(url)
        assert response.status == 200, url
        assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
        page.wait_for_load_state("networkidle")
        assert_clean(page, url)
    # the charts are drawn from static charts.js (ECharts renders SVG)
    page.goto("/benefits/payrolls/")
    page.locator("#payroll-chart svg").first.wait_for()
    box = page.locator("#payroll-chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7)  # the axis tooltip
    page.wait_for_timeout(300)
    assert_clean(page, "chart tooltip")
    page.goto("/verification/report/")
    page.locator("#report-chart svg").first.wait_for()
    assert_clean(page, "charts")


def test_htmx_and_page_behaviours_still_work(demo, watched):
    from canlian.registry.models import Person

    page = watched
    username = (
        demo.filter(role="district_staff", username__startswith="demo_").order_by("pk").first().username
    )
    sign_in(page, username)

    # person search, then "加载更多" through htmx: rows are added, the count is updated, focus moves
    page.goto("/registry/persons/")
    first = Person.objects.order_by("pk").first()
    page.fill("#q", first.name)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert first.name in page.locator("#person-rows").inner_text()
    page.goto("/registry/persons/")
    assert page.locator("#person-rows tr[data-person]").count() == 50
    page.click("#load-more-button")
    # predicates are functions, not expressions: Playwright evaluates an expression with eval(), which the
    # policy refuses ('unsafe-eval' is not allowed) as soon as it has to poll
    page.wait_for_function("() => document.querySelectorAll('#person-rows tr[data-person]').length > 50")
    loaded = page.locator("#person-rows tr[data-person]").count()
    page.wait_for_function(
        f"() => document.getElementById('load-status').textContent.startsWith('已显示 {loaded} 条')"
    )
    assert page.evaluate("document.activeElement.closest('tr').hasAttribute('data-batch-start')")
    # htmx's indicator style comes from app.css, not from a <style> htmx injected
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    assert_clean(page, "load more")

    # the audited reveal swaps the full number in through htmx
    page.goto(f"/registry/persons/{first.pk}/")
    page.click("#reveal-button")
    page.wait_for_function(f"() => document.body.textContent.includes('{first.id_number}')")
    assert_clean(page, "reveal")

    # a refused save puts the keyboard on the first field with an error
    page.goto("/registry/persons/new/")
    with page.expect_navigation():
        page.click("#save")
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    assert_clean(page, "person form")

    # the programme filter submits itself on change (was onchange="this.form.submit()")
    page.goto("/benefits/payrolls/")
    with page.expect_navigation():
        page.select_option("select[name=programme]", "living_allowance")
    assert "programme=living_allowance" in page.url
    assert_clean(page, "programme filter")


def test_discard_asks_first(demo, watched):
    from canlian.benefits.models import Payroll

    page = watched
    username = (
        demo.filter(role="district_staff", username__startswith="demo_").order_by("pk").first().username
    )
    sign_in(page, username)
    draft = Payroll.objects.filter(status="draft").order_by("pk").first()
    page.goto(f"/benefits/payrolls/{draft.pk}/")
    asked: list[str] = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("#discard")
    page.wait_for_timeout(300)
    assert asked == ["作废该草稿批次？作废后可重新生成。"]
    assert Payroll.objects.filter(pk=draft.pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#discard")
    assert not Payroll.objects.filter(pk=draft.pk, status="draft").exists()
    assert_clean(page, "discard")
