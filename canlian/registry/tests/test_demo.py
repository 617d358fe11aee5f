from collections import Counter
from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from canlian.accounts.models import User
from canlian.accounts.services import system_user
from canlian.cli import main
from canlian.common.models import AuditLog
from canlian.registry import demo, identity
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person, Region

TODAY = date(2025, 6, 1)


@pytest.fixture
def loaded(db):
    """Given 300 demo persons with seed 7."""
    system = system_user()
    result = demo.demo_load(persons=300, seed=7, acting_user=system, today=TODAY)
    return result, system


def _people():
    return sorted((p.id_number, p.name) for p in Person.objects.all())


def test_load_writes_counts_valid_ids_and_one_audit_row(loaded):
    result, system = loaded
    assert (result.persons, Person.objects.count()) == (300, 300)
    assert Certificate.objects.filter(is_current=True).count() == 300
    assert Certificate.objects.count() == result.certificates > 300  # history cards of reissues/renewals
    assert EconomicStatusPeriod.objects.count() == result.economic_periods > 0
    for person in Person.objects.prefetch_related("certificates"):
        assert identity.validate_id(person.id_number) == person.id_number
        assert person.sex == identity.sex(person.id_number)
        assert person.birth_date == identity.birth_date(person.id_number)
        assert person.created_by_id == system.pk
        for cert in person.certificates.all():
            parsed = identity.parse_certificate(cert.number, holder_id=person.id_number)
            assert (parsed.category, parsed.grade, parsed.reissue) == (
                cert.category,
                cert.grade,
                cert.reissue_count if cert.is_current else parsed.reissue,
            )
    logs = AuditLog.objects.filter(action="demo.load")
    assert logs.count() == 1
    log = logs.get()
    assert log.username == "system"
    assert log.changes["persons"] == 300 and log.changes["seed"] == 7
    assert AuditLog.objects.filter(action="person.create").count() == 0


def test_sensitive_fields_are_encrypted_and_indexed(loaded):
    person = Person.objects.exclude(phone="").first()
    with connection.cursor() as cur:
        cur.execute("SELECT id_number, phone FROM registry_person WHERE id = %s", [person.pk])
        raw_id, raw_phone = cur.fetchone()
    assert raw_id.startswith("v1:") and person.id_number not in raw_id
    assert raw_phone.startswith("v1:") and person.phone not in raw_phone
    from canlian.registry.services import certificate_index, id_index

    assert Person.objects.get(id_number_index=id_index(person.id_number)) == person
    cert = person.current_certificate
    assert Certificate.objects.get(number_index=certificate_index(cert.number)) == cert


def test_population_has_the_awkward_cases(loaded):
    ref = demo.reference_date(TODAY)
    current = Certificate.objects.filter(is_current=True)
    assert current.filter(status="valid", valid_until__lt=ref).exists()  # expired by date
    assert current.filter(status="cancelled").exists()
    deceased = Person.objects.filter(status="deceased")
    assert deceased.exists()
    assert all(p.death_date and p.birth_date < p.death_date < ref for p in deceased)
    assert set(current.filter(person__in=deceased).values_list("status", flat=True)) == {"cancelled"}
    assert Person.objects.filter(status="moved_out").exists()
    assert EconomicStatusPeriod.objects.filter(valid_to__isnull=True).exists()
    assert EconomicStatusPeriod.objects.filter(valid_to__isnull=False).exists()
    assert {"dibao", "near_dibao"} <= set(EconomicStatusPeriod.objects.values_list("status", flat=True))
    reissued = current.filter(reissue_count=1)
    assert reissued.exists()
    assert Certificate.objects.filter(person__in=reissued.values("person"), is_current=False).count() == (
        reissued.count()
    )
    minors = Person.objects.filter(birth_date__gt=date(ref.year - 18, ref.month, ref.day))
    assert minors.exists() and not minors.filter(guardian_name="").exists()
    assert Person.objects.filter(community__isnull=False).exists()
    # the demo's villages are the real ones loaded from the division codes: none is made up
    assert not Region.objects.filter(level="community", official=False).exists()
    assert (
        Person.objects.filter(community__official=True).count()
        == Person.objects.filter(community__isnull=False).count()
    )


def test_category_and_grade_mix_roughly_match_the_district():
    people = demo.generate_population(persons=2000, seed=11, today=TODAY)
    current = [c for p in people for c in p.certificates if c.is_current]
    share = {k: v / len(current) * 100 for k, v in Counter(c.category for c in current).items()}
    assert 55 <= share[4] <= 64  # physical 59.32
    assert 10.5 <= share[6] <= 17  # mental 13.71
    assert 7.5 <= share[5] <= 12.5  # intellectual 9.89
    assert 6.5 <= share[1] <= 10.5  # vision 8.48
    assert 5 <= share[2] + share[3] <= 9.5  # hearing + speech 7.09
    assert 0.7 <= share[7] <= 2.5  # multiple 1.51
    grades = Counter(c.grade for c in current)
    assert grades[3] + grades[4] > grades[1] + grades[2]
    multiple = [c for c in current if c.category == 7]
    assert multiple and all(
        len(c.components) >= 2 and c.grade == min(x["grade"] for x in c.components) for c in multiple
    )


def test_same_seed_same_people_other_seed_other_people():
    first = [(p.id_number, p.name) for p in demo.generate_population(persons=500, seed=3, today=TODAY)]
    again = [(p.id_number, p.name) for p in demo.generate_population(persons=500, seed=3, today=TODAY)]
    other = [(p.id_number, p.name) for p in demo.generate_population(persons=500, seed=4, today=TODAY)]
    assert first == again
    assert len(set(first) & set(other)) < 5
    assert len({i for i, _ in first}) == 500


def test_reload_with_the_same_seed_gives_the_same_persons(loaded):
    _, system = loaded
    before = _people()
    removed = demo.demo_persons_delete(acting_user=system)
    assert (removed.persons, Person.objects.count(), Certificate.objects.count()) == (300, 0, 0)
    demo.demo_load(persons=300, seed=7, acting_user=system, today=TODAY)
    assert _people() == before
    assert AuditLog.objects.filter(action="demo.load").count() == 2  # audit rows stay
    assert AuditLog.objects.filter(action="demo.reset").count() == 1


def test_reset_removes_only_demo_persons(loaded, make_person):
    _, system = loaded
    own = make_person(name="李明")
    demo.demo_persons_delete(acting_user=system)
    assert list(Person.objects.all()) == [own]
    assert Certificate.objects.filter(person=own).count() == 1


def test_demo_users_for_every_role_can_log_in(db):
    created = demo.demo_users_ensure(acting_user=system_user())
    assert {u.role for u in created} == {
        "district_admin",
        "district_staff",
        "town_staff",
        "institution_staff",
        "leader",
        "auditor",
        "counsellor",
    }
    assert {u.jurisdiction.name for u in created if u.role == "town_staff"} == {"甪直镇", "木渎镇"}
    for login in demo.DEMO_USERS:
        client = Client()
        response = client.post(
            reverse("accounts:login"), {"username": login.username, "password": login.password}
        )
        assert response.status_code == 302, login.username
        assert client.session["_auth_user_id"] == str(User.objects.get(username=login.username).pk)
    assert demo.demo_users_ensure(acting_user=system_user()) == []  # idempotent


def test_cli_loads_then_refuses_to_add_then_resets(db, capsys):
    assert main(["demo", "--persons", "300", "--seed", "5", "--registry-only"]) == 0
    out = capsys.readouterr().out
    assert "已生成演示数据：300 人" in out
    for login in demo.DEMO_USERS:
        assert login.username in out and login.password in out
    ids = _people()

    assert main(["demo", "--persons", "300", "--seed", "5", "--registry-only"]) == 0
    out = capsys.readouterr().out
    assert "数据库中已有 300 名残疾人，未新增演示数据" in out
    assert _people() == ids

    assert main(["demo", "--persons", "200", "--seed", "5", "--reset", "--registry-only"]) == 0
    out = capsys.readouterr().out
    assert "已清除演示数据：300 人" in out and "已生成演示数据：200 人" in out
    assert Person.objects.count() == 200
    assert User.objects.filter(username__startswith="demo_").count() == len(demo.DEMO_USERS)


def test_print_demo_logins_prints_nothing_without_demo_users(db, capsys):
    demo.print_demo_logins()
    assert capsys.readouterr().out == ""


def test_name_search_on_demo_data_returns_exactly_the_containment_rows(loaded, users):
    """On PostgreSQL search_condition adds the GIN-served "every character occurs" condition: same rows."""
    from canlian.registry.selectors import PersonFilters, person_page, search_condition

    names = list(Person.objects.order_by("pk").values_list("name", flat=True)[:40:4])
    queries = ["张", "查无此人", *names, *(n[1:] for n in names if len(n) > 2)]
    for q in queries:
        page = person_page(users["district"], PersonFilters(q=q), today=TODAY, limit=1000)
        plain = Person.objects.filter(**{"name__startswith" if len(q) == 1 else "name__contains": q})
        assert [p.pk for p in page.items] == list(plain.order_by("-pk").values_list("pk", flat=True)), q
    sql = str(Person.objects.filter(search_condition("张伟")).query)
    assert ("string_to_array" in sql) == (connection.vendor == "postgresql")
