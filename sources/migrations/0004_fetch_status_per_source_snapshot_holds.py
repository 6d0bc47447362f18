# The graph fetch status becomes one row per source (the single global row went on saying "failed" after a
# failed attempt at another source, until the TTL), and each reader of a snapshot gets its own hold row (one
# analysis releasing no longer drops another's hold). The old status row is a cache of the latest attempt:
# it is dropped, and the next attempt writes it again.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0003_fetch_status_shared_state_snapshot_skips"),
    ]

    operations = [
        migrations.DeleteModel(name="GraphFetchStatus"),
        migrations.CreateModel(
            name="GraphFetchStatus",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("last_success_at", models.DateTimeField(blank=True, null=True)),
                ("last_failure_at", models.DateTimeField(blank=True, null=True)),
                (
                    "failing_since",
                    models.DateTimeField(
                        blank=True,
                        help_text="First failure since the latest success; empty when not failing.",
                        null=True,
                    ),
                ),
                (
                    "error",
                    models.CharField(blank=True, help_text="Why the latest failed attempt failed.", max_length=500),
                ),
                (
                    "source",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="graph_fetch_status",
                        to="sources.source",
                    ),
                ),
            ],
            options={"verbose_name_plural": "graph fetch status"},
        ),
        migrations.RemoveField(model_name="graphsnapshot", name="in_use_until"),
        migrations.CreateModel(
            name="SnapshotHold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("until", models.DateTimeField()),
                (
                    "snapshot",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="holds",
                        to="sources.graphsnapshot",
                    ),
                ),
            ],
            options={"indexes": [models.Index(fields=["snapshot", "until"], name="sources_sna_snapsho_992abb_idx")]},
        ),
    ]
