from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("decisions", "0006_policy_write_released"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="killswitch",
            options={"verbose_name": "kill switch", "verbose_name_plural": "kill switch"},
        ),
    ]
