from django.db import migrations

from daznode.migration_operations import append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("decisions", "0001_initial")]

    operations = [append_only_trigger("decisions_auditentry", "decisions_policybackup")]
