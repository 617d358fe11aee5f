"""Wuzhong District and its 14 towns and streets (DOMAIN.md §3), with their statistical codes.

Only when Wuzhong is the county served (``CANLIAN_DISTRICT``): another county gets its own towns from 0010."""

from django.conf import settings
from django.db import migrations

DISTRICT = ("320506", "吴中区")
TOWNS = [
    ("320506001", "长桥街道", "street"),
    ("320506003", "越溪街道", "street"),
    ("320506004", "郭巷街道", "street"),
    ("320506005", "横泾街道", "street"),
    ("320506006", "香山街道", "street"),
    ("320506009", "城南街道", "street"),
    ("320506010", "太湖街道", "street"),
    ("320506100", "甪直镇", "town"),
    ("320506103", "木渎镇", "town"),
    ("320506104", "胥口镇", "town"),
    ("320506107", "东山镇", "town"),
    ("320506108", "光福镇", "town"),
    ("320506109", "金庭镇", "town"),
    ("320506110", "临湖镇", "town"),
]


def load(apps, schema_editor):
    if getattr(settings, "CANLIAN_DISTRICT", DISTRICT[0]) != DISTRICT[0]:
        return
    Region = apps.get_model("registry", "Region")
    district, _ = Region.objects.get_or_create(
        code=DISTRICT[0], defaults={"name": DISTRICT[1], "level": "district", "kind": "district"}
    )
    for code, name, kind in TOWNS:
        Region.objects.get_or_create(
            code=code, defaults={"name": name, "level": "town", "kind": kind, "parent": district}
        )


def unload(apps, schema_editor):
    Region = apps.get_model("registry", "Region")
    Region.objects.filter(code__in=[c for c, _, _ in TOWNS]).delete()
    Region.objects.filter(code=DISTRICT[0]).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
