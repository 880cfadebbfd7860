from django.db import migrations

# Managers edit escalation policies and SLA calendars in the Django admin (with the staff flag).
MANAGER_MODELS = ("escalationpolicy", "slacalendar")
ACTIONS = ("add", "change", "delete", "view")


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; create them now to grant them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    managers, _ = Group.objects.get_or_create(name="manager")
    codenames = [f"{action}_{model}" for model in MANAGER_MODELS for action in ACTIONS]
    managers.permissions.add(*Permission.objects.filter(content_type__app_label="triage", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{action}_{model}" for model in MANAGER_MODELS for action in ACTIONS]
    for group in Group.objects.filter(name="manager"):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="triage", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("triage", "0004_review_comments_capacity_flags"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
