"""The roster API, mounted under ``api/mediators/`` (namespace "mediators-api")."""

from rest_framework.routers import SimpleRouter

from mediators.api import MediatorViewSet

# SimpleRouter: no API root view of its own (the project's API index is /api/).
router = SimpleRouter()
router.register("", MediatorViewSet, basename="mediator")

app_name = "mediators-api"
urlpatterns = router.urls
