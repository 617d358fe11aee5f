from django.apps import AppConfig


class InstitutionsConfig(AppConfig):
    name = "canlian.institutions"
    label = "institutions"
    verbose_name = "服务机构"

    def ready(self):
        from canlian.common.audit_display import ActionSpec, register_actions

        register_actions({"institution.create": "新建服务机构", "institution.update": "修改服务机构"})
        register_actions(
            {
                "place.service_add": ActionSpec("设置机构服务项目", "institutions.PlaceService"),
                "place.member_add": ActionSpec("登记服务对象", "institutions.PlaceMember"),
                "place.member_leave": ActionSpec("服务对象离开", "institutions.PlaceMember"),
                "place.attendance": ActionSpec("录入出勤", "institutions.Attendance"),
                "place.attendance_import": ActionSpec("导入出勤名单", "institutions.Attendance"),
                "place.attendance_export": ActionSpec("导出出勤记录", "institutions.Attendance"),
                "place.project_create": ActionSpec("登记建设项目", "institutions.BuildProject"),
                "place.milestone_done": ActionSpec("建设节点完成", "institutions.Milestone"),
                "place.checklist_mark": ActionSpec("建设清单项目达标", "institutions.ChecklistMark"),
                "place.project_complete": ActionSpec("建设项目建成", "institutions.BuildProject"),
                "place.evidence_add": ActionSpec("上传佐证材料", "institutions.PlaceEvidence"),
                "place.evidence_download": ActionSpec("下载佐证材料", "institutions.PlaceEvidence"),
                "place.star_score": ActionSpec("星级评定评分", "institutions.StarRating"),
                "place.export": "导出残疾人之家数据",
            }
        )

        from canlian.common.navigation import NavEntry, nav_register

        from . import (
            access,
            places,
            places_roster,  # noqa: F401  (registers the attendance import)
        )

        nav_register(
            NavEntry(
                "services",
                "服务机构",
                "bi-building",
                "institutions:list",
                access.can_read_institutions,
                namespace="institutions",
                order=90,
            ),
            NavEntry(
                "services",
                "残疾人之家",
                "bi-house-heart",
                "institutions:places",
                places.can_read_places,
                namespace="institutions",
                prefixes=("place",),
                order=91,
            ),
            NavEntry(
                "services",
                "出勤记录",
                "bi-calendar-check",
                "institutions:attendance",
                places.can_read_places,
                namespace="institutions",
                prefixes=("attendance",),
                order=92,
            ),
            NavEntry(
                "services",
                "建设项目",
                "bi-cone-striped",
                "institutions:projects",
                lambda u: places.can_read_places(u),
                namespace="institutions",
                prefixes=("project", "evidence"),
                order=93,
            ),
            NavEntry(
                "services",
                "星级评定",
                "bi-star",
                "institutions:ratings",
                places.can_read_places,
                namespace="institutions",
                prefixes=("rating",),
                order=94,
            ),
        )

        from canlian.registry.timeline import timeline_register

        timeline_register("places", places.timeline_entries)
