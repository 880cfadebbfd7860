from django.urls import path

from . import views

urlpatterns = [
    path("cycles/", views.cycle_list, name="cycle-list"),
]
