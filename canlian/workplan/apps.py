from django.apps import AppConfig


class WorkplanConfig(AppConfig):
    name = "canlian.workplan"
    label = "workplan"
    verbose_name = "工作要点"

    def ready(self):
        from canlian.common.audit_display import ActionSpec, register_actions

        register_actions(
            {
                "workplan.import": ActionSpec("导入工作要点", "workplan.Plan"),
                "workplan.publish": ActionSpec("发布工作要点", "workplan.Plan"),
                "workplan.target_update": ActionSpec("修改工作目标", "workplan.Target"),
                "workplan.target_add": ActionSpec("添加工作目标", "workplan.Target"),
                "workplan.target_delete": ActionSpec("删除工作目标", "workplan.Target"),
                "workplan.target_split": ActionSpec("拆分工作目标", "workplan.Target"),
                "workplan.target_merge": ActionSpec("合并工作目标", "workplan.Target"),
                "workplan.quotas": ActionSpec("分解目标到各镇(街道)", "workplan.Target"),
                "workplan.milestone": ActionSpec("登记里程碑完成", "workplan.Target"),
                "workplan.snapshot": ActionSpec("冻结指标月度快照"),
            }
        )

        from canlian.common.navigation import NavEntry, nav_register

        from . import access

        nav_register(
            NavEntry(
                "workplan",
                "目标进度",
                "bi-bar-chart",
                "workplan:board",
                access.can_read_plans,
                namespace="workplan",
                prefixes=("board",),
                order=10,
            ),
            NavEntry(
                "workplan",
                "年度工作要点",
                "bi-journal-text",
                "workplan:plan_list",
                access.can_read_plans,
                namespace="workplan",
                prefixes=("plan", "target"),
                order=20,
            ),
        )
