from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "canlian.verification"
    label = "verification"
    verbose_name = "数据比对"
