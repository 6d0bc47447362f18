from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0005_policy_write_journal"),
    ]

    operations = [
        migrations.AddField(
            model_name="policywrite",
            name="released_at",
            field=models.DateTimeField(
                blank=True,
                help_text=(
                    "The writer gave it up unsettled: the node could not be read after it. Not in flight any more: "
                    "recovery settles it at its next run."
                ),
                null=True,
            ),
        ),
    ]
