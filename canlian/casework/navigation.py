"""The 服务 entries of the side navigation (each asks the same access function as its page)."""


def register_navigation() -> None:
    from canlian.common.navigation import NavEntry, nav_register

    from . import access

    nav_register(
        NavEntry(
            "services",
            "我的待办",
            "bi-list-check",
            "casework:worklist",
            lambda u: access.can_read_cases(u) and u.role != "leader",
            namespace="casework",
            prefixes=("worklist",),
            order=5,
            badge_url="casework:worklist_count",
        ),
        NavEntry(
            "services",
            "服务个案",
            "bi-heart-pulse",
            "casework:index",
            access.can_read_cases,
            namespace="casework",
            prefixes=("index", "case", "due", "attachment"),
            order=10,
        ),
        NavEntry(
            "services",
            "机构结算",
            "bi-receipt",
            "casework:settlement_list",
            lambda u: u.role in {"district_staff", "leader", "institution_staff"},
            namespace="casework",
            prefixes=("settlement",),
            order=20,
        ),
        NavEntry(
            "services",
            "名单导入",
            "bi-upload",
            "casework:roster_upload_default",
            access.can_import_roster,
            namespace="casework",
            prefixes=("roster", "import"),
            order=30,
        ),
        NavEntry(
            "services",
            "孤独症筛查干预",
            "bi-clipboard2-pulse",
            "casework:child_rehab_autism",
            lambda u: access.can_read_cases(u) and u.role != "institution_staff",
            namespace="casework",
            prefixes=("child_rehab_autism",),
            order=40,
        ),
        NavEntry(
            "services",
            "康复机构考评",
            "bi-clipboard-check",
            "casework:child_rehab_evaluations",
            lambda u: u.role in {"district_staff", "leader"},
            namespace="casework",
            prefixes=("child_rehab_evaluations",),
            order=50,
        ),
        NavEntry(
            "services",
            "辅具目录",
            "bi-journal-medical",
            "casework:devices_catalogue",
            access.can_read_cases,
            namespace="casework",
            prefixes=("devices_catalogue",),
            order=60,
        ),
        NavEntry(
            "services",
            "辅具借用",
            "bi-box-arrow-up-right",
            "casework:devices_loans",
            access.can_read_cases,
            namespace="casework",
            prefixes=("devices_loan",),
            order=70,
        ),
    )
