from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "canlian.casework"
    label = "casework"
    verbose_name = "服务个案"

    def ready(self):
        from . import programmes  # noqa: F401  (declares every programme)
        from .navigation import register_navigation

        register_navigation()
