from django.apps import AppConfig


class BenefitsConfig(AppConfig):
    name = "canlian.benefits"
    label = "benefits"
    verbose_name = "待遇"
