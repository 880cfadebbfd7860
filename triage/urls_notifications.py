from django.urls import path

from . import views_notifications

urlpatterns = [
    path("", views_notifications.notification_list, name="notification-list"),
    path("<int:pk>/read/", views_notifications.notification_read, name="notification-read"),
]
