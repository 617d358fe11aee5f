from django.apps import AppConfig


class WorkplanConfig(AppConfig):
    name = "canlian.workplan"
    label = "workplan"
    verbose_name = "工作要点"
