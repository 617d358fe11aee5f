"""The ``canlian`` command. 中文说明见 ``canlian --help``.

Any command on an embedded (SQLite) database that is new or behind creates or migrates it first.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _setup(*, migrate: bool = True, verify_keys: bool = True) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    # files this process creates (database, key file, uploads, reports, backups) are for its user only:
    # 0600 files, 0700 folders
    os.umask(0o077)
    import django

    django.setup()
    if migrate:
        ensure_database()
    if verify_keys:
        verify_keys_or_exit()


def verify_keys_or_exit() -> None:
    """Refuse to run with keys that do not match the database (exit 2 with the Chinese message)."""
    from django.db.utils import DatabaseError

    from canlian.common.crypto import KeyMismatch, keys_verify

    try:
        keys_verify()
    except KeyMismatch as exc:
        print(f"错误：{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except DatabaseError:
        # not migrated yet (PostgreSQL with auto-migrate off): `migrate` must still be able to run
        pass


def ensure_database() -> None:
    """Create or migrate the embedded database when it is new or behind (PostgreSQL: only when asked)."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    if connection.vendor == "sqlite":
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    elif os.environ.get("CANLIAN_AUTO_MIGRATE", "1") != "1":
        return
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        print(f"数据库需要初始化或升级（{len(plan)} 个迁移）… / migrating the database…", file=sys.stderr)
        from canlian.common.exceptions import DomainError

        try:
            call_command("migrate", interactive=False, verbosity=0)
        except DomainError as exc:  # e.g. the division codes are not installed (registry 0010)
            print(f"错误：{exc.message}", file=sys.stderr)
            raise SystemExit(2) from None
    ensure_regions()


def ensure_regions() -> None:
    """The county's towns and villages (a data migration loads them; this covers ``CANLIAN_DISTRICT`` set to
    another county after the database was made)."""
    from django.conf import settings
    from django.db.utils import DatabaseError

    from canlian.common.exceptions import DomainError
    from canlian.registry.models import Region
    from canlian.registry.services import regions_load

    try:
        if Region.objects.filter(code=settings.CANLIAN_DISTRICT, official=True).exists():
            return
        result = regions_load(acting_user=cli_user(None))
    except DatabaseError:
        return  # not migrated (PostgreSQL with auto-migrate off): `migrate` loads them
    except DomainError as exc:
        print(f"警告：{exc.message}", file=sys.stderr)
        return
    if result.changed:
        print(f"已载入本区县行政区划：新增 {len(result.created)} 个 / regions loaded", file=sys.stderr)


def ask_password(username: str) -> str:
    """The password prompt of ``--user X`` (a terminal is needed: piped input is not a person typing)."""
    import getpass

    if not sys.stdin.isatty():
        raise SystemExit(
            f"需要证明身份：请在终端中运行以输入 {username} 的密码，或设置 CANLIAN_TOKEN / --token-file"
            " / a terminal or a token is needed"
        )
    return getpass.getpass(f"{username} 的密码 / password: ")


def _token_from(args) -> str:
    if args is None:  # work the command does on its own behalf (loading the regions on a new database)
        return ""
    path = getattr(args, "token_file", None)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(
                f"无法读取令牌文件 {path}：{exc.strerror} / cannot read the token file"
            ) from None
    return os.environ.get("CANLIAN_TOKEN", "").strip()


def cli_user(username: str | None, *, args=None, proof: bool = False):
    """The account a CLI write is attributed to, once proven.

    With a token (``CANLIAN_TOKEN`` or ``--token-file``): the token's user, who must be the ``--user`` named if
    one is. With ``--user X`` (or ``CANLIAN_USER``) and no token: X's password, typed at the prompt. With
    neither: the ``system`` account, unless the command writes or reveals personal data (``proof``): then it
    is refused."""
    from canlian.accounts.services import (
        IdentityRefused,
        cli_password_authenticate,
        cli_token_authenticate,
        system_user,
    )

    name = username or os.environ.get("CANLIAN_USER")
    raw = _token_from(args)
    try:
        if raw:
            user = cli_token_authenticate(raw)
            if name and name != user.username:
                raise IdentityRefused(f"令牌属于用户 {user.username}，不能以 {name} 的身份执行")
            return user
        if name:
            return cli_password_authenticate(name, ask_password(name))
    except IdentityRefused as exc:
        raise SystemExit(f"身份验证失败：{exc.message} / identity not proven") from None
    if proof:
        raise SystemExit(
            "此命令会写入或显示个人数据，须以本人身份执行：--user 用户名（输入密码），"
            "或设置 CANLIAN_TOKEN / --token-file（网页“命令行令牌”中创建） / identity required"
        )
    return system_user()


def cmd_serve(args) -> int:
    from canlian.serve import serve

    return serve(host=args.host, port=args.port, demo=not args.no_demo, worker=not args.no_worker)


def _passphrase(env_name: str | None, *, confirm: bool) -> str | None:
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise SystemExit(f"环境变量 {env_name} 未设置 / {env_name} is not set")
        return value
    import getpass

    first = getpass.getpass("密钥备份口令 / passphrase for the keys: ")
    if confirm and getpass.getpass("再输入一次 / again: ") != first:
        raise SystemExit("两次输入的口令不一致 / passphrases differ")
    return first


def cmd_backup(args) -> int:
    from canlian.common.backup import BackupError, backup_create

    passphrase = _passphrase(args.passphrase_env, confirm=True) if args.with_keys else None
    try:
        result = backup_create(out=Path(args.file), passphrase=passphrase)
    except BackupError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    rows = sum(result.tables.values())
    keys = "，含加密的密钥" if result.with_keys else "，不含密钥（密钥请另行备份）"
    print(f"已备份到 {result.path}：{len(result.tables)} 张表 {rows} 行，{result.files} 个文件{keys}")
    return 0


def cmd_restore(args) -> int:
    from canlian.common.backup import BackupError, backup_restore

    passphrase = _passphrase(args.passphrase_env, confirm=False) if args.with_keys else None
    try:
        manifest = backup_restore(path=Path(args.file), passphrase=passphrase)
    except BackupError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    verify_keys_or_exit()
    rows = sum(manifest["tables"].values())
    print(f"已从 {args.file}（{manifest['created_at']}）恢复：{len(manifest['tables'])} 张表 {rows} 行")
    return 0


def cmd_keys_rotate(args) -> int:
    from canlian.common.keyrotation import KeyRotationError, keys_rotate

    try:
        result = keys_rotate(
            acting_user=cli_user(args.user, args=args),
            new_keys_file=Path(args.new_keys_file) if args.new_keys_file else None,
        )
    except KeyRotationError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    print(
        f"已轮换密钥：重新加密 {result.values} 个值，重建 {result.indexes} 个盲索引"
        f"（{len(result.tables)} 张表）；新密钥在 {result.keys_file}，请立即备份"
    )
    return 0


def cmd_audit_verify(args) -> int:
    import json

    from canlian.common.auditchain import audit_chain_check

    result = audit_chain_check(acting_user=cli_user(args.user))
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    elif result.ok:
        print(
            f"审计日志哈希链完整：共 {result.count} 条记录，最后一条链序号 {result.last_seq}，"
            f"哈希 {result.last_hash}（请与另行保存的上一次结果比对，以发现末尾被删除的记录）"
        )
    else:
        print(f"审计日志哈希链断开：{result.broken.message}", file=sys.stderr)
        print(f"此前 {result.count} 条记录完整（至链序号 {result.last_seq}）", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_db_roles(args) -> int:
    from django.db import connection

    from canlian.common import auditguard

    app_role = args.app_role or connection.settings_dict.get("USER")  # before connecting as the owner
    try:
        with auditguard.as_owner():
            plan = auditguard.roles_plan(app_role=app_role)
            if args.apply:
                auditguard.roles_apply(acting_user=cli_user(args.user), plan=plan)
                rights = auditguard.app_role_rights(plan.app_role)
    except auditguard.RolesError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 2
    if not args.apply:
        print(f"-- 应用角色 {plan.app_role}，所有者角色 {plan.owner_role}，数据库 {plan.database}")
        print("-- 以所有者角色执行（或加 --apply 由本命令执行）；重复执行不会改变结果")
        for statement in plan.statements:
            print(f"{statement};")
        return 0
    held = "、".join(k for k, v in rights.items() if v) or "无"
    print(
        f"已为应用角色 {plan.app_role} 设置权限（数据库 {plan.database}，所有者 {plan.owner_role}）："
        f"审计表上只有 {held}"
    )
    return 0


def cmd_worker(args) -> int:
    from django.core.management import call_command

    call_command("db_worker", interval=args.interval)
    return 0


def cmd_demo(args) -> int:
    from canlian.demo import demo_all

    return demo_all(persons=args.persons, seed=args.seed, reset=args.reset, registry_only=args.registry_only)


def cmd_import_persons(args) -> int:
    from canlian.registry.importers import import_persons_cli

    return import_persons_cli(
        path=args.file,
        dry_run=args.dry_run,
        report=args.report,
        as_json=args.json,
        allow_new_communities=args.allow_new_communities,
        acting_user=cli_user(args.user, args=args, proof=True),
    )


def cmd_export_persons(args) -> int:
    from canlian.registry.exporters import export_persons_cli

    return export_persons_cli(
        out=args.out,
        town=args.town,
        acting_user=cli_user(args.user, args=args, proof=args.unmasked),
        unmasked=args.unmasked,
    )


def cmd_regions_load(args) -> int:
    from canlian.common.exceptions import DomainError
    from canlian.registry.services import regions_load

    try:
        result = regions_load(acting_user=cli_user(args.user, args=args), district=args.district or "")
    except DomainError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 2
    print(
        f"新增 {len(result.created)} 个、认定 {len(result.adopted)} 个已有村(社区)、"
        f"重新编码 {len(result.recoded)} 个自建村(社区) / created {len(result.created)}, "
        f"adopted {len(result.adopted)}, recoded {len(result.recoded)}"
    )
    for old, new, name in result.recoded:
        print(f"  {name}：{old} → {new}")
    return 0


def cmd_services_import(args) -> int:
    from canlian.casework.importing import roster_import_cli

    return roster_import_cli(
        kind=args.kind,
        path=args.file,
        dry_run=args.dry_run,
        as_json=args.json,
        report=args.report,
        acting_user=cli_user(args.user, args=args, proof=True),
    )


def cmd_workplan_import(args) -> int:
    """Read a plan document (.docx/.txt/PDF) and store it as a draft version for review (``--dry-run``: only
    print what was found). Exit 0 when read, 2 when the file cannot be used."""
    import json
    from pathlib import Path

    from canlian.common.exceptions import DomainError
    from canlian.workplan.services import plan_import, plan_read

    path = Path(args.file)
    try:
        if not path.is_file():
            raise DomainError(f"找不到文件：{args.file}")
        if args.dry_run:
            _kind, parsed = plan_read(str(path), year=args.year, filename=path.name)
            plan = None
        else:
            result = plan_import(
                acting_user=cli_user(args.user, args=args),
                year=args.year,
                data=path.read_bytes(),
                filename=path.name,
            )
            parsed, plan = result.parsed, result.plan
    except DomainError as exc:
        print(f"无法导入工作要点：{exc.message}", file=sys.stderr)
        return 2
    out = parsed.as_json()
    if plan is not None:
        out["plan"] = {"version": plan.version, "status": plan.status, "changes": plan.changes}
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(
        f"{out['year']} 年工作要点：{out['sections']} 个部分，{out['tasks']} 项任务，{len(out['targets'])} 个目标"
    )
    for t in out["targets"]:
        value = (
            "—"
            if t["value"] is None
            else f"{'≤' if t['comparator'] == 'at_most' else '≥'}{t['value']}{t['unit']}"
        )
        extra = "，".join(x for x in (t["deadline"] and f"期限 {t['deadline']}", t["town"]) if x)
        print(f"  任务{t['task']}：{value}  {t['text']}" + (f"（{extra}）" if extra else ""))
    for w in out["warnings"]:
        print(f"  提示：{w}")
    if plan is not None:
        print(f"已保存为第 {plan.version} 版（待审核）；请在网页“工作要点”中核对后发布")
        for key, items in plan.changes.items():
            for item in items:
                print(f"  变化（{key}）：{item}")
    return 0


def cmd_workplan_snapshot(args) -> int:
    """Freeze every indicator's figures for a closed month (cron: on the 1st, for the month before)."""
    from datetime import date

    from django.utils import timezone

    from canlian.common.audit import audit_record
    from canlian.workplan.progress import previous_month, snapshot_month

    if args.month:
        try:
            year, month = (int(x) for x in args.month.split("-"))
            date(year, month, 1)
        except ValueError:
            print(f"月份“{args.month}”不正确，应为 YYYY-MM", file=sys.stderr)
            return 2
    else:
        year, month = previous_month(timezone.localdate())
    if date(year, month, 1) > timezone.localdate().replace(day=1):
        print(f"{year}-{month:02d} 尚未开始，不能冻结", file=sys.stderr)
        return 2
    written = snapshot_month(year, month)
    if written:
        audit_record(
            acting_user=cli_user(None),
            action="workplan.snapshot",
            object_type="workplan.indicatorsnapshot",
            object_repr=f"{year}-{month:02d}",
            changes={"rows": written},
        )
    print(f"{year}-{month:02d}：冻结 {written} 行（已冻结的指标保持不变）")
    return 0


def cmd_workplan_progress(args) -> int:
    import json

    from canlian.workplan.selectors import progress

    data = progress(args.year)
    if args.json:
        slim = {
            code: {
                k: ind[k]
                for k in ("name", "actual", "target", "by_town", "by_town_target", "denominator", "rate")
                if k in ind
            }
            for code, ind in data["indicators"].items()
        }
        print(
            json.dumps(
                {"year": data["year"], "indicators": slim, "targets": data["targets"]}, ensure_ascii=False
            )
        )
        return 0
    print(f"{data['year']} 年工作要点指标进度")
    for code, ind in data["indicators"].items():
        target = "未设目标" if ind["target"] is None else f"目标 {ind['target']}"
        if "denominator" in ind:  # a rate: "n / d (p%)", never a bare percentage
            rate = "—" if ind["rate"] is None else f"{ind['rate']}%"
            print(f"{ind['name']}（{code}）：{ind['actual']} / {ind['denominator']}（{rate}），{target}")
        else:
            print(f"{ind['name']}（{code}）：{ind['actual']} {ind['unit']}，{target}")
        quotas = ind.get("by_town_target") or {}
        for town, n in ind["by_town"].items():
            quota = quotas.get(town)
            print(f"  {town}：{n}" + (f" / {quota}" if quota is not None else ""))
    if data["targets"]:
        from canlian.workplan.progress import STATUS_LABELS

        print(f"\n{data['year']} 年工作要点目标（已发布版本）")
        for t in data["targets"]:
            value = "—" if t["value"] is None else f"{t['value']}{t['unit']}"
            actual = "—" if t["actual"] is None else f"{t['actual']}"
            pct = "" if t["percent"] is None else f"（{t['percent']}%）"
            print(f"任务{t['task']}：{actual} / {value}{pct} {STATUS_LABELS[t['status']]}  {t['text']}")
    return 0


def cmd_createuser(args) -> int:
    from canlian.accounts.services import createuser_cli

    return createuser_cli(
        username=args.username,
        role=args.role,
        town=args.town,
        institution=args.institution,
        full_name=args.name,
        password=args.password,
        acting_user=cli_user(args.user, args=args, proof=True),
    )


def cmd_eligibility(args) -> int:
    from canlian.benefits.cli import eligibility_cli

    return eligibility_cli(
        id_number=args.id_number,
        month=args.month,
        as_json=args.json,
        acting_user=cli_user(args.user, args=args),
    )


def _payroll_needs_proof(args) -> bool:
    """Review, approval and bank results are decisions of a named person; the bank's copy shows full account
    numbers. Generating a draft and a masked copy may run unattended (as ``system``)."""
    if args.action == "export":
        return bool(getattr(args, "unmasked", False))
    return args.action in ("review", "approve", "results")


def cmd_payroll(args) -> int:
    from canlian.benefits.cli import payroll_cli

    return payroll_cli(
        action=args.action,
        programme=args.programme,
        month=args.month,
        acting_user=cli_user(args.user, args=args, proof=_payroll_needs_proof(args)),
        path=getattr(args, "path", None),
        unmasked=getattr(args, "unmasked", False),
    )


def cmd_verify(args) -> int:
    from canlian.verification.cli import verify_import_cli, verify_run_cli

    # an import is a person's decision; the monthly run is scheduled work (cron) and may run as ``system``
    user = cli_user(args.user, args=args, proof=args.action == "import")
    if args.action == "import":
        return verify_import_cli(
            args.kind,
            args.file,
            args.json,
            user,
            mapping=args.map,
            source=args.source,
            received_on=args.received_on,
            complete=args.complete,
            dry_run=args.dry_run,
            report=args.report,
        )
    return verify_run_cli(args.json, user, month=args.month, all_lists=args.all)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canlian",
        description="残联业务平台命令行 / canlian, the DPF platform command line",
    )
    sub = parser.add_subparsers(dest="command", metavar="命令 command")

    p = sub.add_parser("serve", help="启动网页服务和后台任务 / start the web server and the task worker")
    p.add_argument("--host", default="127.0.0.1", help="监听地址 / address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="端口 / port (default 8000)")
    p.add_argument(
        "--no-demo", action="store_true", help="首次启动不载入演示数据 / no demo data on first start"
    )
    p.add_argument("--no-worker", action="store_true", help="不启动后台任务进程 / no task worker")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("backup", help="备份数据库、上传文件（和加密的密钥） / back up database and files")
    p.add_argument("file", help="备份文件（.tar.gz），不会覆盖已有文件 / archive to write")
    p.add_argument("--with-keys", action="store_true", help="同时备份密钥，用口令加密 / include the keys")
    p.add_argument("--passphrase-env", help="从该环境变量读取口令（否则交互输入） / passphrase from env var")
    p.set_defaults(func=cmd_backup, setup={"migrate": False})

    p = sub.add_parser("restore", help="恢复到空的安装 / restore into an empty installation")
    p.add_argument("file", help="备份文件 / archive to read")
    p.add_argument("--with-keys", action="store_true", help="备份含密钥时提供口令 / the archive has keys")
    p.add_argument("--passphrase-env", help="从该环境变量读取口令 / passphrase from env var")
    p.set_defaults(func=cmd_restore, setup={"migrate": False, "verify_keys": False})

    p = sub.add_parser("keys", help="密钥管理 / keys")
    ksub = p.add_subparsers(dest="keys_command")
    kp = ksub.add_parser("rotate", help="更换密钥：重新加密并重建盲索引 / rotate the keys")
    kp.add_argument(
        "--new-keys-file", help="新密钥写入此文件（密钥来自环境变量时必填） / where to write new keys"
    )
    kp.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    kp.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    kp.set_defaults(func=cmd_keys_rotate)

    p = sub.add_parser("audit", help="审计日志 / audit log")
    asub = p.add_subparsers(dest="audit_command")
    ap = asub.add_parser("verify", help="校验审计日志哈希链，报告第一处断链 / verify the audit hash chain")
    ap.add_argument("--json", action="store_true", help="以 JSON 输出 / JSON output")
    ap.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    ap.set_defaults(func=cmd_audit_verify)

    p = sub.add_parser("db", help="数据库 / database")
    dsub = p.add_subparsers(dest="db_command")
    dp = dsub.add_parser(
        "roles",
        help="应用角色的权限（审计表只能写入和读取）：打印或执行 GRANT / the application role's grants",
    )
    dp.add_argument("--app-role", help="应用角色名（缺省为 DATABASE_URL 的用户） / application role")
    dp.add_argument(
        "--apply", action="store_true", help="执行（以 CANLIAN_DB_OWNER_URL 的所有者角色） / apply"
    )
    dp.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    dp.set_defaults(func=cmd_db_roles, setup={"migrate": False})

    p = sub.add_parser("worker", help="只启动后台任务进程 / run the task worker only")
    p.add_argument("--interval", type=float, default=0.5, help="轮询间隔（秒） / poll interval in seconds")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="生成演示数据 / load deterministic demo data")
    p.add_argument("--persons", type=int, default=15000, help="残疾人数 / number of persons (default 15000)")
    p.add_argument("--seed", type=int, default=2023, help="随机种子 / random seed (default 2023)")
    p.add_argument(
        "--reset", action="store_true", help="先清除已有演示数据 / remove earlier demo persons first"
    )
    p.add_argument(
        "--registry-only", action="store_true", help="只生成档案，不生成待遇、发放与比对 / registry only"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("import", help="导入 / import")
    isub = p.add_subparsers(dest="what", metavar="对象 what")
    ip = isub.add_parser("persons", help="导入残疾人名单（.xlsx/.xls/.csv） / import persons")
    ip.add_argument("file", help="文件路径 / file path")
    ip.add_argument("--dry-run", action="store_true", help="只校验不写入 / validate only, write nothing")
    ip.add_argument("--report", metavar="OUT.xlsx", help="错误报告输出路径 / write the error report here")
    ip.add_argument("--json", action="store_true", help="以 JSON 输出结果 / print the result as JSON")
    ip.add_argument(
        "--allow-new-communities",
        action="store_true",
        help="自动新建未知的村(社区) / create unknown communities",
    )
    ip.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    ip.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    ip.set_defaults(func=cmd_import_persons)

    p = sub.add_parser("export", help="导出 / export")
    esub = p.add_subparsers(dest="what", metavar="对象 what")
    ep = esub.add_parser("persons", help="导出残疾人名单为 .xlsx / export persons to .xlsx")
    ep.add_argument("out", metavar="OUT.xlsx", help="输出文件 / output file")
    ep.add_argument("--town", metavar="CODE", help="镇(街道)代码 / town code, e.g. 320506100")
    ep.add_argument(
        "--unmasked", action="store_true", help="不打码（仅限有权限的角色）/ full numbers, if the role allows"
    )
    ep.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    ep.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    ep.set_defaults(func=cmd_export_persons)

    p = sub.add_parser("eligibility", help="某人某月的待遇资格与金额及理由 / eligibility, amount and reasons")
    p.add_argument("id_number", metavar="ID_NUMBER", help="身份证号 / resident ID number")
    p.add_argument("month", metavar="YYYY-MM", help="月份 / month")
    p.add_argument("--json", action="store_true", help="以 JSON 输出 / print JSON")
    p.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    p.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    p.set_defaults(func=cmd_eligibility)

    p = sub.add_parser("payroll", help="按月发放批次 / monthly payroll")
    psub = p.add_subparsers(dest="action", metavar="操作 action")
    for action, text in (
        ("generate", "生成发放批次（草稿） / generate the draft payroll"),
        ("review", "复核 / review"),
        ("approve", "审批（须与复核人不同） / approve (another user than the reviewer)"),
        ("export", "导出银行发放文件 / write the bank file"),
        ("results", "导入银行回盘结果 / import the bank's return file"),
    ):
        pp = psub.add_parser(action, help=text)
        pp.add_argument(
            "programme", metavar="PROGRAMME", help="待遇项目代码，如 living_allowance / programme code"
        )
        pp.add_argument("month", metavar="YYYY-MM", help="发放月份 / month")
        if action in ("export", "results"):
            pp.add_argument("path", metavar="FILE", help="文件路径 / file path")
        if action == "export":
            pp.add_argument(
                "--unmasked",
                action="store_true",
                help="完整账号（需权限），供银行代发，批次变为已出盘；不加则为脱敏文件，仅供查阅"
                " / full account numbers: the bank's copy, marks the batch exported (masked copies do not)",
            )
        pp.add_argument("--user", help="操作人用户名 / acting user (default: system)")
        pp.add_argument(
            "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
        )
        pp.set_defaults(func=cmd_payroll)

    p = sub.add_parser("verify", help="数据比对 / data comparison")
    vsub = p.add_subparsers(dest="action", metavar="操作 action")
    vp = vsub.add_parser("import", help="导入外部比对名单 / import an outside list")
    vp.add_argument(
        "kind",
        choices=["deaths", "dibao", "tekun", "injury_care", "elderly_care", "moved_out", "cert_cancelled"],
    )
    vp.add_argument("file", help="文件路径 / file path")
    vp.add_argument("--json", action="store_true", help="以 JSON 输出 / print JSON")
    vp.add_argument("--source", default="", help="来源单位（按来源记住列对应关系）/ source")
    vp.add_argument("--received-on", metavar="YYYY-MM-DD", help="收到日期（默认今天）/ date received")
    vp.add_argument(
        "--map", action="append", metavar="字段=表头", help="列对应，如 event_date=去世时间 / column mapping"
    )
    vp.add_argument("--complete", action="store_true", help="全量低保名单 / complete 低保 roll")
    vp.add_argument("--dry-run", action="store_true", help="只校验不写入 / validate only, write nothing")
    vp.add_argument("--report", metavar="OUT.xlsx", help="错误报告输出路径 / write the error report here")
    vp.add_argument("--user", help="操作人用户名 / acting user")
    vp.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    vp.set_defaults(func=cmd_verify)
    rp = vsub.add_parser("run", help="运行数据比对 / run the comparison")
    rp.add_argument("--month", metavar="YYYY-MM", help="比对月份（默认本月）/ month")
    rp.add_argument("--all", action="store_true", help="重新比对全部名单 / all lists again")
    rp.add_argument("--json", action="store_true", help="以 JSON 输出 / print JSON")
    rp.add_argument("--user", help="操作人用户名 / acting user")
    rp.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    rp.set_defaults(func=cmd_verify)

    p = sub.add_parser("regions", help="行政区划 / towns and villages")
    rsub = p.add_subparsers(dest="action", metavar="操作 action", required=True)
    rp = rsub.add_parser(
        "load",
        help="按国家统计局区划代码载入本区县的镇(街道)和村(社区)（可重复运行） / load towns and villages",
    )
    rp.add_argument("--district", help="6位区县代码，默认 CANLIAN_DISTRICT / county code")
    rp.add_argument("--user", help="操作人用户名 / acting user")
    rp.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    rp.set_defaults(func=cmd_regions_load)

    p = sub.add_parser("services", help="服务项目 / services")
    ssub = p.add_subparsers(dest="action", metavar="操作 action")
    sp = ssub.add_parser("import", help="导入服务名单 / import a service roster")
    sp.add_argument("kind", metavar="KIND", help="名单类型，如 custodial_care / roster kind")
    sp.add_argument("file", help="文件路径 / file path")
    sp.add_argument("--dry-run", action="store_true", help="只校验不写入 / validate only, write nothing")
    sp.add_argument("--json", action="store_true", help="以 JSON 输出结果 / print the result as JSON")
    sp.add_argument("--report", metavar="OUT.xlsx", help="错误报告输出路径 / write the error report here")
    sp.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    sp.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    sp.set_defaults(func=cmd_services_import)

    p = sub.add_parser("workplan", help="工作要点 / work plan")
    wsub = p.add_subparsers(dest="action", metavar="操作 action")
    wp = wsub.add_parser("progress", help="指标完成进度（按镇） / indicator progress by town")
    wp.add_argument("year", type=int, help="年份 / year")
    wp.add_argument("--json", action="store_true", help="以 JSON 输出 / print JSON")
    wp.set_defaults(func=cmd_workplan_progress)
    ws = wsub.add_parser("snapshot", help="冻结上月指标快照 / freeze last month's figures")
    ws.add_argument("--month", help="月份 YYYY-MM（默认上月） / month (default: the previous one)")
    ws.set_defaults(func=cmd_workplan_snapshot)
    wi = wsub.add_parser(
        "import", help="导入年度工作要点（.docx/.txt/PDF） / import the year's plan document"
    )
    wi.add_argument("file", help="文件 / file")
    wi.add_argument("--year", type=int, required=True, help="年份 / year")
    wi.add_argument("--json", action="store_true", help="以 JSON 输出 / print JSON")
    wi.add_argument("--dry-run", action="store_true", help="只识别不保存 / read only, save nothing")
    wi.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    wi.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    wi.set_defaults(func=cmd_workplan_import)

    p = sub.add_parser("createuser", help="新建用户 / create a user")
    p.add_argument("username", help="用户名 / username")
    p.add_argument(
        "--role",
        required=True,
        choices=[
            "district_admin",
            "district_staff",
            "town_staff",
            "institution_staff",
            "leader",
            "auditor",
            "counsellor",
        ],
        help="角色 / role",
    )
    p.add_argument("--town", metavar="CODE", help="镇(街道)代码，镇级角色必填 / town code for town staff")
    p.add_argument(
        "--institution",
        metavar="ID_OR_NAME",
        help="所属服务机构（编号或完整名称），机构工作人员必填 / institution for institution staff",
    )
    p.add_argument("--name", default="", help="姓名 / full name")
    p.add_argument("--password", help="密码（缺省则提示输入）/ password (prompted when omitted)")
    p.add_argument("--user", help="操作人用户名 / acting user (default: system)")
    p.add_argument(
        "--token-file", help="从文件读取命令行令牌（代替 CANLIAN_TOKEN） / read the CLI token from a file"
    )
    p.set_defaults(func=cmd_createuser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if getattr(args, "command", None) in (
            "import",
            "export",
            "payroll",
            "verify",
            "keys",
            "audit",
            "db",
            "regions",
            "services",
            "workplan",
        ):
            parser.parse_args([args.command, "--help"])
        parser.print_help()
        return 2
    _setup(**getattr(args, "setup", {}))
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
