"""The command line acts as a named user only after proof (issue 10 §4): the user's password at the prompt,
or a token the user made in the web. ``--user X`` alone is no longer trusted."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from canlian.accounts.models import CliToken
from canlian.accounts.services import cli_token_create, cli_token_revoke, user_set_active
from canlian.benefits.models import Enrolment, Payroll, Programme
from canlian.cli import main
from canlian.common.models import AuditLog

pytestmark = pytest.mark.usefixtures("example_standards_2023")


@pytest.fixture
def draft_payroll(users, make_user, make_person):
    make_user("district2", "district_staff")
    care = Programme.objects.get(code="care_allowance")
    person = make_person(name="周一", grade=1)
    Enrolment.objects.create(
        person=person,
        programme=care,
        start_month=date(2023, 7, 1),
        bank_name="农商行",
        bank_account="6222020000001234",
    )
    assert main(["payroll", "generate", "care_allowance", "2023-07"]) == 0  # a draft may run as system
    return Payroll.objects.get(programme=care, month=date(2023, 7, 1))


def _typed(monkeypatch, password):
    monkeypatch.setattr("canlian.cli.ask_password", lambda username: password)


def test_wrong_password_is_refused_and_audited(draft_payroll, monkeypatch):
    _typed(monkeypatch, "not-the-password")
    with pytest.raises(SystemExit) as exc:
        main(["payroll", "review", "care_allowance", "2023-07", "--user", "district1"])
    assert "身份验证失败" in str(exc.value) and "密码不正确" in str(exc.value)
    draft_payroll.refresh_from_db()
    assert draft_payroll.status == "draft"
    failure = AuditLog.objects.get(action="cli.identity", result="failure")
    assert failure.username == "district1"


def test_right_password_proves_the_user(draft_payroll, monkeypatch):
    _typed(monkeypatch, "Canlian#2023pw")
    assert main(["payroll", "review", "care_allowance", "2023-07", "--user", "district1"]) == 0
    draft_payroll.refresh_from_db()
    assert draft_payroll.status != "draft"
    assert AuditLog.objects.filter(action="cli.identity", username="district1", result="success").exists()


def test_no_terminal_and_no_token_is_refused(draft_payroll, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["payroll", "review", "care_allowance", "2023-07", "--user", "district1"])
    assert "CANLIAN_TOKEN" in str(exc.value)


def test_token_of_a_cannot_act_as_b(draft_payroll, users, cli_token):
    cli_token(users["district"])  # district1's token
    with pytest.raises(SystemExit) as exc:
        main(["payroll", "review", "care_allowance", "2023-07", "--user", "district2"])
    assert "令牌属于用户 district1，不能以 district2 的身份执行" in str(exc.value)
    draft_payroll.refresh_from_db()
    assert draft_payroll.status == "draft"


def test_maker_and_checker_need_two_proven_identities(draft_payroll, users, cli_token, monkeypatch, capsys):
    from canlian.accounts.models import User

    cli_token(users["district"])
    assert main(["payroll", "review", "care_allowance", "2023-07"]) == 0  # the token's user: district1
    # the same operator cannot approve by naming someone else without that person's password
    monkeypatch.delenv("CANLIAN_TOKEN")
    _typed(monkeypatch, "a guess")
    with pytest.raises(SystemExit):
        main(["payroll", "approve", "care_allowance", "2023-07", "--user", "district2"])
    # nor with their own token: maker ≠ checker
    cli_token(users["district"])
    assert main(["payroll", "approve", "care_allowance", "2023-07"]) == 1
    assert "不同人员" in capsys.readouterr().err
    draft_payroll.refresh_from_db()
    assert draft_payroll.approved_by_id is None
    # district2 proves who they are with their own token
    cli_token(User.objects.get(username="district2"))
    assert main(["payroll", "approve", "care_allowance", "2023-07"]) == 0
    draft_payroll.refresh_from_db()
    assert draft_payroll.approved_by.username == "district2"
    assert draft_payroll.reviewed_by.username == "district1"


def test_unmasked_exports_without_identity_are_refused(draft_payroll, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["payroll", "export", "care_allowance", "2023-07", str(tmp_path / "bank.xlsx"), "--unmasked"])
    assert "须以本人身份执行" in str(exc.value)
    assert not (tmp_path / "bank.xlsx").exists()
    with pytest.raises(SystemExit) as exc:
        main(["export", "persons", str(tmp_path / "p.xlsx"), "--unmasked"])
    assert "须以本人身份执行" in str(exc.value)
    assert not (tmp_path / "p.xlsx").exists()
    # the masked copy may still run unattended
    assert main(["export", "persons", str(tmp_path / "masked.xlsx")]) == 0


def test_token_is_stored_hashed_expires_and_can_be_revoked(users, cli_token, tmp_path):
    raw = cli_token(users["district"])
    token = CliToken.objects.get(user=users["district"])
    assert raw not in (token.digest, token.prefix) and len(token.digest) == 64
    assert main(["export", "persons", str(tmp_path / "a.xlsx"), "--unmasked"]) == 0
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert AuditLog.objects.filter(action="cli.identity", username="district1", result="success").exists()

    CliToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(SystemExit) as exc:
        main(["export", "persons", str(tmp_path / "b.xlsx"), "--unmasked"])
    assert "令牌已过期" in str(exc.value)

    raw = cli_token(users["district"])
    cli_token_revoke(acting_user=users["district"], token=CliToken.objects.get(prefix=raw[:10]))
    with pytest.raises(SystemExit) as exc:
        main(["export", "persons", str(tmp_path / "c.xlsx"), "--unmasked"])
    assert "令牌已撤销" in str(exc.value)


def test_token_file_and_deactivated_owner(users, tmp_path):
    _, raw = cli_token_create(user=users["district"], days=5)
    path = tmp_path / "token"
    path.write_text(raw + "\n")
    out = tmp_path / "a.xlsx"
    assert main(["export", "persons", str(out), "--unmasked", "--token-file", str(path)]) == 0
    user_set_active(acting_user=users["admin"], user=users["district"], active=False)
    with pytest.raises(SystemExit) as exc:
        main(["export", "persons", str(out), "--unmasked", "--token-file", str(path)])
    assert "令牌已撤销" in str(exc.value)  # deactivation revokes the account's tokens


def test_token_days_are_bounded(users):
    from canlian.common.exceptions import ValidationFailed

    for days in (0, 91):
        with pytest.raises(ValidationFailed) as exc:
            cli_token_create(user=users["district"], days=days)
        assert "有效天数" in exc.value.errors["days"]


def test_createuser_runs_as_the_proven_admin(users, towns, cli_token, capsys):
    from canlian.accounts.models import User

    args = [
        "createuser",
        "wang1",
        "--role",
        "town_staff",
        "--town",
        "320506100",
        "--password",
        "Chushi#2024pw",
    ]
    with pytest.raises(SystemExit, match="须以本人身份执行"):
        main(args)
    cli_token(users["district"])  # proven, but not an admin
    assert main(args) == 1 and "只有区残联管理员" in capsys.readouterr().out
    cli_token(users["admin"])
    assert main(args) == 0
    user = User.objects.get(username="wang1")
    assert user.must_change_password and user.jurisdiction == towns["甪直镇"]
    assert AuditLog.objects.get(action="user.create").username == "admin1"
    assert main(["createuser", "kang2", "--role", "institution_staff", "--password", "Chushi#2024pw"]) == 1
    assert "机构工作人员必须指定所属服务机构" in capsys.readouterr().out
