"""`canlian createuser`: institution staff belong to exactly one institution (named by number or exact name);
no other role may be bound to one; every refusal is a Chinese message and creates nothing."""

from __future__ import annotations

import pytest

from canlian.accounts.models import User
from canlian.accounts.services import user_create
from canlian.cli import main
from canlian.common.exceptions import ValidationFailed
from canlian.common.models import AuditLog
from canlian.institutions.services import institution_create

PW = "Canlian#2023pw"


@pytest.fixture(autouse=True)
def _proven_admin(make_user, cli_token):
    """createuser runs as a proven user: an admin's CLI token (accounts/services.py)."""
    cli_token(make_user("cliadmin", "district_admin"))


@pytest.fixture
def provider(users, towns):
    return institution_create(
        acting_user=users["district"],
        name="甪直镇阳光托养中心",
        kind="custodial_provider",
        town=towns["甪直镇"],
    )


def _users_and_audit():
    return User.objects.exclude(username="system").count(), AuditLog.objects.filter(
        action="user.create"
    ).count()


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["id", "name"])
def test_institution_staff_by_id_or_exact_name(provider, capsys, how):
    ref = str(provider.pk) if how == "id" else "甪直镇阳光托养中心"
    code = main(
        ["createuser", "inst_a", "--role", "institution_staff", "--institution", ref, "--password", PW]
    )
    assert code == 0
    assert "已创建用户 inst_a（机构工作人员）" in capsys.readouterr().out
    user = User.objects.get(username="inst_a")
    assert (user.role, user.institution_id, user.jurisdiction_id) == ("institution_staff", provider.pk, None)
    row = AuditLog.objects.get(action="user.create", object_id=str(user.pk))
    assert row.changes == {
        "role": [None, "institution_staff"],
        "jurisdiction": [None, "全区"],
        "institution": [None, "甪直镇阳光托养中心"],
    }
    assert row.username == "cliadmin"  # the proven admin, not the system account


@pytest.mark.django_db
def test_institution_staff_without_institution_is_refused(users, capsys):
    before = _users_and_audit()
    code = main(["createuser", "inst_b", "--role", "institution_staff", "--password", PW])
    assert code == 1
    assert "所属机构（--institution）：机构工作人员必须指定所属服务机构" in capsys.readouterr().out
    assert _users_and_audit() == before
    assert not User.objects.filter(username="inst_b").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("ref", ["甪直镇阳光托养", "99999", "木渎镇残疾人之家"])
def test_unknown_institution_is_refused(provider, capsys, ref):
    before = _users_and_audit()
    code = main(
        ["createuser", "inst_c", "--role", "institution_staff", "--institution", ref, "--password", PW]
    )
    assert code == 2
    assert f"未找到服务机构“{ref}”：请填写机构编号或完整的机构名称" in capsys.readouterr().out
    assert _users_and_audit() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "extra", "label"),
    [
        ("district_staff", [], "区残联业务科室"),
        ("town_staff", ["--town", "320506106"], "镇(街道)残联专职委员"),
        ("leader", [], "领导"),
    ],
)
def test_other_roles_refuse_an_institution(provider, towns, capsys, role, extra, label):
    if "--town" in extra:
        extra = ["--town", towns["甪直镇"].code]
    before = _users_and_audit()
    code = main(
        ["createuser", "x1", "--role", role, *extra, "--institution", str(provider.pk), "--password", PW]
    )
    assert code == 1
    out = capsys.readouterr().out
    assert f"所属机构（--institution）：只有机构工作人员可以指定所属服务机构，{label}不能指定" in out
    assert _users_and_audit() == before


@pytest.mark.django_db
def test_other_roles_without_institution_still_work(towns, capsys):
    code = main(["createuser", "d9", "--role", "district_staff", "--password", PW])
    assert code == 0
    assert User.objects.get(username="d9").institution_id is None
    row = AuditLog.objects.get(action="user.create", object_id=str(User.objects.get(username="d9").pk))
    assert "institution" not in row.changes


@pytest.mark.django_db
def test_service_refuses_directly_too(users, provider):
    with pytest.raises(ValidationFailed) as exc:
        user_create(acting_user=users["admin"], username="i2", role="institution_staff", password=PW)
    assert exc.value.errors == {"institution": "机构工作人员必须指定所属服务机构"}
    u = user_create(
        acting_user=users["admin"], username="i3", role="institution_staff", password=PW, institution=provider
    )
    assert u.institution == provider
    with pytest.raises(ValidationFailed):
        user_create(
            acting_user=users["admin"], username="i4", role="auditor", password=PW, institution=provider
        )
    assert not User.objects.filter(username__in=["i2", "i4"]).exists()


@pytest.mark.django_db
def test_createuser_makes_a_counsellor(towns, capsys):
    assert main(["createuser", "xl1", "--role", "counsellor", "--password", PW]) == 0
    user = User.objects.get(username="xl1")
    assert (user.role, user.role_label, user.jurisdiction_id, user.institution_id) == (
        "counsellor",
        "心理咨询师",
        None,
        None,
    )
