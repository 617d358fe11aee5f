"""``migrate`` as the owner role when ``CANLIAN_DB_OWNER_URL`` is set (PostgreSQL).

The application runs as a role that owns nothing and may only INSERT and SELECT the audit table
(``common.auditguard``); the schema belongs to the owner role, so only it can migrate. With the owner's URL
in ``CANLIAN_DB_OWNER_URL`` this command connects as the owner for the whole run, then gives the
application role (the DATABASE_URL's user) its rights again on whatever the migrations created."""

from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import connection

from canlian.common import auditguard


class Command(MigrateCommand):
    help = MigrateCommand.help + "（设置 CANLIAN_DB_OWNER_URL 时以所有者角色执行）"

    def handle(self, *args, **options):
        url = auditguard.owner_url()
        if not url or options.get("database", "default") != "default":
            return super().handle(*args, **options)
        app_role = connection.settings_dict.get("USER")
        try:
            with auditguard.as_owner(url):
                super().handle(*args, **options)
                if app_role:
                    from canlian.accounts.services import system_user

                    plan = auditguard.roles_plan(app_role=app_role)
                    auditguard.roles_apply(acting_user=system_user(), plan=plan)
        except auditguard.RolesError as exc:
            raise CommandError(exc.message) from None
