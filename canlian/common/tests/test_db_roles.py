"""The application's database role (issue 10 §3): as the table's owner TRUNCATE, DISABLE TRIGGER and DROP
TRIGGER on the audit table all succeed, so the application runs as a role that may only INSERT and SELECT it;
migrations run as the owner (``CANLIAN_DB_OWNER_URL``). Each test makes its own role and drops it after."""

from __future__ import annotations

import contextlib
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from canlian.cli import main
from canlian.common import auditguard
from canlian.common.auditchain import audit_verify
from canlian.common.models import AuditLog
from canlian.registry.models import Person

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FORBIDDEN = {
    "UPDATE": "UPDATE common_auditlog SET detail = 'x'",
    "DELETE": "DELETE FROM common_auditlog",
    "TRUNCATE": "TRUNCATE common_auditlog",
    "DISABLE TRIGGER": "ALTER TABLE common_auditlog DISABLE TRIGGER common_auditlog_no_update",
    "DISABLE TRIGGER ALL": "ALTER TABLE common_auditlog DISABLE TRIGGER ALL",
    "DROP TRIGGER": "DROP TRIGGER common_auditlog_no_update ON common_auditlog",
    "DROP TABLE": "DROP TABLE common_auditlog",
    "ALTER COLUMN": "ALTER TABLE common_auditlog ALTER COLUMN detail DROP NOT NULL",
    "CREATE TABLE": "CREATE TABLE public.canlian_probe (id int)",
}


def _url(user: str) -> str:
    s = connection.settings_dict
    return f"postgres://{user}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def app_role():
    """A login role of our own in this test database, dropped (with its grants) after the test."""
    name = f"canlian_app_{uuid.uuid4().hex[:10]}"
    owner = connection.settings_dict["USER"]
    with connection.cursor() as cur:
        cur.execute(f'CREATE ROLE "{name}" LOGIN')
    try:
        yield name
    finally:
        connection.close()
        connection.settings_dict["USER"] = owner
        with connection.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{name}"')
            cur.execute(f'DROP ROLE "{name}"')


@contextlib.contextmanager
def django_as(role: str):
    """Django's own connection as ``role`` for the block (what the running application does)."""
    saved = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = role
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["USER"] = saved


def test_the_owner_can_wipe_the_audit_table_which_is_why_the_app_must_not_be_it():
    with transaction.atomic(), connection.cursor() as cur:  # rolled back below
        cur.execute("TRUNCATE common_auditlog")
        cur.execute("ALTER TABLE common_auditlog DISABLE TRIGGER common_auditlog_no_update")
        cur.execute("DROP TRIGGER common_auditlog_no_update ON common_auditlog")
        transaction.set_rollback(True)


def test_app_role_may_only_insert_and_select_the_audit_table(app_role, users, make_person):
    make_person(name="李明")  # written as the owner: one audit row already there
    plan = auditguard.roles_plan(app_role=app_role)
    assert plan.owner_role == connection.settings_dict["USER"]
    auditguard.roles_apply(acting_user=users["district"], plan=plan)
    auditguard.roles_apply(acting_user=users["district"], plan=auditguard.roles_plan(app_role=app_role))
    assert auditguard.app_role_rights(app_role) == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": False,
        "DELETE": False,
        "TRUNCATE": False,
        "TRIGGER": False,
        "REFERENCES": False,
    }
    applied = AuditLog.objects.filter(action="db.roles_apply")
    assert applied.count() == 2 and applied.first().changes["app_role"] == app_role
    before = AuditLog.objects.count()

    with psycopg.connect(_url(app_role).replace("postgres://", "postgresql://", 1), autocommit=True) as app:
        for what, sql in FORBIDDEN.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)
            assert what
        assert app.execute("SELECT count(*) FROM common_auditlog").fetchone() == (before,)
        assert app.execute("SELECT current_user").fetchone() == (app_role,)

    with django_as(app_role):  # the application, as the role: a person through the service
        person = make_person(name="王芳")
        assert Person.objects.filter(pk=person.pk).exists()
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute("TRUNCATE common_auditlog")
        created = AuditLog.objects.get(action="person.create", object_id=str(person.pk))
        assert created.seq == before + 1
        assert audit_verify().ok
    assert AuditLog.objects.count() == before + 1


def test_roles_plan_refuses_a_superuser_or_a_missing_role():
    with pytest.raises(auditguard.RolesError, match="超级用户"):
        auditguard.roles_plan(app_role=connection.settings_dict["USER"])
    with pytest.raises(auditguard.RolesError, match="不存在"):
        auditguard.roles_plan(app_role="canlian_no_such_role")


def test_roles_plan_refuses_the_owner(app_role):
    with connection.cursor() as cur:
        cur.execute(f'ALTER TABLE common_auditlog OWNER TO "{app_role}"')
    try:
        with pytest.raises(auditguard.RolesError, match="所有者"):
            auditguard.roles_plan(app_role=app_role)
    finally:
        with connection.cursor() as cur:
            cur.execute(f'ALTER TABLE common_auditlog OWNER TO "{connection.settings_dict["USER"]}"')


def test_cli_prints_then_applies_the_grants(app_role, users, capsys, monkeypatch, cli_password):
    assert main(["db", "roles", "--app-role", app_role]) == 0
    out = capsys.readouterr().out
    assert f'GRANT SELECT, INSERT ON "public"."common_auditlog" TO "{app_role}";' in out
    assert f'REVOKE ALL ON "public"."common_auditlog" FROM "{app_role}";' in out
    assert auditguard.app_role_rights(app_role)["INSERT"] is False  # printing changed nothing

    # as the application would run it: DATABASE_URL is the app role, the owner's URL beside it
    monkeypatch.setenv("CANLIAN_DB_OWNER_URL", _url(connection.settings_dict["USER"]))
    with django_as(app_role):
        assert main(["db", "roles", "--apply", "--user", "district1"]) == 0
        assert f"已为应用角色 {app_role} 设置权限" in capsys.readouterr().out
        with connection.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (app_role,)  # back as the app role after the owner's part


def test_migrate_runs_as_the_owner_and_regrants(app_role, users, monkeypatch):
    auditguard.roles_apply(acting_user=users["district"], plan=auditguard.roles_plan(app_role=app_role))
    with connection.cursor() as cur:  # a table the app role has no rights on yet
        cur.execute(f'REVOKE ALL ON registry_region FROM "{app_role}"')
    owner = connection.settings_dict["USER"]
    with django_as(app_role):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute("ALTER TABLE common_auditlog ADD COLUMN probe int")  # the app role cannot migrate
        monkeypatch.setenv("CANLIAN_DB_OWNER_URL", _url(owner))
        with auditguard.as_owner(), connection.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone() == (owner,)
        call_command("migrate", interactive=False, verbosity=0)
        with connection.cursor() as cur:
            cur.execute("SELECT current_user, count(*) FROM registry_region")
            assert cur.fetchone()[0] == app_role  # granted again by migrate
    assert auditguard.app_role_rights(app_role)["UPDATE"] is False


def test_owner_url_must_name_the_same_database(monkeypatch):
    monkeypatch.setenv("CANLIAN_DB_OWNER_URL", "postgres://postgres@127.0.0.1:5432/some_other_db")
    with pytest.raises(auditguard.RolesError, match="同一个数据库"):
        with auditguard.as_owner():
            pass
