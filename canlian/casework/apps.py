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
        from .employment_selectors import timeline_entries

        timeline_register("employment", timeline_entries)
        self._register_facts()
        self._register_audit_labels()
        from .community.setup import register as register_community

        register_community()

    def _register_audit_labels(self):
        """The Chinese names of the engine's own audit actions, per declared programme, and of the services'."""
        from canlian.common.audit_display import ActionSpec, register_actions

        from .programme import programmes

        generic = {
            "open": "登记个案",
            "update": "更正个案",
            "due_done": "完成到期事项",
            "attach": "上传附件",
            "download": "下载附件",
        }
        for p in programmes():
            register_actions(
                {f"case.{p.code}.{verb}": f"{p.name}：{label}" for verb, label in generic.items()}
            )
        register_actions(
            {
                "user.institution": "设置所属机构",
                "settlement.create": "生成机构结算",
                "custodial.contract_create": "登记托养服务购买合同",
                "custodial.contract_end": ActionSpec(
                    "提前终止托养服务购买合同", "casework.CustodialContract"
                ),
                "custodial.inspection": ActionSpec("托养服务质量检查", "casework.Inspection"),
                "custodial.inspection_follow_up": ActionSpec(
                    "托养服务质量检查整改复查", "casework.Inspection"
                ),
                "roster.report_download": "下载服务名单导入报告",
                "devices.catalogue_import": "导入辅助器具目录",
                "devices.loan_lend": "借出辅助器具",
                "devices.loan_return": "归还辅助器具",
                "case.devices.apply": "辅助器具适配申请",
                "case.devices.fitting_import": "导入已交付的辅具适配",
                "case.renovation.item_add": "无障碍改造：增加改造项目",
                "case.renovation.item_remove": "无障碍改造：删除改造项目",
            }
        )

    def _register_facts(self):
        """Child rehabilitation's assessed need feeds the benefits rule ``child_rehab`` through the benefits
        facts-provider hook (added by the ``facts`` branch; until that is merged there is nothing to do)."""
        from canlian.benefits import hooks

        register = getattr(hooks, "facts_provider_register", None)
        if register is not None:
            from .programmes.child_rehab import rehab_need_facts

            register("casework.rehab_need", rehab_need_facts)
