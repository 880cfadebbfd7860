from rest_framework.routers import SimpleRouter

from .api import ContactViewSet

router = SimpleRouter()
# Mounted at api/contacts/, so the collection is the router's root.
router.register("", ContactViewSet, basename="api-contact")

urlpatterns = router.urls
