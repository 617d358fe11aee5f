"""The data comparison pages through the real URL map, middleware, templates and database: every page for
every role, confirm / dismiss / bulk through the forms, scoping (404 for another town, 403 for leaders) with
nothing changed, the run as a background job, the export. The upload (a background job with its
column-mapping step) is in ``test_upload_job``."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from canlian.benefits.models import Enrolment
from canlian.common.models import AuditLog, Job
from canlian.common.tests.export_client import export_through_job
from canlian.verification.models import Finding, Match, OutsideList, VerificationRun
from canlian.verification.services import verification_run

from . import world

pytestmark = pytest.mark.urls("canlian.verification.tests.urls")

PAGES = [
    ("verification:finding_list", {}),
    ("verification:candidate_list", {}),
    ("verification:list_index", {}),
    ("verification:run_list", {}),
    ("verification:report", {}),
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ran(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    w["run"] = verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    return w


@pytest.mark.parametrize(
    "who, status",
    [("district", 200), ("town_luzhi", 200), ("leader", 200), ("auditor", 403), ("institution", 403)],
)
def test_every_page_for_every_role(ran, staff, who, status):
    client = client_for(staff[who])
    f = Finding.objects.get(kind="injury_care")
    lst = OutsideList.objects.get(kind="deaths")
    pages = [
        *PAGES,
        ("verification:finding_detail", {"pk": f.pk}),
        ("verification:list_detail", {"pk": lst.pk}),
    ]
    for name, kwargs in pages:
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == status, (name, response.status_code)
    url = reverse("verification:report_export") + f"?run={ran['run'].pk}"
    if status == 200:
        _, export = export_through_job(client, url)
        assert export["Content-Type"].startswith("application/vnd.openxmlformats")
    else:
        assert client.post(url).status_code == status
    assert client.get(reverse("verification:index")).status_code == (302 if status == 200 else 403)


def test_anonymous_is_sent_to_login(db):
    response = Client().get(reverse("verification:finding_list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_findings_page_filters_and_scoping(ran, staff):
    district = client_for(staff["district"]).get(reverse("verification:finding_list"))
    assert district.content.decode().count("data-finding=") == 13
    luzhi = client_for(staff["town_luzhi"]).get(reverse("verification:finding_list"))
    assert luzhi.content.decode().count("data-finding=") == 10
    kind = client_for(staff["district"]).get(reverse("verification:finding_list") + "?kind=deceased")
    assert kind.content.decode().count("data-finding=") == 2
    mudu_town = ran["persons"]["elderly"].town_id
    town = client_for(staff["district"]).get(reverse("verification:finding_list") + f"?town={mudu_town}")
    assert town.content.decode().count("data-finding=") == 3
    done = client_for(staff["district"]).get(reverse("verification:finding_list") + "?status=confirmed")
    assert "data-finding=" not in done.content.decode()
    leader = client_for(staff["leader"]).get(reverse("verification:finding_list")).content.decode()
    assert 'id="bulk-form"' in leader and 'name="ids"' not in leader  # leaders read, never select


def test_confirm_and_dismiss_through_the_forms(ran, staff):
    client = client_for(staff["town_luzhi"])
    f = Finding.objects.get(kind="injury_care")
    page = client.get(reverse("verification:finding_detail", args=[f.pk])).content.decode()
    assert 'id="confirm-form"' in page and 'value="2023-07"' in page
    response = client.post(
        reverse("verification:finding_confirm", args=[f.pk]),
        {"action": "suspend", "effective_month": "2023-08"},
    )
    assert response.status_code == 302
    f.refresh_from_db()
    assert (f.status, f.action, f.effective_month) == ("confirmed", "suspend", date(2023, 8, 1))
    assert Enrolment.objects.get(pk=f.enrolment_id).status == "suspended"
    g = Finding.objects.get(kind="cert_expired")
    response = client.post(reverse("verification:finding_dismiss", args=[g.pk]), {"reason": ""})
    assert response.status_code == 400
    assert "请填写排除理由" in response.content.decode()
    assert Finding.objects.get(pk=g.pk).status == "open"
    response = client.post(reverse("verification:finding_dismiss", args=[g.pk]), {"reason": "已换证"})
    assert response.status_code == 302
    assert Finding.objects.get(pk=g.pk).dismiss_reason == "已换证"


def test_other_town_gets_404_and_leader_403_and_nothing_changes(ran, staff):
    f = Finding.objects.get(kind="injury_care")  # 甪直镇
    mudu = client_for(staff["town_mudu"])
    assert mudu.get(reverse("verification:finding_detail", args=[f.pk])).status_code == 404
    assert (
        mudu.post(reverse("verification:finding_confirm", args=[f.pk]), {"action": "stop"}).status_code == 404
    )
    assert mudu.post(reverse("verification:finding_dismiss", args=[f.pk]), {"reason": "x"}).status_code == 404
    leader = client_for(staff["leader"])
    assert (
        leader.post(reverse("verification:finding_confirm", args=[f.pk]), {"action": "stop"}).status_code
        == 403
    )
    assert (
        leader.post(reverse("verification:finding_dismiss", args=[f.pk]), {"reason": "x"}).status_code == 403
    )
    f.refresh_from_db()
    assert (f.status, f.handled_by) == ("open", None)
    assert Enrolment.objects.get(pk=f.enrolment_id).status == "active"
    assert not AuditLog.objects.filter(action__in=["finding.confirm", "finding.dismiss"]).exists()


def test_bulk_confirm_through_the_page(ran, staff):
    client = client_for(staff["district"])
    page = client.get(reverse("verification:finding_list")).content.decode()
    assert page.count('name="ids"') == 13  # every finding here is exact or from the registry
    ids = list(Finding.objects.filter(kind__in=["deceased", "entered_tekun"]).values_list("pk", flat=True))
    response = client.post(reverse("verification:finding_bulk"), {"ids": ids, "action": "stop", "note": ""})
    assert response.status_code == 302
    assert Finding.objects.filter(status="confirmed").count() == 4
    assert Enrolment.objects.filter(status="stopped").count() == 4
    empty = client.post(reverse("verification:finding_bulk"), {"action": "stop"})
    assert empty.status_code == 302
    town = client_for(staff["town_mudu"]).post(
        reverse("verification:finding_bulk"),
        {
            "ids": list(Finding.objects.filter(kind="injury_care").values_list("pk", flat=True)),
            "action": "stop",
        },
    )
    assert town.status_code == 403
    assert Finding.objects.get(kind="injury_care").status == "open"


def test_candidate_queue_confirm_and_scoping(ran, staff):
    m = Match.objects.get(status="pending")
    luzhi = client_for(staff["town_luzhi"])
    page = luzhi.get(reverse("verification:candidate_list")).content.decode()
    assert f'data-candidate="{m.pk}"' in page and f'data-confirm="{m.pk}"' in page
    assert m.row.masked_id in page and m.person.masked_id in page
    assert m.person.id_number not in page
    mudu = client_for(staff["town_mudu"])
    assert f'data-candidate="{m.pk}"' not in mudu.get(reverse("verification:candidate_list")).content.decode()
    assert mudu.post(reverse("verification:candidate_decide", args=[m.pk, "confirm"])).status_code == 404
    leader = client_for(staff["leader"])
    assert leader.post(reverse("verification:candidate_decide", args=[m.pk, "confirm"])).status_code == 403
    assert Match.objects.get(pk=m.pk).status == "pending"
    assert luzhi.post(reverse("verification:candidate_decide", args=[m.pk, "confirm"])).status_code == 302
    assert Match.objects.get(pk=m.pk).status == "confirmed"


def test_run_as_a_background_job(staff, make_person):
    w = world.build(make_person)
    world.import_lists(staff["district"], w["persons"])
    client = client_for(staff["district"])
    response = client.post(reverse("verification:run_list"), {"month": "2023-08"})
    assert response.status_code == 302
    job = Job.objects.get(kind="verification_run")
    assert response["Location"] == reverse("verification:run_job", args=[job.pk])
    assert (job.status, job.result["findings"]["deceased"]) == ("succeeded", 2)
    page = client.get(response["Location"]).content.decode()
    assert 'data-job-status="succeeded"' in page and "新发现疑点 13 条" in page
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="job-progress"')
    assert VerificationRun.objects.get().month == date(2023, 8, 1)
    assert (
        client_for(staff["town_luzhi"])
        .post(reverse("verification:run_list"), {"month": "2023-08"})
        .status_code
        == 403
    )
    report = client.get(reverse("verification:report")).content.decode()
    assert 'id="report-chart"' in report and 'id="total-count">13<' in report
