from django.db import migrations

STANDARD_METHODS = [
    ("reallocate", "Reallocate between channels"),
    ("secondary-transfer", "Transfer from secondary stock"),
    ("substitute-bundle", "Controlled substitute bundle"),
    ("expedite", "Expedite processing"),
    ("delay-notice", "Delay with customer notice"),
    ("cancel-refund", "Cancel and refund"),
]

ROLE_GROUPS = ["admin", "manager", "lead", "support"]


def add_standard_data(apps, schema_editor):
    ResolutionMethod = apps.get_model("backlog", "ResolutionMethod")
    Group = apps.get_model("auth", "Group")
    for position, (code, name) in enumerate(STANDARD_METHODS, start=1):
        ResolutionMethod.objects.get_or_create(code=code, defaults={"name": name, "position": position})
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


def remove_standard_data(apps, schema_editor):
    ResolutionMethod = apps.get_model("backlog", "ResolutionMethod")
    ResolutionMethod.objects.filter(code__in=[code for code, _ in STANDARD_METHODS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("backlog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(add_standard_data, remove_standard_data)]
