from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "canlian.accounts"
    label = "accounts"
    verbose_name = "账号与权限"

    def ready(self):
        from canlian.common.audit_display import CHANGE_LABELS, ActionSpec, register_actions
        from canlian.common.navigation import NavEntry, nav_register

        from . import (
            access,
            signals,  # noqa: F401  (login audit hooks)
        )

        register_actions(
            {
                "user.update": ActionSpec("修改用户", "accounts.User"),
                "user.password_reset": "重置用户密码",
                "user.password_change": "修改本人密码",
                "user.unlock": "解除账号锁定",
                "user.activate": ActionSpec("启用账号", "accounts.User"),
                "user.deactivate": ActionSpec("停用账号", "accounts.User"),
                "otp.enrol": "绑定动态验证码",
                "otp.verify": "动态验证码验证",
                "otp.recovery_use": "使用恢复码登录",
                "otp.reset": "重置用户动态验证码",
                "cli_token.create": "创建命令行令牌",
                "cli_token.revoke": "撤销命令行令牌",
                "cli.identity": "命令行身份验证",
            }
        )
        CHANGE_LABELS.setdefault("days", "有效天数")

        nav_register(
            NavEntry(
                "system",
                "审计日志",
                "bi-journal-text",
                "common:audit_list",
                access.can_read_audit,
                namespace="common",
                prefixes=("audit",),
                order=40,
            ),
            NavEntry(
                "system",
                "我的导出",
                "bi-file-earmark-arrow-down",
                "common:export_list",
                lambda u: bool(u.role),
                namespace="common",
                prefixes=("export",),
                order=45,
            ),
            NavEntry(
                "system",
                "用户管理",
                "bi-people-fill",
                "accounts:user_list",
                access.can_manage_users,
                namespace="accounts",
                prefixes=("user",),
                order=50,
            ),
            NavEntry(
                "system",
                "账号安全",
                "bi-shield-lock",
                "accounts:security",
                lambda u: bool(u.role),
                namespace="accounts",
                prefixes=("security", "password", "otp"),
                order=60,
            ),
        )
