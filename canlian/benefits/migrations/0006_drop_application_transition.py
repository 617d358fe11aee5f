"""The application moves are in ``common.WorkflowHistory`` (copied by 0005): the old table goes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("benefits", "0005_history_into_workflow"),
    ]

    operations = [
        migrations.DeleteModel(
            name="ApplicationTransition",
        ),
    ]
