from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "canlian.verification"
    label = "verification"
    verbose_name = "数据比对"

    def ready(self):
        # Benefits must not import verification; it asks its registered payroll checks instead.
        from canlian.benefits.hooks import payroll_check_register

        from .payroll_checks import CHECK_NAME, open_findings_check

        payroll_check_register(CHECK_NAME, open_findings_check)
