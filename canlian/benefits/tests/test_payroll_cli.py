from datetime import date

import pytest

from canlian.benefits.models import Enrolment, Payroll, PayrollLine, Programme
from canlian.cli import main
from canlian.common.spreadsheet import read_table, write_xlsx
from canlian.registry.models import EconomicStatusPeriod

# 2023 months: the example standards (root conftest); --user X proves X by the password typed at the prompt
pytestmark = pytest.mark.usefixtures("example_standards_2023", "cli_password")


def test_payroll_cli_round_trip(users, make_user, make_person, tmp_path, capsys):
    make_user("district2", "district_staff")
    care = Programme.objects.get(code="care_allowance")
    a = make_person(name="周一", grade=1)
    b = make_person(name="吴二", grade=2, town="木渎镇", household="农村")
    for p in (a, b):
        Enrolment.objects.create(
            person=p,
            programme=care,
            start_month=date(2023, 7, 1),
            bank_name="农商行",
            bank_account="6222020000001234",
        )
    EconomicStatusPeriod.objects.create(person=a, status="dibao", valid_from=date(2020, 1, 1))

    assert main(["payroll", "generate", "care_allowance", "2023-07", "--user", "district1"]) == 0
    out = capsys.readouterr()
    assert "重度残疾人护理补贴 2023-07：草稿，2 笔，合计 260.00 元" in out.out
    assert "甪直镇\t1 笔\t150.00 元" in out.out and "木渎镇\t1 笔\t110.00 元" in out.out
    assert "生成" in out.err  # the progress bar

    assert main(["payroll", "review", "care_allowance", "2023-07", "--user", "district1"]) == 0
    assert main(["payroll", "approve", "care_allowance", "2023-07", "--user", "district1"]) == 1
    assert "不同人员" in capsys.readouterr().err
    assert main(["payroll", "approve", "care_allowance", "2023-07", "--user", "district2"]) == 0
    bank = tmp_path / "bank.xlsx"
    assert (
        main(
            ["payroll", "export", "care_allowance", "2023-07", str(bank), "--unmasked", "--user", "district1"]
        )
        == 0
    )
    table = read_table(bank, aliases={"id": ["流水号"], "account": ["银行账号"], "idn": ["身份证号"]})
    *lines, (_, total) = table.rows
    assert {r[table.columns["account"]] for _, r in lines} == {"6222020000001234"}
    assert total[:2] == ["合计", "共 2 笔"] and total[5] == 260.0
    ids = [r[table.columns["id"]] for _, r in lines]

    ret = tmp_path / "return.xlsx"
    write_xlsx(ret, ["流水号", "结果", "失败原因"], [[ids[0], "成功", ""], [ids[1], "失败", "户名不符"]])
    capsys.readouterr()
    assert main(["payroll", "results", "care_allowance", "2023-07", str(ret), "--user", "district1"]) == 0
    assert "到账 1 笔，失败 1 笔，未回盘 0 笔" in capsys.readouterr().out
    payroll = Payroll.objects.get(programme=care, month=date(2023, 7, 1))
    assert payroll.status == "closed"
    assert PayrollLine.objects.get(pk=int(ids[1])).failure_reason == "户名不符"

    bad = tmp_path / "bad.xlsx"
    write_xlsx(bad, ["流水号", "结果"], [[ids[0], "不知道"], ["abc", "成功"]])
    assert main(["payroll", "results", "care_allowance", "2023-07", str(bad), "--user", "district1"]) == 1
    err = capsys.readouterr().err
    assert "第2行：结果“不知道”无法识别" in err and "第3行：流水号“abc”不是数字" in err
