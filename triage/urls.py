from django.urls import path

from . import views

urlpatterns = [
    path("cycles/", views.cycle_list, name="cycle-list"),
    path("escalations/", views.escalation_review, name="escalation-review"),
    path("escalations/<int:pk>/acknowledge/", views.escalation_acknowledge_view, name="escalation-acknowledge"),
    path("escalations/<int:pk>/comment/", views.escalation_comment_view, name="escalation-comment"),
    path("escalations/<int:pk>/reassign/", views.escalation_reassign_view, name="escalation-reassign"),
    path("escalations/<int:pk>/eta/", views.escalation_eta_view, name="escalation-eta"),
    path("escalations/<int:pk>/resolve/", views.escalation_resolve_view, name="escalation-resolve"),
    path("capacity-flags/<int:pk>/resolve/", views.capacity_flag_resolve_view, name="capacity-flag-resolve"),
]
