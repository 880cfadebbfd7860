from .roles import IMPORT_ROLES, TRIAGE_ROLES, Role, has_any_role, user_roles


def roles(request) -> dict:
    """Expose what the signed-in user may do, so templates show only usable controls."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {
        "user_roles": sorted(user_roles(user)),
        "can_triage": has_any_role(user, TRIAGE_ROLES),
        "can_import": has_any_role(user, IMPORT_ROLES),
        "can_manage": has_any_role(user, {Role.MANAGER, Role.ADMIN}),
    }
