from django.apps import AppConfig


class BenefitsConfig(AppConfig):
    name = "canlian.benefits"
    label = "benefits"
    verbose_name = "待遇"

    def ready(self):
        from canlian.registry.timeline import timeline_register

        from .timeline import benefit_entries

        timeline_register("benefits", benefit_entries)
        from canlian.accounts import access
        from canlian.accounts.models import Role
        from canlian.common.navigation import NavEntry, nav_register

        from . import workflows  # noqa: F401  (registers the moves' audit labels at start-up)

        def reader(u):
            return u.role in access.BENEFIT_READERS

        nav_register(
            NavEntry(
                "benefits",
                "待遇项目",
                "bi-grid",
                "benefits:programme_list",
                reader,
                namespace="benefits",
                prefixes=("programme", "index"),
                order=10,
            ),
            NavEntry(
                "benefits",
                "待遇申请",
                "bi-file-earmark-text",
                "benefits:application_list",
                reader,
                namespace="benefits",
                prefixes=("application",),
                order=20,
            ),
            NavEntry(
                "benefits",
                "审核队列",
                "bi-inboxes",
                "benefits:review_queue",
                lambda u: u.role in (Role.TOWN_STAFF, Role.DISTRICT_STAFF),
                namespace="benefits",
                prefixes=("review_queue",),
                order=30,
            ),
            NavEntry(
                "benefits",
                "发放批次",
                "bi-cash-stack",
                "benefits:payroll_list",
                reader,
                namespace="benefits",
                prefixes=("payroll",),
                order=40,
            ),
            NavEntry(
                "benefits",
                "应保尽保",
                "bi-funnel",
                "benefits:screening",
                reader,
                namespace="benefits",
                prefixes=("screening",),
                order=50,
            ),
            NavEntry(
                "system",
                "待遇参数",
                "bi-sliders",
                "benefits:parameter_list",
                access.can_manage_parameters,
                namespace="benefits",
                prefixes=("parameter",),
                order=20,
            ),
        )
