from django.apps import AppConfig


class InstitutionsConfig(AppConfig):
    name = "canlian.institutions"
    label = "institutions"
    verbose_name = "服务机构"

    def ready(self):
        from canlian.common.audit_display import register_actions

        register_actions({"institution.create": "新建服务机构", "institution.update": "修改服务机构"})

        from canlian.common.navigation import NavEntry, nav_register

        from . import access

        nav_register(
            NavEntry(
                "services",
                "服务机构",
                "bi-building",
                "institutions:list",
                access.can_read_institutions,
                namespace="institutions",
                order=90,
            )
        )
