from django.urls import path
from rest_framework.routers import DefaultRouter

from .views import EntryViewSet, ImportView

router = DefaultRouter()
router.register("entries", EntryViewSet, basename="api-entry")

urlpatterns = [
    path("imports/", ImportView.as_view(), name="api-import"),
    *router.urls,
]
