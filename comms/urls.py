from django.urls import path

from . import views

urlpatterns = [
    path("templates/", views.template_list, name="message-template-list"),
    path("templates/<str:backlog_type>/<str:stage>/", views.template_edit, name="message-template-edit"),
    path(
        "templates/<str:backlog_type>/<str:stage>/preview/",
        views.template_preview,
        name="message-template-preview",
    ),
]
