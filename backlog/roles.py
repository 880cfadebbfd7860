"""Staff roles, stored as Django groups, and the checks views and the API share."""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    LEAD = "lead"
    SUPPORT = "support"


ALL_ROLES = frozenset(Role)
# Who may change an entry's owner, resolution method and ETA, and run imports.
TRIAGE_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.LEAD})
IMPORT_ROLES = frozenset({Role.ADMIN, Role.LEAD})


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """Return the roles of a user; a superuser holds every role."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return ALL_ROLES

    # Cached on the user object, so one request asks the database once.
    cached = getattr(user, "_triage_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        user._triage_roles = cached
    return cached


def has_any_role(user, roles: frozenset[Role] | set[Role]) -> bool:
    return bool(user_roles(user) & roles)
