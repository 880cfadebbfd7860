from django.urls import path

from . import views_updates

urlpatterns = [
    path("bulk/", views_updates.bulk_updates_page, name="bulk-updates"),
    path("entries/<int:pk>/preview/", views_updates.update_preview_page, name="entry-update-preview"),
    path("entries/<int:pk>/send/", views_updates.update_send_view, name="entry-update-send"),
]
