from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CommonConfig(AppConfig):
    name = "canlian.common"
    label = "common"
    verbose_name = "公共"

    def ready(self):
        from .auditguard import ensure_sqlite_triggers

        post_migrate.connect(
            ensure_sqlite_triggers, sender=self, dispatch_uid="canlian.audit_sqlite_triggers"
        )
