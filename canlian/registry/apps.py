from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "canlian.registry"
    label = "registry"
    verbose_name = "残疾人档案"

    def ready(self):
        from canlian.common.crypto import key_probe_register

        from .services import key_probe

        key_probe_register(key_probe)

        from django.core.checks import Tags, register

        from canlian.accounts.forms import login_refusal_register

        from .demo import demo_accounts_check, demo_login_refusal

        login_refusal_register(demo_login_refusal)
        register(demo_accounts_check, Tags.security, deploy=True)

        from canlian.common.keyrotation import blind_index_register

        blind_index_register(
            "registry.Person", index_field="id_number_index", source_field="id_number", purpose="id_number"
        )
        blind_index_register(
            "registry.Certificate",
            index_field="number_index",
            source_field="number",
            purpose="certificate_number",
        )

        from canlian.accounts import access
        from canlian.common.navigation import NavEntry, nav_register

        nav_register(
            NavEntry(
                "registry",
                "残疾人档案",
                "bi-people",
                "registry:person_list",
                lambda u: u.role in access.PERSON_READERS,
                namespace="registry",
                prefixes=("person",),
                order=10,
            ),
            NavEntry(
                "registry",
                "批量导入",
                "bi-upload",
                "registry:import_start",
                access.can_import,
                namespace="registry",
                prefixes=("import",),
                order=20,
            ),
            NavEntry(
                "system",
                "行政区划",
                "bi-geo-alt",
                "registry:region_list",
                lambda u: bool(u.role) and not access.can_read_audit(u),
                namespace="registry",
                prefixes=("region",),
                order=30,
            ),
        )
