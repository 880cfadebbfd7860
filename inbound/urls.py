from django.urls import path

from . import views

urlpatterns = [
    path("entries/<int:pk>/", views.entry_contacts_page, name="entry-contacts"),
    path("entries/<int:pk>/log/", views.contact_log_view, name="entry-contact-log"),
]
