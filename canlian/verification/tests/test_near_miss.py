"""A near miss on a deaths list (issue 8 §5): same name, birth date, sex and county code, but another valid ID
(one sequence digit mis-keyed, the check digit recomputed). On deaths and moving-out lists it is a candidate
for a person, with the evidence shown; on other lists it is still dropped. Thresholds per list kind are a
setting. Through the real CLI (``canlian verify import deaths FILE --json``), the pages and the services."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.urls import reverse

from canlian.cli import main
from canlian.common.models import AuditLog
from canlian.registry.identity import check_char
from canlian.verification.engine import thresholds_for
from canlian.verification.models import Finding, Match, OutsideList
from canlian.verification.services import match_confirm, match_reject, verification_run

from . import world
from .conftest import xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cli_password")]

SEQUENCE_DIFFERS = "顺序码（身份证号第15-17位）"
AGREE = ["姓名", "姓名拼音", "出生日期", "性别（身份证号第17位）", "户籍区县代码（身份证号前6位）"]
DIFFER = [SEQUENCE_DIFFERS, "身份证号"]
RULE = "姓名拼音、出生日期、性别与户籍区县代码均相同，仅身份证顺序码不同（可能录错顺序码后重算了校验码）"
HEADERS = ["姓名", "身份证号", "死亡日期"]


def rekeyed(id_number: str, position: int, digit: str) -> str:
    """One digit of the sequence (positions 14-16) mis-keyed, the check digit recomputed: a valid ID."""
    first17 = id_number[:position] + digit + id_number[position + 1 : 17]
    return first17 + check_char(first17)


@pytest.fixture
def people(make_person):
    zhang = make_person(name="张伟", birth=date(1980, 5, 6), grade=1)
    li = make_person(name="李娜", birth=date(1975, 11, 8), grade=1)
    world._enrol(zhang, "care_allowance")
    world._enrol(li, "care_allowance")
    near = rekeyed(zhang.id_number, 14, "7")
    other_sex = rekeyed(li.id_number, 16, str((int(li.id_number[16]) + 1) % 10))
    assert near[:14] == zhang.id_number[:14] and near[16] == zhang.id_number[16] and near != zhang.id_number
    assert int(other_sex[16]) % 2 != int(li.id_number[16]) % 2
    return {"zhang": zhang, "li": li, "near": near, "other_sex": other_sex}


def _file(tmp_path, people, name="死亡名单.xlsx", dates=("2023-05-31", "2023-06-01")):
    path = tmp_path / name
    path.write_bytes(
        xlsx_bytes(
            HEADERS,
            [
                ["张伟", people["near"], dates[0]],  # the near miss (died on the last day of May)
                ["李娜", people["other_sex"], dates[1]],  # same name and birth date, other sex: someone else
                ["赵六", rekeyed("32050619660606001", 14, "0"), dates[1]],  # nobody in the registry
            ],
        )
    )
    return path


def _cli(kind, path, user="district1"):
    return main(
        ["verify", "import", kind, str(path), "--json", "--user", user, "--received-on", "2023-08-02"]
    )


def test_the_cli_reports_the_near_miss_on_a_deaths_list_as_a_candidate(tmp_path, capsys, staff, people):
    # given a deaths list whose first row is 张伟 with a mis-keyed sequence digit (a valid ID)
    path = _file(tmp_path, people)
    # when imported through the real command line
    code = _cli("deaths", path)
    out = capsys.readouterr().out
    # then the near miss is a candidate, with which fields agree and which differ
    assert code == 0
    assert json.loads(out) == {
        # the contract of every import (common.staged_import), then the list's matches
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "errors": [],
        "warnings": [],
        "rows": 3,
        "matched_exact": 0,
        "candidates": 1,
        "unmatched": 2,
        "invalid_ids": 0,
        "fuzzy_matches": [
            {
                "row": 2,
                "person_id": people["zhang"].pk,
                "status": "pending",
                "match_type": "name_birth_other_sequence",
                "score": 0.7,
                "rule": RULE,
                "agree": AGREE,
                "differ": DIFFER,
            }
        ],
    }
    m = Match.objects.get()
    assert (m.person_id, m.status, m.match_type, m.score, m.row.row_number) == (
        people["zhang"].pk,
        "pending",
        "name_birth_other_sequence",
        0.7,
        2,
    )
    assert m.evidence == {
        "rule": RULE,
        "id_distance": 2,
        "name_similarity": 1.0,
        "birth_equal": True,
        "tied": False,
        "fields": {
            "same_name": True,
            "same_pinyin": True,
            "birth_equal": True,
            "same_sex": True,
            "same_county": True,
            "same_sequence": False,
            "same_id": False,
        },
        "agree": AGREE,
        "differ": DIFFER,
        "unknown": [],
    }
    # and the import is audited with the candidate counted, attributed to the named user
    log = AuditLog.objects.get(action="verification.import")
    assert (log.username, log.changes["candidates"], log.changes["unmatched"]) == (
        "district1",
        [None, 1],
        [None, 2],
    )
    # and the text output names the row and the evidence
    assert _cli("deaths", _file(tmp_path, people, "again.xlsx")) == 0
    capsys.readouterr()
    assert main(["verify", "import", "deaths", str(path), "--user", "district1"]) == 0
    text = capsys.readouterr().out
    assert f"第2行 → 残疾人#{people['zhang'].pk}（待确认，得分 0.70）" in text
    assert f"不同：{SEQUENCE_DIFFERS}、身份证号" in text


def test_moving_out_lists_keep_the_near_miss_and_other_lists_drop_it(tmp_path, capsys, staff, people):
    path = tmp_path / "list.xlsx"
    path.write_bytes(xlsx_bytes(["姓名", "身份证号", "迁出日期"], [["张伟", people["near"], "2023-06-30"]]))
    assert _cli("moved_out", path) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["candidates"], got["unmatched"], got["fuzzy_matches"][0]["match_type"]) == (
        1,
        0,
        "name_birth_other_sequence",
    )
    # a 特困 list keeps the district-wide threshold (0.80): the near miss is dropped, as before
    tekun = tmp_path / "tekun.xlsx"
    tekun.write_bytes(xlsx_bytes(["姓名", "身份证号"], [["张伟", people["near"]]]))
    assert _cli("tekun", tekun) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["candidates"], got["unmatched"], got["fuzzy_matches"]) == (0, 1, [])
    assert Match.objects.filter(row__outside_list__kind="tekun").count() == 0


def test_the_candidate_page_shows_what_agrees_and_what_differs(tmp_path, capsys, staff, people, client):
    _cli("deaths", _file(tmp_path, people))
    m = Match.objects.get()
    client.force_login(staff["town_luzhi"])
    page = client.get(reverse("verification:candidate_list")).content.decode()
    assert f'data-candidate="{m.pk}"' in page and RULE in page
    for label in AGREE:
        assert f'data-agree="{label}"' in page
    for label in DIFFER:
        assert f'data-differ="{label}"' in page
    assert "得分 0.70" in page


def test_a_confirmed_near_miss_stops_the_dead_persons_allowance_with_its_evidence(
    tmp_path, capsys, staff, people, client
):
    _cli("deaths", _file(tmp_path, people))
    m = Match.objects.get()
    # when the town clerk confirms the candidate and the district runs the comparison
    match_confirm(acting_user=staff["town_luzhi"], match=m)
    verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    # then the death stops the care allowance from the month after the death (31 May → June)
    f = Finding.objects.get(kind="deceased", person=people["zhang"])
    assert (f.match_id, f.row_id, f.effective_month, f.enrolment.programme.code) == (
        m.pk,
        m.row_id,
        date(2023, 6, 1),
        "care_allowance",
    )
    assert f.evidence["match"] == {
        "rule": RULE,
        "agree": AGREE,
        "differ": DIFFER,
        "unknown": [],
        "id_distance": 2,
    }
    assert (f.evidence["match_type"], f.evidence["score"]) == ("name_birth_other_sequence", 0.7)
    assert not f.is_exact  # not bulk-confirmable: a person looks at it
    assert AuditLog.objects.filter(action="match.confirm", user=staff["town_luzhi"]).count() == 1
    # and the finding page shows the evidence
    client.force_login(staff["town_luzhi"])
    page = client.get(reverse("verification:finding_detail", args=[f.pk])).content.decode()
    assert "候选匹配经人工确认（得分 0.70）" in page and f'data-differ="{SEQUENCE_DIFFERS}"' in page


def test_a_dismissed_near_miss_makes_no_finding(tmp_path, capsys, staff, people):
    _cli("deaths", _file(tmp_path, people))
    m = Match.objects.get()
    match_reject(acting_user=staff["town_luzhi"], match=m, reason="同名同生日，另一人")
    verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    m.refresh_from_db()
    assert m.status == "rejected"
    assert not Finding.objects.filter(kind="deceased").exists()


def test_a_near_miss_on_the_first_of_the_month(tmp_path, capsys, staff, people):
    _cli("deaths", _file(tmp_path, people, dates=("2023-06-01", "2023-06-01")))
    match_confirm(acting_user=staff["district"], match=Match.objects.get())
    verification_run(acting_user=staff["district"], month=world.RUN_MONTH)
    assert Finding.objects.get(kind="deceased").effective_month == date(2023, 7, 1)


def test_thresholds_per_kind_are_a_setting(tmp_path, capsys, staff, people):
    path = _file(tmp_path, people)
    # a deaths threshold back at 0.80 drops the near miss
    strict = {"candidate": 0.80, "auto": 1.0, "near_name": 0.88, "kinds": {"deaths": {"candidate": 0.80}}}
    with override_settings(CANLIAN_MATCHING=strict):
        assert _cli("deaths", path) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["candidates"], got["unmatched"]) == (0, 3)
    # an auto threshold at 0.70 lets it act without a person
    alone = {"kinds": {"deaths": {"candidate": 0.70, "auto": 0.70}}}
    with override_settings(CANLIAN_MATCHING=alone):
        assert _cli("deaths", path) == 0
    got = json.loads(capsys.readouterr().out)
    assert (got["candidates"], got["matched_fuzzy"], got["fuzzy_matches"][0]["status"]) == (0, 1, "auto")
    assert Match.objects.filter(status="auto", match_type="name_birth_other_sequence").count() == 1
    assert OutsideList.objects.count() == 2


def test_the_shipped_thresholds():
    deaths, moved, tekun = thresholds_for("deaths"), thresholds_for("moved_out"), thresholds_for("tekun")
    assert (deaths.min_score, deaths.auto_score, moved.min_score, moved.auto_score) == (0.70, 1.0, 0.70, 1.0)
    assert (tekun.min_score, tekun.auto_score, tekun.near_name) == (0.80, 1.0, 0.88)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            {"kinds": {"deaths": {"candidate": 0.9, "auto": 0.8}}},
            "CANLIAN_MATCHING（死亡/火化名单）的阈值应满足",
        ),
        ({"kinds": {"deaths": {"candidate": 0}}}, "0 < 候选阈值 candidate（0.0）"),
        ({"kinds": {"deaths": {"candidate": "高"}}}, "的阈值应为 0 到 1 之间的数"),
        ({"kinds": {"births": {"candidate": 0.7}}}, "kinds 中有未知的名单类型：births"),
        ({"kinds": {"deaths": {"near_name": 0.7}}}, "只能设置 candidate 和 auto，不能设置：near_name"),
        ({"auto": 1.2}, "≤ 自动匹配阈值 auto（1.2）≤ 1"),
    ],
)
def test_bad_thresholds_are_refused_in_chinese(conf, message):
    with override_settings(CANLIAN_MATCHING=conf), pytest.raises(ImproperlyConfigured) as exc:
        thresholds_for("deaths")
    assert message in str(exc.value)
