"""What the database itself does to keep the audit table append-only.

- SQLite: BEFORE UPDATE and BEFORE DELETE triggers that abort (created by common 0007, and again after any
  ``migrate`` in case a later migration rebuilt the table, which drops a table's triggers on SQLite).
- PostgreSQL: the append-only trigger (common 0002) stops the table's owner only by accident: an owner can
  TRUNCATE, DISABLE or DROP the trigger. So the application runs as a second role that may only INSERT and
  SELECT the audit table (and owns nothing), and migrations run as the owner (``CANLIAN_DB_OWNER_URL``).
  ``role_grants_sql`` is the SQL that gives the application role its rights; ``canlian db roles`` prints it
  or applies it, idempotently.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection as default_connection
from django.db import transaction

AUDIT_TABLE = "common_auditlog"
SQLITE_TRIGGERS = {
    "common_auditlog_no_update": "UPDATE",
    "common_auditlog_no_delete": "DELETE",
}
SQLITE_MESSAGE = "audit log is append-only (审计记录只能追加，不能修改或删除)"


# ---- SQLite -----------------------------------------------------------------------------------------------


def sqlite_triggers_create(conn=default_connection) -> None:
    with conn.cursor() as cursor:
        for name, event in SQLITE_TRIGGERS.items():
            cursor.execute(
                f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON {AUDIT_TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{SQLITE_MESSAGE}'); END"
            )


def sqlite_triggers_drop(conn=default_connection) -> None:
    with conn.cursor() as cursor:
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def sqlite_triggers_present(conn=default_connection) -> set[str]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [AUDIT_TABLE]
        )
        return {row[0] for row in cursor.fetchall()}


def ensure_sqlite_triggers(using: str = "default", **_) -> None:
    """``post_migrate``: put the triggers back if a migration rebuilt the table (SQLite only)."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return
    if AUDIT_TABLE in conn.introspection.table_names() and sqlite_triggers_present(conn) != set(
        SQLITE_TRIGGERS
    ):
        sqlite_triggers_create(conn)


@contextlib.contextmanager
def sqlite_triggers_suspended(conn=default_connection) -> Iterator[None]:
    """Without the triggers for the length of the block: only for ``flush`` (the test suite empties every
    table between transactional tests; SQLite has no TRUNCATE that would pass by row triggers)."""
    if conn.vendor != "sqlite" or AUDIT_TABLE not in conn.introspection.table_names():
        yield
        return
    sqlite_triggers_drop(conn)
    try:
        yield
    finally:
        sqlite_triggers_create(conn)


# ---- PostgreSQL roles -------------------------------------------------------------------------------------


class RolesError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def owner_url() -> str:
    return os.environ.get("CANLIAN_DB_OWNER_URL", "")


def owner_settings(url: str) -> dict:
    """The connection fields of ``url`` (the owner role's DATABASE_URL) that differ from the application's."""
    import dj_database_url

    parsed = dj_database_url.parse(url)
    return {key: parsed[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT") if key in parsed}


@contextlib.contextmanager
def as_owner(url: str | None = None) -> Iterator[None]:
    """Run the block on the default connection as the owner role (``CANLIAN_DB_OWNER_URL``; nothing changes
    when it is not set): for ``migrate`` and ``db roles --apply``."""
    url = owner_url() if url is None else url
    if not url:
        yield
        return
    conn = default_connection
    if conn.vendor != "postgresql":
        raise RolesError("CANLIAN_DB_OWNER_URL 只用于 PostgreSQL：嵌入式 SQLite 数据库不区分数据库角色")
    saved = {key: conn.settings_dict.get(key) for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    owner = owner_settings(url)
    if owner.get("NAME") != saved["NAME"]:
        raise RolesError(
            f"CANLIAN_DB_OWNER_URL 指向的数据库（{owner.get('NAME')}）与 DATABASE_URL 的数据库"
            f"（{saved['NAME']}）不同：两者应是同一个数据库的两个角色"
        )
    conn.close()
    conn.settings_dict.update(owner)
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.update(saved)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def role_grants_sql(*, app_role: str, owner_role: str, database: str, schema: str = "public") -> list[str]:
    """The statements that give ``app_role`` what the application needs: read and write every table but the
    audit table, which it may only INSERT into and SELECT from; the sequences; and the same on tables the
    owner creates later (default privileges). Running them again changes nothing."""
    app, owner, db, sch = _ident(app_role), _ident(owner_role), _ident(database), _ident(schema)
    audit = f"{sch}.{_ident(AUDIT_TABLE)}"
    return [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {app}",
        f"GRANT USAGE ON SCHEMA {sch} TO {app}",
        f"REVOKE CREATE ON SCHEMA {sch} FROM {app}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {sch} TO {app}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {sch} FROM {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {sch} TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {sch} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {sch} GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        f"REVOKE ALL ON {audit} FROM PUBLIC",
        f"REVOKE ALL ON {audit} FROM {app}",
        f"GRANT SELECT, INSERT ON {audit} TO {app}",
    ]


@dataclass(frozen=True)
class RolesPlan:
    app_role: str
    owner_role: str
    database: str
    statements: list[str]


def roles_plan(*, app_role: str | None = None) -> RolesPlan:
    """What ``db roles`` would run, for the application role ``app_role`` (default: the DATABASE_URL's
    user), checked: the application role must exist, must not be a superuser nor own the audit table."""
    conn = default_connection
    if conn.vendor != "postgresql":
        raise RolesError(
            "数据库角色只用于 PostgreSQL：嵌入式 SQLite 数据库由操作系统的文件权限保护，审计表由触发器保护"
        )
    app_role = app_role or conn.settings_dict.get("USER") or ""
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
        cursor.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s",
            [AUDIT_TABLE],
        )
        row = cursor.fetchone()
        if row is None:
            raise RolesError("审计表 common_auditlog 不存在：请先以所有者角色执行数据库迁移（migrate）")
        owner_role = row[0]
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app_role])
        found = cursor.fetchone()
    if not app_role:
        raise RolesError("未指定应用角色：请用 --app-role 指定，或在 DATABASE_URL 中写明用户名")
    if found is None:
        raise RolesError(
            f"应用角色 {app_role} 不存在：请先由数据库管理员创建（CREATE ROLE {app_role} LOGIN PASSWORD '…'）"
        )
    if found[0]:
        raise RolesError(f"应用角色 {app_role} 是超级用户：超级用户不受权限限制，应用必须用普通角色运行")
    if app_role == owner_role:
        raise RolesError(
            f"应用角色 {app_role} 是审计表的所有者：所有者可以清空表、停用触发器。请用另一个角色运行应用，"
            "迁移用所有者角色（CANLIAN_DB_OWNER_URL）"
        )
    return RolesPlan(
        app_role,
        owner_role,
        database,
        role_grants_sql(app_role=app_role, owner_role=owner_role, database=database),
    )


def roles_apply(*, acting_user, plan: RolesPlan) -> RolesPlan:
    """Run ``plan`` (as a role allowed to grant on the owner's tables: the owner or a superuser), audited."""
    from .audit import audit_record

    with transaction.atomic():
        with default_connection.cursor() as cursor:
            for statement in plan.statements:
                cursor.execute(statement)
        audit_record(
            acting_user=acting_user,
            action="db.roles_apply",
            object_type="",
            object_repr=f"数据库 {plan.database}",
            changes={"app_role": plan.app_role, "owner_role": plan.owner_role},
        )
    return plan


def app_role_rights(role: str) -> dict[str, bool]:
    """The audit table rights ``role`` holds (for the test and ``db roles`` output)."""
    rights = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")
    with default_connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join("has_table_privilege(%s, %s, %s)" for _ in rights),
            [v for r in rights for v in (role, AUDIT_TABLE, r)],
        )
        return dict(zip(rights, cursor.fetchone(), strict=True))
