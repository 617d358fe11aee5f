from django.apps import AppConfig


class CaseworkConfig(AppConfig):
    name = "canlian.casework"
    label = "casework"
    verbose_name = "服务个案"

    def ready(self):
        from . import programmes  # noqa: F401  (declares every programme)
        from .navigation import register_navigation

        register_navigation()
        from canlian.registry.timeline import timeline_register

        from .timeline import case_entries

        timeline_register("casework", case_entries)
        self._register_facts()

    def _register_facts(self):
        """Child rehabilitation's assessed need feeds the benefits rule ``child_rehab`` through the benefits
        facts-provider hook (added by the ``facts`` branch; until that is merged there is nothing to do)."""
        from canlian.benefits import hooks

        register = getattr(hooks, "facts_provider_register", None)
        if register is not None:
            from .programmes.child_rehab import rehab_need_facts

            register("casework.rehab_need", rehab_need_facts)
