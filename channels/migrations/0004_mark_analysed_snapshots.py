"""Snapshots analysed before GraphSnapshot.analysed_at existed are marked analysed, so that pruning keeps the
newest of them (scoring reads it)."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def mark_analysed(apps, schema_editor):
    GraphSnapshot = apps.get_model("sources", "GraphSnapshot")
    GraphAnalysis = apps.get_model("channels", "GraphAnalysis")
    computed = GraphAnalysis.objects.filter(snapshot=OuterRef("pk")).values("computed_at")[:1]
    GraphSnapshot.objects.filter(analysed_at__isnull=True, analysis__isnull=False).update(
        analysed_at=Subquery(computed)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("channels", "0003_channel_policy_set_at"),
        ("sources", "0003_fetch_status_shared_state_snapshot_skips"),
    ]

    operations = [migrations.RunPython(mark_analysed, migrations.RunPython.noop)]
