"""Role checks for views and API endpoints."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import ALL_ROLES, IMPORT_ROLES, TRIAGE_ROLES, Role, access_denied_message, has_any_role


def role_required(*roles: Role) -> Callable:
    """Let a view run only for a signed-in user with one of `roles`, and raise PermissionDenied (403) for others."""
    allowed = frozenset(roles) or ALL_ROLES

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_any_role(request.user, allowed):
                raise PermissionDenied(access_denied_message(request.user, allowed))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class HasStaffRole(BasePermission):
    """Let any of the four roles read. This is the default for every endpoint."""

    message = "You need a Triage Desk role (admin, manager, lead or support)."

    def has_permission(self, request, view) -> bool:
        return has_any_role(request.user, ALL_ROLES)


class CanTriageOrReadOnly(BasePermission):
    """Let every role read, and only leads, managers and admins write."""

    write_message = "Only triage leads, managers and admins can send orders or change owner, method, ETA or status."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            self.message = HasStaffRole.message
            return has_any_role(request.user, ALL_ROLES)
        self.message = self.write_message
        return has_any_role(request.user, TRIAGE_ROLES)


class CanImport(BasePermission):
    message = "Only triage leads and admins can import files."

    def has_permission(self, request, view) -> bool:
        return has_any_role(request.user, IMPORT_ROLES)
