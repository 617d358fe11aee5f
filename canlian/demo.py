"""Demo data across the apps: the registry, then benefits and payroll, then data comparison, then services.

Used by ``canlian demo`` and by ``canlian serve`` on first start. Refused under production settings."""

from __future__ import annotations


def demo_all(*, persons: int, seed: int, reset: bool = False, registry_only: bool = False) -> int:
    from django.conf import settings

    from canlian.accounts.services import system_user
    from canlian.benefits.demo import benefits_demo, benefits_demo_delete
    from canlian.casework.child_rehab_demo import child_rehab_demo, child_rehab_demo_delete
    from canlian.casework.community.demo import community_demo, community_demo_delete
    from canlian.casework.demo import custodial_demo, custodial_demo_delete
    from canlian.casework.devices_demo import devices_demo, devices_demo_delete
    from canlian.casework.employment_demo import employment_demo, employment_demo_delete
    from canlian.casework.renovation_demo import renovation_demo, renovation_demo_delete
    from canlian.common.jobs import cli_progress
    from canlian.institutions.places_demo import places_demo, places_demo_delete
    from canlian.registry.demo import demo_cli
    from canlian.verification.demo import verification_demo, verification_demo_delete
    from canlian.workplan.demo import workplan_demo, workplan_demo_delete

    if not settings.CANLIAN_DEMO_ALLOWED:
        print("生产环境不允许生成演示数据（演示账号的密码会被打印） / demo data is refused in production")
        return 2
    if reset:
        workplan_demo_delete(acting_user=system_user())
        community_demo_delete(acting_user=system_user())
        employment_demo_delete(acting_user=system_user())  # before the institutions and persons it points to
        places_demo_delete(acting_user=system_user())
        devices_demo_delete(acting_user=system_user())
        renovation_demo_delete(acting_user=system_user())
        child_rehab_demo_delete(acting_user=system_user())
        custodial_demo_delete(acting_user=system_user())
        verification_demo_delete(acting_user=system_user())
        benefits_demo_delete(acting_user=system_user())
    code = demo_cli(persons=persons, seed=seed, reset=reset)
    if code or registry_only:
        return code
    for label, run in (
        ("待遇与发放", benefits_demo),
        ("数据比对", verification_demo),
        ("残疾人托养", custodial_demo),
        ("残疾儿童康复救助", child_rehab_demo),
        ("辅助器具适配", devices_demo),
        ("无障碍改造", renovation_demo),
        ("就业服务", employment_demo),
        ("残疾人之家", places_demo),
        ("社区服务", community_demo),
        ("工作要点", workplan_demo),  # last: its snapshots count what the services above recorded
    ):
        bar, progress = cli_progress(f"演示数据：{label}")
        summary = run(seed=seed, progress=progress)
        bar.close()
        if summary.get("skipped"):
            print(f"{label}：已有数据或缺少演示账号，跳过 / skipped")
        else:
            print(f"{label}：" + "，".join(f"{k} {v}" for k, v in summary.items() if not isinstance(v, dict)))
    return 0
