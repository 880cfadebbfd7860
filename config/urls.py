from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView



def health(request) -> HttpResponse:
    """Return 200 to the container health check. It reads no database, so it checks only that the process serves requests."""
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz/", health, name="health"),
    path("", include("backlog.urls")),
    path("triage/", include("triage.urls")),
    path("notifications/", include("triage.urls_notifications")),
    path("comms/", include("comms.urls")),
    path("updates/", include("comms.urls_updates")),
    path("contacts/", include("inbound.urls")),
    path("api/contacts/", include("inbound.api_urls")),
    path("api/", include("backlog.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
