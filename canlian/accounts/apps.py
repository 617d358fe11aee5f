from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "canlian.accounts"
    label = "accounts"
    verbose_name = "账号与权限"

    def ready(self):
        from canlian.common.navigation import NavEntry, nav_register

        from . import (
            access,
            signals,  # noqa: F401  (login audit hooks)
        )

        nav_register(
            NavEntry(
                "system",
                "审计日志",
                "bi-journal-text",
                "common:audit_list",
                access.can_read_audit,
                namespace="common",
                prefixes=("audit",),
                order=40,
            ),
        )
