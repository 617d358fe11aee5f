"""PostgreSQL only: what the person search needs at a million rows that ``Meta.indexes`` cannot express.

1. A GIN index over the characters of a person's name. The list search matches a Chinese name by containment
   (``name LIKE '%张伟%'``), which no B-tree can serve; at a million persons that scans the whole table.
   ``registry.selectors.search_condition`` adds the implied condition
   ``string_to_array(name, NULL) @> string_to_array(q, NULL)`` (every character of the query occurs in the
   name), which this index answers; the LIKE still decides which rows match.
2. Finer statistics on the name columns (1000 instead of 100 histogram buckets). Prefix searches on pinyin
   initials like ``zzz`` match a few hundred rows; with 100 buckets the planner guessed thousands and chose
   to walk the whole primary key backwards (300 ms) instead of the pattern index (6 ms).

SQLite gets neither (its tables are district-sized): this is not a ``Meta.indexes`` entry because Django's
GinIndex would emit ``USING gin`` on SQLite too.
"""

from django.db import migrations

INDEX = "person_name_chars"
COLUMNS = ("name", "name_pinyin", "name_initials")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON registry_person USING gin (string_to_array(name::text, NULL))"
    )
    for column in COLUMNS:
        schema_editor.execute(f"ALTER TABLE registry_person ALTER COLUMN {column} SET STATISTICS 1000")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    for column in COLUMNS:
        schema_editor.execute(f"ALTER TABLE registry_person ALTER COLUMN {column} SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_wuzhong_regions")]
    operations = [migrations.RunPython(forward, backward, elidable=False)]
