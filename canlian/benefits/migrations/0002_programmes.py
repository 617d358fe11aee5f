from django.db import migrations

PROGRAMMES = [
    ("living_allowance", "困难残疾人生活补贴", True, "低保等困难家庭残疾人，按当地低保标准的比例按月发放。"),
    (
        "care_allowance",
        "重度残疾人护理补贴",
        True,
        "一、二级重度残疾人及三、四级智力、精神残疾人，按月发放。",
    ),
    (
        "suhuibao",
        "苏惠保",
        False,
        "区残联为一、二级智力、精神残疾人购买的普惠型商业补充医疗保险，按年度名单。",
    ),
    ("child_rehab", "残疾儿童康复救助", False, "0 至未满 18 周岁、有康复需求的残疾儿童基本康复服务补助。"),
    ("custodial_care", "残疾人托养服务", False, "16-59 周岁无业的智力、精神和重度肢体、视力残疾人托养服务。"),
]


def load(apps, schema_editor):
    Programme = apps.get_model("benefits", "Programme")
    for code, name, cash, description in PROGRAMMES:
        Programme.objects.get_or_create(
            code=code, defaults={"name": name, "cash": cash, "description": description}
        )


def unload(apps, schema_editor):
    apps.get_model("benefits", "Programme").objects.filter(code__in=[p[0] for p in PROGRAMMES]).delete()


class Migration(migrations.Migration):
    dependencies = [("benefits", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
