"""Staff roles, stored as Django groups, and the checks views and the API share."""

from enum import StrEnum

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    LEAD = "lead"
    SUPPORT = "support"


ALL_ROLES = frozenset(Role)
# Roles that may change an entry's owner, resolution method and ETA, and roles that may import.
TRIAGE_ROLES = frozenset({Role.ADMIN, Role.MANAGER, Role.LEAD})
IMPORT_ROLES = frozenset({Role.ADMIN, Role.LEAD})
# The name of each role's people in a rejected user's message, in the order they are listed.
ROLE_AUDIENCES = {
    Role.SUPPORT: "support staff",
    Role.LEAD: "triage leads",
    Role.MANAGER: "managers",
    Role.ADMIN: "admins",
}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[Role]:
    """Return the roles of a user. A superuser has every role."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return ALL_ROLES

    # Cached on the user object, so one request queries the groups once.
    cached = getattr(user, "_triage_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        cached = frozenset(role for role in Role if role.value in names)
        user._triage_roles = cached
    return cached


def has_any_role(user, roles: frozenset[Role] | set[Role]) -> bool:
    return bool(user_roles(user) & roles)


def access_denied_message(user, allowed: frozenset[Role]) -> str:
    """Explain a rejected page: which roles it is for, or how to get a role at all."""
    roles = user_roles(user)
    if not roles:
        return (
            "Your account has no Triage Desk role. Ask an admin to give it one "
            "(admin, manager, lead or support), then reload the page."
        )
    audience = _join_words([name for role, name in ROLE_AUDIENCES.items() if role in allowed])
    signed_in_as = _join_words([role.value for role in Role if role in roles])
    return f"This page is for {audience}. You are signed in as {signed_in_as}."


def _join_words(words: list[str]) -> str:
    """Join ["a", "b", "c"] as "a, b and c"."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
