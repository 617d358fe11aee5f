from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "canlian.verification"
    label = "verification"
    verbose_name = "数据比对"

    def ready(self):
        from canlian.registry.timeline import timeline_register

        from .timeline import finding_entries

        timeline_register("verification", finding_entries)
        # Benefits must not import verification; it asks its registered payroll checks instead.
        from canlian.benefits.hooks import payroll_check_register

        from .payroll_checks import CHECK_NAME, open_findings_check

        payroll_check_register(CHECK_NAME, open_findings_check)

        from canlian.common.keyrotation import blind_index_register

        blind_index_register(
            "verification.OutsideRow", index_field="id_index", source_field="id_number", purpose="id_number"
        )

        from canlian.accounts import access
        from canlian.common.navigation import NavEntry, nav_register

        def entry(label, icon, url_name, prefixes, order):
            return NavEntry(
                "verification",
                label,
                icon,
                f"verification:{url_name}",
                access.can_read_verification,
                namespace="verification",
                prefixes=prefixes,
                order=order,
            )

        nav_register(
            entry("疑点", "bi-exclamation-diamond", "finding_list", ("finding", "index"), 10),
            entry("候选匹配", "bi-people", "candidate_list", ("candidate",), 20),
            entry("外部名单", "bi-file-earmark-spreadsheet", "list_index", ("list", "import_job"), 30),
            entry("比对批次", "bi-arrow-repeat", "run_list", ("run",), 40),
            entry("比对报告", "bi-bar-chart", "report", ("report",), 50),
        )
