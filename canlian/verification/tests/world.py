"""One small world in which every kind of finding occurs once (run month August 2023)."""

from __future__ import annotations

from datetime import date

from canlian.benefits.models import Enrolment, Programme
from canlian.registry.models import EconomicStatusPeriod
from canlian.verification.services import outside_list_import

from .conftest import xlsx_bytes

RUN_MONTH = date(2023, 8, 1)


def _enrol(person, code, start=date(2023, 5, 1)) -> Enrolment:
    return Enrolment.objects.create(
        person=person,
        programme=Programme.objects.get(code=code),
        start_month=start,
        bank_account="6222000011112222",
    )


def build(make_person) -> dict:
    p = {}
    p["dead"] = make_person(name="赵一", birth=date(1950, 1, 2), grade=1)
    p["left_dibao"] = make_person(name="钱二", birth=date(1951, 2, 3), grade=3)
    p["tekun"] = make_person(name="孙三", birth=date(1952, 3, 4), grade=1)
    p["injury"] = make_person(name="李四", birth=date(1953, 4, 5), grade=1)
    p["elderly"] = make_person(name="周五", birth=date(1940, 5, 6), grade=2, town="木渎镇")
    p["cancelled"] = make_person(name="吴六", birth=date(1955, 6, 7), grade=2)
    p["expired"] = make_person(name="郑七", birth=date(1956, 7, 8), grade=2, issue=date(2013, 3, 1))
    p["child"] = make_person(name="冯八", birth=date(2005, 3, 15), category=5, grade=2)
    p["custodial"] = make_person(name="陈九", birth=date(1963, 1, 10), category=5, grade=2, town="木渎镇")
    p["twin_a"] = make_person(name="王芳", birth=date(1990, 1, 1), grade=4)
    p["twin_b"] = make_person(name="王方", birth=date(1990, 1, 1), grade=4, town="木渎镇")
    p["moved"] = make_person(name="褚十", birth=date(1958, 9, 10), grade=3)
    p["typo"] = make_person(name="卫十一", birth=date(1959, 10, 11), grade=4)
    for key in ("dead", "left_dibao", "tekun", "moved"):
        EconomicStatusPeriod.objects.create(person=p[key], status="dibao", valid_from=date(2020, 1, 1))
    e = {
        "dead_living": _enrol(p["dead"], "living_allowance"),
        "dead_care": _enrol(p["dead"], "care_allowance"),
        "left_dibao": _enrol(p["left_dibao"], "living_allowance"),
        "tekun_living": _enrol(p["tekun"], "living_allowance"),
        "tekun_care": _enrol(p["tekun"], "care_allowance"),
        "injury": _enrol(p["injury"], "care_allowance"),
        "elderly": _enrol(p["elderly"], "care_allowance"),
        "cancelled": _enrol(p["cancelled"], "care_allowance"),
        "expired": _enrol(p["expired"], "care_allowance"),
        "child": _enrol(p["child"], "child_rehab", start=date(2022, 1, 1)),
        "custodial": _enrol(p["custodial"], "custodial_care", start=date(2022, 1, 1)),
        "moved": _enrol(p["moved"], "living_allowance"),
    }
    return {"persons": p, "enrolments": e}


def typo_of(id_number: str) -> str:
    """The same ID with its 11th digit changed: fails the checksum, one digit off."""
    return id_number[:10] + str((int(id_number[10]) + 1) % 10) + id_number[11:]


def import_lists(user, persons) -> dict:
    """One list of every kind, all received on 2023-08-02."""
    p = persons
    day = date(2023, 8, 2)
    out = {}

    def load(kind, headers, rows, name):
        out[kind] = outside_list_import(
            acting_user=user,
            source=xlsx_bytes(headers, rows),
            kind=kind,
            filename=f"{name}.xlsx",
            source_name=name,
            received_on=day,
        )

    load(
        "deaths",
        ["姓名", "身份证号", "死亡日期"],
        [
            ["赵一", p["dead"].id_number, "2023-05-20"],
            ["卫十一", typo_of(p["typo"].id_number), "2023-06-01"],
            ["无名氏", "320506199901010000", "2023-06-02"],
        ],
        "吴中区殡仪馆",
    )
    load(
        "dibao",
        ["姓名", "身份证号", "起始日期", "终止日期"],
        [["钱二", p["left_dibao"].id_number, "2020-01-01", "2023-06-30"]],
        "区民政局低保科",
    )
    load(
        "tekun",
        ["姓名", "身份证号", "起始日期"],
        [["孙三", p["tekun"].id_number, "2023-07-01"]],
        "区民政局特困科",
    )
    load(
        "injury_care",
        ["姓名", "身份证号", "起始日期"],
        [["李四", p["injury"].id_number, "2023-07-15"]],
        "区人社局工伤科",
    )
    load(
        "elderly_care",
        ["姓名", "身份证号", "起始日期", "月补贴金额"],
        [["周五", p["elderly"].id_number, "2023-07-01", "200.00"]],
        "区民政局养老科",
    )
    load(
        "moved_out",
        ["姓名", "身份证号", "迁出日期"],
        [["褚十", p["moved"].id_number, "2023-06-15"]],
        "区公安分局户政科",
    )
    load(
        "cert_cancelled",
        ["姓名", "身份证号", "注销日期", "注销原因"],
        [["吴六", p["cancelled"].id_number, "2023-07-10", "复核不符合"]],
        "省残联系统",
    )
    return out
