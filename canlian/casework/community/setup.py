"""What the community services register when the app starts: audit labels, navigation, timeline."""

from __future__ import annotations


def register() -> None:
    from canlian.common.audit_display import ActionSpec, register_actions
    from canlian.registry.timeline import timeline_register

    from .kinds import KINDS
    from .timeline import community_entries

    actions: dict = {}
    for k in KINDS.values():
        model = f"casework.{k.model_name}"
        actions[f"community.{k.code}.create"] = ActionSpec(f"登记{k.label}", model)
        actions[f"community.{k.code}.export"] = ActionSpec(f"导出{k.label}", model)
        if k.sensitive:
            actions[f"community.{k.code}.read"] = ActionSpec(f"查看{k.label}内容", model)
    actions.update(
        {
            "community.visit.to_project": ActionSpec("访视发现的需求转为实事项目", "casework.Visit"),
            "community.activity.attend": ActionSpec("登记活动参加人员", "casework.Activity"),
            "community.activity.photo_add": ActionSpec("上传活动照片", "casework.Activity"),
            "community.activity.photo_read": ActionSpec("查看活动照片", "casework.Activity"),
            "community.team.member_add": ActionSpec("添加兴趣队伍队员", "casework.InterestTeam"),
        }
    )
    register_actions(actions)
    timeline_register("community", community_entries)
    _navigation()


def _navigation() -> None:
    from canlian.common.navigation import NavEntry, nav_register

    from .views import can_open

    nav_register(
        NavEntry(
            "services",
            "社区服务",
            "bi-people",
            "casework:community_index",
            can_open,
            namespace="casework",
            prefixes=("community",),
            order=80,
        )
    )
