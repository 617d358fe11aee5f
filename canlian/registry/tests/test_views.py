"""Registry pages through the real URL, middleware, templates and database."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from canlian.common.models import AuditLog
from canlian.registry import selectors, services
from canlian.registry.models import Certificate, EconomicStatusPeriod, Person, Region

LIST = reverse("registry:person_list")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def listed_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-person="(\d+)"', html)]


def create_data(id_number: str, town: Region, **overrides) -> dict:
    return {
        "name": "王小明",
        "id_number": id_number,
        "certificate_number": f"{id_number}42",
        "issue_date": "2020-03-01",
        "town": str(town.pk),
        "community": "",
        "household_type": "rural",
        "economic_status": "dibao",
        "phone": "13812345678",
        "address": "甪直镇某路1号",
        "employment_status": "",
        "guardian_name": "",
        "guardian_relation": "",
        "guardian_phone": "",
    } | overrides


def field_error(html: str, field: str) -> str:
    """The text of the error block right below a field (``id_<field>_error``), or ``""``."""
    m = re.search(rf'<div class="invalid-feedback" id="id_{field}_error">(.*?)</div>', html, re.S)
    return m.group(1).strip() if m else ""


# ---- search ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["zhangwei", "zw", "ZW", "张伟", "张", "zhang"])
def test_search_finds_zhang_wei_by_name_pinyin_and_initials(q, make_person, users):
    # given 张伟 and two people whose names share nothing with the query
    zhang = make_person(name="张伟")
    make_person(name="李娜")
    make_person(name="王芳")
    # when
    response = client_for(users["district"]).get(LIST, {"q": q})
    # then exactly 张伟 is listed
    assert response.status_code == 200
    assert listed_ids(response.content.decode()) == [zhang.pk]


def test_search_by_full_id_finds_exactly_that_person(make_person, users):
    # given two 张伟 born the same day
    first = make_person(name="张伟")
    second = make_person(name="张伟")
    client = client_for(users["district"])
    # when searching by the second's ID, written the way clerks type it: spaces, full-width, lower-case
    typed = " ".join(second.id_number[i : i + 6] for i in range(0, 18, 6)).translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}
    )
    response = client.get(LIST, {"q": typed})
    # then
    assert listed_ids(response.content.decode()) == [second.pk]
    assert listed_ids(client.get(LIST, {"q": first.id_number}).content.decode()) == [first.pk]


def test_search_by_certificate_number(make_person, users):
    person = make_person(name="张伟", category=5, grade=1)
    make_person(name="张伟")
    response = client_for(users["district"]).get(LIST, {"q": person.current_certificate.number})
    assert listed_ids(response.content.decode()) == [person.pk]


def test_search_by_an_invalid_id_number_finds_nobody(make_person, users):
    person = make_person()
    wrong_check = person.id_number[:17] + ("0" if person.id_number[17] != "0" else "1")
    response = client_for(users["district"]).get(LIST, {"q": wrong_check})
    html = response.content.decode()
    assert listed_ids(html) == []
    assert 'id="no-results"' in html


def test_filters_combine(make_person, users, towns):
    # given
    child = make_person(
        name="赵敏",
        birth=date.today() - timedelta(days=365 * 5 + 10),
        category=5,
        grade=1,
        issue=date.today() - timedelta(days=30),
    )
    make_person(name="赵敏", category=5, grade=1)  # an adult with the same certificate type
    make_person(
        name="赵敏",
        town="木渎镇",
        birth=child.birth_date,
        category=5,
        grade=1,
        issue=date.today() - timedelta(days=30),
    )
    # when filtering 甪直镇, 智力, 一级, 在册, 0-6 岁
    response = client_for(users["district"]).get(
        LIST,
        {"town": towns["甪直镇"].pk, "category": 5, "grade": 1, "status": "active", "age": "0-6"},
    )
    # then only the child in 甪直镇 is left
    assert listed_ids(response.content.decode()) == [child.pk]


def test_bad_filter_values_are_ignored_not_errors(make_person, users):
    person = make_person()
    response = client_for(users["district"]).get(
        LIST, {"town": "abc", "category": "x", "grade": "", "status": "nonsense", "age": "200+", "after": "z"}
    )
    assert response.status_code == 200
    assert listed_ids(response.content.decode()) == [person.pk]


# ---- keyset pagination -----------------------------------------------------------------------------------


def test_load_more_returns_the_next_page_without_repeats(make_person, users):
    # given one more person than a page holds, plus five
    people = [make_person(name="张伟") for _ in range(selectors.PAGE_SIZE + 5)]
    client = client_for(users["district"])
    # when the first page is opened
    first = client.get(LIST, {"q": "zw"}).content.decode()
    first_ids = listed_ids(first)
    cursor = re.search(r'hx-get="[^"]*after=(\d+)"', first).group(1)
    # and "加载更多" is clicked (htmx asks for the rows after the cursor, same filters)
    more = client.get(LIST, {"q": "zw", "after": cursor}, HTTP_HX_REQUEST="true")
    more_html = more.content.decode()
    more_ids = listed_ids(more_html)
    # then the second batch is the remaining five, newest first, with nothing repeated and no button left
    assert len(first_ids) == selectors.PAGE_SIZE
    assert first_ids == sorted(first_ids, reverse=True)
    assert more_ids == sorted((p.pk for p in people), reverse=True)[selectors.PAGE_SIZE :]
    assert set(first_ids).isdisjoint(more_ids)
    assert set(first_ids) | set(more_ids) == {p.pk for p in people}
    assert "<html" not in more_html  # a fragment of rows, not a page
    assert 'id="load-more-button"' not in more_html
    assert more_html.count("data-batch-start") == 1


def test_load_more_without_javascript_renders_a_full_page(make_person, users):
    people = [make_person() for _ in range(selectors.PAGE_SIZE + 1)]
    response = client_for(users["district"]).get(LIST, {"after": people[1].pk})
    html = response.content.decode()
    assert "<html" in html
    assert listed_ids(html) == [people[0].pk]
    assert "回到第一页" in html


def test_list_queries_do_not_grow_with_rows(make_person, users, django_assert_max_num_queries):
    client = client_for(users["town_luzhi"])
    for _ in range(3):
        make_person()
    client.get(LIST)  # the first page after signing in also refreshes the session (SessionRefreshMiddleware)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for _ in range(30):
        make_person()
    with CaptureQueriesContext(connection) as many:
        assert len(listed_ids(client.get(LIST).content.decode())) == 33
    assert len(many) == len(few)
    with django_assert_max_num_queries(10):
        client.get(LIST, {"q": "zw"})
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


def test_detail_queries_do_not_grow_with_history(make_person, users):
    person = make_person()
    client = client_for(users["district"])
    client.get(reverse("registry:person_detail", args=[person.pk]))  # the first also refreshes the session
    with CaptureQueriesContext(connection) as before:
        client.get(reverse("registry:person_detail", args=[person.pk]))
    for n in range(5):
        services.person_update(
            acting_user=users["district"],
            person=person,
            record=_record(person, address=f"地址{n}"),
        )
    with CaptureQueriesContext(connection) as after:
        client.get(reverse("registry:person_detail", args=[person.pk]))
    assert len(after) == len(before)


def _record(person, **overrides):
    from canlian.registry.validation import RegionLookup, validate_person_record

    raw = {
        "name": person.name,
        "id_number": person.id_number,
        "certificate_number": person.current_certificate.number,
        "issue_date": person.current_certificate.issue_date,
        "town": person.town.name,
        "household_type": person.household_type,
    } | overrides
    record, errors = validate_person_record(raw, regions=RegionLookup.load(), today=date.today())
    assert errors == {}
    return record


# ---- create ----------------------------------------------------------------------------------------------


def test_create_with_invalid_id_shows_the_error_next_to_the_field_and_writes_nothing(users, towns, id_for):
    # given an ID with a wrong check character
    good = id_for(date(1990, 1, 2), 7)
    bad = good[:17] + ("1" if good[17] != "1" else "2")
    client = client_for(users["town_luzhi"])
    # when
    response = client.post(reverse("registry:person_create"), create_data(bad, towns["甪直镇"]))
    # then
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "id_number") == f"身份证号校验位错误（应为 {good[17]}）"
    assert 'aria-invalid="true"' in html.split('id="id_id_number"')[0].rsplit("<input", 1)[1] + "".join(
        html.split('id="id_id_number"')[1].split(">")[0]
    )
    assert 'aria-describedby="id_id_number_helptext id_id_number_error"' in html
    assert Person.objects.count() == 0
    assert Certificate.objects.count() == 0
    assert AuditLog.objects.exclude(action="login").count() == 0


def test_create_shows_every_missing_field_in_chinese(users):
    response = client_for(users["district"]).post(reverse("registry:person_create"), {})
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "name") == "姓名不能为空"
    assert field_error(html, "id_number") == "身份证号不能为空"
    assert field_error(html, "certificate_number") == "残疾人证号不能为空"
    assert field_error(html, "issue_date") == "发证日期不能为空"
    assert field_error(html, "town") == "镇(街道)不能为空"
    assert field_error(html, "household_type") == "户口性质不能为空"
    assert Person.objects.count() == 0


def test_create_certificate_of_someone_else_is_an_error_on_the_certificate_field(users, towns, id_for):
    mine, other = id_for(date(1990, 1, 2), 1), id_for(date(1991, 1, 2), 2)
    data = create_data(mine, towns["甪直镇"], certificate_number=f"{other}42")
    response = client_for(users["district"]).post(reverse("registry:person_create"), data)
    assert field_error(response.content.decode(), "certificate_number") == (
        "残疾人证号中的身份证号与持证人身份证号不一致"
    )
    assert Person.objects.count() == 0


def test_create_duplicate_id_shows_the_service_error_next_to_the_id(make_person, users, towns):
    existing = make_person()
    data = create_data(existing.id_number, towns["甪直镇"])
    response = client_for(users["district"]).post(reverse("registry:person_create"), data)
    assert response.status_code == 400
    assert field_error(response.content.decode(), "id_number") == "该身份证号已登记，请勿重复建档"
    assert Person.objects.count() == 1


def test_create_saves_and_opens_the_person_page(users, towns, id_for):
    # given
    id_number = id_for(date(1990, 1, 2), 3).lower()
    community = services.community_create(
        acting_user=users["district"], town=towns["甪直镇"], name="澄湖社区"
    )
    client = client_for(users["town_luzhi"])
    # when
    response = client.post(
        reverse("registry:person_create"),
        create_data(id_number, towns["甪直镇"], community=str(community.pk)),
    )
    # then
    person = Person.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("registry:person_detail", args=[person.pk])
    assert (person.name, person.sex, person.birth_date, person.community_id) == (
        "王小明",
        "M",
        date(1990, 1, 2),
        community.pk,
    )
    assert person.id_number == id_number.upper()
    assert person.created_by == users["town_luzhi"]
    assert EconomicStatusPeriod.objects.get(person=person).status == "dibao"
    page = client.get(response["Location"]).content.decode()
    assert "已建档：王小明" in page
    assert person.id_number not in page


def test_create_form_offers_a_town_clerk_only_their_town(users, towns):
    html = client_for(users["town_luzhi"]).get(reverse("registry:person_create")).content.decode()
    town_select = html.split('id="id_town"')[1].split("</select>")[0]
    assert re.findall(r"<option[^>]*>([^<]*)</option>", town_select) == ["请选择", "甪直镇"]
    assert f'value="{towns["甪直镇"].pk}" selected' in town_select
    economic = html.split('id="id_economic_status"')[1].split("</select>")[0]
    assert 'value="none" selected' in economic


def test_create_form_is_keyboard_ready(users):
    html = client_for(users["district"]).get(reverse("registry:person_create")).content.decode()
    assert re.search(r'<input[^>]*id="id_name"[^>]*autofocus|<input[^>]*autofocus[^>]*id="id_name"', html)
    for field in ("name", "id_number", "certificate_number", "issue_date", "town", "household_type"):
        assert f'<label class="form-label" for="id_{field}">' in html
    assert '<button type="submit" class="btn btn-primary px-4" id="save">保存</button>' in html


# ---- edit ------------------------------------------------------------------------------------------------


def test_edit_shows_the_changes_in_the_audit_timeline(make_person, users, towns):
    # given
    person = make_person(name="张伟", address="甪直镇老街1号")
    client = client_for(users["town_luzhi"])
    data = {
        "name": "张伟",
        "issue_date": "2019-05-06",
        "town": str(towns["甪直镇"].pk),
        "community": "",
        "household_type": "rural",
        "economic_status": "near_dibao",
        "address": "甪直镇新街8号",
        "employment_status": "employed",
    }
    # when
    response = client.post(reverse("registry:person_edit", args=[person.pk]), data)
    # then
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    timeline = html.split('id="timeline"')[1]
    assert "修改档案" in timeline
    assert "住址：" in timeline and "甪直镇老街1号" in timeline and "甪直镇新街8号" in timeline
    assert "户口性质：" in timeline and "城镇" in timeline and "农村" in timeline
    assert "家庭经济状况：" in timeline and "低保边缘" in timeline
    assert "就业状况：" in timeline and "就业" in timeline
    assert "已保存 4 项修改" in html
    log = AuditLog.objects.get(action="person.update")
    assert log.changes == {
        "address": ["甪直镇老街1号", "甪直镇新街8号"],
        "household_type": ["urban", "rural"],
        "employment_status": ["", "employed"],
        "economic_status": ["none", "near_dibao"],
    }


def test_edit_with_nothing_changed_writes_nothing(make_person, users, towns):
    person = make_person(name="张伟")
    data = {
        "name": "张伟",
        "issue_date": "2019-05-06",
        "town": str(towns["甪直镇"].pk),
        "household_type": "urban",
        "economic_status": "none",
    }
    response = client_for(users["district"]).post(reverse("registry:person_edit", args=[person.pk]), data)
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="person.update").count() == 0


def test_edit_with_new_certificate_keeps_the_old_one_in_history(make_person, users, towns):
    person = make_person(category=4, grade=3)
    old_number = person.current_certificate.number
    data = {
        "name": person.name,
        "certificate_number": f"{person.id_number}42B1",
        "issue_date": "2024-03-01",
        "town": str(towns["甪直镇"].pk),
        "household_type": "urban",
        "economic_status": "none",
    }
    client = client_for(users["district"])
    assert client.post(reverse("registry:person_edit", args=[person.pk]), data).status_code == 302
    html = client.get(reverse("registry:person_detail", args=[person.pk])).content.decode()
    assert 'id="certificate-history"' in html
    assert old_number not in html and person.id_number not in html
    assert "肢体三级" in html.split('id="certificate-history"')[1]
    assert list(
        Certificate.objects.filter(person=person).order_by("id").values_list("grade", "is_current")
    ) == [(3, False), (2, True)]


def test_edit_error_is_shown_next_to_the_field_and_changes_nothing(make_person, users, towns):
    person = make_person(name="张伟")
    data = {
        "name": "张",
        "issue_date": "2019-02-30",
        "town": str(towns["甪直镇"].pk),
        "household_type": "urban",
        "economic_status": "none",
        "phone": "12345",
    }
    response = client_for(users["district"]).post(reverse("registry:person_edit", args=[person.pk]), data)
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "name") == "姓名应为2至30个汉字（少数民族姓名可含“·”）"
    assert field_error(html, "issue_date") == "日期“2019-02-30”不存在"
    assert field_error(html, "phone") == "联系电话应为11位手机号或带区号的固定电话"
    assert Person.objects.get(pk=person.pk).name == "张伟"
    assert AuditLog.objects.filter(action="person.update").count() == 0


# ---- person page -----------------------------------------------------------------------------------------


def test_person_page_shows_certificate_status_by_date_and_economic_history(make_person, users):
    # given a certificate issued eleven years ago (expired by date) and a household that left 低保
    person = make_person(
        name="张伟", issue=date.today().replace(year=date.today().year - 11), economic="低保"
    )
    services.economic_status_change(
        acting_user=users["district"],
        person=person,
        status="near_dibao",
        valid_from=date.today() + timedelta(days=1),
    )
    # when
    html = (
        client_for(users["leader"]).get(reverse("registry:person_detail", args=[person.pk])).content.decode()
    )
    # then
    cert = html.split('id="certificate-status"')[1].split("</dd>")[0]
    assert "过期" in cert and "已过有效期，请办理换证" in cert
    economic = html.split('id="economic"')[1].split("</section>")[0]
    assert re.findall(r"<td>(低保边缘|低保)", economic) == ["低保边缘", "低保"]
    assert person.current_certificate.number not in html
    assert person.masked_id in html


def test_person_page_of_a_multiple_disability_lists_its_components(make_person, users):
    person = make_person(category=7, grade=2)
    cert = person.current_certificate
    Certificate.objects.filter(pk=cert.pk).update(
        components=[{"category": 4, "grade": 2}, {"category": 2, "grade": 3}]
    )
    html = (
        client_for(users["district"])
        .get(reverse("registry:person_detail", args=[person.pk]))
        .content.decode()
    )
    assert "<dt>多重残疾构成</dt><dd>肢体二级、听力三级</dd>" in html


def test_reveal_without_htmx_shows_a_page_and_is_audited(make_person, users):
    person = make_person()
    response = client_for(users["town_luzhi"]).post(reverse("registry:person_reveal", args=[person.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f'<span id="id-number" class="masked revealed">{person.id_number}</span>' in html
    assert AuditLog.objects.filter(action="person.reveal_id", result="success").count() == 1


def test_status_deceased_needs_a_death_date(make_person, users):
    person = make_person()
    client = client_for(users["district"])
    url = reverse("registry:person_status", args=[person.pk])
    response = client.post(url, {"status": "deceased", "death_date": ""})
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error(html, "death_date") == "请填写死亡日期"
    assert 'class="collapse show" id="status-panel"' in html
    assert Person.objects.get(pk=person.pk).status == "active"
    assert AuditLog.objects.filter(action="person.status").count() == 0
    response = client.post(url, {"status": "deceased", "death_date": "2024-02-03"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.status, person.death_date) == ("deceased", date(2024, 2, 3))


def test_status_unknown_value_is_refused(make_person, users):
    person = make_person()
    response = client_for(users["district"]).post(
        reverse("registry:person_status", args=[person.pk]), {"status": "vanished"}
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "status") == "请从列表中选择人员状态"
    assert Person.objects.get(pk=person.pk).status == "active"


# ---- regions ---------------------------------------------------------------------------------------------


def test_admin_adds_a_community(users, towns):
    client = client_for(users["admin"])
    response = client.post(
        reverse("registry:region_create"),
        {"town": towns["木渎镇"].pk, "name": " 天平新村 ", "kind": "village"},
    )
    region = Region.objects.get(name="天平新村")
    assert response.status_code == 302
    # numbered after the official villages of the town (the last is 320506103208 善人桥村委会)
    assert (region.parent, region.level, region.kind, region.code, region.official) == (
        towns["木渎镇"],
        "community",
        "village",
        "320506103209",
        False,
    )
    assert AuditLog.objects.filter(action="region.create", object_id=str(region.pk)).count() == 1
    html = client.get(reverse("registry:region_list")).content.decode()
    assert "天平新村" in html.split(f'id="town-{towns["木渎镇"].pk}"')[1].split("</section>")[0]


def test_admin_cannot_add_an_official_village_again_in_short_form(users, towns):
    before = Region.objects.count()
    response = client_for(users["admin"]).post(
        reverse("registry:region_create"), {"town": towns["木渎镇"].pk, "name": "天平村", "kind": "village"}
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "name") == "“木渎镇”下已有“天平村委会”"
    assert Region.objects.count() == before
    assert AuditLog.objects.filter(action="region.create").count() == 0


def test_duplicate_community_is_an_error_on_the_name(users, towns):
    client = client_for(users["district"])
    services.community_create(acting_user=users["district"], town=towns["甪直镇"], name="澄湖社区")
    response = client.post(
        reverse("registry:region_create"), {"town": towns["甪直镇"].pk, "name": "澄湖社区"}
    )
    assert response.status_code == 400
    assert field_error(response.content.decode(), "name") == "“甪直镇”下已有“澄湖社区”"
    assert Region.objects.filter(name="澄湖社区").count() == 1


@pytest.mark.parametrize("who,status", [("town_luzhi", 403), ("leader", 403), ("auditor", 403)])
def test_only_admins_and_district_staff_add_communities(who, status, users, towns):
    client = client_for(users[who])
    assert client.get(reverse("registry:region_create")).status_code == status
    response = client.post(reverse("registry:region_create"), {"town": towns["甪直镇"].pk, "name": "新村"})
    assert response.status_code == status
    assert not Region.objects.filter(name="新村").exists()
    assert AuditLog.objects.filter(action="region.create").count() == 0


def test_town_clerk_sees_only_their_town_on_the_region_page(users, towns):
    html = client_for(users["town_luzhi"]).get(reverse("registry:region_list")).content.decode()
    assert "甪直镇" in html and "木渎镇" not in html
    assert 'id="region-create"' not in html


def test_same_day_correction_replaces_the_period(make_person, users, towns):
    # given a household registered as 低保 today
    person = make_person(name="张伟", economic="低保", address="旧地址")
    data = {
        "name": "张伟",
        "issue_date": "2019-05-06",
        "town": str(towns["甪直镇"].pk),
        "household_type": "urban",
        "economic_status": "near_dibao",
        "address": "新地址",
    }
    # when the clerk corrects the status on the same day
    response = client_for(users["district"]).post(reverse("registry:person_edit", args=[person.pk]), data)
    # then the period that started today is replaced, not stacked
    assert response.status_code == 302
    assert Person.objects.get(pk=person.pk).address == "新地址"
    assert list(EconomicStatusPeriod.objects.filter(person=person).values_list("status", flat=True)) == [
        "near_dibao"
    ]


def test_service_refusal_is_shown_and_nothing_is_saved(make_person, users, towns):
    # given a status period already recorded from a later date
    person = make_person(name="张伟", address="旧地址")
    EconomicStatusPeriod.objects.create(
        person=person, status="dibao", valid_from=date.today() + timedelta(days=30)
    )
    data = {
        "name": "张伟",
        "issue_date": "2019-05-06",
        "town": str(towns["甪直镇"].pk),
        "household_type": "urban",
        "economic_status": "near_dibao",
        "address": "新地址",
    }
    # when the clerk records a status from today
    response = client_for(users["district"]).post(reverse("registry:person_edit", args=[person.pk]), data)
    # then the service's message is shown and the whole edit is rolled back
    html = response.content.decode()
    assert response.status_code == 400
    assert "该日期之后已有家庭经济状况记录，请按时间顺序登记" in html
    assert Person.objects.get(pk=person.pk).address == "旧地址"
    assert list(EconomicStatusPeriod.objects.filter(person=person).values_list("status", flat=True)) == [
        "dibao"
    ]
    assert AuditLog.objects.filter(action="person.update").count() == 0


# ---- the search form posts; ID and certificate numbers stay out of URLs -----------------------------------


def test_posted_id_search_is_answered_without_the_number_in_any_url(make_person, users):
    person = make_person(name="张伟")
    make_person(name="张伟")
    client = client_for(users["district"])
    response = client.post(LIST, {"q": person.id_number, "status": "active"})
    html = response.content.decode()
    assert response.status_code == 200  # answered here, not redirected to ?q=<number>
    assert listed_ids(html) == [person.pk]
    # the number is only in the search box the user typed it into: in no link, form action or list row
    assert html.count(person.id_number) == 1
    assert f'value="{person.id_number}"' in html
    assert not [
        url for url in re.findall(r'(?:href|action|hx-get)="([^"]*)"', html) if person.id_number in url
    ]
    assert 'id="person-export"' not in html
    cert = client.post(LIST, {"q": person.current_certificate.number})
    assert cert.status_code == 200 and listed_ids(cert.content.decode()) == [person.pk]


def test_posted_name_search_redirects_to_a_plain_get(make_person, users, towns):
    zhang = make_person(name="张伟", town="甪直镇")
    client = client_for(users["district"])
    response = client.post(LIST, {"q": "zw", "town": str(towns["甪直镇"].pk), "grade": ""})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?q=zw&town={towns['甪直镇'].pk}"
    assert listed_ids(client.get(response["Location"]).content.decode()) == [zhang.pk]


def test_posted_id_search_is_scoped_to_the_users_town(make_person, users):
    other = make_person(name="张伟", town="木渎镇")
    response = client_for(users["town_luzhi"]).post(LIST, {"q": other.id_number})
    assert response.status_code == 200
    assert listed_ids(response.content.decode()) == []
